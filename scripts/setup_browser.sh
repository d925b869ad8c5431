#!/usr/bin/env bash
# Headless Chromium for the dashboard's end-to-end test: Debian's `chromium` + `chromium-driver` (the driver
# matches the browser version exactly, so Selenium needs no download). Idempotent: installs only what is
# missing and says what it did. Works as root (CI) or through sudo when one is available.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

if have chromium && have chromedriver; then
    echo "setup_browser: chromium and chromedriver already installed ($(chromium --version 2>/dev/null | head -1))"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if have sudo; then
        SUDO="sudo"
    else
        echo "setup_browser: chromium/chromedriver missing and not root (no sudo); install them with" >&2
        echo "  apt-get install chromium chromium-driver" >&2
        exit 1
    fi
fi
if ! have apt-get; then
    echo "setup_browser: no apt-get here; install Chromium and a matching chromedriver on PATH yourself" >&2
    exit 1
fi

missing=()
have chromium || missing+=(chromium)
have chromedriver || missing+=(chromium-driver)
echo "setup_browser: installing ${missing[*]} with apt-get"
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has empty package lists; an update only when the package is unknown keeps reruns fast.
if ! apt-cache show chromium-driver >/dev/null 2>&1; then
    $SUDO apt-get update -qq
fi
if ! $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null; then
    echo "setup_browser: install failed; refreshing package lists and retrying"
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
fi
echo "setup_browser: installed $(chromium --version 2>/dev/null | head -1), $(chromedriver --version 2>/dev/null | head -1)"
