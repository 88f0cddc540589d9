"""Where one rerun's time goes: one session, its drawings timed by section inside the served script runs, then
as many more under cProfile (``run_profile``)."""

from __future__ import annotations

import asyncio
import os
import pstats
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from capsviz.bench.browser.serve import APP_SCRIPT, REPO_ROOT
from capsviz.bench.load.drawings import Submission, make_submissions
from capsviz.bench.load.sampling import load_average
from capsviz.bench.load.server import Server, read_events, serve_app
from capsviz.bench.load.sessions import Checker, Session, Step, run_async
from capsviz.bench.load.summaries import environment, latency_summary, section_summary, server_summary


def top_functions(stats: pstats.Stats, runs: int, n: int = 15) -> list[tuple[str, float]]:
    """The ``n`` functions with the most own time (tottime), ms per run."""
    rows = []
    for (filename, line, func), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = filename.split("site-packages/")[-1].replace(str(REPO_ROOT) + "/", "")
        rows.append((f"{where}:{line}({func})", round(1000 * tottime / max(runs, 1), 2)))
    return sorted(rows, key=lambda r: -r[1])[:n]


async def _runs_logged(events_path: Path, runs: int, timeout_s: float = 30.0) -> list[dict[str, Any]]:
    """All events, once ``runs`` script runs have been logged (a run is logged after its collection and its
    profile dump: waiting for it keeps one drawing's after-work out of the next drawing's time)."""
    deadline = time.perf_counter() + timeout_s
    while True:
        events = read_events(events_path)
        if sum(e["ev"] == "run" for e in events) >= runs or time.perf_counter() > deadline:
            return events
        await asyncio.sleep(0.05)


async def _drawings(session: Session, subs: Sequence[Submission], events_path: Path) -> list[dict[str, Any]]:
    """Draw each submission once the server has logged the previous drawing's runs; all events after."""
    for sub in subs:
        before = len(session.steps)
        runs = sum(e["ev"] == "run" for e in read_events(events_path))
        await session.draw(sub, "step")
        await _runs_logged(events_path, runs + len(session.steps) - before)
    return read_events(events_path)


def _bytes_by_kind(steps: Sequence[Step], n: int = 6) -> list[tuple[str, int]]:
    """The ``n`` message or element types that took the most websocket bytes per step, p50."""
    kinds = {k for s in steps for k in s.bytes_by_kind}
    per = [(k, round(statistics.median(s.bytes_by_kind.get(k, 0) for s in steps))) for k in kinds]
    return sorted(per, key=lambda kv: -kv[1])[:n]


def _run_breakdown(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Per drawing, p50: the run's wall and CPU time, the collection after it, each section, and the rest."""
    runs = [e for e in events if e["ev"] == "run"]
    gcs = [e["ms"] for e in events if e["ev"] == "gc"]
    sections = section_summary(events)
    wall = statistics.median(e["ms"] for e in runs)
    gc_ms = statistics.median(gcs) if gcs else 0.0
    top_level = sum(ms for label, ms, _ in sections if not label.startswith(" "))
    return {
        "runs": len(runs),
        "run_wall_ms_p50": round(wall, 1),
        "run_cpu_ms_p50": round(statistics.median(e["cpu_ms"] for e in runs), 1),
        "gc_ms_p50": round(gc_ms, 1),
        "sections_ms_p50": sections,
        "rest_ms": round(wall - gc_ms - top_level, 1),  # Streamlit's own work: widgets, protos, caches, messages
    }


async def _profile(server: Server, subs: list[Submission], profile_path: Path, drawings: int) -> dict[str, Any]:
    session = Session(0, server.url, Checker(subs), time.perf_counter())
    await session.open()
    await session.draw(subs[0], "first")
    await session.draw(subs[1], "step")  # warm: the first plain drawing after the weights are held
    n0 = len(await _runs_logged(server.events_path, len(session.steps)))
    events = (await _drawings(session, subs[2 : 2 + drawings], server.events_path))[n0:]
    timed = session.steps[-drawings:]
    Path(f"{profile_path}.on").touch()
    await _drawings(session, subs[2 + drawings :], server.events_path)
    Path(f"{profile_path}.on").unlink()
    await session.close()
    profiled_runs = len(subs) - 2 - drawings
    return {
        "mode": "profile",
        "drawings": len(timed),
        "latency": latency_summary(timed),
        "finished": latency_summary(timed, finished=True),
        "bytes_per_drawing_p50": round(statistics.median(s.received_bytes for s in timed)),
        "bytes_by_kind": _bytes_by_kind(timed),
        **_run_breakdown(events),
        "top_own_time_ms": top_functions(pstats.Stats(str(profile_path)), profiled_runs),
        "profiled_runs": profiled_runs,
        "server": server_summary(read_events(server.events_path)),
        "errors": sum(len(s.errors) for s in session.steps) + len(session.errors),
        "mismatched_answers": sum(bool(s.mismatches) for s in session.steps),
        **environment([load_average()[0]]),
    }


def run_profile(
    drawings: int = 20, *, seed: int = 2, gc_mode: str = "default", script: str | os.PathLike = APP_SCRIPT
) -> dict[str, Any]:
    """One session, ``drawings`` new drawings one after another (each once the server is done with the previous):
    the timed sections of each script run, then as many more under cProfile for the functions with the most own
    time (in the script thread: the time torch's worker threads spend is inside the torch calls' times)."""
    subs = make_submissions(2 + 2 * drawings, seed)
    with tempfile.TemporaryDirectory(prefix="capsviz-profile-") as folder:
        profile_path = Path(folder) / "runs.pstats"
        with serve_app(script, profile_path=profile_path, gc_mode=gc_mode) as server:
            result = run_async(_profile(server, subs, profile_path, drawings))
    result["gc_mode"] = gc_mode
    return result
