"""The browser measurements: the pose editor's drag (lateness of each input), its in-page decoder and the bytes a
drawing costs; in the app, the ink's frames while drawing and pen-up to prediction (with the server's timeline of
the rerun); with the quantile the load benchmark shares."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from typing import Any

from capsviz.bench.browser.pages import (
    UPDATE_TIMEOUT_S,
    canvas_box,
    canvas_root,
    click_clear,
    draw_strokes,
    slider_point,
    slider_range,
    wait_for_editor,
    wait_for_new_drawing,
    wait_until_idle,
)
from capsviz.bench.browser.probes import (
    FRAME_RECORDER_START,
    FRAME_RECORDER_STOP,
    PEN_UP_ANSWERED,
    PEN_UP_PROBE,
    PEN_UP_RESULT,
    time_origin_ms,
    ws_count,
    ws_log,
)
from capsviz.data.strokes import CANVAS


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


# The server's moments in a drawing's rerun (the instrumented server's sections, capsviz.bench.load.server), by
# (module, function): the timeline reads when each one ended.
TIMELINE_SECTIONS = {
    "input_read_ms": ("capsviz.app.inputs", "image_from"),  # the canvas's strokes -> the 28x28 input
    "trace_done_ms": ("capsviz.inspect.trace", "trace_image"),  # forward + routing (absent: the trace was cached)
    "prediction_out_ms": ("capsviz.app.panels.prediction", "seen"),  # the image and the Prediction metric sent
}


def _section_labels() -> dict[tuple[str, str], str]:
    from capsviz.bench.load.server import TIMED_SECTIONS

    return {(module, name): label for label, module, name in TIMED_SECTIONS}


def server_timeline(events: Sequence[dict], up: float, send: float | None) -> dict[str, Any]:
    """The server's part of one drawing, in ms after the pen-up ``up`` (wall-clock ms since the epoch, like the
    events' ``at``): the first script run that started after the send (``send``, else the pen-up), when it
    started and ended, when its input, trace and Prediction were ready, and each timed section's ms in it."""
    after = (send if send is not None else up) - 5.0  # the two clocks are one, read by two processes
    runs = sorted((e for e in events if e["ev"] == "run" and "at" in e and e["at"] >= after), key=lambda e: e["at"])
    if not runs:
        return {}
    run = runs[0]
    start, end = run["at"], run["at"] + run["ms"]
    inside = [e for e in events if e["ev"] == "section" and "at" in e and start <= e["at"] <= end]
    out: dict[str, Any] = {"script_start_ms": round(start - up, 1), "script_end_ms": round(end - up, 1)}
    labels = _section_labels()
    for key, where in TIMELINE_SECTIONS.items():
        done = [e["at"] + e["ms"] for e in inside if e["name"] == labels.get(where)]
        out[key] = round(max(done) - up, 1) if done else None
    sections: dict[str, float] = {}
    for e in inside:
        sections[e["name"]] = round(sections.get(e["name"], 0.0) + e["ms"], 2)
    out["sections"] = sections
    out["run_cpu_ms"] = run.get("cpu_ms")
    return out


def measure_ink(page, duration_s: float = 1.0, moves: int = 60) -> dict[str, Any]:
    """One stroke drawn with the mouse for ``duration_s`` (``moves`` moves spread evenly: a circle on the canvas),
    every animation frame's time recorded meanwhile: the intervals between frames while the pen is down (what
    the ink's motion looks like) and, from the canvas's own log (``_capsviz.log().paint``), what inking each
    frame cost. The page then reruns for the scribble; it is cleared afterwards."""
    box = canvas_box(page)
    k = box["width"] / CANVAS
    cx, cy, r = box["x"] + k * CANVAS / 2, box["y"] + k * CANVAS / 2, k * CANVAS * 0.3
    at = [
        (cx + r * math.cos(2 * math.pi * i / moves), cy + r * math.sin(2 * math.pi * i / moves))
        for i in range(moves + 1)
    ]
    mouse = page.mouse
    mouse.move(*at[0])
    since = page.evaluate("() => performance.now()")
    page.evaluate(FRAME_RECORDER_START)
    mouse.down()
    t_start = time.perf_counter()
    for i in range(1, moves + 1):
        delay = t_start + duration_s * i / moves - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        mouse.move(*at[i])
    held_s = time.perf_counter() - t_start
    mouse.up()
    frames = page.evaluate(FRAME_RECORDER_STOP)
    log = canvas_root(page).evaluate("el => el._capsviz.log()")
    paint = [ms for t, ms in log.get("paint", []) if t >= since]
    gaps = [b - a for a, b in zip(frames, frames[1:], strict=False)]
    wait_until_idle(page, settle_ms=400)
    click_clear(page)
    return {
        "ink_stroke_s": round(held_s, 3),
        "ink_moves": moves,
        "ink_frames": len(frames),
        "ink_frame_ms_p50": round(statistics.median(gaps), 1) if gaps else None,
        "ink_frame_ms_p95": round(quantile(gaps, 0.95), 1) if gaps else None,
        "ink_frame_ms_max": round(max(gaps), 1) if gaps else None,
        "ink_paint_frames": len(paint),
        "ink_paint_ms_p95": round(quantile(paint, 0.95), 2) if paint else None,
        "ink_paint_ms_max": round(max(paint), 2) if paint else None,
    }


