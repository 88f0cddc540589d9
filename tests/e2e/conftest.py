"""Fixtures for the end-to-end tests: a real `streamlit run` server and a headless Chromium driven by Playwright.

The browser is Debian's chromium (``scripts/install_browser.sh`` installs it); Playwright's own browser
download is not used. ``find_chromium`` looks where the install script looks, in the same order:
``CAPSVIZ_CHROMIUM`` (an override: nothing else is tried), /usr/bin/chromium, ``chromium`` and
``chromium-browser`` on PATH, /snap/bin/chromium. ``CAPSVIZ_E2E_APP`` overrides the app script (relative to
the repository root), which is handy for debugging the harness against a small app.

Without a browser the end-to-end tests are skipped with the reason, except under CI (``CI=true``, as CI
services set it), where a missing browser fails them: CI must never pass without having driven the app.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from capsviz.bench.browser.chromium import CHROMIUM_ENV, find_chromium, launch_chromium
from capsviz.bench.browser.pages import UPDATE_TIMEOUT_MS

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = REPO_ROOT / "scripts" / "install_browser.sh"
APP_SCRIPT = os.environ.get("CAPSVIZ_E2E_APP", "streamlit_app.py")
SERVER_START_TIMEOUT_S = 90.0


def running_in_ci(environ=os.environ) -> bool:
    """CI services set CI=true (GitHub Actions, GitLab, Buildkite, ...)."""
    return environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _ensure_chromium(environ=os.environ) -> str:
    """Return the browser path, running scripts/install_browser.sh when there is none. Without one: fail
    under CI, skip (with the reason, printed loudly) elsewhere."""
    found = find_chromium(environ)
    if found:
        return found
    if environ.get(CHROMIUM_ENV):
        problem = f"{CHROMIUM_ENV}={environ[CHROMIUM_ENV]} is not an executable file"
    else:
        bash = shutil.which("bash") or "/bin/bash"
        proc = subprocess.run([bash, str(INSTALL_SCRIPT)], capture_output=True, text=True, timeout=600, env=environ)
        found = find_chromium(environ)
        if found:
            return found
        problem = (
            f"no chromium at /usr/bin/chromium, on PATH (chromium, chromium-browser) or at /snap/bin/chromium, and "
            f"{INSTALL_SCRIPT.name} could not install one (exit {proc.returncode}): "
            f"{(proc.stderr or proc.stdout).strip()[-500:]}"
        )
    if running_in_ci(environ):
        pytest.fail(f"E2E TESTS CANNOT RUN UNDER CI: {problem}", pytrace=False)
    reason = f"!!! E2E TESTS NOT RUN: {problem}"
    print(reason, file=sys.stderr)
    pytest.skip(reason)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("e2e-screenshots")


@pytest.fixture(scope="session")
def streamlit_url(serve_page) -> str:
    """The app (``CAPSVIZ_E2E_APP``, default streamlit_app.py) served for the whole session."""
    return serve_page(APP_SCRIPT)


@pytest.fixture(scope="session")
def browser():
    executable = _ensure_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch_chromium(pw, executable)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser, request, screenshot_dir):
    """A fresh page (1280x1000 CSS px, device scale 1); screenshots the page if the test failed."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(UPDATE_TIMEOUT_MS)
    try:
        yield page
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            path = screenshot_dir / f"{request.node.name}-FAILED.png"
            try:
                page.screenshot(path=str(path), full_page=True)
                print(f"\nscreenshot of the failing page: {path}")
            except Exception as exc:  # best effort: never hide the real failure
                print(f"\ncould not screenshot the failing page: {exc}")
        context.close()


@pytest.fixture(scope="session")
def serve_page(tmp_path_factory):
    """``serve_page("tests/e2e/some_page.py") -> URL``: `streamlit run` any page script (relative to the repository
    root), started once per session per script and stopped at the end (e.g. the pose editor's test page)."""
    import contextlib

    from capsviz.bench.browser.serve import serve_streamlit

    urls: dict[str, str] = {}
    with contextlib.ExitStack() as stack:

        def serve(script: str) -> str:
            if script not in urls:
                log_path = tmp_path_factory.mktemp("e2e-server") / "streamlit.log"
                try:
                    urls[script] = stack.enter_context(serve_streamlit(script, log_path, SERVER_START_TIMEOUT_S))
                except (OSError, RuntimeError) as exc:
                    pytest.fail(f"could not serve {script}: {exc}")
                print(f"\nstreamlit serving {script} at {urls[script]} (log: {log_path})")
            return urls[script]

        yield serve
