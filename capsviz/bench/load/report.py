"""The load benchmark's results as (label, value) rows, aligned tables and one line per load point of a sweep."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def _ms(lat: dict[str, Any]) -> str:
    if not lat.get("n"):
        return "none"
    return f"{lat['p50_ms']:.0f} / {lat['p95_ms']:.0f} / {lat['max_ms']:.0f} ms (n={lat['n']})"


def _gc(server: dict[str, Any]) -> str:
    """Streamlit's collections after each run, Python's own full ones, and how many objects were frozen."""
    after = f"{server['gc_ms_p50']} ms / {server['gc_ms_total'] / 1000:.1f} s" if server["gc_after_runs"] else "none"
    auto = f"Python's own full collections {server['auto_full_gcs']}, {server['auto_full_gc_ms_total'] / 1000:.1f} s"
    frozen = f"; {server['frozen_objects']:,} objects frozen" if server["frozen_objects"] else ""
    return f"{after}; {auto}{frozen}"


def format_rows(result: dict[str, Any]) -> list[tuple[str, object]]:
    """A result of run_load, run_memory or run_profile as (label, value) rows."""
    if result["mode"] == "profile":
        return _profile_rows(result)
    rows = _load_rows(result) if result["mode"] == "load" else _memory_rows(result)
    return rows + _server_rows(result)


def _profile_rows(result: dict[str, Any]) -> list[tuple[str, object]]:
    """run_profile's result: latency, bytes, the script run split by section, cProfile's top functions."""
    rows: list[tuple[str, object]] = [
        (f"one session, {result['drawings']} new drawings: send -> Prediction", _ms(result["latency"])),
        ("send -> script finished", _ms(result["finished"])),
        ("websocket bytes received per drawing, p50", f"{result['bytes_per_drawing_p50']:,}"),
        ("  by type, p50", ", ".join(f"{k} {b:,}" for k, b in result["bytes_by_kind"])),
        (
            "server script run per drawing, wall / CPU of its thread, p50",
            f"{result['run_wall_ms_p50']} / {result['run_cpu_ms_p50']} ms",
        ),
        (f"  Streamlit's gc.collect(2) after the run ({result['gc_mode']}), p50", f"{result['gc_ms_p50']} ms"),
    ]
    rows += [(f"  {label}", f"{ms} ms") for label, ms, _ in result["sections_ms_p50"]]
    rows.append(("  the rest (Streamlit: widgets, protos, cache lookups, messages)", f"{result['rest_ms']} ms"))
    rows += [(f"cProfile own time: {name}", f"{ms} ms") for name, ms in result["top_own_time_ms"][:10]]
    return rows


def _load_rows(result: dict[str, Any]) -> list[tuple[str, object]]:
    """run_load's own rows: offered and achieved rate, latencies, late steps, the server's CPU use."""
    n, every = result["sessions"], result["interval_s"]
    return [
        (
            f"{n} sessions, a drawing each every {every:g} s: offered / achieved",
            f"{result['offered_per_s']} / {result['achieved_per_s']} drawings/s",
        ),
        ("submit -> Prediction, p50 / p95 / max", _ms(result["latency"])),
        ("submit -> script finished, p50 / p95 / max", _ms(result["finished"])),
        (
            "page load / first drawing (weights sent), p50 / p95 / max",
            f"{_ms(result['page_load'])}; {_ms(result['first_drawing'])}",
        ),
        ("steps sent late (previous answer still pending)", f"{result['late_steps']} of {result['steps']}"),
        ("server CPU use during the steps", f"{result['server_cpu_cores']} cores"),
    ]


def _memory_rows(result: dict[str, Any]) -> list[tuple[str, object]]:
    """run_memory's own rows: drawings and rate, latency, RSS against drawings answered, growth."""
    return [
        (
            f"{result['drawings']} drawings, {result['concurrent_sessions']} tabs at a time, "
            f"{result['sessions_opened']} sessions",
            f"{result['seconds']} s, {result['drawings_per_s']} drawings/s",
        ),
        ("submit -> Prediction, p50 / p95 / max", _ms(result["latency"])),
        (
            "server RSS after N drawings answered (MB)",
            ", ".join(f"{d}: {mb:.0f}" for d, mb in result["rss_by_drawings"]),
        ),
        ("RSS growth over the last half (MB)", result["rss_growth_last_half_mb"]),
    ]


def _server_rows(result: dict[str, Any]) -> list[tuple[str, object]]:
    """The rows load and memory runs share: errors, mismatches, RSS, the server's counters, the machine."""
    server = result["server"]
    return [
        ("errors (exceptions, error alerts, disconnects, timeouts)", result["errors"]),
        (
            "answers with another drawing's input or a wrong prediction",
            f"{result['mismatched_answers']} (sessions: {result['sessions_with_foreign_answers']})",
        ),
        (
            "server RSS start / peak / end (MB)",
            f"{result['rss_start_mb']:.0f} / {result['rss_peak_mb']:.0f} / {result['rss_end_mb']:.0f}",
        ),
        (
            "model loads (load_model calls) / 'Loading the CapsNet' spinners seen",
            f"{server['model_loads']} / {result['model_spinners_seen']}",
        ),
        (
            "server: script runs, traces computed, trace p50, run wall p50, run CPU p50",
            f"{server['script_runs']}, {server['traces_computed']}, {server['trace_ms_p50']} ms, "
            f"{server['run_wall_ms_p50']} ms, {server['run_cpu_ms_p50']} ms",
        ),
        (f"server: gc.collect(2) after each run ({result['gc_mode']}), p50 / total; others", _gc(server)),
        (
            "CPU; load average during (min-max)",
            f"{result['cpu']} ({result['cores']} cores); {result['load_average_during']}",
        ),
    ]


def format_table(rows: Sequence[tuple[str, object]]) -> str:
    width = max((len(a) for a, _ in rows), default=0)
    return "\n".join(f"{a:<{width}}  {b}" for a, b in rows)


def sweep_table(results: Sequence[dict[str, Any]]) -> str:
    """One line per load point: sessions, rate, latency, errors, RSS."""
    head = (
        "sessions  offered/s  achieved/s  p50 ms  p95 ms  max ms  errors  mismatched  RSS start/peak/end MB  CPU cores"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        p50, p95, top = (r["latency"].get(k, math.nan) for k in ("p50_ms", "p95_ms", "max_ms"))
        rss = f"{r['rss_start_mb']:>6.0f} /{r['rss_peak_mb']:>5.0f} /{r['rss_end_mb']:>5.0f}"
        lines.append(
            f"{r['sessions']:>8}  {r['offered_per_s']:>9}  {r['achieved_per_s']:>10}  {p50:>6.0f}  {p95:>6.0f}  "
            f"{top:>6.0f}  {r['errors']:>6}  {r['mismatched_answers']:>10}  {rss:>21}  {r['server_cpu_cores']:>9}"
        )
    return "\n".join(lines)