TIMELINE = (
    "send_ms",
    "script_start_ms",
    "input_read_ms",
    "trace_done_ms",
    "prediction_out_ms",
    "prediction_received_ms",  # the websocket frame carrying the metric reached the page
    "script_end_ms",
)


def measure_pen_up(page, drawings, timeout_s: float = UPDATE_TIMEOUT_S, events_path=None) -> dict[str, Any]:
    """In the app (already loaded, Draw source, empty canvas; WS_LOG_SCRIPT installed): replay each drawing
    with the mouse, Clear in between. Per drawing: ms from the last mouse-up to the first frame showing its
    prediction, the websocket bytes sent and received from its first stroke until the page is idle again, and,
    when the server is the instrumented one (``events_path``: capsviz.bench.load.server's events), the timeline
    of its last rerun: pen-up -> the canvas's send (the BackMsg leaving) -> script start -> input read -> trace
    done -> Prediction sent -> its frame received by the page -> script end -> Prediction painted, with the rerun's
    section times."""
    from capsviz.bench.load.server import read_events

    page.evaluate(PEN_UP_PROBE)
    origin = time_origin_ms(page)
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
        sent = [f for f in frames if f["dir"] == "s"]
        run: dict[str, Any] = {
            "digit": drawing.digit,
            "strokes": len(drawing.strokes),
            "predicted": hit["value"],
            "pen_up_ms": round(hit["shown"] - hit["up"], 1),
            "send_ms": round(hit["send"] - hit["up"], 1) if hit["send"] is not None else None,
            "received_bytes": sum(f["bytes"] for f in frames if f["dir"] == "r"),
            "sent_bytes": sum(f["bytes"] for f in sent),
            "messages_sent": len(sent),
            "last_send_bytes": next((f["bytes"] for f in sent if f["t"] >= hit["up"]), None),  # the whole drawing
        }
        got = [f["t"] for f in frames if f["dir"] == "r" and f.get("prediction") and f["t"] >= hit["up"]]
        run["prediction_received_ms"] = round(min(got) - hit["up"], 1) if got else None
        if events_path is not None:
            send = origin + hit["send"] if hit["send"] is not None else None
            run.update(server_timeline(read_events(events_path), origin + hit["up"], send))
        runs.append(run)
    return summarize_pen_up(runs)


def _p50(values) -> float | None:
    xs = [v for v in values if v is not None]
    return round(statistics.median(xs), 1) if xs else None


def summarize_pen_up(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The per-drawing runs of ``measure_pen_up`` summed up: latency p50/p95/max, the timeline's p50s, bytes,
    and each server section's p50 ms in a drawing's last rerun (slowest first)."""
    later = runs[1:] or runs
    latency = [r["pen_up_ms"] for r in runs]
    sections: dict[str, list[float]] = {}
    for r in runs:
        for name, ms in r.get("sections", {}).items():
            sections.setdefault(name, []).append(ms)
    return {
        "pen_up_drawings": len(runs),
        "pen_up_right": sum(str(r["digit"]) == r["predicted"] for r in runs),
        "pen_up_ms_p50": round(statistics.median(latency), 1),
        "pen_up_ms_p95": round(quantile(latency, 0.95), 1),
        "pen_up_ms_max": round(max(latency), 1),
        "pen_up_timeline_p50": {key: _p50(r.get(key) for r in runs) for key in TIMELINE},
        "pen_up_send_ms_p50": _p50(r["send_ms"] for r in runs),
        "pen_up_run_cpu_ms_p50": _p50(r.get("run_cpu_ms") for r in runs),
        "pen_up_sections_p50": dict(
            sorted(((k, round(statistics.median(v), 1)) for k, v in sections.items()), key=lambda kv: -kv[1])
        ),
        "drawing_bytes_first": runs[0]["received_bytes"],
        "drawing_bytes_later_p50": round(statistics.median(r["received_bytes"] for r in later)),
        "drawing_bytes_later_max": max(r["received_bytes"] for r in later),
        "drawing_sent_bytes_later_p50": round(statistics.median(r["sent_bytes"] for r in later)),
        "drawing_messages_sent_p50": _p50(r["messages_sent"] for r in later),
        "drawing_last_send_bytes_p50": _p50(r["last_send_bytes"] for r in later),
        "pen_up_runs": runs,
    }
