#!/usr/bin/env bash
# Install the browser the end-to-end tests drive (Debian's chromium, used through Playwright's
# executable_path; `playwright install` needs internet access this project may not have).
# Idempotent: does nothing when a browser is already there.
#
# Where the browser is looked for, first found wins -- tests/e2e/conftest.py (find_chromium) looks in
# exactly the same places in the same order, so whatever this script finds the tests find too:
#   1. $CAPSVIZ_CHROMIUM, when set (then nothing else is tried: a wrong override is an error)
#   2. /usr/bin/chromium
#   3. chromium, then chromium-browser, on PATH
#   4. /snap/bin/chromium
# On success the last line of stdout is "CAPSVIZ_CHROMIUM=<path>" (the path the tests will use).
set -euo pipefail

find_chromium() {
    if [ -n "${CAPSVIZ_CHROMIUM:-}" ]; then
        [ -x "$CAPSVIZ_CHROMIUM" ] && [ ! -d "$CAPSVIZ_CHROMIUM" ] && echo "$CAPSVIZ_CHROMIUM"
        return 0
    fi
    local candidate
    for candidate in /usr/bin/chromium "$(command -v chromium || true)" "$(command -v chromium-browser || true)" \
        /snap/bin/chromium; do
        if [ -n "$candidate" ] && [ -x "$candidate" ] && [ ! -d "$candidate" ]; then
            echo "$candidate"
            return 0
        fi
    done
    return 0
}

found() {
    "$1" --version 2>/dev/null || true
    echo "CAPSVIZ_CHROMIUM=$1"
    exit 0
}

BROWSER="$(find_chromium)"
if [ -n "$BROWSER" ]; then
    echo "chromium already installed: $BROWSER"
    found "$BROWSER"
fi
if [ -n "${CAPSVIZ_CHROMIUM:-}" ]; then
    echo "error: CAPSVIZ_CHROMIUM=$CAPSVIZ_CHROMIUM is not an executable file; fix or unset it" >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "error: no chromium found and we are not root (no sudo) to install it" >&2
        exit 1
    fi
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: no chromium found and apt-get is not available; install chromium by hand" \
        "(or point CAPSVIZ_CHROMIUM at one)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Debian ships the browser as "chromium"; Ubuntu's "chromium-browser" is a snap shim, so try it only as fallback.
if ! $SUDO apt-get install -y -qq chromium; then
    $SUDO apt-get install -y -qq chromium-browser
fi

BROWSER="$(find_chromium)"
if [ -z "$BROWSER" ]; then
    echo "error: chromium install finished but no browser is at /usr/bin/chromium, on PATH" \
        "(chromium, chromium-browser) or at /snap/bin/chromium" >&2
    exit 1
fi
echo "chromium installed: $BROWSER"
found "$BROWSER"
