#!/usr/bin/env bash
# Label Studio for `cruxlab label serve` and the labeling tests, kept apart from ./.venv because
# label-studio pins numpy/Django versions the analysis stack does not want.
#   1. ./.venv-ls with label-studio==$LS_VERSION (uv, ~20-45 s; skipped when already there)
#   2. a migrated, user-less TEMPLATE data dir (cache/labelstudio/template-$LS_VERSION): the first start of
#      Label Studio spends 35-85 s on database migrations; starting from a copy of this template takes ~10 s.
# Idempotent: re-running does nothing when both exist.  Usage: scripts/setup_labelstudio.sh
set -euo pipefail
cd "$(dirname "$0")/.."
LS_VERSION=1.23.2
VENV=.venv-ls
TEMPLATE=cache/labelstudio/template-$LS_VERSION
PY=${PYTHON:-python3.11}

installed=$("$VENV/bin/python" -c "import importlib.metadata as m; print(m.version('label-studio'))" 2>/dev/null || true)
if [ "$installed" != "$LS_VERSION" ]; then
    start=$(date +%s)
    if [ -x .venv/bin/uv ]; then UV=.venv/bin/uv; else UV=$(command -v uv || true); fi
    if [ -n "$UV" ]; then
        [ -x "$VENV/bin/python" ] || "$UV" venv -q --python "$PY" "$VENV"
        "$UV" pip install -q --python "$VENV/bin/python" "label-studio==$LS_VERSION"
    else
        [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
        "$VENV/bin/python" -m pip install -q "label-studio==$LS_VERSION"
    fi
    echo "Label Studio $LS_VERSION installed in $VENV in $(( $(date +%s) - start )) s"
fi

if [ ! -f "$TEMPLATE/.cruxlab-template" ]; then
    start=$(date +%s)
    tmp="$TEMPLATE.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp/home"
    # `label-studio version` applies every migration to --data-dir and exits without serving anything
    # (whereas `label-studio --version` STARTS a server on 0.0.0.0). Offline: no version check, no Sentry,
    # no analytics; HOME points inside so nothing lands in the user's home.
    env HOME="$tmp/home" LABEL_STUDIO_BASE_DATA_DIR="$tmp" LATEST_VERSION_CHECK=false SENTRY_DSN= \
        FRONTEND_SENTRY_DSN= COLLECT_ANALYTICS=false LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=false \
        "$VENV/bin/label-studio" version --data-dir "$tmp" >"$tmp/migrate.log" 2>&1 \
        || { cat "$tmp/migrate.log" >&2; echo "Label Studio template migration failed" >&2; exit 1; }
    # The secret key is per server: every copy generates its own.
    rm -f "$tmp/.env"
    echo "$LS_VERSION" >"$tmp/.cruxlab-template"
    rm -rf "$TEMPLATE"
    mv "$tmp" "$TEMPLATE"
    echo "Label Studio template data dir $TEMPLATE migrated in $(( $(date +%s) - start )) s"
fi
echo "Label Studio ready: $VENV/bin/label-studio, template $TEMPLATE"
