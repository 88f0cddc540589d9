"""Locators and actions for the pages the benchmark and the e2e tests drive in the browser: the pose editor (its
root, sliders, a new drawing arriving) and the app page (Prediction, prompt, tabs, and the drawing canvas: its
locators, mouse strokes scaled to its CSS size, the ink read back, its toolbar's buttons).

tests/e2e imports these, so the benchmark and the tests read the page the same way."""

from __future__ import annotations

import re
import time

from capsviz.bench.browser.serve import READY_TIMEOUT_S
from capsviz.data.strokes import CANVAS

EDITOR = ".pe"  # the component's root element (inside its shadow root; Playwright's CSS pierces it)
UPDATE_TIMEOUT_S = 30.0  # a rerun's answer (a new drawing, a Clear, the page going idle) on a busy 2-core machine
UPDATE_TIMEOUT_MS = int(1000 * UPDATE_TIMEOUT_S)  # the same, in Playwright's unit


# --- the pose editor ---------------------------------------------------------------------------


def wait_for_editor(page, timeout_s: float = READY_TIMEOUT_S):
    """The editor's root locator, once it has drawn a reconstruction (the decoder weights have arrived)."""
    editor = page.locator(EDITOR).first
    editor.wait_for(timeout=timeout_s * 1000)
    page.wait_for_function(
        "(el) => el._capsviz && el._capsviz.hasModel() && el._capsviz.log().frames.length > 0",
        arg=editor.element_handle(),
        timeout=timeout_s * 1000,
    )
    return editor


def wait_for_new_drawing(page, old_id: str | None, timeout_s: float = UPDATE_TIMEOUT_S):
    """The editor's root once it shows another drawing or capsule than ``old_id`` (a new key may mount a
    new element, so the root is looked up afresh each time)."""
    deadline = time.monotonic() + timeout_s
    while True:
        editor = page.locator(EDITOR).first
        try:
            if editor.evaluate("el => el._capsviz && el._capsviz.id()", timeout=2000) not in (old_id, None):
                return editor
        except Exception:  # detached while the page swaps elements: look again
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"the pose editor still shows {old_id} after {timeout_s:.0f} s")
        page.wait_for_timeout(50)


def wait_until_idle(page, timeout_s: float = UPDATE_TIMEOUT_S, settle_ms: int = 300) -> None:
    """Let a rerun start, then wait until Streamlit reports that the script is not running."""
    page.wait_for_timeout(settle_ms)
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=timeout_s * 1000)


def slider_point(editor, dim: int, step: int) -> tuple[float, float]:
    """Page coordinates of slider ``dim``'s thumb centre at ``step`` (steps from the starting value)."""
    rng = editor.locator(".pe-range").nth(dim)
    rng.scroll_into_view_if_needed()
    box = rng.bounding_box()
    lo, hi, thumb = rng.evaluate(
        "el => [Number(el.min), Number(el.max), parseFloat(getComputedStyle(el).getPropertyValue('--pe-thumb'))]"
    )
    f = (step - lo) / (hi - lo)
    return box["x"] + thumb / 2 + f * (box["width"] - thumb), box["y"] + box["height"] / 2


def slider_range(editor, dim: int) -> tuple[int, int]:
    return tuple(editor.locator(".pe-range").nth(dim).evaluate("el => [Number(el.min), Number(el.max)]"))


# --- the app page (streamlit_app.py): locators and actions, shared with tests/e2e --------------------

SCRIPT_IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
ERRORS = '[data-testid="stException"], [data-testid="stAlertContentError"]'
STROKE_PAUSE_MS = 120  # a person lifts the pen for a moment between strokes


def plain(markdown: str) -> str:
    """The text a label shows: ``:material/hub: Routing`` -> ``Routing``, ``**Draw**`` -> ``Draw``."""
    return re.sub(r":material/\w+:\s*", "", markdown).replace("**", "").strip()


