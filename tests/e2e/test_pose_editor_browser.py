"""The pose editor in headless Chromium: the decoder runs in the page, so the reconstruction follows a slider
while it is dragged; the page's pixels equal capsviz.inspect.trace.reconstruct; keyboard, touch and reset work;
the pose reaches Python; the decoder weights travel once per session.

    python -m pytest tests/e2e/test_pose_editor_browser.py -s      # -s prints the measured numbers

The page under test is tests/e2e/pose_editor_page.py (the shipped checkpoint on fixed drawn digits).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from playwright.sync_api import Locator, Page, expect

from capsviz.bench.browser.pages import (
    UPDATE_TIMEOUT_S,
    slider_point,
    slider_range,
    wait_for_editor,
    wait_for_new_drawing,
    wait_until_idle,
)
from capsviz.inspect.trace import reconstruct
from capsviz.training.checkpoint import DEFAULT_DIR, load_model

pytestmark = pytest.mark.e2e

PAGE_SCRIPT = "tests/e2e/pose_editor_page.py"
TOLERANCE = 2 / 255  # page vs Python, per pixel


@pytest.fixture(scope="module")
def pose_url(serve_page) -> str:
    return serve_page(PAGE_SCRIPT)


@pytest.fixture(scope="module")
def model():
    return load_model(DEFAULT_DIR)


# --- helpers ---------------------------------------------------------------------------------


def _open(page: Page, url: str) -> Locator:
    page.goto(url, wait_until="domcontentloaded")
    editor = wait_for_editor(page)
    wait_until_idle(page, settle_ms=600)  # the page reports it holds the weights: one rerun
    return editor


def _api(editor: Locator, call: str):
    return editor.evaluate(f"el => el._capsviz.{call}")


def _python_side(page: Page) -> dict:
    """What the page script printed: {"sig", "capsule", "pose"} as Python returned it."""
    return json.loads(page.get_by_test_id("stCode").inner_text())


def _wait_python_pose(page: Page, pose: list[float], timeout_s: float = UPDATE_TIMEOUT_S) -> None:
    want = [round(v, 5) for v in pose]
    deadline_ms = timeout_s * 1000
    waited = 0
    while True:
        try:
            got = _python_side(page)["pose"]
        except Exception:  # the code block is being replaced by a rerun
            got = None
        if got is not None and np.allclose(got, want, atol=1.5e-5):
            return
        if waited > deadline_ms:
            raise AssertionError(f"Python still has {got}, the page shows {want}")
        page.wait_for_timeout(100)
        waited += 100


def _pick(page: Page, key_prefix: str, label: str) -> None:
    page.locator(f'[class*="st-key-{key_prefix}"]').get_by_role("radio", name=label, exact=True).click()


def _compare(model, editor: Locator, capsule: int, steps: list[int]) -> float:
    """Set the sliders (input events, as a user), read the page's 784 pixels, decode the same pose in Python."""
    pixels = np.array(_api(editor, f"setSteps({json.dumps(steps)})"), np.float64) / 255.0
    pose = np.array(_api(editor, "pose()"), np.float32)
    poses = np.zeros((10, 16), np.float32)
    poses[capsule] = pose
    ref = reconstruct(model, poses, capsule).reshape(-1)
    return float(np.abs(pixels - ref).max())


# --- tests -----------------------------------------------------------------------------------


def test_drag_redraws_before_release_and_the_pose_reaches_python(page: Page, pose_url: str) -> None:
    editor = _open(page, pose_url)
    start_python = _python_side(page)["pose"]
    before = _api(editor, "pixels()")
    _api(editor, "clearLog()")
    x, y = slider_point(editor, 0, 0)
    x_end, _ = slider_point(editor, 0, 20)
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(1, 11):
        page.mouse.move(x + (x_end - x) * i / 10, y)
        page.wait_for_timeout(40)
    log = _api(editor, "log()")
    during = _api(editor, "pixels()")
    drawn = {f["seq"] for f in log["frames"] if f["seq"] > 0}
    assert len(drawn) >= 5, f"only {len(drawn)} reconstructions drawn during a 10-move drag"
    assert during != before, "the reconstruction did not change while dragging"
    assert not [s for s in log["sent"] if s["name"] == "pose"], "the pose went to Python before the release"
    assert _python_side(page)["pose"] == start_python
    page.mouse.up()
    steps = _api(editor, "steps()")
    assert 15 <= steps[0] <= 20 and not any(steps[1:]), steps
    _wait_python_pose(page, _api(editor, "pose()"))
    print(f"\n{len(drawn)} frames drawn during a 10-move drag; Dimension 1 -> {steps[0]} steps; pose reached Python")


