"""The in-page model's numbers in the real app: the live reading (capsviz/app/live.py, the canvas's Live).

    from capsviz.bench.browser.inpage import run_inpage_bench
    result = run_inpage_bench()          # one `streamlit run`, a fresh headless chromium profile; ~1 minute

Measured, in one fresh browser context (an empty Cache API: a first visit):

- first visit: page.goto -> the first live reading of a stroke started as soon as the model is ready (ms), and
  the bytes on the wire until then (all, and the in-page model's files: graph, WASM runtime, modules);
- live readings during one 1 s stroke (the mouse moved every 16 ms) and the ink's frame interval p95 meanwhile
  (a requestAnimationFrame probe in the page), with the frames the canvas dropped while the worker was busy;
- one full trace in the page (session.run, every routing iteration's lengths, couplings and poses), p50/p95 over
  every reading of the run, one WASM thread;
- pen-up -> the page's reading of the finished drawing shown (p50/p95, from the last pointerup to the render);
- page vs server: the page's own class against the server's Prediction on the scripted drawings (0..9).
"""

from __future__ import annotations

import os
import time
from typing import Any

from capsviz.bench.browser.chromium import launch_chromium
from capsviz.bench.browser.pages import (
    UPDATE_TIMEOUT_S,
    canvas_box,
    canvas_button,
    canvas_root,
    draw_strokes,
    prediction_value,
    prompt,
    wait_for_app,
    wait_until_idle,
)
from capsviz.bench.browser.serve import APP_SCRIPT, serve_streamlit
from capsviz.data.strokes import CANVAS

TRACE_TARGET_MS = (40, 80)  # p50, p95 of one full trace in the page, one WASM thread
PEN_UP_TARGET_MS = 50  # p50: last pen-up -> the page's reading shown
READINGS_TARGET = 15  # live readings during a 1 s stroke
INK_FRAME_TARGET_MS = 20  # p95 of the frame interval while the model runs
LOAD_TIMEOUT_S = 180.0
MODEL_FILES = (".stages", ".wasm", ".mjs", "model_client.js", "model_worker.js", "preprocess.js")

_FRAME_PROBE = """() => { const w = window; w.__cvFrames = []; w.__cvFrameOn = true; let last = performance.now();
  const tick = (t) => { w.__cvFrames.push(t - last); last = t; if (w.__cvFrameOn) requestAnimationFrame(tick); };
  requestAnimationFrame(tick); }"""
_UP_PROBE = """() => { window.__cvUps = []; window.addEventListener('pointerup',
  () => window.__cvUps.push(performance.now()), true); }"""


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 1)


def _live(page) -> dict:
    return canvas_root(page).evaluate("el => el._capsviz.live()")


def _wait(page, check, what: str, timeout_s: float = UPDATE_TIMEOUT_S, poll_ms: int = 20) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        state = _live(page)
        if check(state):
            return state
        if state["state"] == "unavailable":
            raise RuntimeError(f"the live reading is unavailable: {state['note']}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not seen in {timeout_s} s: {state}")
        page.wait_for_timeout(poll_ms)


def _read(state: dict) -> bool:
    return bool(state["page"]) and state["page"]["fp"] == state["fp"]


def _clear(page) -> None:
    canvas_button(page, "Clear").click()
    prompt(page).wait_for(timeout=UPDATE_TIMEOUT_S * 1000)
    wait_until_idle(page, settle_ms=100)


def timed_stroke(page, seconds: float = 1.0, interval_s: float = 0.016) -> dict[str, Any]:
    """One stroke of ``seconds``, the mouse moved every ``interval_s`` along a loop; the readings the page made
    meanwhile and the frame intervals (a rAF probe) while it drew."""
    import math

    box = canvas_box(page)
    k = box["width"] / CANVAS
    at = lambda x, y: (box["x"] + k * x, box["y"] + k * y)  # noqa: E731
    before = len(_live(page)["log"]["readings"])
    dropped0 = _live(page)["log"]["dropped"]
    page.evaluate(_FRAME_PROBE)
    page.mouse.move(*at(140, 60))
    page.mouse.down()
    t0 = time.perf_counter()
    n = 0
    while (elapsed := time.perf_counter() - t0) < seconds:
        a = 2 * math.pi * elapsed / seconds
        page.mouse.move(*at(140 + 60 * math.sin(a), 140 - 80 * math.cos(a)))
        n += 1
        time.sleep(max(0.0, t0 + n * interval_s - time.perf_counter()))
    state = _live(page)  # before pen-up: only the readings made while the pen was down
    page.mouse.up()
    frames = page.evaluate("() => { window.__cvFrameOn = false; return window.__cvFrames.slice(2); }")
    during = [r for r in state["log"]["readings"][before:] if r["during"]]
    return {
        "stroke_s": round(time.perf_counter() - t0, 2),
        "stroke_moves": n,
        "live_readings": len(during),
        "live_dropped": state["log"]["dropped"] - dropped0,
        "ink_frame_p50_ms": _pct(frames, 50),
        "ink_frame_p95_ms": _pct(frames, 95),
        "ink_frames": len(frames),
    }


