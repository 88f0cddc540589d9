#!/usr/bin/env bash
# Install the browser the end-to-end tests drive (Debian's chromium, used through Playwright with
# executable_path=/usr/bin/chromium; `playwright install` needs internet access this project may not have).
# Idempotent: does nothing when the browser is already there.
set -euo pipefail

CHROMIUM="${CAPSVIZ_CHROMIUM:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ]; then
    echo "chromium already installed: $CHROMIUM"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "error: $CHROMIUM is missing and we are not root (no sudo) to install it" >&2
        exit 1
    fi
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: $CHROMIUM is missing and apt-get is not available; install chromium by hand" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Debian ships the browser as "chromium"; Ubuntu's "chromium-browser" is a snap shim, so try it only as fallback.
if ! $SUDO apt-get install -y -qq chromium; then
    $SUDO apt-get install -y -qq chromium-browser
fi

if [ ! -x "$CHROMIUM" ]; then
    for candidate in /usr/bin/chromium-browser /snap/bin/chromium; do
        if [ -x "$candidate" ]; then
            echo "chromium installed at $candidate (set CAPSVIZ_CHROMIUM=$candidate for the tests)"
            exit 0
        fi
    done
    echo "error: chromium install finished but $CHROMIUM is still missing" >&2
    exit 1
fi
"$CHROMIUM" --version 2>/dev/null || true
echo "chromium installed: $CHROMIUM"
