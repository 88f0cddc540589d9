"""Browser benchmark of the pose editor (capsviz/app/pose_editor.py) in headless Chromium, as a user sees it.

    python -m capsviz.bench_browser            # a table; --json adds one JSON object as the last line

It serves a page holding the editor (default: tests/e2e/pose_editor_page.py, the shipped checkpoint on fixed
drawn digits) with ``streamlit run``, opens it in Debian's chromium through Playwright, and measures:

- ``measure_drag``: one slider dragged with the mouse over its whole range in 60 moves spread over 1 s: how
  many distinct reconstructions the page drew during the drag (target >= 50) and how late each input was
  drawn (input event to the end of the frame that drew it; target: none over 50 ms);
- ``measure_decode``: the in-page decoder, one reconstruction (decode only) p50 and p90, and a drawn frame
  (decode + paint) p50 from the drag;
- ``measure_bytes``: the bytes the component receives for the first drawing of a session (decoder weights
  included, then the small follow-up once the page reports it holds them) and for a drawing after it, plus
  everything the page's websocket received in each phase.

And in the real app (``streamlit_app.py`` served by ``streamlit run``, the pose tab open):

- ``measure_pen_up``: scripted drawings (capsviz.testsets.drawn_digits) replayed with the mouse, as the e2e tests draw;
  for each, from the last mouse-up to the first frame that shows the prediction of the finished drawing (the
  input the model sees has changed and the Prediction metric shows a value), p50 / p95 (target p50 <= 300 ms;
  the canvas itself waits 200 ms after a stroke before it sends), split into mouse-up -> the canvas's send and
  send -> shown; and the websocket bytes the page receives per new drawing (every stroke's rerun) after the
  first.

The locators and actions for the app page (canvas, strokes, Prediction, Clear, tabs) live here too: the e2e
tests in tests/e2e import them. The coordinator wires this into ``python -m capsviz.bench --browser`` through
``run_browser_bench`` and ``format_table``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PAGE = REPO_ROOT / "tests" / "e2e" / "pose_editor_page.py"
APP_SCRIPT = REPO_ROOT / "streamlit_app.py"
CHROMIUM_ENV = "CAPSVIZ_CHROMIUM"
# The lookup order of scripts/install_browser.sh: fixed paths and PATH names, interleaved as there.
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "which:chromium", "which:chromium-browser", "/snap/bin/chromium")
# Quiet and deterministic in a container; background networking would knock on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
EDITOR = ".pe"  # the component's root element (inside its shadow root; Playwright's CSS pierces it)
READY_TIMEOUT_S = 90.0
UPDATE_TIMEOUT_S = 30.0  # a rerun's answer (a new drawing, a Clear, the page going idle) on a busy 2-core machine
UPDATE_TIMEOUT_MS = int(1000 * UPDATE_TIMEOUT_S)  # the same, in Playwright's unit


# --- serving and browsing ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(proc: subprocess.Popen, url: str, log_path: Path, timeout_s: float) -> None:
    """Until the server at ``url`` answers its health check; RuntimeError (with its log) if it exits or stalls."""
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}; log:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"streamlit did not answer in {timeout_s:.0f} s; log:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.25)


def stop_process(proc: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """Ask the server to stop; kill it if it has not within ``timeout_s``."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout_s)


def server_flags(port: int) -> list[str]:
    """`streamlit run` flags for a local, headless server on ``port`` that watches no files."""
    return [
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]  # fmt: skip


@contextlib.contextmanager
def serve_streamlit(
    script: str | os.PathLike, log_path: str | os.PathLike | None = None, timeout_s: float = READY_TIMEOUT_S
) -> Iterator[str]:
    """``streamlit run script`` on a free port from the repository root; yields its URL, stops it afterwards."""
    script = Path(script)
    if not script.is_absolute():
        script = REPO_ROOT / script
    if not script.exists():
        raise FileNotFoundError(f"no page script at {script}")
    port = free_port()
    if log_path is None:
        log_path = Path(tempfile.mkdtemp(prefix="capsviz-serve-")) / "streamlit.log"
    log_path = Path(log_path)
    cmd = [sys.executable, "-m", "streamlit", "run", str(script), *server_flags(port)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(proc, url, log_path, timeout_s)
        yield url
    finally:
        stop_process(proc)


def _is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def find_chromium(environ: Mapping[str, str] = os.environ) -> str | None:
    """The browser, looked up exactly as scripts/install_browser.sh does: $CAPSVIZ_CHROMIUM (then nothing else),
    /usr/bin/chromium, chromium and chromium-browser on PATH, /snap/bin/chromium; None when there is none."""
    override = environ.get(CHROMIUM_ENV)
    if override:
        return override if _is_executable(override) else None
    for candidate in CHROMIUM_CANDIDATES:
        if candidate.startswith("which:"):
            path = shutil.which(candidate.removeprefix("which:"), path=environ.get("PATH", os.defpath))
        else:
            path = candidate
        if path and _is_executable(path):
            return path
    return None


def launch_chromium(playwright, executable: str | None = None):
    """Headless Debian chromium (``scripts/install_browser.sh``) through Playwright."""
    executable = executable or find_chromium()
    if not executable:
        raise FileNotFoundError("no chromium found: run `bash scripts/install_browser.sh`")
    return playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)


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


