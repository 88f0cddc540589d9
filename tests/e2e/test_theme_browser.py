"""Light and dark: the app follows the viewer's colour scheme (``prefers-color-scheme``, as Playwright's
``color_scheme`` sets it), and what it draws reads on either page.

For each scheme: the page background is dark (or light); an MNIST test digit (the sidebar's "MNIST test set", which
needs no drawing) is predicted; the text of the plotly figures (the lengths chart's tick labels, margin labels and
bar values; the Routing tab's playback figure and its controls) and of the pose editor (slider names, values,
captions, status) contrasts with the page by at least 4.5 (WCAG AA), read from the browser's computed colours.
The drawing surface stays white ink on black.

The drawing component in each scheme: with a digit drawn, the toolbar's buttons' icons contrast with the button by
at least 3 (WCAG's non-text contrast) and the "Copy link" text by 4.5, also while the mouse is over each; the live
reading's digit, caption, axis and source label, and the "Live reading unavailable" note's colour, by 4.5; the
black canvas has an edge that shows on the dark page. Screenshots at 1440 and 390 px wide go to the session's
screenshot folder (printed), or to ``CAPSVIZ_THEME_SHOTS`` when it is set.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page

from capsviz.app import state
from capsviz.bench.browser.pages import (
    ERRORS,
    READY_TIMEOUT_S,
    UPDATE_TIMEOUT_MS,
    app_errors,
    canvas,
    canvas_button,
    canvas_root,
    draw_strokes,
    open_tab,
    prediction,
    prediction_value,
    prompt,
    wait_until_idle,
)
from capsviz.figures.style import ACCENT, contrast_ratio
from capsviz.testsets.drawn_digits import drawing_for

pytestmark = pytest.mark.e2e

DESKTOP = {"width": 1440, "height": 1000}
PHONE = {"width": 390, "height": 844}
AA = 4.5  # WCAG 2 AA, normal text
NON_TEXT = 3.0  # WCAG 2.1 non-text contrast (icons)
EDGE = 2.0  # the black canvas's edge against the dark page (and the black): it must show, it carries no meaning
LIVE = '[data-testid="capsvizLivePrediction"]'

# The text of one chart as (text, fill) pairs: every non-empty SVG <text> plotly drew (ticks, titles, annotations,
# bar values, the legend, the colour bar, the playback buttons and slider).
CHART_TEXT = """el => Array.from(el.querySelectorAll('svg text'))
    .filter(t => t.textContent.trim() && t.getBoundingClientRect().width > 0)
    .map(t => [t.textContent.trim(), getComputedStyle(t).fill])"""
# The pose editor's text as (what, colour) pairs.
EDITOR_TEXT = """el => Array.from(el.querySelectorAll(
        '.pe-dim-head label, .pe-val, figcaption, .pe-status, .pe-reset:not(:disabled)'))
    .filter(t => t.textContent.trim())
    .map(t => [t.className || t.tagName, getComputedStyle(t).color])"""


# The canvas toolbar's enabled, shown buttons as (name, icon fill, text colour or "", background).
BUTTONS = """el => Array.from(el.querySelectorAll('.cv-btn'))
    .filter(b => b.getAttribute('aria-disabled') !== 'true' && b.getBoundingClientRect().width > 0)
    .map(b => { const text = b.querySelector('span');
        return [b.getAttribute('aria-label') || b.textContent.trim(),
                getComputedStyle(b.querySelector('svg path')).fill,
                text ? getComputedStyle(text).color : '', getComputedStyle(b).backgroundColor]; })"""
# One button's [icon fill, text colour or "", background].
BUTTON = """b => [getComputedStyle(b.querySelector('svg path')).fill,
    b.querySelector('span') ? getComputedStyle(b.querySelector('span')).color : '',
    getComputedStyle(b).backgroundColor]"""
# The live reading's text as (what, colour, background): the digit on its box, the rest on the panel; and the
# note's colour (hidden while the live reading works: its computed colour is the one it would show) on the page.
LIVE_TEXT = """el => { const panel = getComputedStyle(el.querySelector('.cv-live')).backgroundColor;
    const rows = [['.cv-live-pred', getComputedStyle(el.querySelector('.cv-live-digit')).backgroundColor],
                  ['.cv-live-source', getComputedStyle(el.querySelector('.cv-live-digit')).backgroundColor],
                  ['.cv-live-caption', panel], ['.cv-live-axis', panel]];
    return rows.map(([sel, bg]) => [sel, el.querySelector(sel).textContent.trim(),
                                    getComputedStyle(el.querySelector(sel)).color, bg])
        .concat([['.cv-live-note', '', getComputedStyle(el.querySelector('.cv-live-note')).color, '']]); }"""


def _hex(css: str) -> str:
    """A computed colour -> '#RRGGBB': 'rgb(1, 2, 3)', 'rgba(1, 2, 3, 1)', or 'color(srgb 0.1 0.2 0.3)' (what
    Chromium computes for color-mix())."""
    values = [float(v) for v in re.findall(r"[\d.]+", css.replace("srgb", ""))[:3]]
    scale = 255.0 if css.startswith("color(") else 1.0
    r, g, b = (round(v * scale) for v in values)
    return f"#{r:02X}{g:02X}{b:02X}"


def _page_colour(page: Page) -> str:
    return _hex(page.evaluate("getComputedStyle(document.querySelector('.stApp')).backgroundColor"))


def _shots_dir(screenshot_dir: Path) -> Path:
    chosen = os.environ.get("CAPSVIZ_THEME_SHOTS")
    folder = Path(chosen) if chosen else screenshot_dir
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _shot(page: Page, folder: Path, name: str, show=None) -> Path:
    """The viewport (Streamlit scrolls its main block, not the page), with ``show`` (a locator) scrolled into it."""
    if show is not None:
        show.scroll_into_view_if_needed()
        page.wait_for_timeout(300)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path))
    print(f"\nscreenshot: {path}")
    return path


def _worst(pairs: list[list[str]], background: str, exempt: tuple[str, ...] = ()) -> tuple[float, str]:
    """The lowest contrast with ``background`` among (what, css colour) pairs (colours in ``exempt`` skipped)."""
    worst = (99.0, "")
    for what, css in pairs:
        colour = _hex(css)
        if colour in exempt:
            continue
        worst = min(worst, (contrast_ratio(colour, background), f"{what!r} in {colour}"))
    return worst


def _button_contrasts(what: str, icon: str, text: str, background: str) -> list[tuple[float, float, str]]:
    """(contrast, required, description) for a button's icon and its text (if it has one)."""
    bg = _hex(background)
    found = [(contrast_ratio(_hex(icon), bg), NON_TEXT, f"{what} icon {_hex(icon)} on {bg}")]
    if text:
        found.append((contrast_ratio(_hex(text), bg), AA, f"{what} text {_hex(text)} on {bg}"))
    return found


