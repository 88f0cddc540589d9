"""Two overlapping digits in headless Chromium: switch the model, draw one digit with each pen across each
other, and the page reads both (the shipped MultiMNIST checkpoint).

    python -m pytest tests/e2e/test_pair_browser.py -s
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from capsviz.app import state
from capsviz.bench.browser.pages import (
    app_errors,
    draw_strokes,
    prediction_value,
    wait_for_app,
    wait_until_idle,
)
from capsviz.testsets.drawn_digits import CANVAS, PEN_WIDTH, drawing_for

pytestmark = pytest.mark.e2e


def test_two_digits_drawn_across_each_other_are_both_read(page: Page, streamlit_url: str) -> None:
    page.goto(streamlit_url, wait_until="domcontentloaded")
    wait_for_app(page)
    page.get_by_text(state.TWO_DIGITS, exact=True).click()
    expect(page.get_by_text("Draw two different digits over each other")).to_be_visible(timeout=60_000)
    wait_until_idle(page, settle_ms=500)
    one = drawing_for(1, style=0, centre=(CANVAS * 0.42, CANVAS / 2), height=0.62 * CANVAS, width=PEN_WIDTH)
    draw_strokes(page, one.strokes)
    wait_until_idle(page, settle_ms=500)
    page.get_by_role("radio", name=re.compile("Second digit")).click()
    wait_until_idle(page, settle_ms=300)
    zero = drawing_for(0, style=0, centre=(CANVAS * 0.56, CANVAS / 2), height=0.62 * CANVAS, width=PEN_WIDTH)
    draw_strokes(page, zero.strokes)
    try:
        expect(prediction_value(page)).to_have_text(re.compile(r"^(0 and 1|1 and 0)$"), timeout=60_000)
    except AssertionError as exc:
        shown = prediction_value(page).all_inner_texts()
        raise AssertionError(f"expected 1 and 0, the page shows {shown}; {app_errors(page)}") from exc
