"""The browser benchmark's runs: serve a page, open it in headless chromium, measure (capsviz.bench.browser.measure)."""

from __future__ import annotations

import os
import time
from typing import Any

from capsviz.bench.browser.chromium import launch_chromium
from capsviz.bench.browser.measure import bench_drawings, measure_bytes, measure_decode, measure_drag, measure_pen_up
from capsviz.bench.browser.pages import wait_for_app, wait_for_editor, wait_until_idle
from capsviz.bench.browser.probes import install_ws_log
from capsviz.bench.browser.serve import APP_SCRIPT, DEFAULT_PAGE, serve_streamlit


def run_app_bench(app_script: str | os.PathLike = APP_SCRIPT, drawings: int = 10) -> dict[str, Any]:
    """Serve the app, open it in headless chromium (1280x1000, the pose tab open as on first load) and run
    ``measure_pen_up`` over ``bench_drawings(drawings)``."""
    from playwright.sync_api import sync_playwright

    with serve_streamlit(app_script) as url, sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            install_ws_log(context)
            page = context.new_page()
            page.goto(url, wait_until="domcontentloaded")
            wait_for_app(page)
            return measure_pen_up(page, bench_drawings(drawings))
        finally:
            browser.close()


def run_pose_bench(page_script: str | os.PathLike = DEFAULT_PAGE, drags: int = 3) -> dict[str, Any]:
    """Serve the pose editor's page, open it in headless chromium: bytes, in-page decoder time, drags."""
    from playwright.sync_api import sync_playwright

    out: dict[str, Any] = {}
    with serve_streamlit(page_script) as url, sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            out.update(measure_bytes(browser, url))
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            page = context.new_page()
            page.goto(url, wait_until="domcontentloaded")
            editor = wait_for_editor(page)
            wait_until_idle(page, settle_ms=800)
            out.update(measure_decode(editor))
            runs = []
            for i in range(drags):
                runs.append(measure_drag(page, editor, dim=i % 16))
                wait_until_idle(page, settle_ms=400)  # the release sends the pose: one rerun
            worst = min(runs, key=lambda r: (r["distinct_frames"], -r["max_late_ms"]))
            out.update({f"drag_{k}": v for k, v in worst.items()})
            out["drag_runs"] = runs
            context.close()
        finally:
            browser.close()
    return out


def run_browser_bench(
    page_script: str | os.PathLike = DEFAULT_PAGE,
    drags: int = 3,
    app_script: str | os.PathLike = APP_SCRIPT,
    drawings: int = 10,
) -> dict[str, Any]:
    """Every browser measurement, one flat dict: the pose editor on ``page_script`` (``drags`` timed drags;
    0 skips it) and pen-up to prediction in the app ``app_script`` over ``drawings`` drawings (0 skips it).
    About 1.5 minutes on 2 busy CPU cores, most of it two `streamlit run` start-ups."""
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    if drags:
        out.update(run_pose_bench(page_script, drags))
    t1 = time.perf_counter()
    if drawings:
        out.update(run_app_bench(app_script, drawings))
    out["seconds"] = {"pose_editor": round(t1 - t0, 1), "app": round(time.perf_counter() - t1, 1)}
    return out