def _predict_a_test_digit(page: Page) -> None:
    page.get_by_test_id("stSidebar").get_by_text(state.GALLERY, exact=True).click()
    prediction(page).wait_for(timeout=UPDATE_TIMEOUT_MS)
    wait_until_idle(page, settle_ms=300)
    if errors := app_errors(page):
        raise AssertionError(f"the app shows an error:\n{errors}")


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_the_app_follows_the_viewer_theme_and_reads_in_it(browser, streamlit_url: str, screenshot_dir: Path, scheme):
    if not (Path(os.environ.get("CAPSVIZ_DATA_DIR", "data")) / "MNIST" / "raw").is_dir():
        pytest.skip("needs the MNIST test set (CAPSVIZ_DATA_DIR) for the sidebar's 'MNIST test set'")
    context = browser.new_context(viewport=DESKTOP, device_scale_factor=1, color_scheme=scheme)
    page = context.new_page()
    page.set_default_timeout(UPDATE_TIMEOUT_MS)
    folder = _shots_dir(screenshot_dir)
    try:
        page.goto(streamlit_url)
        prompt(page).or_(prediction(page)).or_(page.locator(ERRORS)).first.wait_for(timeout=READY_TIMEOUT_S * 1000)
        wait_until_idle(page, settle_ms=100)

        background = _page_colour(page)
        body = _hex(page.evaluate("getComputedStyle(document.body).backgroundColor"))
        dark = contrast_ratio(background, "#000000") < contrast_ratio(background, "#FFFFFF")
        assert dark == (scheme == "dark"), f"{scheme} viewer got a page of {background} (body {body})"

        _predict_a_test_digit(page)
        assert prediction_value(page).inner_text().strip().isdigit()

        lengths = page.locator(f".st-key-{state.FIG_LENGTHS}")
        lengths.locator(".xtick text").first.wait_for()
        ticks = lengths.locator(".xtick text").first.evaluate("t => getComputedStyle(t).fill")
        tick_contrast = contrast_ratio(_hex(ticks), background)
        print(f"\n{scheme}: page {background}, lengths tick labels {_hex(ticks)}: contrast {tick_contrast:.2f}")
        assert tick_contrast >= AA
        worst, what = _worst(lengths.evaluate(CHART_TEXT), background)
        print(f"{scheme}: lengths chart, lowest text contrast {worst:.2f} ({what})")
        assert worst >= AA, what

        editor = page.locator(".pe").first
        editor.locator(".pe-dim-head label").first.wait_for()
        worst, what = _worst(editor.evaluate(EDITOR_TEXT), background)
        print(f"{scheme}: pose editor, lowest text contrast {worst:.2f} ({what})")
        assert worst >= AA, what
        _shot(page, folder, f"theme-{scheme}-1440-top")
        _shot(page, folder, f"theme-{scheme}-1440-pose", editor)

        page.set_viewport_size(PHONE)
        wait_until_idle(page, settle_ms=500)
        _shot(page, folder, f"theme-{scheme}-390-lengths", lengths)
        _shot(page, folder, f"theme-{scheme}-390-pose", editor)
        page.set_viewport_size(DESKTOP)
        wait_until_idle(page, settle_ms=300)

        open_tab(page, state.ROUTING_TAB)
        routing = page.locator(f".st-key-{state.FIG_ROUTING}")
        routing.locator(".xtick text").first.wait_for()
        # The predicted digit's panel title is in the brand's orange: 2.8:1 on white, beside its "(prediction)".
        exempt = (ACCENT,) if scheme == "light" else ()
        worst, what = _worst(routing.evaluate(CHART_TEXT), background, exempt)
        print(f"{scheme}: routing playback figure, lowest text contrast {worst:.2f} ({what})")
        assert worst >= AA, what
        _shot(page, folder, f"theme-{scheme}-1440-routing", routing)
        page.set_viewport_size(PHONE)
        wait_until_idle(page, settle_ms=500)
        _shot(page, folder, f"theme-{scheme}-390-routing", routing)
    finally:
        context.close()


