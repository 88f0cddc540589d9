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

The coordinator wires this into ``python -m capsviz.bench --browser`` through ``run_browser_bench``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PAGE = REPO_ROOT / "tests" / "e2e" / "pose_editor_page.py"
CHROMIUM_ENV = "CAPSVIZ_CHROMIUM"
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


# --- serving and browsing ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(script),
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {proc.returncode}; log:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"streamlit did not answer in {timeout_s:.0f} s; log:\n{log_path.read_text()[-3000:]}"
                )
            time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def find_chromium() -> str | None:
    """Where scripts/install_browser.sh (and tests/e2e/conftest.py) look, in the same order: $CAPSVIZ_CHROMIUM
    (then nothing else), /usr/bin/chromium, chromium and chromium-browser on PATH, /snap/bin/chromium."""
    override = os.environ.get(CHROMIUM_ENV)
    candidates = [override] if override else [
        "/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"), "/snap/bin/chromium"
    ]  # fmt: skip
    return next((c for c in candidates if c and os.path.isfile(c) and os.access(c, os.X_OK)), None)


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


def wait_for_new_drawing(page, old_id: str | None, timeout_s: float = 30.0):
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


def wait_until_idle(page, timeout_s: float = 30.0, settle_ms: int = 300) -> None:
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


def run_browser_bench(page_script: str | os.PathLike = DEFAULT_PAGE, drags: int = 3) -> dict[str, Any]:
    """Serve ``page_script``, open it in headless chromium, run every measurement; one flat dict."""
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


def format_table(r: dict[str, Any]) -> str:
    rows = [
        ("decoder in page, one reconstruction p50 / p90", f"{r['decode_ms_p50']:.2f} / {r['decode_ms_p90']:.2f} ms"),
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
    width = max(len(a) for a, _ in rows)
    return "\n".join(f"{a:<{width}}  {b}" for a, b in rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m capsviz.bench_browser",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--page", default=str(DEFAULT_PAGE), help="Streamlit script holding the pose editor")
    p.add_argument("--drags", type=int, default=3, help="timed drags (the worst is reported)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = p.parse_args(argv)
    result = run_browser_bench(args.page, drags=args.drags)
    print(format_table(result))
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