def prompt_text(markdown: str) -> str:
    """The bold words of a prompt (``"✏️ **Draw a digit** (0–9) ..."`` -> ``"Draw a digit"``): what the page
    shows verbatim, where emoji and dashes may be rendered otherwise."""
    bold = re.search(r"\*\*(.+?)\*\*", markdown)
    return bold.group(1) if bold else plain(markdown)


def prediction(page):
    """The "Prediction" metric (absent while there is no readable input)."""
    label = page.get_by_test_id("stMetricLabel").get_by_text("Prediction", exact=True)
    return page.get_by_test_id("stMetric").filter(has=label)


def prediction_value(page):
    return prediction(page).get_by_test_id("stMetricValue")


def prompt(page):
    """The "Draw a digit" info box (capsviz.app.text.DRAW_PROMPT), not the page caption that mentions it."""
    from capsviz.app.text import DRAW_PROMPT

    return page.get_by_test_id("stAlert").filter(has_text=prompt_text(DRAW_PROMPT))


def app_errors(page) -> str:
    return "\n".join(t.strip() for t in page.locator(ERRORS).all_inner_texts())


def wait_for_app(page, timeout_s: float = READY_TIMEOUT_S) -> None:
    """After ``page.goto(app)``: wait for the prompt or a prediction (a shared link opens on one), raise with the
    page's errors if it shows errors instead (the first load imports torch and loads the model), then for the
    canvas and for the script to finish."""
    prompt(page).or_(prediction(page)).or_(page.locator(ERRORS)).first.wait_for(timeout=timeout_s * 1000)
    if errors := app_errors(page):
        raise AssertionError(f"the app shows an error (is there a trained checkpoint?):\n{errors}")
    canvas(page).wait_for(timeout=timeout_s * 1000)
    wait_until_idle(page, settle_ms=100)


# --- the drawing canvas (capsviz/app/components/canvas) ---------------------------------------------------
# One <canvas data-testid="capsvizCanvas"> inside the component's shadow root (Playwright's CSS pierces it), whose
# logical coordinates are CANVAS x CANVAS whatever its CSS size; its toolbar's buttons are found by their
# accessible names ("Undo", "Redo", "Clear", "Copy link"); ``root._capsviz`` on the ``.cv`` root exposes the
# strokes it holds (and its log: sends, frames) for tests and the benchmark.

CANVAS_SELECTOR = '[data-testid="capsvizCanvas"]'
CANVAS_ROOT = ".cv"


def canvas(page):
    """The drawing surface: the one <canvas> that takes the pointer events and shows the ink."""
    return page.locator(CANVAS_SELECTOR).first


def canvas_root(page):
    return page.locator(CANVAS_ROOT).first


def canvas_button(page, name: str):
    """A button of the canvas's toolbar by its accessible name ("Undo", "Redo", "Clear", "Copy link")."""
    return canvas_root(page).get_by_role("button", name=re.compile(rf"^{re.escape(name)}$"))


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
    return canvas_root(page).evaluate("el => el._capsviz.drawing()")


def strokes_held(page) -> int:
    return canvas_root(page).evaluate("el => el._capsviz.strokes()")


def click_clear(page, timeout_s: float = UPDATE_TIMEOUT_S) -> None:
    """The canvas's Clear button; waits for the prompt and for the rerun to end."""
    canvas_button(page, "Clear").click()
    prompt(page).wait_for(timeout=timeout_s * 1000)
    prediction(page).wait_for(state="detached", timeout=timeout_s * 1000)
    wait_until_idle(page, settle_ms=100)


def tab(page, label: str):
    """The tab whose label (capsviz.app.state.TABS) is ``label``."""
    return page.get_by_role("tab").filter(has_text=plain(label))


def open_tab(page, label: str, timeout_s: float = 60.0) -> None:
    tab(page, label).click()
    page.wait_for_function("el => el.getAttribute('aria-selected') === 'true'", arg=tab(page, label).element_handle())
    wait_until_idle(page, timeout_s=timeout_s, settle_ms=300)
