"""The browser benchmark's bookkeeping (fast, no browser): a drawing's rerun found in the instrumented server's
events and laid out after the pen-up, the runs summed up, and the table printed from them."""

from __future__ import annotations

from capsviz.bench.browser.measure import TIMELINE, server_timeline, summarize_pen_up
from capsviz.bench.browser.report import format_table
from capsviz.bench.load.server import TIMED_SECTIONS

LABEL = {(module, name): label for label, module, name in TIMED_SECTIONS}


def _section(module: str, name: str, at: float, ms: float) -> dict:
    return {"ev": "section", "name": LABEL[(module, name)], "at": at, "ms": ms}


def test_server_timeline_takes_the_first_run_after_the_send():
    up = 1_000_000.0
    events = [
        {"ev": "run", "at": up - 300, "ms": 120, "cpu_ms": 90},  # an earlier stroke's run
        _section("capsviz.inspect.trace", "trace_image", up - 250, 40),
        {"ev": "run", "at": up + 20, "ms": 130, "cpu_ms": 80},
        _section("capsviz.app.inputs", "image_from", up + 22, 30),
        _section("capsviz.inspect.trace", "trace_image", up + 55, 45),
        _section("capsviz.app.panels.prediction", "seen", up + 101, 6),
        {"ev": "gc", "ms": 3},
    ]
    t = server_timeline(events, up, send=up + 10)
    assert (t["script_start_ms"], t["script_end_ms"]) == (20, 150)
    assert (t["input_read_ms"], t["trace_done_ms"], t["prediction_out_ms"]) == (52, 100, 107)
    assert t["sections"][LABEL[("capsviz.inspect.trace", "trace_image")]] == 45  # not the earlier run's
    assert t["run_cpu_ms"] == 80
    assert server_timeline(events, up + 1000, send=None) == {}  # no run after it


def test_summary_and_table():
    runs = []
    for i, ms in enumerate([120.0, 140.0, 400.0]):
        runs.append(
            {
                "digit": i, "strokes": 1, "predicted": str(i), "pen_up_ms": ms, "send_ms": 3.0,
                "received_bytes": 80_000, "sent_bytes": 3_000, "messages_sent": 1, "last_send_bytes": 3_000,
                "script_start_ms": 8.0, "script_end_ms": 100.0, "input_read_ms": 20.0, "trace_done_ms": 40.0,
                "prediction_out_ms": 50.0, "sections": {"sidebar": 1.0}, "run_cpu_ms": 70.0,
            }
        )  # fmt: skip
    r = summarize_pen_up(runs)
    assert (r["pen_up_ms_p50"], r["pen_up_right"]) == (140.0, 3)
    assert list(r["pen_up_timeline_p50"]) == list(TIMELINE) and r["pen_up_timeline_p50"]["send_ms"] == 3.0
    r |= {"machine": {"cpu": "AMD EPYC", "cores": 2, "load_average": (0.5, 0.6, 0.7)}}
    r |= {"ink_moves": 60, "ink_stroke_s": 1.0, "ink_frames": 61, "ink_frame_ms_p50": 16.7}
    r |= {"ink_frame_ms_p95": 16.8, "ink_frame_ms_max": 17.0, "ink_paint_ms_p95": None}
    table = format_table(r)
    assert "AMD EPYC" in table and "140 / " in table and "NOT met" in table  # p95 of 120, 140, 400 is over 300
    assert "sent +3; script starts +8; input read +20; trace done +40; Prediction sent +50" in table
    assert "target p95 <= 20: met" in table
