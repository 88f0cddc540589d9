"""The "Which ink" view in headless Chromium: the attribution drawn back onto the user's own drawing lines up
with the strokes the user drew (through the preprocessing's crop and scale), wherever on the canvas they are.

    python -m pytest tests/e2e/test_attribution_overlay.py -s
"""

from __future__ import annotations

import numpy as np
import pytest
from playwright.sync_api import Page, expect

from capsviz.app import state
from capsviz.bench.browser.pages import (
    draw_strokes,
    open_tab,
    prediction_value,
    wait_for_app,
    wait_until_idle,
)
from capsviz.testsets.drawn_digits import CANVAS, PEN_WIDTH, drawing_for

pytestmark = pytest.mark.e2e

# The overlay figure's two heatmaps as the page holds them: the drawing (gray) and the attribution over it.
READ_OVERLAY = """key => {
  const gd = document.querySelector(`.st-key-${key} .js-plotly-plot`);
  if (!gd || !gd.calcdata || gd.calcdata.length < 2) return null;
  const rows = z => Array.from(z, r => Array.from(r));  // plotly's own decoded 2-D arrays
  return {drawing: rows(gd.calcdata[0][0].z), attribution: rows(gd.calcdata[1][0].z)};
}"""


def test_attribution_on_the_drawing_lines_up_with_the_strokes(page: Page, streamlit_url: str) -> None:
    page.goto(streamlit_url, wait_until="domcontentloaded")
    wait_for_app(page)
    # A 7 in the canvas's lower right: the crop and scale must carry the map back to that corner.
    seven = drawing_for(7, style=0, centre=(CANVAS * 0.68, CANVAS * 0.66), height=0.5 * CANVAS, width=PEN_WIDTH)
    draw_strokes(page, seven.strokes)
    expect(prediction_value(page)).to_have_text("7", timeout=30_000)
    open_tab(page, state.EXPLAIN_TAB)
    page.wait_for_function(f"() => !!document.querySelector('.st-key-{state.FIG_ATTRIBUTION_SOURCE} .js-plotly-plot')",
                           timeout=60_000)  # fmt: skip
    wait_until_idle(page, settle_ms=500)
    got = page.evaluate(READ_OVERLAY, state.FIG_ATTRIBUTION_SOURCE)
    assert got is not None, "the overlay on the drawing is not on the page"
    drawing, attribution = np.array(got["drawing"], float), np.array(got["attribution"], float)
    assert drawing.shape == attribution.shape, (drawing.shape, attribution.shape)
    # The figure is on the drawing's own pixel grid: its ink is where the strokes were drawn.
    ys, xs = np.nonzero(drawing > 0.5 * drawing.max())
    points = np.concatenate(seven.strokes)
    scale = drawing.shape[1] / CANVAS
    assert (
        abs(xs.mean() - points[:, 0].mean() * scale) < 12 * scale
        and abs(ys.mean() - points[:, 1].mean() * scale) < 12 * scale
    )
    # Most of the positive attribution lies on or next to the ink (within one pen width), not elsewhere.
    positive = np.clip(np.nan_to_num(attribution), 0, None)
    near = np.zeros_like(drawing, bool)
    pen = int(PEN_WIDTH * scale)
    for y, x in zip(ys, xs, strict=True):
        near[max(0, y - pen) : y + pen + 1, max(0, x - pen) : x + pen + 1] = True
    share = positive[near].sum() / max(positive.sum(), 1e-12)
    print(f"\nshare of the positive attribution within a pen width of the ink: {share:.2f}")
    assert share > 0.8, share
