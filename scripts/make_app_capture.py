"""Capture the app as a visitor sees it, for the README's first screen: docs/app.png and docs/app.webp.

    python scripts/make_app_capture.py [--out docs] [--digit 3] [--no-animation] [--max-mb 2]

Serves streamlit_app.py (the shipped checkpoint, or CAPSVIZ_CHECKPOINT) with ``streamlit run`` on a free port,
opens it in headless chromium at desktop size (1440x900 CSS px), draws a digit on the canvas with the mouse,
waits for the prediction and saves a screenshot of the page (docs/app.png). Unless --no-animation, it also
records the visit as a short animated WebP (docs/app.webp, ~960 px wide): the digit being drawn, a pose slider
dragged through its range in the Pose tab (the in-page decoder redraws the reconstruction), and routing played
in the Routing tab (its Play button). Frames are viewport screenshots taken as fast as the page allows (aimed
at ~10 per second), shown for as long as they were on screen, and assembled with Pillow at the highest WebP
quality that keeps the file under --max-mb.

The canvas is found by the one locator the benchmark and the e2e tests share (capsviz.bench.browser.pages.canvas,
``[data-testid="capsvizCanvas"]``). The browser is Debian's
chromium (scripts/install_browser.sh; CAPSVIZ_CHROMIUM overrides). scripts/make_readme_figures.py runs this
unless it is given --no-capture.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

from PIL import Image, ImageChops

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from capsviz.app import state  # noqa: E402
from capsviz.bench.browser.chromium import launch_chromium  # noqa: E402
from capsviz.bench.browser.pages import (  # noqa: E402
    ERRORS,
    app_errors,
    canvas,
    canvas_box,
    open_tab,
    prediction_value,
    prompt,
    slider_point,
    slider_range,
    wait_for_editor,
    wait_until_idle,
)
from capsviz.bench.browser.serve import APP_SCRIPT, serve_streamlit  # noqa: E402
from capsviz.figures.playback import FRAME_MS, PLAY  # noqa: E402
from capsviz.testsets.drawn_digits import CANVAS, PEN_WIDTH, drawing_for  # noqa: E402

VIEWPORT = {"width": 1440, "height": 900}
ANIMATION_WIDTH = 960
FRAME_GAP_S = 0.1  # aim at ~10 frames per second
TIMEOUT_MS = 90_000


def wait_for_page(page) -> None:
    """The Draw prompt (the first load imports torch and loads the model) and a canvas, then an idle script."""
    prompt(page).or_(page.locator(ERRORS)).first.wait_for(timeout=TIMEOUT_MS)
    if errors := app_errors(page):
        raise RuntimeError(f"the app shows an error (is there a trained checkpoint?):\n{errors}")
    canvas(page).wait_for(timeout=TIMEOUT_MS)
    wait_until_idle(page, settle_ms=300)


class Recorder:
    """Screenshots of the page's main column (the sidebar left out), each with the time it was taken and the
    longest it may be shown (``cap_ms``: a screenshot takes longer than a pointer move, so a drag or a stroke
    recorded frame by frame plays at about the speed it was made). ``shot`` skips one asked for too soon."""

    def __init__(self, page, enabled: bool, width: int = ANIMATION_WIDTH) -> None:
        self.page, self.enabled, self.width = page, enabled, width
        self.frames: list[Image.Image] = []
        self.times: list[float] = []
        self.caps: list[int] = []
        self.clip: dict | None = None

    def _clip(self) -> dict:
        """The main column as laid out at the start, with a margin, full viewport height."""
        if self.clip is None:
            box = self.page.locator('[data-testid="stMainBlockContainer"]').first.bounding_box()
            x0 = max(0, int(box["x"]) - 24)
            x1 = min(VIEWPORT["width"], int(box["x"] + box["width"]) + 24)
            self.clip = {"x": x0, "y": 0, "width": x1 - x0, "height": VIEWPORT["height"]}
        return self.clip

    def shot(self, force: bool = False, cap_ms: int = 400) -> None:
        if not self.enabled or (not force and self.times and time.monotonic() - self.times[-1] < FRAME_GAP_S):
            return
        t = time.monotonic()
        img = Image.open(io.BytesIO(self.page.screenshot(type="jpeg", quality=92, clip=self._clip()))).convert("RGB")
        if img.width > self.width:
            img = img.resize((self.width, round(img.height * self.width / img.width)), Image.LANCZOS)
        self.frames.append(img)
        self.times.append(t)
        self.caps.append(cap_ms)

    def hold(self, seconds: float) -> None:
        """Keep shooting for ``seconds`` (a wait the viewer should see)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.shot()
            self.page.wait_for_timeout(20)

    def until(self, condition, timeout_s: float = 60.0) -> None:
        """Keep shooting until ``condition()`` is true."""
        end = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > end:
                raise TimeoutError("the page did not reach the expected state while recording")
            self.shot()
            self.page.wait_for_timeout(20)

    def durations(self, last_ms: int = 2500) -> list[int]:
        gaps = [round(1000 * (b - a)) for a, b in zip(self.times, self.times[1:], strict=False)]
        return [min(g, cap) for g, cap in zip(gaps, self.caps, strict=False)] + [last_ms]


