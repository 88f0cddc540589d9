"""The numbers a run reports, from its steps, the server's events and the memory samples: latency quantiles,
server counters, timed sections, RSS over drawings answered, errors and mismatched answers, the machine."""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from typing import Any

from capsviz.bench.browser.measure import quantile
from capsviz.bench.load.sampling import Sample, cpu_name, load_average
from capsviz.bench.load.server import TIMED_SECTIONS
from capsviz.bench.load.sessions import Session, Step

MODEL_SPINNER = "Loading the CapsNet"  # capsviz.app.cached.model's spinner
PLATEAU_MB = 40.0  # tests/test_load.py: RSS may grow at most this much over the last half (growth_last_half)


def latency_summary(steps: Sequence[Step], finished: bool = False) -> dict[str, Any]:
    """p50 / p95 / max of send -> Prediction (``finished``: send -> script_finished) over the steps."""
    ms = [x for s in steps if (x := s.finished_ms if finished else s.latency_ms) is not None]
    if not ms:
        return {"n": 0}
    return {
        "n": len(ms),
        "p50_ms": round(quantile(ms, 0.5), 1),
        "p95_ms": round(quantile(ms, 0.95), 1),
        "max_ms": round(max(ms), 1),
    }


def server_summary(events: list[dict[str, Any]]) -> dict[str, Any]:
    runs = [e for e in events if e["ev"] == "run"]
    traces = [e["ms"] for e in events if e["ev"] == "section" and e["name"] == TIMED_SECTIONS[0][0]]
    gcs = [e for e in events if e["ev"] == "gc"]
    return {
        "gc_after_runs": len(gcs),
        "gc_ms_p50": round(statistics.median(e["ms"] for e in gcs), 1) if gcs else None,
        "gc_ms_total": round(sum(e["ms"] for e in gcs)),
        "auto_full_gcs": sum(e["ev"] == "auto_gc" for e in events),
        "auto_full_gc_ms_total": round(sum(e["ms"] for e in events if e["ev"] == "auto_gc")),
        "frozen_objects": next((e["objects"] for e in events if e["ev"] == "freeze"), 0),
        "model_loads": sum(e["ev"] == "load_model" for e in events),
        "model_load_ms": [e["ms"] for e in events if e["ev"] == "load_model"],
        "script_runs": len(runs),
        "traces_computed": len(traces),
        "trace_ms_p50": round(statistics.median(traces), 1) if traces else None,
        "run_wall_ms_p50": round(statistics.median(e["ms"] for e in runs), 1) if runs else None,
        "run_cpu_ms_p50": round(statistics.median(e["cpu_ms"] for e in runs), 1) if runs else None,
    }


def section_summary(events: list[dict[str, Any]]) -> list[tuple[str, float, int]]:
    """(label, p50 ms, calls) of each timed section in the events, in TIMED_SECTIONS order."""
    out = []
    for label, _, _ in TIMED_SECTIONS:
        ms = [e["ms"] for e in events if e["ev"] == "section" and e["name"] == label]
        if ms:
            out.append((label, round(statistics.median(ms), 1), len(ms)))
    return out


def rss_summary(samples: Sequence[Sample], start: float) -> dict[str, Any]:
    rss = [s.rss_mb for s in samples]
    return {
        "rss_start_mb": round(start, 1),
        "rss_peak_mb": round(max(rss, default=start), 1),
        "rss_end_mb": round(rss[-1] if rss else start, 1),
    }


def rss_curve(samples: Sequence[Sample], points: int = 8) -> list[tuple[float, float, int]]:
    """(t_s, rss_mb, drawings answered) at a few evenly spaced samples."""
    if not samples:
        return []
    picks = sorted({round(k * (len(samples) - 1) / (points - 1)) for k in range(points)})
    return [(samples[i].t_s, samples[i].rss_mb, samples[i].drawings) for i in picks]


def answer_checks(steps: Sequence[Step], sessions: Sequence[Session]) -> dict[str, Any]:
    errors = [e for s in steps for e in s.errors] + [e for x in sessions for e in x.errors]
    mismatched = [s for s in steps if s.mismatches]
    return {
        "errors": len(errors),
        "error_examples": errors[:5],
        "mismatched_answers": len(mismatched),
        "sessions_with_foreign_answers": len({s.session for s in mismatched}),
        "mismatch_examples": [f"session {s.session}, drawing #{s.submission}: {s.mismatches}" for s in mismatched[:5]],
        "model_spinners_seen": sum(MODEL_SPINNER in t for s in steps for t in s.spinners),
    }


def environment(loads: Sequence[float]) -> dict[str, Any]:
    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "load_average_during": [round(min(loads), 2), round(max(loads), 2)] if loads else None,
        "load_average_after": load_average(),
    }


def rss_at(samples: Sequence[Sample], drawings: int) -> float:
    """RSS at the first sample taken once ``drawings`` drawings had been answered (the last sample if never)."""
    return next((s.rss_mb for s in samples if s.drawings >= drawings), samples[-1].rss_mb)


def rss_by_drawings(samples: Sequence[Sample], total: int) -> list[tuple[int, float]]:
    marks = sorted({0, *(round(total * f) for f in (0.1, 0.25, 0.5, 0.75)), total})
    return [(m, rss_at(samples, m)) for m in marks]


def _window_median(samples: Sequence[Sample], lo: float, hi: float) -> float:
    """Median RSS over the samples taken while between ``lo`` and ``hi`` drawings had been answered."""
    inside = [s.rss_mb for s in samples if lo <= s.drawings <= hi]
    return statistics.median(inside) if inside else rss_at(samples, round(lo))


def growth_last_half(samples: Sequence[Sample], total: int) -> float:
    """RSS growth over the second half of the drawings, in MB: the median RSS while the last tenth was answered
    minus the median while the drawings around the half (45-55%) were. Medians: RSS swings by some 20 MB from one
    second to the next while garbage waits for the collector."""
    end = statistics.median([s.rss_mb for s in samples if s.drawings >= 0.9 * total] or [samples[-1].rss_mb])
    return round(end - _window_median(samples, 0.45 * total, 0.55 * total), 1)
