#!/usr/bin/env bash
# Set up everything the test-suite needs on a fresh machine, then run it. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
scripts/setup.sh dev onnx sam2 openmmlab ray
scripts/setup_browser.sh          # Debian chromium + chromium-driver for the end-to-end dashboard test
scripts/setup_labelstudio.sh      # Label Studio in .venv-ls + a migrated template data dir
echo "setup took $(( $(date +%s) - start )) s"
mkdir -p artifacts
.venv/bin/python -m pytest "$@"
echo "setup + tests took $(( $(date +%s) - start )) s"