def _shadow_colour(box_shadow: str) -> str | None:
    """The colour of a computed box-shadow ('rgb(1, 2, 3) 0px 0px 0px 1px' or 'color(srgb ...) 0px ...'), or None."""
    found = re.match(r"\s*((?:rgba?|color)\([^)]*\))", box_shadow)
    return _hex(found.group(1)) if found else None


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_the_drawing_canvas_reads_in_either_theme(browser, streamlit_url: str, screenshot_dir: Path, scheme):
    context = browser.new_context(viewport=DESKTOP, device_scale_factor=1, color_scheme=scheme)
    page = context.new_page()
    page.set_default_timeout(UPDATE_TIMEOUT_MS)
    folder = _shots_dir(screenshot_dir)
    try:
        page.goto(streamlit_url)
        prompt(page).or_(prediction(page)).or_(page.locator(ERRORS)).first.wait_for(timeout=READY_TIMEOUT_S * 1000)
        wait_until_idle(page, settle_ms=100)
        background = _page_colour(page)
        root = canvas_root(page)
        draw_strokes(page, drawing_for(3, style=0).strokes)
        prediction(page).wait_for(timeout=UPDATE_TIMEOUT_MS)
        wait_until_idle(page, settle_ms=300)
        if errors := app_errors(page):
            raise AssertionError(f"the app shows an error:\n{errors}")
        page.mouse.move(0, 0)

        found = []
        buttons = root.evaluate(BUTTONS)
        assert {"Undo", "Clear"} <= {b[0] for b in buttons}, buttons
        for what, icon, text, bg in buttons:
            found += _button_contrasts(what, icon, text, bg)
            button = canvas_button(page, what)
            button.hover()
            page.wait_for_timeout(150)
            assert button.evaluate("b => b.matches(':hover')"), f"{what} is not hovered"
            found += _button_contrasts(f"{what} (hovered)", *button.evaluate(BUTTON))
            if what == "Copy link":
                _shot(page, folder, f"canvas-{scheme}-1440-hover", root)
            page.mouse.move(0, 0)
        for ratio, need, what in sorted(found):
            print(f"{scheme}: canvas toolbar {what}: contrast {ratio:.2f} (needs {need})")
        failing = [f"{what}: {ratio:.2f} < {need}" for ratio, need, what in found if ratio < need]
        assert not failing, failing

        live = page.locator(LIVE).first
        live.filter(has_text=re.compile(r"\d")).wait_for(timeout=UPDATE_TIMEOUT_MS)
        for what, text, colour, bg in root.evaluate(LIVE_TEXT):
            bg = _hex(bg) if bg else background
            ratio = contrast_ratio(_hex(colour), bg)
            print(f"{scheme}: live reading {what} {text[:40]!r} in {_hex(colour)} on {bg}: contrast {ratio:.2f}")
            assert ratio >= AA, f"{what} in {_hex(colour)} on {bg}: {ratio:.2f}"

        edge = _shadow_colour(canvas(page).evaluate("c => getComputedStyle(c).boxShadow"))
        if scheme == "dark":
            assert edge, "the black canvas has no edge on the dark page"
            on_page, on_paper = contrast_ratio(edge, background), contrast_ratio(edge, "#000000")
            print(f"{scheme}: canvas edge {edge}: contrast {on_page:.2f} with the page, {on_paper:.2f} with the paper")
            assert min(on_page, on_paper) >= EDGE
        _shot(page, folder, f"canvas-{scheme}-1440", root)
        page.set_viewport_size(PHONE)
        wait_until_idle(page, settle_ms=500)
        _shot(page, folder, f"canvas-{scheme}-390", root)
    finally:
        context.close()