def draw(page, rec: Recorder, digit: int) -> None:
    """Draw ``digit`` (a scripted template, the app's default pen) with the mouse, recording as it goes."""
    box = canvas_box(page)
    k = box["width"] / CANVAS  # templates are in the 280 px canvas's px
    strokes = drawing_for(digit, width=PEN_WIDTH).strokes
    every = max(1, sum(len(s) - 1 for s in strokes) // 24)  # about 24 frames for the whole digit
    mouse = page.mouse
    for stroke in strokes:
        (x0, y0), rest = stroke[0], stroke[1:]
        mouse.move(box["x"] + k * x0, box["y"] + k * y0)
        mouse.down()
        for i, (x, y) in enumerate(rest, 1):
            mouse.move(box["x"] + k * x, box["y"] + k * y, steps=3)
            if i % every == 0:
                rec.shot(force=True, cap_ms=90)
        mouse.up()
        rec.shot(force=True, cap_ms=90)


def shows(locator, text: str) -> bool:
    try:
        return locator.count() > 0 and locator.first.inner_text(timeout=1000).strip() == text
    except Exception:  # replaced by a rerun while read
        return False


def drag_pose_slider(page, rec: Recorder) -> None:
    """Drag a pose slider (the first one measured to change the slant, else the first) up its range, down to
    the bottom and back to where it started, in the in-page pose editor."""
    editor = wait_for_editor(page)
    wait_until_idle(page, settle_ms=600)  # the page reports it holds the decoder weights: one rerun
    names = [t.strip().lower() for t in editor.locator(".pe-dim label").all_inner_texts()]
    dim = next((i for i, name in enumerate(names) if "slant" in name), 0)
    editor.locator(".pe-range").nth(dim).scroll_into_view_if_needed()
    rec.hold(0.6)
    lo, hi = slider_range(editor, dim)
    path = [0.0] + [hi * i / 8 for i in range(1, 9)] + [hi + (lo - hi) * i / 14 for i in range(1, 15)]
    path += [lo - lo * i / 6 for i in range(1, 7)]
    x, y = slider_point(editor, dim, 0)
    page.mouse.move(x, y)
    page.mouse.down()
    for step in path[1:]:
        x, y = slider_point(editor, dim, round(step))
        page.mouse.move(x, y, steps=2)
        page.wait_for_timeout(30)
        rec.shot(force=True, cap_ms=110)
    page.mouse.up()
    rec.hold(0.8)
    wait_until_idle(page)


def play_routing(page, rec: Recorder) -> None:
    """Open the Routing tab and press the routing figure's Play button; record until it has played."""
    open_tab(page, state.ROUTING_TAB)
    fig = page.locator(f".st-key-{state.FIG_ROUTING} .js-plotly-plot").first
    fig.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_function("gd => gd._fullLayout && gd._fullLayout.sliders", arg=fig.element_handle())
    fig.scroll_into_view_if_needed()
    page.evaluate("() => window.scrollBy(0, -60)")  # keep the tab bar in view
    rec.hold(0.8)
    fig.evaluate("gd => { window.__played = false; gd.on('plotly_animated', () => { window.__played = true; }); }")
    fig.locator(".updatemenu-button").filter(has_text=PLAY).click()
    rec.until(lambda: page.evaluate("() => window.__played"), timeout_s=30 + 10 * FRAME_MS / 1000)
    rec.hold(1.5)


def save_webp(frames: list[Image.Image], durations: list[int], path: Path, max_bytes: int) -> int:
    """Identical neighbours merged (a wait shown for at most 1.5 s), then the highest WebP quality (from 80
    down) that fits in ``max_bytes``. Returns the quality used."""
    kept, kept_ms = [frames[0]], [durations[0]]
    for img, ms in zip(frames[1:], durations[1:], strict=True):
        if ImageChops.difference(img, kept[-1]).getbbox() is None:
            kept_ms[-1] += ms
        else:
            kept.append(img)
            kept_ms.append(ms)
    kept_ms[:-1] = [min(max(ms, 60), 1500) for ms in kept_ms[:-1]]
    for quality in (80, 70, 60, 50, 40, 30):
        buf = io.BytesIO()
        kept[0].save(
            buf, "WEBP", save_all=True, append_images=kept[1:], duration=kept_ms, loop=0, quality=quality, method=6
        )
        if buf.tell() <= max_bytes or quality == 30:
            path.write_bytes(buf.getvalue())
            print(f"wrote {path}: {kept[0].width}x{kept[0].height}, {len(kept)} frames, {sum(kept_ms) / 1000:.1f} s, "
                  f"quality {quality}, {buf.tell() / 1e6:.2f} MB")  # fmt: skip
            return quality
    raise AssertionError("unreachable")


def capture(out: Path, digit: int, animation: bool, max_bytes: int) -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with serve_streamlit(APP_SCRIPT) as url, sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(url, wait_until="domcontentloaded")
            wait_for_page(page)
            rec = Recorder(page, enabled=animation)
            rec.hold(1.0)
            draw(page, rec, digit)
            value = prediction_value(page)
            rec.until(lambda: shows(value, str(digit)), timeout_s=60)
            rec.hold(0.3)
            wait_until_idle(page, settle_ms=400)
            rec.shot(force=True)
            page.mouse.move(VIEWPORT["width"] - 10, VIEWPORT["height"] - 10)  # no hover or focus ring in the still
            page.evaluate("() => { document.activeElement?.blur(); window.scrollTo(0, 0); }")
            png = Image.open(io.BytesIO(page.screenshot()))
            png.save(out / "app.png", optimize=True)
            print(f"wrote {out / 'app.png'}: {png.width}x{png.height}, {(out / 'app.png').stat().st_size / 1e6:.2f} MB")
            if animation:
                rec.hold(1.0)
                drag_pose_slider(page, rec)
                play_routing(page, rec)
                save_webp(rec.frames, rec.durations(), out / "app.webp", max_bytes)
            if errors := app_errors(page):
                raise RuntimeError(f"the app showed an error while being captured:\n{errors}")
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=ROOT / "docs", help="folder for app.png and app.webp")
    p.add_argument("--digit", type=int, default=3, help="the digit to draw")
    p.add_argument("--no-animation", action="store_true", help="only the screenshot (docs/app.png)")
    p.add_argument("--max-mb", type=float, default=2.0, help="the animation's size limit")
    args = p.parse_args(argv)
    capture(args.out, args.digit, not args.no_animation, int(args.max_mb * 1e6))
    return 0


if __name__ == "__main__":
    sys.exit(main())
