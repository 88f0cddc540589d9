"""The load runs: many sessions drawing on a schedule against one server (``run_load``, ``run_sweep``, where p95
passes the limit), and many drawings through one server for its memory (``run_memory``)."""

from __future__ import annotations

import asyncio
import math
import os
import statistics
import time
from collections.abc import Sequence
from typing import Any

from capsviz.bench.browser.serve import APP_SCRIPT
from capsviz.bench.load.drawings import Submission, make_submissions
from capsviz.bench.load.sampling import Sampler, cpu_seconds
from capsviz.bench.load.server import Server, read_events, serve_app
from capsviz.bench.load.sessions import Checker, Session, open_and_first, run_async, schedule, steady
from capsviz.bench.load.summaries import (
    answer_checks,
    environment,
    growth_last_half,
    latency_summary,
    rss_by_drawings,
    rss_curve,
    rss_summary,
    server_summary,
)

P95_LIMIT_S = 2.0  # the saturation point: the offered rate at which p95 passes this


async def _load(
    server: Server,
    subs: list[Submission],
    sessions: int,
    interval_s: float,
    duration_s: float,
    ramp_s: float,
    fetch_media: bool,
) -> dict[str, Any]:
    t_start = time.perf_counter()
    sampler = Sampler(server.pid, t_start)
    rss_start = sampler.sample().rss_mb
    sampler.start()
    checker = Checker(subs)
    people = [Session(i, server.url, checker, t_start, fetch_media) for i in range(sessions)]
    opened = await asyncio.gather(
        *(open_and_first(p, subs[i], t_start + ramp_s * i / sessions, sampler) for i, p in enumerate(people))
    )
    t0 = time.perf_counter() + 0.5
    rss_before_steps = sampler.sample().rss_mb
    times = schedule(sessions, interval_s, duration_s, t0)
    jobs = []
    for i, p in enumerate(people):
        if opened[i]:
            mine = [subs[sessions * (k + 1) + i] for k in range(len(times[i]))]
            jobs.append(steady(p, mine, times[i], sampler))
    cpu0 = cpu_seconds(server.pid)
    await asyncio.gather(*jobs)
    elapsed = time.perf_counter() - t0
    cpu1 = cpu_seconds(server.pid)
    await sampler.stop()
    for p in people:
        await p.close()
    steps = [s for p in people for s in p.steps]
    timed = [s for s in steps if s.kind == "step"]
    result: dict[str, Any] = {
        "mode": "load",
        "sessions": sessions,
        "sessions_opened": sum(opened),
        "interval_s": interval_s,
        "duration_s": duration_s,
        "offered_per_s": round(sessions / interval_s, 2),
        "achieved_per_s": round(len(timed) / elapsed, 2) if elapsed > 0 else None,
        "steps": len(timed),
        "late_steps": sum(s.late_ms > 100 for s in timed),
        "latency": latency_summary(timed),
        "finished": latency_summary(timed, finished=True),
        "page_load": latency_summary([s for s in steps if s.kind == "page"]),
        "first_drawing": latency_summary([s for s in steps if s.kind == "first"]),
        "bytes_per_step_p50": round(statistics.median(s.received_bytes for s in timed)) if timed else None,
        "server_cpu_cores": round((cpu1 - cpu0) / elapsed, 2) if elapsed > 0 else None,
        "rss_before_steps_mb": rss_before_steps,
        "rss_curve": rss_curve(sampler.samples),
    }
    return _with_closing_measures(result, sampler, rss_start, steps, people, server)


def run_load(
    sessions: int = 30,
    interval_s: float = 5.0,
    duration_s: float = 60.0,
    *,
    ramp_s: float = 5.0,
    seed: int = 0,
    torch_threads: int | None = None,
    gc_mode: str = "default",
    fetch_media: bool = True,
    script: str | os.PathLike = APP_SCRIPT,
) -> dict[str, Any]:
    """Serve the app and drive ``sessions`` sessions for ``duration_s`` seconds, each submitting a new drawing
    every ``interval_s`` seconds (after connecting over ``ramp_s`` seconds and drawing one first digit each).
    Returns one flat-ish dict: latency p50/p95/max of the timed steps, errors, mismatches, RSS and server counters."""
    steps = math.ceil(duration_s / interval_s)
    subs = make_submissions(sessions * (steps + 1), seed)
    with serve_app(script, torch_threads=torch_threads, gc_mode=gc_mode) as server:
        result = run_async(_load(server, subs, sessions, interval_s, duration_s, ramp_s, fetch_media))
    result["torch_threads"] = torch_threads or "default"
    result["gc_mode"] = gc_mode
    return result


def run_sweep(session_counts: Sequence[int], interval_s: float, duration_s: float, **kwargs) -> list[dict[str, Any]]:
    """``run_load`` at each session count (a fresh server each), in order."""
    return [run_load(n, interval_s, duration_s, **kwargs) for n in session_counts]


