"""Routing plays in the page: the Routing tab's figure (capsviz.figures.playback.with_playback) has one plotly frame per
routing iteration, a ▶ Play button and a slider. Play shows every iteration in order at about two a second
and the slider steps by hand, all in the browser: no websocket message leaves the page and the script never
runs meanwhile. When a play ends (or is paused), the slider's step and the frame shown agree.

    python -m pytest tests/e2e/test_routing_playback.py -s      # -s prints the frame times
"""

from __future__ import annotations

import re
import statistics

import pytest
from playwright.sync_api import Locator, Page, expect

from capsviz.app import state
from capsviz.bench.browser.pages import (
    ERRORS,
    app_errors,
    draw_strokes,
    open_tab,
    prediction_value,
    wait_for_app,
    wait_until_idle,
)
from capsviz.bench.browser.probes import install_ws_log, ws_count, ws_log
from capsviz.figures.playback import FRAME_MS, PAUSE, PLAY
from capsviz.model.routing import MAX_ITERATIONS
from capsviz.testsets.drawn_digits import PEN_WIDTH, drawing_for

pytestmark = pytest.mark.e2e

UPDATE_TIMEOUT_MS = 60_000
# Plotly waits FRAME_MS between frames and needs a moment to redraw each: on 2 busy CPU cores a frame can
# take longer, so the upper bound is loose; the lower one says Play does not rush through the iterations.
MIN_FRAME_GAP = 0.8 * FRAME_MS
MAX_MEDIAN_FRAME_GAP = 2.5 * FRAME_MS

# In the page: what the figure shows now. The slider's current-value text starts with its own prefix.
FIGURE_STATE = """gd => {
  const slider = gd._fullLayout.sliders[0];
  const texts = [...gd.querySelectorAll('.slider-container text')].map(t => t.textContent);
  return {
    frames: gd._transitionData._frames.map(f => f.name),
    active: slider.active,
    title: gd.querySelector('.gtitle')?.textContent ?? '',
    current: texts.find(t => t.startsWith(slider.currentvalue.prefix)) ?? null,
    prefix: slider.currentvalue.prefix,
  };
}"""

# Records each frame plotly starts showing, when each animation ends, and every script-state change.
LISTEN = """gd => {
  window.__frames = []; window.__animated = []; window.__scriptStates = [];
  gd.on('plotly_animatingframe', e => {  // the slider hears the same event: read it once all have run
    const frame = { name: e.name, t: performance.now(), active: null };
    window.__frames.push(frame);
    setTimeout(() => { frame.active = gd._fullLayout.sliders[0].active; }, 0);
  });
  gd.on('plotly_animated', () => window.__animated.push(performance.now()));
  const app = document.querySelector('[data-testid="stApp"]');
  new MutationObserver(() => window.__scriptStates.push(app.getAttribute('data-test-script-state')))
    .observe(app, { attributes: true, attributeFilter: ['data-test-script-state'] });
}"""


def _figure(page: Page) -> Locator:
    return page.locator(f".st-key-{state.FIG_ROUTING} .js-plotly-plot").first


def _state(fig: Locator) -> dict:
    return fig.evaluate(FIGURE_STATE)


def _assert_agree(fig: Locator, r: int) -> int:
    """The slider's step, its current-value text and the figure's title name the same iteration; returns it."""
    s = _state(fig)
    k = s["active"] + 1
    assert s["title"].startswith(f"Iteration {k} of {r} "), s
    assert s["current"] == f"{s['prefix']}{k}", s
    return k


def _button(fig: Locator, label: str) -> Locator:
    return fig.locator(".updatemenu-button").filter(has_text=label)


def _tick(fig: Locator, label: str) -> dict:
    """The slider's step label ``label`` (plotly draws the current value with the same class, longer)."""
    step = fig.locator(".slider-container .slider-label").filter(has_text=re.compile(rf"^{re.escape(label)}$"))
    return step.bounding_box()


def _rail_y(fig: Locator) -> float:
    return fig.locator(".slider-rail-touch-rect").first.bounding_box()["y"] + 10


def _covered_steps(fig: Locator, labels: list[str]) -> list[str]:
    """Steps whose place on the rail (above their label) is under something other than the slider."""
    points = [[_tick(fig, name)["x"] + _tick(fig, name)["width"] / 2, _rail_y(fig)] for name in labels]
    hits = fig.evaluate(
        "(gd, pts) => pts.map(([x, y]) => !!document.elementFromPoint(x, y)?.closest('.slider-container'))", points
    )
    return [name for name, on_slider in zip(labels, hits, strict=True) if not on_slider]


def _click_step(page: Page, fig: Locator, label: str) -> None:
    """Click the rail above the step labelled ``label``, as a person picks an iteration."""
    tick = _tick(fig, label)
    page.mouse.click(tick["x"] + tick["width"] / 2, _rail_y(fig))


