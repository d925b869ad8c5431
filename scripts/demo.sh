#!/usr/bin/env bash
# The main job on the embedded defaults: set up .venv, analyse a climbing clip into DuckDB, show the result
# (summary, move statistics, an overlay contact sheet) and open the coach dashboard on 127.0.0.1.
#   scripts/demo.sh [VIDEO] [DB]      (make demo VIDEO=... DB=...)
set -euo pipefail
cd "$(dirname "$0")/.."
VIDEO=${1:-data/climbing/warp-fixed-input.mp4}
DB=${2:-cruxlab.duckdb}
PORT=${PORT:-8501}
scripts/setup.sh
CX=".venv/bin/cruxlab --db $DB"
mkdir -p artifacts
name=$(basename "${VIDEO%.*}")
echo "== analysing $VIDEO (offline MediaPipe pose, keyframe SfM, wall-frame lifting, move detection) =="
$CX analyze "$VIDEO" --climber demo --name "$name"
echo
echo "== moves found =="
$CX sql "SELECT label, n_moves, round(mean_duration_s, 2) AS mean_s FROM moves_per_label ORDER BY n_moves DESC"
$CX render "$name" --out "artifacts/$name-overlay.png"
$CX moves plot "$name" --out "artifacts/$name-moves.png"
echo
echo "Look at artifacts/$name-overlay.png (skeleton over the video) and artifacts/$name-moves.png (timeline)."
echo "== opening the dashboard on http://127.0.0.1:$PORT (Ctrl-C to stop) =="
exec $CX dashboard --port "$PORT"
