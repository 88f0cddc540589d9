"""The browser benchmark's results as an aligned two-column table."""

from __future__ import annotations

from typing import Any


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