def test_page_reconstruction_equals_python_on_several_poses_and_capsules(page: Page, pose_url: str, model) -> None:
    editor = _open(page, pose_url)
    rng = np.random.default_rng(0)
    worst = 0.0
    cases = 0
    for drawn, capsules in (("3", (None, "8", "5")), ("7", (None, "1"))):
        if drawn != "3":
            old = _api(editor, "id()")
            _pick(page, "drawn", drawn)
            editor = wait_for_new_drawing(page, old)
            wait_until_idle(page)
        for capsule in capsules:
            if capsule is not None:
                old = _api(editor, "id()")
                _pick(page, "capsule_", capsule)
                editor = wait_for_new_drawing(page, old)
                wait_until_idle(page)
            digit = _api(editor, "digit()")
            assert _python_side(page)["capsule"] == digit
            ranges = [slider_range(editor, d) for d in range(16)]
            poses = [
                [0] * 16,  # the capsule's own pose
                [int(rng.integers(lo, hi + 1)) for lo, hi in ranges],
                [hi if d % 2 else lo for d, (lo, hi) in enumerate(ranges)],  # every slider at an end
            ]
            for steps in poses:
                diff = _compare(model, editor, digit, steps)
                worst = max(worst, diff)
                cases += 1
                assert diff <= TOLERANCE, f"input {drawn}, capsule {digit}, steps {steps}: {diff * 255:.2f}/255"
    print(f"\npage vs Python over {cases} poses (2 drawings, 5 capsules): max |diff| = {worst * 255:.3f}/255")


def test_keyboard_moves_a_slider_with_a_focus_ring_and_reset_restores(page: Page, pose_url: str) -> None:
    editor = _open(page, pose_url)
    start_pixels = _api(editor, "pixels()")
    start_pose = _api(editor, "pose()")
    editor.locator(".pe-range").nth(0).focus()
    page.keyboard.press("Tab")  # keyboard navigation: the next slider shows its focus ring
    slider = editor.get_by_role("slider", name="Dimension 2")
    expect(slider).to_be_focused()
    assert slider.evaluate("el => el.matches(':focus-visible') && getComputedStyle(el).outlineStyle === 'solid'")
    for key in ["ArrowRight"] * 5 + ["ArrowLeft"]:
        page.keyboard.press(key)
    steps = _api(editor, "steps()")
    assert steps[1] == 4 and not any(steps[:1] + steps[2:]), steps
    pose = _api(editor, "pose()")
    assert pose[1] == pytest.approx(start_pose[1] + 0.04, abs=1e-9)
    expect(slider).to_have_attribute("aria-valuetext", f"{pose[1]:.2f}")
    assert _api(editor, "pixels()") != start_pixels
    # Six presses inside the status line's 250 ms refresh: it still ends on the last frame's pose length.
    length = f"Pose length {np.linalg.norm(pose):.2f} "
    expect(editor.locator(".pe-status")).to_contain_text(length, timeout=1_000)
    _wait_python_pose(page, pose)

    reset = editor.get_by_role("button", name="Reset pose")
    expect(reset).to_be_enabled()
    reset.click()
    assert _api(editor, "steps()") == [0] * 16
    assert _api(editor, "pixels()") == start_pixels
    expect(reset).to_be_disabled()
    _wait_python_pose(page, start_pose)


def test_new_drawing_or_capsule_resets_the_sliders_and_the_weights_travel_once(page: Page, pose_url: str) -> None:
    editor = _open(page, pose_url)
    received = _api(editor, "log().received")
    assert received[0]["weights"] and received[0]["bytes"] > 2_000_000
    assert not any(r["weights"] for r in received[1:])
    first_id = _api(editor, "id()")
    _api(editor, "setSteps([5, -5, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12])")

    _pick(page, "drawn", "7")  # a new drawing
    editor = wait_for_new_drawing(page, first_id)
    wait_until_idle(page)
    assert _api(editor, "steps()") == [0] * 16
    later = [r for r in _api(editor, "log().received") if r["id"] != first_id]
    assert later and not any(r["weights"] for r in later) and max(r["bytes"] for r in later) < 10_000
    second_id = _api(editor, "id()")
    _api(editor, "setSteps([0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])")

    _pick(page, "capsule_", "2")  # another capsule of the same drawing
    editor = wait_for_new_drawing(page, second_id)
    wait_until_idle(page)
    assert _api(editor, "digit()") == 2 and _api(editor, "steps()") == [0] * 16
    assert not any(r["weights"] for r in _api(editor, "log().received") if r["id"] not in (first_id, second_id))
    _wait_python_pose(page, _api(editor, "pose()"))
    print(
        f"\nbytes to the component: first drawing {' + '.join(str(r['bytes']) for r in received)}, "
        f"next drawing {' + '.join(str(r['bytes']) for r in later)}"
    )


def _layout(page: Page, editor: Locator) -> dict:
    return editor.evaluate(
        """el => {
            const r = el.getBoundingClientRect();
            const main = document.querySelector('[data-testid="stMainBlockContainer"]').getBoundingClientRect();
            const canvases = [...el.querySelectorAll('canvas')].map(c => c.getBoundingClientRect().width);
            const ranges = [...el.querySelectorAll('.pe-range')].map(i => i.getBoundingClientRect());
            return {left: r.left, right: r.right, mainLeft: main.left, mainRight: main.right,
                    overflow: el.scrollWidth - el.clientWidth, pageOverflow: document.documentElement.scrollWidth
                    - document.documentElement.clientWidth, canvases, sliders: ranges.length,
                    sliderRight: Math.max(...ranges.map(b => b.right)),
                    minSliderWidth: Math.min(...ranges.map(b => b.width)),
                    touchAction: getComputedStyle(el.querySelector('.pe-range')).touchAction};
        }"""
    )