def _drag_to_step(page: Page, fig: Locator, label: str) -> None:
    """Drag the slider's grip along the rail to the step labelled ``label``."""
    grip, tick = fig.locator(".slider-grip-rect").first.bounding_box(), _tick(fig, label)
    page.mouse.move(grip["x"] + grip["width"] / 2, grip["y"] + grip["height"] / 2)
    page.mouse.down()
    page.mouse.move(tick["x"] + tick["width"] / 2, grip["y"] + grip["height"] / 2, steps=8)
    page.mouse.up()


def test_routing_plays_every_iteration_in_order_without_a_rerun(page: Page, streamlit_url: str) -> None:
    install_ws_log(page)
    page.goto(streamlit_url, wait_until="domcontentloaded")
    wait_for_app(page)

    # Every iteration the app offers: Routing iterations (sidebar) to its maximum, then draw a 7.
    r = MAX_ITERATIONS
    iterations = page.get_by_test_id("stSidebar").get_by_role("slider", name="Routing iterations").first
    iterations.focus()
    iterations.press("End")
    expect(iterations).to_have_value(str(r))
    wait_until_idle(page)
    draw_strokes(page, drawing_for(7, width=PEN_WIDTH).strokes)
    expect(prediction_value(page)).to_have_text("7", timeout=UPDATE_TIMEOUT_MS)
    wait_until_idle(page, settle_ms=400)

    open_tab(page, state.ROUTING_TAB)
    fig = _figure(page)
    try:
        fig.or_(page.locator(ERRORS)).first.wait_for(timeout=UPDATE_TIMEOUT_MS)
    except Exception as exc:
        raise AssertionError(f"the routing figure never showed; app errors: {app_errors(page) or 'none'}") from exc
    assert not app_errors(page), f"the Routing tab shows an error:\n{app_errors(page)}"
    page.wait_for_function("gd => gd._fullLayout && gd._fullLayout.sliders", arg=fig.element_handle())
    labels = [str(k) for k in range(1, r + 1)]
    assert _state(fig)["frames"] == labels
    assert _assert_agree(fig, r) == r  # it opens on the last iteration

    # ▶ Play: every iteration, in order, about two a second, with no message to the server and no rerun.
    fig.evaluate(LISTEN)
    sent_before = ws_count(page)
    _button(fig, PLAY).click()
    page.wait_for_function("() => window.__animated.length > 0", timeout=r * FRAME_MS * 4 + 20_000)
    page.wait_for_timeout(300)
    frames = page.evaluate("() => window.__frames")
    names = [f["name"] for f in frames]
    assert names == labels, f"plotly showed frames {names}, expected {labels}"
    assert [f["active"] for f in frames] == list(range(r)), f"the slider did not follow the frames: {frames}"
    gaps = [b["t"] - a["t"] for a, b in zip(frames, frames[1:], strict=False)]
    print(f"\nplay: frames {names} at gaps {[round(g) for g in gaps]} ms (FRAME_MS {FRAME_MS})")
    assert min(gaps) >= MIN_FRAME_GAP, gaps
    assert statistics.median(gaps) <= MAX_MEDIAN_FRAME_GAP, gaps
    sent = [f for f in ws_log(page, sent_before) if f["dir"] == "s"]
    assert not sent, f"the page sent {len(sent)} websocket messages while playing: {sent}"
    assert page.evaluate("() => window.__scriptStates") == [], "the script ran while routing played"
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)
    assert _assert_agree(fig, r) == r

    # The slider by hand: click the rail at step 2, drag the grip to step 1; each shows its iteration at once.
    for label, move in (("2", _click_step), ("1", _drag_to_step)):
        move(page, fig, label)
        expect(fig.locator(".gtitle")).to_contain_text(f"Iteration {label} of {r} ", timeout=10_000)
        assert _assert_agree(fig, r) == int(label)

    # Play from there, Pause after the second frame: the slider stops on the frame in view.
    page.evaluate("() => { window.__frames = []; window.__animated = []; }")
    _button(fig, PLAY).click()
    page.wait_for_function("() => window.__frames.length >= 2", timeout=10 * FRAME_MS + 20_000)
    _button(fig, PAUSE).click()
    page.wait_for_timeout(3 * FRAME_MS)
    paused = page.evaluate("() => window.__frames.map(f => f.name)")
    assert paused == labels[: len(paused)] and len(paused) < r, f"Pause did not stop the play: {paused}"
    k = _assert_agree(fig, r)
    assert str(k) == paused[-1], (k, paused)
    print(f"paused on iteration {k} after frames {paused}")

    assert not [f for f in ws_log(page, sent_before) if f["dir"] == "s"], "stepping or pausing messaged the server"
    assert page.evaluate("() => window.__scriptStates") == []

    # Every step must be clickable where it is drawn: the slider has its own row under the Play and Pause buttons.
    assert not _covered_steps(fig, labels), "the Play/Pause buttons cover slider steps"
