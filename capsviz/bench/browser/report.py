"""The browser benchmark's results as an aligned two-column table.

ROWS holds one function per section of results (capsviz.bench.browser.run.SECTIONS): each returns its rows, or
none when its keys are absent; a new section adds its own function here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Rows = list[tuple[str, str]]

PEN_UP_TARGET_MS = (150, 300)  # p50, p95: last pen-up -> Prediction shown
INK_FRAME_TARGET_MS = 20  # p95 of the frame interval while drawing
# The timeline's moments, in order, as the table names them (capsviz.bench.browser.measure.TIMELINE).
TIMELINE_WORDS = {
    "send_ms": "sent",
    "script_start_ms": "script starts",
    "input_read_ms": "input read",
    "trace_done_ms": "trace done",
    "prediction_out_ms": "Prediction sent",
    "prediction_received_ms": "received",
    "script_end_ms": "script ends",
}


def machine_rows(r: dict[str, Any]) -> Rows:
    if "machine" not in r:
        return []
    m = r["machine"]
    load = "{:.2f} {:.2f} {:.2f}".format(*m["load_average"])
    after = r.get("load_average_after")
    if after:
        load += " before, {:.2f} {:.2f} {:.2f} after".format(*after)
    return [("machine", f"{m['cpu']}, {m['cores']} cores; load average (1, 5, 15 min) {load}")]


def pose_editor_rows(r: dict[str, Any]) -> Rows:
    if "decode_ms_p50" not in r:
        return []
    return [
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


def _ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.0f}"


def timeline(t: dict[str, float | None], shown: float) -> str:
    """``sent +3; script starts +9; ...; painted +140`` (ms after the pen-up; a moment not measured is left out)."""
    parts = [f"{TIMELINE_WORDS[k]} +{v:.0f}" for k, v in t.items() if v is not None and k in TIMELINE_WORDS]
    return "; ".join([*parts, f"painted +{shown:.0f}"])


def pen_up_rows(r: dict[str, Any]) -> Rows:
    if "pen_up_ms_p50" not in r:
        return []
    n = r["pen_up_drawings"]
    p50, p95 = PEN_UP_TARGET_MS
    met = r["pen_up_ms_p50"] <= p50 and r["pen_up_ms_p95"] <= p95
    rows = [
        (
            f"app: last pen-up -> Prediction shown, pose tab open, {n} drawings, p50 / p95 (max)",
            f"{r['pen_up_ms_p50']:.0f} / {r['pen_up_ms_p95']:.0f} ms ({r['pen_up_ms_max']:.0f}); "
            f"target {p50} / {p95}: {'met' if met else 'NOT met'}",
        ),
        ("app: timeline p50, ms after the pen-up", timeline(r["pen_up_timeline_p50"], r["pen_up_ms_p50"])),
        ("app: drawings read right", f"{r['pen_up_right']} of {n}"),
        (
            "app: websocket bytes sent per drawing, p50 (messages; the last, the whole drawing)",
            f"{r['drawing_sent_bytes_later_p50']:,} ({_ms(r['drawing_messages_sent_p50'])}; "
            f"{_ms(r['drawing_last_send_bytes_p50'])})",
        ),
        (
            "app: websocket bytes received per drawing, first / later p50 (max)",
            f"{r['drawing_bytes_first']:,} / {r['drawing_bytes_later_p50']:,} ({r['drawing_bytes_later_max']:,})",
        ),
    ]
    if r.get("pen_up_sections_p50"):
        cpu = r.get("pen_up_run_cpu_ms_p50")
        rows.append(
            (
                "app: the drawing's rerun on the server, p50 ms by section"
                + (f" (run CPU {cpu:.0f} ms)" if cpu else ""),
                "; ".join(f"{k.strip()} {v:.1f}" for k, v in r["pen_up_sections_p50"].items()),
            )
        )
    return rows


def ink_rows(r: dict[str, Any]) -> Rows:
    if r.get("ink_frame_ms_p95") is None:
        return []
    paint = r.get("ink_paint_ms_p95")
    return [
        (
            f"app: ink frame interval while drawing ({r['ink_moves']} moves in {r['ink_stroke_s']:.2f} s), "
            "p50 / p95 / max",
            f"{r['ink_frame_ms_p50']:.1f} / {r['ink_frame_ms_p95']:.1f} / {r['ink_frame_ms_max']:.1f} ms "
            f"({r['ink_frames']} frames); target p95 <= {INK_FRAME_TARGET_MS}: "
            f"{'met' if r['ink_frame_ms_p95'] <= INK_FRAME_TARGET_MS else 'NOT met'}",
        ),
        (
            "app: the canvas inking one frame, p95 / max",
            "n/a"
            if paint is None
            else f"{paint:.2f} / {r['ink_paint_ms_max']:.2f} ms ({r['ink_paint_frames']} frames)",
        ),
    ]


ROWS: list[Callable[[dict[str, Any]], Rows]] = [machine_rows, pose_editor_rows, ink_rows, pen_up_rows]


def format_table(r: dict[str, Any]) -> str:
    """The results of ``run_browser_bench`` as an aligned two-column table (rows for what was measured)."""
    rows = [row for section in ROWS for row in section(r)]
    width = max((len(a) for a, _ in rows), default=0)
    return "\n".join(f"{a:<{width}}  {b}" for a, b in rows)


# The in-page model's rows: capsviz.bench.browser.inpage.
from capsviz.bench.browser.inpage import inpage_rows  # noqa: E402

ROWS.append(inpage_rows)
