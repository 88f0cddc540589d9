"""The browser benchmark's runs: serve a page, open it in headless chromium, measure (capsviz.bench.browser.measure).

``run_browser_bench`` runs each section of SECTIONS in turn and merges what each returns into one flat dict; a new
section (e.g. the in-page model's, in a module of its own) is a function ``(options) -> dict`` added to SECTIONS
with its rows added to capsviz.bench.browser.report.ROWS.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from capsviz.bench.browser.chromium import launch_chromium
from capsviz.bench.browser.measure import (
    bench_drawings,
    measure_bytes,
    measure_decode,
    measure_drag,
    measure_ink,
    measure_pen_up,
)
from capsviz.bench.browser.pages import wait_for_app, wait_for_editor, wait_until_idle
from capsviz.bench.browser.probes import install_ws_log
from capsviz.bench.browser.serve import APP_SCRIPT, DEFAULT_PAGE, serve_streamlit


def machine() -> dict[str, Any]:
    """The CPU (lscpu's model name), its cores and the load average now: printed beside the numbers."""
    from capsviz.bench.load.sampling import cpu_name, load_average

    return {"cpu": cpu_name(), "cores": os.cpu_count(), "load_average": load_average()}


def run_app_bench(app_script: str | os.PathLike = APP_SCRIPT, drawings: int = 10, ink: bool = True) -> dict[str, Any]:
    """Serve the app (with the load benchmark's counters: each script run and section stamped with its time),
    open it in headless chromium (1280x1000, the pose tab open as on first load), draw one timed 1 s stroke for
    the ink's frames (``measure_ink``; ``ink`` False skips it) and run ``measure_pen_up`` over
    ``bench_drawings(drawings)``."""
    from playwright.sync_api import sync_playwright

    from capsviz.bench.load.server import serve_app

    out: dict[str, Any] = {}
    with serve_app(app_script) as server, sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            install_ws_log(context)
            page = context.new_page()
            page.goto(server.url, wait_until="domcontentloaded")
            wait_for_app(page)
            if ink:
                out.update(measure_ink(page))
            out.update(measure_pen_up(page, bench_drawings(drawings), events_path=server.events_path))
        finally:
            browser.close()
    return out


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


# (name, run it?, run it): each takes run_browser_bench's options and returns its part of the results.
Section = tuple[str, Callable[[dict[str, Any]], bool], Callable[[dict[str, Any]], dict[str, Any]]]
SECTIONS: list[Section] = [
    ("pose_editor", lambda o: o["drags"] > 0, lambda o: run_pose_bench(o["page_script"], o["drags"])),
    ("app", lambda o: o["drawings"] > 0, lambda o: run_app_bench(o["app_script"], o["drawings"], o["ink"])),
]


def run_browser_bench(
    page_script: str | os.PathLike = DEFAULT_PAGE,
    drags: int = 3,
    app_script: str | os.PathLike = APP_SCRIPT,
    drawings: int = 10,
    ink: bool = True,
) -> dict[str, Any]:
    """Every browser measurement, one flat dict: the pose editor on ``page_script`` (``drags`` timed drags;
    0 skips it), and in the app ``app_script`` the ink's frames during a 1 s stroke (``ink``) and pen-up to
    prediction over ``drawings`` drawings (0 skips the app); with the machine and its load average before and
    after. About 1.5 minutes on 2 busy CPU cores, most of it two `streamlit run` start-ups."""
    options = {"page_script": page_script, "drags": drags, "app_script": app_script, "drawings": drawings, "ink": ink}
    out: dict[str, Any] = {"machine": machine()}
    seconds: dict[str, float] = {}
    for name, wanted, run in SECTIONS:
        if wanted(options):
            t0 = time.perf_counter()
            out.update(run(options))
            seconds[name] = round(time.perf_counter() - t0, 1)
    out["seconds"] = seconds
    out["load_average_after"] = machine()["load_average"]
    return out


# The in-page model (the live reading), own server and fresh browser profile: capsviz.bench.browser.inpage.
from capsviz.bench.browser.inpage import run_inpage_bench  # noqa: E402

SECTIONS.append(("inpage", lambda o: o["drawings"] > 0, lambda o: run_inpage_bench(o["app_script"])))