def test_fits_a_desktop_main_column_and_a_phone_and_drags_by_touch(browser, pose_url: str, screenshot_dir) -> None:
    desktop = browser.new_context(viewport={"width": 1280, "height": 1000})
    try:
        page = desktop.new_page()
        editor = _open(page, pose_url)
        box = _layout(page, editor)
        assert box["mainLeft"] - 1 <= box["left"] and box["right"] <= box["mainRight"] + 1, box
        assert box["overflow"] <= 0 and box["pageOverflow"] <= 0 and box["sliders"] == 16, box
        assert box["canvases"] == [168, 168], box
        page.screenshot(path=str(screenshot_dir / "pose-editor-1280.png"), full_page=True)
    finally:
        desktop.close()

    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=3, is_mobile=True, has_touch=True
    )
    try:
        page = phone.new_page()
        editor = _open(page, pose_url)
        box = _layout(page, editor)
        assert box["right"] <= 390 and box["sliderRight"] <= 390, box
        assert box["overflow"] <= 0 and box["pageOverflow"] <= 0, box
        assert min(box["canvases"]) >= 140 and box["minSliderWidth"] >= 120, box
        assert box["touchAction"] == "none", box
        page.screenshot(path=str(screenshot_dir / "pose-editor-390.png"), full_page=True)

        # A finger drags Dimension 3: the slider follows, the reconstruction is redrawn, the page does not scroll.
        x, y = slider_point(editor, 2, 0)
        x_end, _ = slider_point(editor, 2, 15)
        scroll_before = page.evaluate("() => [...document.querySelectorAll('*')].map(e => e.scrollTop).join()")
        _api(editor, "clearLog()")
        cdp = phone.new_cdp_session(page)
        touch = lambda kind, px, py: cdp.send(  # noqa: E731
            "Input.dispatchTouchEvent",
            {"type": kind, "touchPoints": [] if kind == "touchEnd" else [{"x": px, "y": py}]},
        )
        touch("touchStart", x, y)
        for i in range(1, 11):
            touch("touchMove", x + (x_end - x) * i / 10, y - 3 * i)  # a little vertical drift, as fingers do
            page.wait_for_timeout(30)
        touch("touchEnd", 0, 0)
        steps = _api(editor, "steps()")
        frames = {f["seq"] for f in _api(editor, "log().frames") if f["seq"] > 0}
        assert steps[2] >= 10 and not any(steps[:2] + steps[3:]), steps
        assert len(frames) >= 5, frames
        assert page.evaluate("() => [...document.querySelectorAll('*')].map(e => e.scrollTop).join()") == scroll_before
    finally:
        phone.close()


NAME_LAYOUT = """el => ({
    clipped: [...el.querySelectorAll('.pe-dim label')]
        .filter(l => l.scrollHeight > l.clientHeight + 1 || l.scrollWidth > l.clientWidth + 1)
        .map(l => l.textContent.trim()),
    rows: Object.values([...el.querySelectorAll('.pe-dim')].reduce((rows, d) => {
        const top = Math.round(d.getBoundingClientRect().top);
        const track = d.querySelector('.pe-range').getBoundingClientRect();
        (rows[top] = rows[top] || []).push(Math.round(track.top + track.height / 2));
        return rows; }, {})),
})"""


@pytest.mark.parametrize("width", [1440, 390])
def test_measured_names_show_whole_and_each_row_of_sliders_is_level(browser, pose_url: str, width: int) -> None:
    """With the atlas's names ("13 · bottom end moves down"), at a wide window (images beside four slider
    columns, the narrowest) and on a phone: no name is cut off, and the tracks of a row line up."""
    context = browser.new_context(viewport={"width": width, "height": 1000})
    try:
        page = context.new_page()
        editor = _open(page, pose_url + "?named=1")
        for capsule in range(10):
            if capsule != _api(editor, "digit()"):
                old_id = _api(editor, "id()")
                _pick(page, "capsule_", str(capsule))
                editor = wait_for_new_drawing(page, old_id)
                wait_until_idle(page, settle_ms=200)
            assert _api(editor, "digit()") == capsule
            expect(editor.locator(".pe-dim label").first).not_to_have_text("Dimension 1")
            layout = editor.evaluate(NAME_LAYOUT)
            assert layout["clipped"] == [], f"capsule {capsule} at {width} px: names cut off: {layout['clipped']}"
            assert all(max(r) - min(r) <= 1 for r in layout["rows"]), (capsule, width, layout["rows"])
    finally:
        context.close()
