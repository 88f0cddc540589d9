"""Finding and launching the browser: Debian's chromium, looked up as scripts/install_browser.sh does, headless
through Playwright."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping

CHROMIUM_ENV = "CAPSVIZ_CHROMIUM"
# The lookup order of scripts/install_browser.sh: fixed paths and PATH names, interleaved as there.
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "which:chromium", "which:chromium-browser", "/snap/bin/chromium")
# Quiet and deterministic in a container; background networking would knock on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def _is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def find_chromium(environ: Mapping[str, str] = os.environ) -> str | None:
    """The browser, looked up exactly as scripts/install_browser.sh does: $CAPSVIZ_CHROMIUM (then nothing else),
    /usr/bin/chromium, chromium and chromium-browser on PATH, /snap/bin/chromium; None when there is none."""
    override = environ.get(CHROMIUM_ENV)
    if override:
        return override if _is_executable(override) else None
    for candidate in CHROMIUM_CANDIDATES:
        if candidate.startswith("which:"):
            path = shutil.which(candidate.removeprefix("which:"), path=environ.get("PATH", os.defpath))
        else:
            path = candidate
        if path and _is_executable(path):
            return path
    return None


def launch_chromium(playwright, executable: str | None = None):
    """Headless Debian chromium (``scripts/install_browser.sh``) through Playwright."""
    executable = executable or find_chromium()
    if not executable:
        raise FileNotFoundError("no chromium found: run `bash scripts/install_browser.sh`")
    return playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
