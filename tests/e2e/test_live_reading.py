"""The live reading in the real app: the canvas runs the CapsNet in the page while the pen moves
(capsviz/app/live.py, components/canvas/canvas.js's Live, components/inpage/).

- the page's prediction changes during a stroke, before pen-up (a 1 that grows a flag and becomes a 7);
- after pen-up the page's own reading equals the server's Prediction for several scripted digits;
- the model and the WASM runtime are downloaded once across two drawings and reruns;
- without WebAssembly the app predicts through the server and the canvas says so once.
"""

from __future__ import annotations

import time

import pytest

from capsviz.bench.browser.pages import (
    UPDATE_TIMEOUT_S,
    canvas_box,
    click_clear,
    draw_strokes,
    prediction_value,
    wait_for_app,
    wait_until_idle,
)
from capsviz.bench.browser.pages import canvas_root as root
from capsviz.data.strokes import CANVAS
from capsviz.testsets.drawn_digits import drawing_for

pytestmark = pytest.mark.e2e

LIVE = '[data-testid="capsvizLivePrediction"]'
LOAD_TIMEOUT_S = 120.0  # a first visit downloads the model (13.8 MB) and the runtime on a busy 2-core machine


def live_state(page) -> dict:
    return root(page).evaluate("el => el._capsviz.live()")


def wait_live_ready(page, timeout_s: float = LOAD_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while (state := live_state(page))["state"] != "ready":
        assert state["state"] != "unavailable", state["note"]
        assert time.monotonic() < deadline, f"the live reading did not load in {timeout_s} s: {state}"
        page.wait_for_timeout(200)


def wait_page_reading(page, timeout_s: float = UPDATE_TIMEOUT_S) -> dict:
    """The live state once the page has read the drawing the canvas holds now."""
    deadline = time.monotonic() + timeout_s
    while True:
        state = live_state(page)
        if state["page"] and state["page"]["fp"] == state["fp"]:
            return state
        assert time.monotonic() < deadline, f"no page reading of the current drawing: {state}"
        page.wait_for_timeout(30)


def live_text(page) -> str:
    return (page.locator(LIVE).first.text_content() or "").strip()


def test_the_live_prediction_follows_the_pen_before_pen_up(page, streamlit_url):
    page.goto(streamlit_url)
    wait_for_app(page)
    wait_live_ready(page)
    box = canvas_box(page)
    k = box["width"] / CANVAS
    at = lambda x, y: (box["x"] + k * x, box["y"] + k * y)  # noqa: E731
    mouse = page.mouse
    mouse.move(*at(150, 245))
    mouse.down()
    mouse.move(*at(165, 40), steps=25)  # a 1, pen still down
    deadline = time.monotonic() + UPDATE_TIMEOUT_S
    while live_text(page) != "1":
        assert time.monotonic() < deadline, f"the live reading of a 1 shows {live_text(page)!r}"
        page.wait_for_timeout(30)
    assert live_state(page)["page"]["prediction"] == 1
    mouse.move(*at(70, 45), steps=20)  # the flag: now a 7, pen still down
    deadline = time.monotonic() + UPDATE_TIMEOUT_S
    while live_text(page) != "7":
        assert time.monotonic() < deadline, f"the live reading of a 7 shows {live_text(page)!r}"
        page.wait_for_timeout(30)
    state = live_state(page)
    assert root(page).evaluate("el => el._capsviz.drawingNow()"), "the pen went up before the 7 was read"
    assert root(page).evaluate("el => el._capsviz.strokes()") == 0  # nothing sent to Python yet
    readings = state["log"]["readings"]
    assert sum(r["during"] for r in readings) >= 2, readings
    mouse.up()
    prediction_value(page).filter(has_text="7").wait_for(timeout=UPDATE_TIMEOUT_S * 1000)


def test_the_page_reads_what_the_server_reads(page, streamlit_url):
    page.goto(streamlit_url)
    wait_for_app(page)
    wait_live_ready(page)
    agreed = []
    for digit in (0, 1, 2, 3, 4, 5, 7, 8):
        draw_strokes(page, drawing_for(digit, 0).strokes)
        state = wait_page_reading(page)
        server = prediction_value(page)
        server.wait_for(timeout=UPDATE_TIMEOUT_S * 1000)
        wait_until_idle(page, settle_ms=100)
        served = int(server.text_content().strip())
        deadline = time.monotonic() + UPDATE_TIMEOUT_S
        while (live := live_state(page))["server"] is None or live["server"]["fp"] != live["fp"]:
            assert time.monotonic() < deadline, f"the server's answer never reached the canvas: {live}"
            page.wait_for_timeout(50)
        assert live["server"]["prediction"] == served
        agreed.append((digit, state["page"]["prediction"], served))
        assert live_text(page) == str(served)  # what the canvas shows after pen-up is the server's class
        click_clear(page)
        assert live_text(page) == ""
    assert all(p == s for _, p, s in agreed), agreed


def test_the_model_is_downloaded_once(browser, streamlit_url):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    fetched: list[str] = []
    context.on("request", lambda r: fetched.append(r.url))
    try:
        page = context.new_page()
        page.goto(streamlit_url)
        wait_for_app(page)
        wait_live_ready(page)
        for digit in (3, 6):
            draw_strokes(page, drawing_for(digit, 0).strokes)
            wait_page_reading(page)
            prediction_value(page).wait_for(timeout=UPDATE_TIMEOUT_S * 1000)
            wait_until_idle(page, settle_ms=100)
            click_clear(page)
        page.get_by_role("slider", name="Routing iterations").focus()  # a rerun at 4 iterations
        page.keyboard.press("ArrowRight")
        wait_until_idle(page, settle_ms=300)
        wait_page_reading(page)
        draw_strokes(page, drawing_for(1, 0).strokes)
        wait_page_reading(page)
        wait_until_idle(page, settle_ms=300)
    finally:
        context.close()
    named = lambda suffix: [u for u in fetched if u.split("?")[0].endswith(suffix)]  # noqa: E731
    assert len(named(".stages")) == 1, named(".stages")
    assert len(named(".wasm")) == 1, named(".wasm")
    assert len(named("model_worker.js")) == 1, named("model_worker.js")


def test_without_webassembly_the_server_predicts_and_the_canvas_says_so_once(browser, streamlit_url):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.add_init_script("delete window.WebAssembly;")
    fetched: list[str] = []
    context.on("request", lambda r: fetched.append(r.url))
    try:
        page = context.new_page()
        page.goto(streamlit_url)
        wait_for_app(page)
        note = page.get_by_text("Live reading unavailable")
        note.wait_for(timeout=UPDATE_TIMEOUT_S * 1000)
        for digit in (2, 7):
            draw_strokes(page, drawing_for(digit, 0).strokes)
            prediction_value(page).filter(has_text=str(digit)).wait_for(timeout=UPDATE_TIMEOUT_S * 1000)
            wait_until_idle(page, settle_ms=100)
            assert note.count() == 1
            assert "WebAssembly" in note.text_content() and "predictions come from the server" in note.text_content()
            click_clear(page)
        assert not page.locator('[data-testid="capsvizLive"]').first.is_visible()
    finally:
        context.close()
    assert not [u for u in fetched if u.split("?")[0].endswith((".stages", ".wasm"))]
