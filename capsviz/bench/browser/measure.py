"""The browser measurements: the pose editor's drag (lateness of each input), its in-page decoder and the bytes a
drawing costs, and pen-up to prediction in the app; with the quantile the load benchmark shares."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from typing import Any

from capsviz.bench.browser.pages import (
    UPDATE_TIMEOUT_S,
    click_clear,
    draw_strokes,
    slider_point,
    slider_range,
    wait_for_editor,
    wait_for_new_drawing,
    wait_until_idle,
)
from capsviz.bench.browser.probes import PEN_UP_ANSWERED, PEN_UP_PROBE, PEN_UP_RESULT, ws_count, ws_log


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