def run_inpage_bench(app_script: str | os.PathLike = APP_SCRIPT, digits: tuple[int, ...] = tuple(range(10))):
    """Serve the app, open it in a fresh headless chromium profile and measure the live reading (see the module
    docstring). Returns one flat dict (keys ``inpage_*``)."""
    from playwright.sync_api import sync_playwright

    out: dict[str, Any] = {}
    with serve_streamlit(app_script) as url, sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            wire: list[tuple[str, int]] = []

            def finished(request):
                sizes = request.sizes()
                wire.append((request.url, sizes["responseHeadersSize"] + max(0, sizes["responseBodySize"])))

            context.on("requestfinished", finished)
            page = context.new_page()
            t0 = time.perf_counter()
            page.goto(url, wait_until="domcontentloaded")
            wait_for_app(page, LOAD_TIMEOUT_S)
            _wait(page, lambda s: s["state"] == "ready", "the model loaded", LOAD_TIMEOUT_S)
            t_ready = _page_now(page) / 1000  # the page's clock starts at navigation
            first = timed_stroke(page, seconds=1.0)
            _wait(page, lambda s: len(s["log"]["readings"]) > 0, "a first reading")
            first_reading_s = _live(page)["log"]["readings"][0]["t"] / 1000
            bytes_first = list(wire)
            out["inpage_first_visit_ready_s"] = round(t_ready, 2)
            out["inpage_first_visit_reading_s"] = round(first_reading_s, 2)
            out["inpage_first_visit_kb"] = round(sum(b for _, b in bytes_first) / 1000)
            ours = [b for u, b in bytes_first if u.split("?")[0].endswith(MODEL_FILES)]
            out["inpage_first_visit_model_kb"] = round(sum(ours) / 1000)
            out.update({f"inpage_{k}": v for k, v in first.items()})
            wait_until_idle(page, settle_ms=200)
            _clear(page)
            pen_up, agree = _pen_up_and_agreement(page, digits)
            traces = [r["trace"] for r in _live(page)["log"]["readings"] if r.get("trace") is not None]
            out["inpage_trace_p50_ms"] = _pct(traces, 50)
            out["inpage_trace_p95_ms"] = _pct(traces, 95)
            out["inpage_trace_runs"] = len(traces)
            out["inpage_pen_up_p50_ms"] = _pct(pen_up, 50)
            out["inpage_pen_up_p95_ms"] = _pct(pen_up, 95)
            out["inpage_agreement"] = round(sum(p == s for _, p, s in agree) / max(1, len(agree)), 3)
            out["inpage_agreement_rows"] = agree
            context.close()
        finally:
            browser.close()
    out["inpage_wall_s"] = round(time.perf_counter() - t0, 1)
    return out


def _pen_up_and_agreement(page, digits: tuple[int, ...]) -> tuple[list[float], list[tuple[int, int, int]]]:
    """Draw each scripted digit: the ms from its last pen-up to the page's reading of the finished drawing, and
    (digit, the page's class, the server's class) once the server has read the same drawing."""
    from capsviz.testsets.drawn_digits import drawing_for

    page.evaluate(_UP_PROBE)
    pen_up, agree = [], []
    for digit in digits:
        draw_strokes(page, drawing_for(digit, 0).strokes)
        state = _wait(page, _read, f"the page's reading of a {digit}")
        up = page.evaluate("() => window.__cvUps[window.__cvUps.length - 1]")
        shown = state["shown"]
        if shown and shown["fp"] == state["fp"]:
            pen_up.append(max(0.0, shown["t"] - up))
        prediction_value(page).or_(prompt(page)).first.wait_for(timeout=UPDATE_TIMEOUT_S * 1000)
        state = _wait(page, lambda s: bool(s["server"]) and s["server"]["fp"] == s["fp"], "the server")
        agree.append((digit, state["page"]["prediction"], state["server"]["prediction"]))
        wait_until_idle(page, settle_ms=100)
        _clear(page)
    return pen_up, agree


def _page_now(page) -> float:
    return page.evaluate("() => performance.now()")


def inpage_rows(r: dict[str, Any]) -> list[tuple[str, str]]:
    """The report's rows for the in-page model (capsviz.bench.browser.report.ROWS)."""
    if "inpage_trace_p50_ms" not in r:
        return []

    def ms(v) -> str:
        return "n/a" if v is None else f"{v:.0f} ms"

    p50, p95 = TRACE_TARGET_MS
    agree = r["inpage_agreement"]
    wrong = [f"{d}: page {p}, server {s}" for d, p, s in r.get("inpage_agreement_rows", []) if p != s]
    return [
        (
            "In-page trace, one WASM thread (p50 / p95)",
            f"{ms(r['inpage_trace_p50_ms'])} / {ms(r['inpage_trace_p95_ms'])} over {r['inpage_trace_runs']} "
            f"(target ≤ {p50} / {p95} ms)",
        ),
        (
            "Pen-up -> the page's reading shown (p50 / p95)",
            f"{ms(r['inpage_pen_up_p50_ms'])} / {ms(r['inpage_pen_up_p95_ms'])} (target p50 ≤ {PEN_UP_TARGET_MS} ms)",
        ),
        (
            "Live readings during a 1 s stroke",
            f"{r['inpage_live_readings']} ({r['inpage_live_dropped']} frames dropped while busy; "
            f"target ≥ {READINGS_TARGET})",
        ),
        (
            "Ink frame interval while the model runs (p50 / p95)",
            f"{ms(r['inpage_ink_frame_p50_ms'])} / {ms(r['inpage_ink_frame_p95_ms'])} "
            f"(target p95 ≤ {INK_FRAME_TARGET_MS} ms)",
        ),
        (
            "First visit: load -> model ready -> first live reading",
            f"{r['inpage_first_visit_ready_s']:.1f} s -> {r['inpage_first_visit_reading_s']:.1f} s; "
            f"{r['inpage_first_visit_kb'] / 1000:.1f} MB on the wire "
            f"({r['inpage_first_visit_model_kb'] / 1000:.1f} MB the model, runtime and modules)",
        ),
        (
            "Page vs server on the scripted digits",
            f"{100 * agree:.0f} %" + (f" ({'; '.join(wrong)})" if wrong else "") + " (target 100 %)",
        ),
    ]