def upper_canvas(page):
    """The drawing canvas's event layer: fabric.js stacks a background, a lower (ink) and an upper (mouse
    events) canvas; strokes are drawn on the upper one."""
    return page.locator("canvas.upper-canvas").first


def ink_canvas(page):
    """The canvas fabric.js renders the strokes on (white ink; the black background is a canvas below it)."""
    return page.locator("canvas.dc-canvas.lower-canvas").first


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
    """After ``page.goto(app)``: wait for the Draw prompt (the first load imports torch and loads the model)
    and for the script to finish; raise with the page's error messages if it shows errors instead."""
    prompt(page).or_(page.locator(ERRORS)).first.wait_for(timeout=timeout_s * 1000)
    if errors := app_errors(page):
        raise AssertionError(f"the app shows an error (is there a trained checkpoint?):\n{errors}")
    upper_canvas(page).wait_for(timeout=timeout_s * 1000)
    wait_until_idle(page, settle_ms=100)


def canvas_box(page) -> dict:
    canvas = upper_canvas(page)
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    if box is None:
        raise AssertionError("the canvas is not laid out")
    return box


def draw_strokes(page, strokes, steps: int = 2, pause_ms: int = STROKE_PAUSE_MS) -> None:
    """Replay strokes (canvas px, as capsviz.testsets.drawn_digits.Drawing.strokes) with the mouse: move to the
    stroke's start and press at once, move along the polyline in small steps, release."""
    box = canvas_box(page)
    ox, oy = box["x"], box["y"]
    mouse = page.mouse
    for i, stroke in enumerate(strokes):
        if i:
            page.wait_for_timeout(pause_ms)
        (x0, y0), rest = stroke[0], stroke[1:]
        mouse.move(ox + x0, oy + y0)
        mouse.down()
        for x, y in rest:
            mouse.move(ox + x, oy + y, steps=steps)
        mouse.up()


def ink_at(page, points) -> list[int]:
    """The ink canvas's red channel (0 black .. 255 white) at each (x, y) in canvas CSS px."""
    return ink_canvas(page).evaluate(
        """(c, pts) => { const k = c.width / c.getBoundingClientRect().width, ctx = c.getContext('2d');
            return pts.map(([x, y]) => ctx.getImageData(Math.floor(x * k), Math.floor(y * k), 1, 1).data[0]); }""",
        [list(p) for p in points],
    )


def click_clear(page, timeout_s: float = UPDATE_TIMEOUT_S) -> None:
    """The Clear button under the canvas; waits for the prompt and for the rerun to end."""
    page.get_by_role("button", name=re.compile(r"\bClear\b")).click()
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


# --- probes installed in the page ---------------------------------------------------------------------

# Every websocket frame the page sends or receives, with its size and performance.now(): installed before the
# page's scripts run (context.add_init_script), so it sees Streamlit's own socket.
WS_LOG_SCRIPT = """(() => {
  if (window.__capsvizWs) return;
  const log = (window.__capsvizWs = []);
  const size = (d) => (typeof d === "string" ? new Blob([d]).size : d.byteLength ?? d.size ?? 0);
  const Native = window.WebSocket;
  class LoggedWebSocket extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (e) => log.push({ dir: "r", t: performance.now(), bytes: size(e.data) }));
    }
    send(data) {
      log.push({ dir: "s", t: performance.now(), bytes: size(data) });
      return super.send(data);
    }
  }
  window.WebSocket = LoggedWebSocket;
})();"""

