"""The drawing canvas in headless Chromium: it keeps its size at any window width, the prediction follows every
stroke, and undo, redo, the canvas's own reset and the Clear button bring back what they should.

    python -m pytest tests/e2e/test_canvas_browser.py -s

(A stroke begun in the canvas's top-right corner is tests/e2e/test_browser.py's 7, drawn there on purpose.)
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from capsviz.bench.browser import (
    UPDATE_TIMEOUT_MS,
    app_errors,
    canvas_box,
    click_clear,
    draw_strokes,
    ink_at,
    prediction,
    prediction_value,
    prompt,
    upper_canvas,
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


def _toolbar(page: Page, name: str):
    """A button of the canvas's own toolbar (streamlit-drawable-canvas), by its accessible name."""
    return page.get_by_role("button", name=name, exact=True)


@pytest.mark.parametrize("window", [PHONE, WIDE], ids=["phone-390", "wide-1600"])
def test_canvas_keeps_its_size_and_takes_strokes_at_any_width(browser, streamlit_url: str, window: dict) -> None:
    context = browser.new_context(**window)
    try:
        page = context.new_page()
        page.goto(streamlit_url, wait_until="domcontentloaded")
        wait_for_app(page)
        width = window["viewport"]["width"]
        box = canvas_box(page)
        ink = page.locator("canvas.dc-canvas.lower-canvas").first.bounding_box()
        for b in (box, ink):
            assert abs(b["width"] - CANVAS) < 1 and abs(b["height"] - CANVAS) < 1, f"canvas {b} at width {width}"
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, f"canvas {box} not inside a {width} px window"
        # Nothing covers or clips it: its corners and centre are the canvas's own event layer.
        inset = 4
        points = [
            [box["x"] + dx, box["y"] + dy]
            for dx in (inset, CANVAS / 2, CANVAS - inset)
            for dy in (inset, CANVAS / 2, CANVAS - inset)
        ]
        hits = page.evaluate(HIT_TEST, points)
        assert all("upper-canvas" in (h or "") for h in hits), f"at width {width}, under the canvas: {hits}"
        undo = _toolbar(page, "Undo")
        expect(undo).to_be_visible()
        ub = undo.bounding_box()  # above the drawing area (canvas_toolbar_fix.js), not over its corner
        assert ub["x"] >= 0 and ub["x"] + ub["width"] <= width and ub["y"] + ub["height"] <= box["y"] + 1, ub

        # A 1 along the canvas's right-hand side is drawn and read: the whole width takes strokes.
        one = drawing_for(1, centre=(CANVAS - 30.0, CANVAS / 2), height=0.6 * CANVAS, width=PEN_WIDTH)
        draw_strokes(page, one.strokes)
        _expect_prediction(page, 1, f"a 1 at the right edge, window {width} px")
        assert min(ink_at(page, one.strokes[0][:: max(1, len(one.strokes[0]) // 5)])) > 200
        print(f"\nwindow {width} px: canvas {box['width']:.0f}x{box['height']:.0f} at x={box['x']:.0f}, 1 read")
    finally:
        context.close()


def test_each_stroke_updates_the_prediction_and_undo_redo_reset_and_clear(page: Page, streamlit_url: str) -> None:
    """A 4's stem alone is a 1; its other stroke makes it a 4. Each stroke updates the prediction; Undo brings
    the 1 back, Redo the 4; the toolbar's reset and the Clear button bring back the prompt."""
    page.goto(streamlit_url, wait_until="domcontentloaded")
    wait_for_app(page)
    four = drawing_for(4, style=1, centre=(140.0, 140.0), height=200, width=PEN_WIDTH)  # "closed": two strokes
    bar, stem = four.strokes

    draw_strokes(page, [stem])
    _expect_prediction(page, 1, "the 4's stem alone")
    draw_strokes(page, [bar])
    _expect_prediction(page, 4, "the stem and the 4's other stroke")

    _toolbar(page, "Undo").click()
    _expect_prediction(page, 1, "after Undo")
    assert (
        ink_at(page, [bar[len(bar) // 4]]) == [0] and ink_at(page, [stem[len(stem) // 2]])[0] > 200
    )  # on the diagonal
    _toolbar(page, "Redo").click()
    _expect_prediction(page, 4, "after Redo")

    _toolbar(page, "Reset canvas & history").click()
    _expect_prompt(page)

    draw_strokes(page, [stem])
    _expect_prediction(page, 1, "the stem, drawn again after the reset")
    click_clear(page)
    _expect_prompt(page)
    expect(upper_canvas(page)).to_be_visible()
    assert ink_at(page, [stem[0], stem[len(stem) // 2], stem[-1]]) == [0, 0, 0], "Clear left ink on the canvas"
