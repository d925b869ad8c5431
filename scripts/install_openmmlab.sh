#!/usr/bin/env bash
# Install the OpenMMLab stack (MMDet + MMPose on mmcv-lite) into ./.venv without breaking its pins.
# Called by scripts/setup.sh for the `openmmlab` extra, after torch==2.13.0 (CPU wheel) is in.
#
# Why not `pip install mmpose mmdet mmcv`:
#  - full mmcv has no wheel for Python 3.11 + a current torch and compiles for ~1 h; mmcv-lite is the same
#    Python code without the compiled ops, and reconstruction/backends/mmcv_shim.py supplies the one op our
#    models use at inference (NMS) and a clear error for the others;
#  - mmcv-lite/mmengine/mmpose require opencv-python, which must never land beside opencv-python-headless
#    (both own `cv2`), and mmpose pulls chumpy (unused for inference) and torchvision (the PyPI wheel does not
#    load beside the CPU torch): so the four packages go in with --no-deps and their real needs are listed here;
#  - the xtcocotools wheel is built against numpy 1.x (fails under numpy 2): it is compiled here (~10 s);
#  - mmengine imports pkg_resources, which setuptools >= 81 no longer ships.
# Idempotent: a second run only checks. Takes ~40 s on a fresh venv (2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
UV=.venv/bin/uv
export UV_PYTHON=$PY
check() {
    "$PY" - <<'PY'
from reconstruction.backends.openmmlab import import_openmmlab
import mmcv, mmdet, mmengine, mmpose, numpy, cv2
import_openmmlab()
print(f"openmmlab stack ready: mmengine {mmengine.__version__}, mmcv {mmcv.__version__}, mmdet {mmdet.__version__}, "
      f"mmpose {mmpose.__version__} (numpy {numpy.__version__}, opencv {cv2.__version__})")
PY
}
if check 2>/dev/null; then exit 0; fi
if ! "$PY" -c "import torch" 2>/dev/null; then
    "$PY" -m pip install -q "torch==2.13.0" 2>&1 | grep -v "is ignored" || true
fi
$UV pip install -q --no-deps "mmengine==0.10.7" "mmcv-lite==2.1.0" "mmdet==3.3.0" "mmpose==1.3.2"
$UV pip install -q addict yapf termcolor shapely terminaltables json-tricks munkres pycocotools six \
    "setuptools>=68,<81" "cython>=3" wheel
if ! "$PY" -c "import xtcocotools.mask" 2>/dev/null; then
    $UV pip install -q --reinstall --no-deps --no-build-isolation --no-binary xtcocotools "xtcocotools==1.14.3"
fi
if "$PY" -c "import cv2, importlib.metadata as m; m.version('opencv-python')" 2>/dev/null; then
    echo "opencv-python got installed beside opencv-python-headless (both own cv2); fix: $UV pip uninstall opencv-python && $UV pip install --reinstall opencv-python-headless" >&2
    exit 1
fi
check