# Each mouse-up (with the input image shown then) and each change of what the top row shows (the Prediction
# value, the 28x28 input's image): the time of the DOM change and of the next animation frame (~ the paint).
# The 28x28 input is the first st.image in the main area: the canvas is a component, not an image.
PEN_UP_PROBE = """() => {
  if (window.__capsvizProbe) return;
  const probe = (window.__capsvizProbe = { ups: [], shown: [] });
  const seen = () => {
    const img = document.querySelector('[data-testid="stMain"] [data-testid="stImage"] img');
    const metric = [...document.querySelectorAll('[data-testid="stMetric"]')].find(
      (m) => m.querySelector('[data-testid="stMetricLabel"]')?.textContent.trim() === "Prediction");
    const value = metric?.querySelector('[data-testid="stMetricValue"]')?.textContent.trim() ?? null;
    return { src: img ? img.getAttribute("src") : null, value };
  };
  window.addEventListener("mouseup", () => probe.ups.push({ t: performance.now(), ...seen() }), true);
  let last = "";
  const look = () => {
    const now = seen(), key = `${now.value}|${now.src}`;
    if (key === last) return;
    last = key;
    const entry = { t: performance.now(), paint: null, ...now };
    probe.shown.push(entry);
    requestAnimationFrame(() => (entry.paint = performance.now()));
  };
  new MutationObserver(look).observe(document.body, {
    subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ["src"],
  });
  look();
}"""

# Once the page is idle after a drawing: the first frame after the last mouse-up that showed what the page
# shows now (the finished drawing's input image and prediction; an earlier stroke's rerun that lands after the
# mouse-up shows another image), and the canvas's first send after the mouse-up.
PEN_UP_RESULT = """() => {
  const p = window.__capsvizProbe, up = p.ups[p.ups.length - 1], last = p.shown[p.shown.length - 1];
  if (!up || !last || last.value === null) return null;
  const hit = p.shown.find((s) => s.t > up.t && s.value === last.value && s.src === last.src);
  if (!hit || hit.paint === null) return null;
  const send = (window.__capsvizWs || []).find((w) => w.dir === "s" && w.t > up.t);
  return { up: up.t, shown: hit.paint, send: send && send.t < hit.t ? send.t : null, value: hit.value };
}"""
# Something new is on the page since the last mouse-up: a rerun answered.
PEN_UP_ANSWERED = """() => {
  const p = window.__capsvizProbe, up = p.ups[p.ups.length - 1];
  return !!up && p.shown.some((s) => s.t > up.t && s.value !== null && s.src !== up.src);
}"""


def install_ws_log(context_or_page) -> None:
    """Log the websocket frames of every page opened afterwards (``window.__capsvizWs``)."""
    context_or_page.add_init_script(WS_LOG_SCRIPT)


def ws_log(page, start: int = 0) -> list[dict]:
    """The logged frames from index ``start``: {dir: "s" | "r", t (ms, performance.now()), bytes}."""
    return page.evaluate("n => (window.__capsvizWs || []).slice(n)", start)


def ws_count(page) -> int:
    return page.evaluate("() => (window.__capsvizWs || []).length")


# --- measurements -----------------------------------------------------------------------------


def lateness(inputs: list[dict], frames: list[dict]) -> list[float]:
    """For each input event, ms until the end of the first frame that drew it (or a later input)."""
    out = []
    j = 0
    for ev in inputs:
        while j < len(frames) and frames[j]["seq"] < ev["seq"]:
            j += 1
        if j == len(frames):
            out.append(float("inf"))
        else:
            out.append(frames[j]["t"] - ev["t"])
    return out


def measure_drag(page, editor, dim: int = 0, moves: int = 60, duration_s: float = 1.0) -> dict[str, Any]:
    """Drag slider ``dim`` with the mouse from its left end to its right end in ``moves`` moves spread
    evenly over ``duration_s``; count the reconstructions drawn while the button is down."""
    lo, hi = slider_range(editor, dim)
    x0, y = slider_point(editor, dim, 0)
    xl, _ = slider_point(editor, dim, lo)
    xr, _ = slider_point(editor, dim, hi)
    mouse = page.mouse
    mouse.move(x0, y)
    mouse.down()
    mouse.move(xl, y, steps=4)  # to the left end first: not timed
    page.wait_for_timeout(150)
    editor.evaluate("el => el._capsviz.clearLog()")
    t_start = time.perf_counter()
    sent_at = []
    for i in range(1, moves + 1):
        target = t_start + duration_s * i / moves
        delay = target - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        sent_at.append(time.perf_counter() - t_start)
        mouse.move(xl + (xr - xl) * i / moves, y)
    held_s = time.perf_counter() - t_start
    page.wait_for_timeout(100)  # the last move's frame
    log = editor.evaluate("el => el._capsviz.log()")
    mouse.up()
    inputs, frames = log["inputs"], log["frames"]
    late = lateness(inputs, frames)
    drawn = sorted({f["seq"] for f in frames if f["seq"] > 0})
    gaps = [b["t"] - a["t"] for a, b in zip(inputs, inputs[1:], strict=False)]
    return {
        "moves": moves,
        "drag_s": round(held_s, 3),
        "input_events": len(inputs),
        "frames": len(frames),
        "distinct_frames": len(drawn),
        "max_late_ms": round(max(late), 1) if late else None,
        "p50_late_ms": round(statistics.median(late), 1) if late else None,
        "late_over_50ms": sum(x > 50 for x in late),
        "input_gap_max_ms": round(max(gaps), 1) if gaps else None,
        "frame_ms_p50": round(statistics.median([f["ms"] for f in frames]), 2) if frames else None,
        "steps_after": editor.evaluate("el => el._capsviz.steps()")[dim],
    }