def saturation(results: Sequence[dict[str, Any]]) -> str:
    """Where p95 passes P95_LIMIT_S, in words."""
    under = [r for r in results if r["latency"].get("p95_ms", math.inf) <= 1000 * P95_LIMIT_S]
    over = [r for r in results if r["latency"].get("p95_ms", math.inf) > 1000 * P95_LIMIT_S]
    if not over:
        return f"p95 stays under {P95_LIMIT_S:.0f} s up to {max(r['offered_per_s'] for r in results)} drawings/s"
    first = min(over, key=lambda r: r["offered_per_s"])
    below = max((r["offered_per_s"] for r in under if r["offered_per_s"] < first["offered_per_s"]), default=None)
    return (
        f"p95 passes {P95_LIMIT_S:.0f} s between {below} and {first['offered_per_s']} drawings/s offered"
        if below is not None
        else f"p95 is over {P95_LIMIT_S:.0f} s already at {first['offered_per_s']} drawings/s offered"
    )


MAX_FAILED_OPENS = 3  # a tab slot gives up (and the run fails) after this many tabs in a row could not open the page


class SessionsFailedError(RuntimeError):
    """The memory run cannot go on: tabs keep failing to open the page (the server is down or shows no canvas)."""


async def _memory_slot(slot: int, queue: asyncio.Queue, per_session: int, ctx: dict[str, Any]) -> None:
    """One browser tab after another: each opens the page, draws ``per_session`` drawings back to back, closes.
    Raises SessionsFailedError after MAX_FAILED_OPENS tabs in a row fail to open (instead of trying forever:
    a tab that cannot open takes nothing off the queue)."""
    sampler, checker, people = ctx["sampler"], ctx["checker"], ctx["people"]
    failed_opens = 0
    while not queue.empty():
        session = Session(len(people), ctx["url"], checker, sampler.t0, ctx["fetch_media"])
        people.append(session)
        opened = False
        try:
            await session.open()
            opened = True
            for k in range(per_session):
                if queue.empty():
                    break
                sub = queue.get_nowait()
                await session.draw(sub, "first" if k == 0 else "step")
                sampler.drawings += 1
        except Exception as exc:
            session.fail(exc)
        finally:
            await session.close()
        failed_opens = 0 if opened else failed_opens + 1
        if failed_opens >= MAX_FAILED_OPENS:
            raise SessionsFailedError(
                f"tab slot {slot}: {failed_opens} tabs in a row could not open the page at {ctx['url']} "
                f"({queue.qsize()} drawings not sent); last: {session.errors[-1] if session.errors else 'no error'}"
            )


async def _memory(
    server: Server, subs: list[Submission], sessions: int, per_session: int, fetch_media: bool
) -> dict[str, Any]:
    t_start = time.perf_counter()
    sampler = Sampler(server.pid, t_start, every_s=1.0)
    rss_start = sampler.sample().rss_mb
    sampler.start()
    queue: asyncio.Queue = asyncio.Queue()
    for s in subs:
        queue.put_nowait(s)
    ctx: dict[str, Any] = {
        "sampler": sampler,
        "checker": Checker(subs),
        "people": [],
        "url": server.url,
        "fetch_media": fetch_media,
    }
    try:
        await asyncio.gather(*(_memory_slot(i, queue, per_session, ctx) for i in range(sessions)))
    except BaseException:
        await sampler.stop()  # a slot gave up: no sampler left running
        raise
    elapsed = time.perf_counter() - t_start
    await asyncio.sleep(2.0)  # the RSS once the last drawing is answered
    await sampler.stop()
    steps = [s for p in ctx["people"] for s in p.steps]
    drawn = [s for s in steps if s.kind in ("first", "step")]
    result: dict[str, Any] = {
        "mode": "memory",
        "drawings": len(drawn),
        "concurrent_sessions": sessions,
        "sessions_opened": len(ctx["people"]),
        "seconds": round(elapsed, 1),
        "drawings_per_s": round(len(drawn) / elapsed, 2),
        "latency": latency_summary(drawn),
        "rss_by_drawings": rss_by_drawings(sampler.samples, len(subs)),
        "rss_growth_last_half_mb": growth_last_half(sampler.samples, len(subs)),
        "rss_curve": rss_curve(sampler.samples, 10),
    }
    return _with_closing_measures(result, sampler, rss_start, steps, ctx["people"], server)


def run_memory(
    drawings: int = 2000,
    sessions: int = 4,
    per_session: int = 100,
    *,
    seed: int = 1,
    gc_mode: str = "default",
    fetch_media: bool = True,
    script: str | os.PathLike = APP_SCRIPT,
) -> dict[str, Any]:
    """Send ``drawings`` distinct drawings through one server, ``sessions`` tabs at a time, each tab closing after
    ``per_session`` drawings and a new one opening; the server's RSS against drawings answered."""
    subs = make_submissions(drawings, seed)
    with serve_app(script, gc_mode=gc_mode) as server:
        result = run_async(_memory(server, subs, sessions, per_session, fetch_media))
    result["gc_mode"] = gc_mode
    return result


def _with_closing_measures(result: dict[str, Any], sampler, rss_start: float, steps, people, server) -> dict[str, Any]:
    """What every run reports at its end: memory, the answers' checks, the machine's load and the server's side."""
    result.update(rss_summary(sampler.samples, rss_start))
    result.update(answer_checks(steps, people))
    result.update(environment(sampler.loads))
    result["server"] = server_summary(read_events(server.events_path))
    return result
