"""Locators and actions for the app's drawing canvas (capsviz/app/components/canvas), for the e2e tests.

The canvas is one <canvas data-testid="capsvizCanvas"> inside the component's shadow root (Playwright's CSS
pierces it) whose logical coordinates are CANVAS x CANVAS whatever its CSS size; its toolbar's buttons are
found by their accessible names ("Undo", "Redo", "Clear", "Copy link"); ``root._capsviz`` on the ``.cv`` root
exposes the strokes it holds for tests.
"""

from __future__ import annotations

import re

from capsviz.bench.browser.pages import (
    ERRORS,
    READY_TIMEOUT_S,
    STROKE_PAUSE_MS,
    UPDATE_TIMEOUT_S,
    app_errors,
    prediction,
    prompt,
    wait_until_idle,
)
from capsviz.data.strokes import CANVAS

SELECTOR = '[data-testid="capsvizCanvas"]'
ROOT = ".cv"


def canvas(page):
    """The drawing surface: the one <canvas> that takes the pointer events and shows the ink."""
    return page.locator(SELECTOR).first


def root(page):
    return page.locator(ROOT).first


def button(page, name: str):
    """A button of the canvas's toolbar by its accessible name ("Undo", "Redo", "Clear", "Copy link")."""
    return root(page).get_by_role("button", name=re.compile(rf"^{re.escape(name)}$"))


def wait_for_app(page, timeout_s: float = READY_TIMEOUT_S) -> None:
    """After ``page.goto(app)``: wait for the prompt or a prediction (a shared link opens on one), raise with the
    page's errors if it shows errors instead, then for the canvas and for the script to finish."""
    prompt(page).or_(prediction(page)).or_(page.locator(ERRORS)).first.wait_for(timeout=timeout_s * 1000)
    if errors := app_errors(page):
        raise AssertionError(f"the app shows an error (is there a trained checkpoint?):\n{errors}")
    canvas(page).wait_for(timeout=timeout_s * 1000)
    wait_until_idle(page, settle_ms=100)


def canvas_box(page) -> dict:
    c = canvas(page)
    c.scroll_into_view_if_needed()
    box = c.bounding_box()
    if box is None:
        raise AssertionError("the canvas is not laid out")
    return box


def draw_strokes(page, strokes, steps: int = 2, pause_ms: int = STROKE_PAUSE_MS) -> None:
    """Replay strokes (canvas px, as capsviz.testsets.drawn_digits.Drawing.strokes) with the mouse: move to the
    stroke's start and press, move along the polyline in small steps, release. Scaled to the canvas's CSS size."""
    box = canvas_box(page)
    k = box["width"] / CANVAS
    ox, oy = box["x"], box["y"]
    mouse = page.mouse
    for i, stroke in enumerate(strokes):
        if i:
            page.wait_for_timeout(pause_ms)
        (x0, y0), rest = stroke[0], stroke[1:]
        mouse.move(ox + k * x0, oy + k * y0)
        mouse.down()
        for x, y in rest:
            mouse.move(ox + k * x, oy + k * y, steps=steps)
        mouse.up()


def ink_at(page, points) -> list[int]:
    """The canvas's red channel (0 black .. 255 white) at each (x, y) in logical canvas px."""
    return canvas(page).evaluate(
        """(c, [pts, size]) => { const k = c.width / size, ctx = c.getContext('2d');
            return pts.map(([x, y]) => ctx.getImageData(Math.floor(x * k), Math.floor(y * k), 1, 1).data[0]); }""",
        [[list(p) for p in points], CANVAS],
    )


def held(page) -> dict:
    """The drawing the canvas holds (its payload: {"v", "size", "strokes"})."""
    return root(page).evaluate("el => el._capsviz.drawing()")


def strokes_held(page) -> int:
    return root(page).evaluate("el => el._capsviz.strokes()")


def click_clear(page, timeout_s: float = UPDATE_TIMEOUT_S) -> None:
    """The canvas's Clear button; waits for the prompt and for the rerun to end."""
    button(page, "Clear").click()
    prompt(page).wait_for(timeout=timeout_s * 1000)
    prediction(page).wait_for(state="detached", timeout=timeout_s * 1000)
    wait_until_idle(page, settle_ms=100)