def measure_decode(editor, n: int = 400, batch: int = 20) -> dict[str, float]:
    """The in-page decoder on random poses around the current one: per-call p50/p90 (performance.now()
    is coarsened to 0.1 ms in a page that is not cross-origin isolated) and the mean over batches of
    ``batch`` calls (finer), p50 over the batches."""
    editor.evaluate("el => el._capsviz.benchDecode(50)")  # warm-up: JIT
    single = sorted(editor.evaluate(f"el => el._capsviz.benchDecode({n})"))
    batches = editor.evaluate(
        """(el, [n, b]) => { const out = [];
            for (let i = 0; i < n / b; i++) { const t0 = performance.now(); el._capsviz.benchDecode(b);
                                              out.push((performance.now() - t0) / b); }
            return out; }""",
        [n, batch],
    )
    return {
        "decode_ms_p50": round(statistics.median(single), 3),
        "decode_ms_p90": round(single[int(0.9 * (len(single) - 1))], 3),
        "decode_ms_batch_mean_p50": round(statistics.median(batches), 3),
    }


def _click_choice(page, key: str, label: str) -> None:
    page.locator(f".st-key-{key}").get_by_role("radio", name=label, exact=True).click()


def measure_bytes(browser, url: str, next_input: str = "5", input_key: str = "drawn") -> dict[str, Any]:
    """A fresh browser context (a new session): bytes the component receives for the first drawing and,
    after picking another input (``input_key`` segmented control), for the next one; with what the
    websocket received in each phase."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    ws_frames: list[tuple[float, int]] = []

    def on_ws(ws):
        ws.on("framereceived", lambda payload: ws_frames.append((time.perf_counter(), len(payload))))

    page.on("websocket", on_ws)
    try:
        page.goto(url, wait_until="domcontentloaded")
        editor = wait_for_editor(page)
        wait_until_idle(page, settle_ms=800)
        first = editor.evaluate("el => el._capsviz.log().received")
        ws_first = sum(n for _, n in ws_frames)
        mark = time.perf_counter()
        first_id = editor.evaluate("el => el._capsviz.id()")
        _click_choice(page, input_key, next_input)
        editor = wait_for_new_drawing(page, first_id)
        wait_until_idle(page, settle_ms=800)
        later = [r for r in editor.evaluate("el => el._capsviz.log().received") if r["id"] != first_id]
        ws_later = sum(n for t, n in ws_frames if t >= mark)
    finally:
        context.close()
    return {
        "first_drawing_payloads": [r["bytes"] for r in first],
        "first_drawing_bytes": sum(r["bytes"] for r in first),
        "first_payload_had_weights": bool(first and first[0]["weights"]),
        "later_drawing_payloads": [r["bytes"] for r in later],
        "later_drawing_bytes": sum(r["bytes"] for r in later),
        "later_payload_had_weights": any(r["weights"] for r in later),
        "ws_first_drawing_bytes": ws_first,
        "ws_later_drawing_bytes": ws_later,
    }


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile, q in [0, 1] (numpy's default): p95 of 10 values lies between the two
    largest; NaN for no values."""
    xs = sorted(values)
    if not xs:
        return math.nan
    pos = q * (len(xs) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def bench_drawings(n: int = 10) -> list:
    """``n`` scripted drawings (capsviz.testsets.drawn_digits), digits 0-9 in turn, each style in turn, upright and
    centred at 70% of the canvas, with the app's default pen: what the e2e tests draw."""
    from capsviz.testsets.drawn_digits import PEN_WIDTH, TEMPLATES, drawing_for

    out = []
    for i in range(n):
        digit = i % 10
        style = (i // 10) % len(TEMPLATES[digit])
        out.append(drawing_for(digit, style=style, width=PEN_WIDTH))
    return out


def measure_pen_up(page, drawings, timeout_s: float = UPDATE_TIMEOUT_S) -> dict[str, Any]:
    """In the app (already loaded, Draw source, empty canvas; WS_LOG_SCRIPT installed): replay each drawing
    with the mouse, Clear in between. Per drawing: ms from the last mouse-up to the first frame showing its
    prediction (and to the canvas's send), and the websocket bytes received from its first stroke until the
    page is idle again."""
    page.evaluate(PEN_UP_PROBE)
    runs = []
    for i, drawing in enumerate(drawings):
        if i:
            click_clear(page, timeout_s)
        start = ws_count(page)
        draw_strokes(page, drawing.strokes)
        page.wait_for_function(PEN_UP_ANSWERED, timeout=timeout_s * 1000)
        wait_until_idle(page, timeout_s=timeout_s, settle_ms=400)
        hit = page.wait_for_function(PEN_UP_RESULT, timeout=timeout_s * 1000).json_value()
        frames = ws_log(page, start)
        runs.append(
            {
                "digit": drawing.digit,
                "strokes": len(drawing.strokes),
                "predicted": hit["value"],
                "pen_up_ms": round(hit["shown"] - hit["up"], 1),
                "send_ms": round(hit["send"] - hit["up"], 1) if hit["send"] is not None else None,
                "received_bytes": sum(f["bytes"] for f in frames if f["dir"] == "r"),
                "sent_bytes": sum(f["bytes"] for f in frames if f["dir"] == "s"),
                "messages_sent": sum(f["dir"] == "s" for f in frames),
            }
        )
    later = runs[1:] or runs
    latency = [r["pen_up_ms"] for r in runs]
    sends = [r["send_ms"] for r in runs if r["send_ms"] is not None]
    to_shown = [r["pen_up_ms"] - r["send_ms"] for r in runs if r["send_ms"] is not None]
    return {
        "pen_up_drawings": len(runs),
        "pen_up_right": sum(str(r["digit"]) == r["predicted"] for r in runs),
        "pen_up_ms_p50": round(statistics.median(latency), 1),
        "pen_up_ms_p95": round(quantile(latency, 0.95), 1),
        "pen_up_ms_max": round(max(latency), 1),
        "pen_up_send_ms_p50": round(statistics.median(sends), 1) if sends else None,
        "pen_up_send_to_shown_ms_p50": round(statistics.median(to_shown), 1) if to_shown else None,
        "drawing_bytes_first": runs[0]["received_bytes"],
        "drawing_bytes_later_p50": round(statistics.median(r["received_bytes"] for r in later)),
        "drawing_bytes_later_max": max(r["received_bytes"] for r in later),
        "drawing_sent_bytes_later_p50": round(statistics.median(r["sent_bytes"] for r in later)),
        "pen_up_runs": runs,
    }


def run_app_bench(app_script: str | os.PathLike = APP_SCRIPT, drawings: int = 10) -> dict[str, Any]:
    """Serve the app, open it in headless chromium (1280x1000, the pose tab open as on first load) and run
    ``measure_pen_up`` over ``bench_drawings(drawings)``."""
    from playwright.sync_api import sync_playwright

    with serve_streamlit(app_script) as url, sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            install_ws_log(context)
            page = context.new_page()
            page.goto(url, wait_until="domcontentloaded")
            wait_for_app(page)
            return measure_pen_up(page, bench_drawings(drawings))
        finally:
            browser.close()


def run_pose_bench(page_script: str | os.PathLike = DEFAULT_PAGE, drags: int = 3) -> dict[str, Any]:
    """Serve the pose editor's page, open it in headless chromium: bytes, in-page decoder time, drags."""
    from playwright.sync_api import sync_playwright

    out: dict[str, Any] = {}
    with serve_streamlit(page_script) as url, sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            out.update(measure_bytes(browser, url))
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            page = context.new_page()
            page.goto(url, wait_until="domcontentloaded")
            editor = wait_for_editor(page)
            wait_until_idle(page, settle_ms=800)
            out.update(measure_decode(editor))
            runs = []
            for i in range(drags):
                runs.append(measure_drag(page, editor, dim=i % 16))
                wait_until_idle(page, settle_ms=400)  # the release sends the pose: one rerun
            worst = min(runs, key=lambda r: (r["distinct_frames"], -r["max_late_ms"]))
            out.update({f"drag_{k}": v for k, v in worst.items()})
            out["drag_runs"] = runs
            context.close()
        finally:
            browser.close()
    return out


def run_browser_bench(
    page_script: str | os.PathLike = DEFAULT_PAGE,
    drags: int = 3,
    app_script: str | os.PathLike = APP_SCRIPT,
    drawings: int = 10,
) -> dict[str, Any]:
    """Every browser measurement, one flat dict: the pose editor on ``page_script`` (``drags`` timed drags;
    0 skips it) and pen-up to prediction in the app ``app_script`` over ``drawings`` drawings (0 skips it).
    About 1.5 minutes on 2 busy CPU cores, most of it two `streamlit run` start-ups."""
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    if drags:
        out.update(run_pose_bench(page_script, drags))
    t1 = time.perf_counter()
    if drawings:
        out.update(run_app_bench(app_script, drawings))
    out["seconds"] = {"pose_editor": round(t1 - t0, 1), "app": round(time.perf_counter() - t1, 1)}
    return out


def format_table(r: dict[str, Any]) -> str:
    """The results of ``run_browser_bench`` as an aligned two-column table (rows for what was measured)."""
    rows = []
    if "decode_ms_p50" in r:
        rows += [
            (
                "decoder in page, one reconstruction p50 / p90",
                f"{r['decode_ms_p50']:.2f} / {r['decode_ms_p90']:.2f} ms",
            ),
            ("decoder in page, mean over batches of 20, p50", f"{r['decode_ms_batch_mean_p50']:.3f} ms"),
            ("drawn frame (decode + paint) p50", f"{r['drag_frame_ms_p50']:.2f} ms"),
            (
                f"drag: {r['drag_moves']} moves in {r['drag_drag_s']:.2f} s (worst of {len(r['drag_runs'])})",
                f"{r['drag_distinct_frames']} distinct frames, max lateness {r['drag_max_late_ms']:.1f} ms "
                f"(p50 {r['drag_p50_late_ms']:.1f} ms, {r['drag_late_over_50ms']} over 50 ms)",
            ),
            (
                "bytes to the component, first drawing",
                f"{r['first_drawing_bytes']:,} ({' + '.join(f'{b:,}' for b in r['first_drawing_payloads'])})",
            ),
            (
                "bytes to the component, a later drawing",
                f"{r['later_drawing_bytes']:,} ({' + '.join(f'{b:,}' for b in r['later_drawing_payloads'])})",
            ),
            (
                "websocket bytes received, first / later drawing",
                f"{r['ws_first_drawing_bytes']:,} / {r['ws_later_drawing_bytes']:,}",
            ),
        ]
    if "pen_up_ms_p50" in r:
        n = r["pen_up_drawings"]
        split = ""
        if r["pen_up_send_ms_p50"] is not None:
            split = (
                f" (p50: canvas sends after {r['pen_up_send_ms_p50']:.0f} ms, "
                f"shown {r['pen_up_send_to_shown_ms_p50']:.0f} ms later)"
            )
        rows += [
            (
                f"app: last pen-up -> prediction shown, {n} drawings, p50 / p95",
                f"{r['pen_up_ms_p50']:.0f} / {r['pen_up_ms_p95']:.0f} ms{split}",
            ),
            ("app: drawings read right", f"{r['pen_up_right']} of {n}"),
            (
                "app: websocket bytes received per drawing, first / later p50 (max)",
                f"{r['drawing_bytes_first']:,} / {r['drawing_bytes_later_p50']:,} ({r['drawing_bytes_later_max']:,})",
            ),
            ("app: websocket bytes sent per later drawing, p50", f"{r['drawing_sent_bytes_later_p50']:,}"),
        ]
    width = max((len(a) for a, _ in rows), default=0)
    return "\n".join(f"{a:<{width}}  {b}" for a, b in rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m capsviz.bench_browser",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--page", default=str(DEFAULT_PAGE), help="Streamlit script holding the pose editor")
    p.add_argument("--drags", type=int, default=3, help="timed drags (the worst is reported; 0: skip)")
    p.add_argument("--app", default=str(APP_SCRIPT), help="the app script for pen-up to prediction")
    p.add_argument("--drawings", type=int, default=10, help="drawings for pen-up to prediction (0: skip)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = p.parse_args(argv)
    result = run_browser_bench(args.page, args.drags, args.app, args.drawings)
    print(format_table(result))
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
