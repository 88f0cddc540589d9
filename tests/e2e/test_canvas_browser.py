"""The drawing canvas (capsviz/app/components/canvas) in headless Chromium: it keeps its size at any window
width; each pen-up sends the strokes at once and the prediction follows; undo, redo and clear by button and by
key; a finger draws on a phone without scrolling the page; a shared link opens the same drawing, prediction and
tab, and a damaged one shows a message and an empty canvas.

    python -m pytest tests/e2e/test_canvas_browser.py -s
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from capsviz.app import state
from capsviz.bench.browser.pages import (
    UPDATE_TIMEOUT_MS,
    app_errors,
    canvas,
    canvas_box,
    canvas_button,
    canvas_root,
    click_clear,
    draw_strokes,
    held,
    ink_at,
    open_tab,
    prediction,
    prediction_value,
    prompt,
    strokes_held,
    tab,
    wait_for_app,
    wait_until_idle,
)
from capsviz.testsets.drawn_digits import CANVAS, PEN_WIDTH, drawing_for

pytestmark = pytest.mark.e2e

PHONE = dict(viewport={"width": 390, "height": 844}, device_scale_factor=3, is_mobile=True, has_touch=True)
WIDE = dict(viewport={"width": 1600, "height": 1000}, device_scale_factor=1)

# In the page: what is under each point (page CSS px), looking through shadow roots (the canvas is a
# component's), as the class names of the innermost element.
HIT_TEST = """pts => pts.map(([x, y]) => {
  let el = document.elementFromPoint(x, y);
  while (el && el.shadowRoot) {
    const inner = el.shadowRoot.elementFromPoint(x, y);
    if (!inner || inner === el) break;
    el = inner;
  }
  return el ? String(el.className) : null;
})"""


def _expect_prediction(page: Page, digit: int, what: str) -> None:
    try:
        expect(prediction_value(page)).to_have_text(str(digit), timeout=UPDATE_TIMEOUT_MS)
    except AssertionError as exc:
        shown = prediction_value(page).all_inner_texts()
        raise AssertionError(f"{what}: expected {digit}, the page shows {shown}; {app_errors(page)}") from exc
    wait_until_idle(page, settle_ms=400)
    expect(prediction_value(page)).to_have_text(str(digit))


def _expect_prompt(page: Page) -> None:
    expect(prompt(page)).to_be_visible(timeout=UPDATE_TIMEOUT_MS)
    expect(prediction(page)).to_have_count(0, timeout=UPDATE_TIMEOUT_MS)
    wait_until_idle(page, settle_ms=300)


def _draw_and_read(page: Page, strokes, digit: int, what: str) -> None:
    draw_strokes(page, strokes)
    _expect_prediction(page, digit, what)


@pytest.mark.parametrize("window", [PHONE, WIDE], ids=["phone-390", "wide-1600"])
def test_canvas_keeps_its_size_and_takes_strokes_at_any_width(browser, streamlit_url: str, window: dict) -> None:
    context = browser.new_context(**window)
    try:
        page = context.new_page()
        page.goto(streamlit_url, wait_until="domcontentloaded")
        wait_for_app(page)
        width = window["viewport"]["width"]
        box = canvas_box(page)
        assert abs(box["width"] - CANVAS) < 1 and abs(box["height"] - CANVAS) < 1, f"canvas {box} at width {width}"
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, f"canvas {box} not inside a {width} px window"
        # sharp on high-DPI screens: the backing store is the CSS size times the device pixel ratio
        dpr = window.get("device_scale_factor", 1)
        backing = canvas_root(page).evaluate("el => el._capsviz.backing()")
        assert backing[:2] == [round(CANVAS * dpr)] * 2, (backing, dpr)
        # Nothing covers or clips it: its corners and centre are the canvas itself.
        inset = 4
        points = [
            [box["x"] + dx, box["y"] + dy]
            for dx in (inset, CANVAS / 2, CANVAS - inset)
            for dy in (inset, CANVAS / 2, CANVAS - inset)
        ]
        hits = page.evaluate(HIT_TEST, points)
        assert all("cv-canvas" in (h or "") for h in hits), f"at width {width}, under the canvas: {hits}"
        for name in ("Undo", "Redo", "Clear", "Copy link"):  # the toolbar: above the drawing area, in the window
            b = canvas_button(page, name).bounding_box()
            assert b and b["x"] >= 0 and b["x"] + b["width"] <= width and b["y"] + b["height"] <= box["y"] + 1, b

        # A 1 along the canvas's right-hand side is drawn and read: the whole width takes strokes.
        one = drawing_for(1, centre=(CANVAS - 30.0, CANVAS / 2), height=0.6 * CANVAS, width=PEN_WIDTH)
        _draw_and_read(page, one.strokes, 1, f"a 1 at the right edge, window {width} px")
        assert min(ink_at(page, one.strokes[0][:: max(1, len(one.strokes[0]) // 5)])) > 200
        print(f"\nwindow {width} px: canvas {box['width']:.0f}x{box['height']:.0f} at x={box['x']:.0f}, 1 read")
    finally:
        context.close()


# Each mouse-up and each state the canvas sends, in the page's clock.
SEND_PROBE = """() => {
  if (window.__capsvizUps) return;
  window.__capsvizUps = [];
  window.addEventListener("pointerup", () => window.__capsvizUps.push(performance.now()), true);
}"""


def test_one_stroke_is_sent_at_pen_up_without_waiting(page: Page, streamlit_url: str) -> None:
    """The canvas sends the strokes at pen-up (no debounce), and the prediction comes."""
    page.goto(streamlit_url, wait_until="domcontentloaded")
    wait_for_app(page)
    page.evaluate(SEND_PROBE)
    zero = drawing_for(0, style=0, centre=(140.0, 140.0), height=200, width=PEN_WIDTH)  # one stroke
    assert len(zero.strokes) == 1
    draw_strokes(page, zero.strokes)
    ups = page.evaluate("() => window.__capsvizUps")
    page.wait_for_function("el => el._capsviz.log().sent.length > 0", arg=canvas_root(page).element_handle())
    sent = canvas_root(page).evaluate("el => el._capsviz.log().sent.map((s) => s.t)")
    assert len(ups) == 1 and len(sent) == 1, (ups, sent)
    # No debounce: the strokes leave at pen-up or, once the page reads drawings itself, as soon as it has read this
    # one, at most 60 ms later (canvas.js SEND_AFTER_READING_MS), so the rerun does not slow the page's own answer.
    assert 0 <= sent[0] - ups[0] < 85, f"the canvas sent {sent[0] - ups[0]:.0f} ms after the pen-up"
    _expect_prediction(page, 0, "a 0 in one stroke")
    drawing = held(page)
    assert drawing["v"] == 1 and drawing["size"] == CANVAS and len(drawing["strokes"]) == 1
    p = drawing["strokes"][0]["p"]
    assert len(p) % 3 == 0 and len(p) >= 30 and all(isinstance(v, int) for v in p), p[:12]
    assert drawing["strokes"][0]["w"] == PEN_WIDTH and drawing["strokes"][0]["pen"] == 0


def test_each_stroke_updates_the_prediction_and_undo_redo_clear_by_button(page: Page, streamlit_url: str) -> None:
    """A 4's stem alone is a 1; its other stroke makes it a 4 (read after the second stroke). Undo brings the 1
    back, Redo the 4; Clear brings back the prompt."""
    page.goto(streamlit_url, wait_until="domcontentloaded")
    wait_for_app(page)
    four = drawing_for(4, style=1, centre=(140.0, 140.0), height=200, width=PEN_WIDTH)  # "closed": two strokes
    bar, stem = four.strokes

    _draw_and_read(page, [stem], 1, "the 4's stem alone")
    _draw_and_read(page, [bar], 4, "the stem and the 4's other stroke")

    canvas_button(page, "Undo").click()
    _expect_prediction(page, 1, "after Undo")
    assert ink_at(page, [bar[len(bar) // 4]]) == [0] and ink_at(page, [stem[len(stem) // 2]])[0] > 200
    canvas_button(page, "Redo").click()
    _expect_prediction(page, 4, "after Redo")
    assert strokes_held(page) == 2

    click_clear(page)
    _expect_prompt(page)
    expect(canvas(page)).to_be_visible()
    assert ink_at(page, [stem[0], stem[len(stem) // 2], stem[-1]]) == [0, 0, 0], "Clear left ink on the canvas"
    canvas_button(page, "Undo").click()  # a clear can be undone
    _expect_prediction(page, 4, "Undo after Clear")


def test_undo_redo_clear_by_key(page: Page, streamlit_url: str) -> None:
    """Ctrl+Z, Ctrl+Shift+Z, Delete and Backspace on the focused canvas; the prediction follows each."""
    page.goto(streamlit_url, wait_until="domcontentloaded")
    wait_for_app(page)
    four = drawing_for(4, style=1, centre=(140.0, 140.0), height=200, width=PEN_WIDTH)
    bar, stem = four.strokes
    _draw_and_read(page, [stem], 1, "the stem")
    _draw_and_read(page, [bar], 4, "the 4")
    canvas(page).focus()
    page.keyboard.press("Control+z")
    _expect_prediction(page, 1, "after Ctrl+Z")
    page.keyboard.press("Control+Shift+z")
    _expect_prediction(page, 4, "after Ctrl+Shift+Z")
    page.keyboard.press("Delete")
    _expect_prompt(page)
    page.keyboard.press("Control+z")
    _expect_prediction(page, 4, "Ctrl+Z after Delete")
    canvas_button(page, "Redo").focus()  # the toolbar takes the keys too
    page.keyboard.press("Backspace")
    _expect_prompt(page)
    assert strokes_held(page) == 0
    # keyboard focus is visible (:focus-visible), on the canvas and on the toolbar's buttons
    canvas(page).focus()
    assert canvas(page).evaluate("c => getComputedStyle(c).outlineStyle") == "solid"
    page.keyboard.press("Shift+Tab")
    outline = canvas_root(page).evaluate("el => getComputedStyle(el.getRootNode().activeElement).outlineStyle")
    assert outline == "solid", outline


def test_a_finger_draws_on_a_phone_without_scrolling_the_page(browser, streamlit_url: str) -> None:
    """390x844 with touch: touch events on the canvas draw (and are read); the page does not scroll."""
    context = browser.new_context(**PHONE)
    try:
        page = context.new_page()
        page.goto(streamlit_url, wait_until="domcontentloaded")
        wait_for_app(page)
        box = canvas_box(page)
        page.evaluate("() => window.scrollTo(0, 0)")
        scroller = page.evaluate(SCROLL_TOPS)
        cdp = context.new_cdp_session(page)
        one = drawing_for(1, style=0, centre=(140.0, 140.0), height=200, width=PEN_WIDTH)
        k = box["width"] / CANVAS
        (stroke,) = one.strokes
        pts = [(box["x"] + k * x, box["y"] + k * y) for x, y in stroke]

        def touch(kind: str, xy) -> None:
            points = [] if xy is None else [{"x": xy[0], "y": xy[1], "id": 1}]
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

        touch("touchStart", pts[0])
        for xy in pts[1:]:
            touch("touchMove", xy)
        touch("touchEnd", None)
        _expect_prediction(page, 1, "a 1 drawn with a finger")
        assert page.evaluate(SCROLL_TOPS) == scroller, "the page scrolled while the finger drew"
        assert strokes_held(page) == 1
        assert min(ink_at(page, stroke[:: max(1, len(stroke) // 5)])) > 200
        assert canvas(page).evaluate("c => getComputedStyle(c).touchAction") == "none"
    finally:
        context.close()


# The page's scroll positions: the window's and Streamlit's scrolling main area's.
SCROLL_TOPS = """() => [window.scrollY,
  ...[...document.querySelectorAll('[data-testid="stMain"], [data-testid="stAppViewContainer"], section')]
    .map((el) => el.scrollTop)]"""


def test_a_shared_link_opens_the_same_drawing_prediction_and_tab(browser, streamlit_url: str) -> None:
    """Draw a 7, open the Routing tab, copy the link; a new browser context opening it shows the 7, its
    prediction and the Routing tab."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    try:
        page = context.new_page()
        page.goto(streamlit_url, wait_until="domcontentloaded")
        wait_for_app(page)
        seven = drawing_for(7, style=0, centre=(140.0, 140.0), height=200, width=PEN_WIDTH)
        _draw_and_read(page, seven.strokes, 7, "the 7 to share")
        open_tab(page, state.ROUTING_TAB)
        expect(page).to_have_url(re.compile(r"[?&]tab=routing"), timeout=UPDATE_TIMEOUT_MS)
        canvas_button(page, "Copy link").click()
        expect(canvas_root(page).get_by_text("Link copied")).to_be_visible()
        url = page.evaluate("() => navigator.clipboard.readText()")
        assert url == page.url and "d=" in url and "src=draw" in url and "it=" in url, url
        drawn = held(page)
    finally:
        context.close()

    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    try:
        page = context.new_page()
        page.goto(url, wait_until="domcontentloaded")
        wait_for_app(page)
        _expect_prediction(page, 7, "the shared link")
        assert held(page) == drawn, "the shared link's drawing differs from the one drawn"
        assert min(ink_at(page, seven.strokes[0][:: max(1, len(seven.strokes[0]) // 5)])) > 200
        expect(tab(page, state.ROUTING_TAB)).to_have_attribute("aria-selected", "true")
        # it keeps drawing: a stroke more is a new drawing, and the link follows it
        before = page.url
        draw_strokes(page, [[(40, 250), (60, 250)]])
        expect(page).not_to_have_url(before, timeout=UPDATE_TIMEOUT_MS)
        assert strokes_held(page) == len(seven.strokes) + 1
    finally:
        context.close()


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_link_shows_a_message_and_an_empty_canvas(page: Page, streamlit_url: str, damage: str) -> None:
    page.goto(streamlit_url, wait_until="domcontentloaded")
    wait_for_app(page)
    seven = drawing_for(7, style=0, centre=(140.0, 140.0), height=200, width=PEN_WIDTH)
    _draw_and_read(page, seven.strokes, 7, "the 7 whose link is damaged")
    url = page.url
    d = re.search(r"[?&]d=([^&]*)", url).group(1)
    bad = url.replace(d, d[: len(d) // 2] if damage == "truncated" else "%00%ff!!not-a-drawing")
    page.goto(bad, wait_until="domcontentloaded")
    alert = page.get_by_test_id("stAlertContentError").filter(has_text="cannot be read")
    expect(alert).to_be_visible(timeout=UPDATE_TIMEOUT_MS * 3)
    expect(canvas(page)).to_be_visible()
    wait_until_idle(page)
    assert "d=" not in page.url  # the damaged drawing is gone from the address too
    assert not page.get_by_test_id("stException").count()
    expect(prediction(page)).to_have_count(0)
    assert strokes_held(page) == 0
    _draw_and_read(page, seven.strokes, 7, "a 7 drawn after the damaged link")  # the canvas works
