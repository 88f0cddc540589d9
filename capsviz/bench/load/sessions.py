"""Sessions: one student each, opening the page and drawing on a schedule; each rerun recorded as a ``Step`` and
its answer checked (``Checker``) against the drawing that was sent."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from capsviz.bench.load.client import Capture, StreamlitClient
from capsviz.bench.load.drawings import Submission
from capsviz.bench.load.sampling import Sampler


def run_async(coro: Any) -> Any:
    """asyncio.run in a thread of its own: a caller's thread may already run a loop (Playwright's sync API does)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@dataclass
class Step:
    """One rerun a session asked for, and what came back."""

    session: int
    kind: str  # "page" (first load), "first" (first drawing), "held" (weights held), "step" (timed drawing)
    submission: int  # -1 for none
    sent_s: float  # since the run started
    latency_ms: float | None = None  # send -> the Prediction delta (or script_finished when there is none)
    finished_ms: float | None = None  # send -> script_finished
    late_ms: float = 0.0  # how long after its scheduled time the step was sent
    received_bytes: int = 0
    bytes_by_kind: dict[str, int] = field(default_factory=dict)
    prediction: str | None = None
    spinners: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # exceptions, error alerts, disconnects, timeouts
    mismatches: list[str] = field(default_factory=list)  # another drawing's input or a wrong prediction


class Checker:
    """Holds every submission; says what is wrong with an answer (another drawing's input, a wrong prediction)."""

    def __init__(self, submissions: Sequence[Submission]):
        self.submissions = list(submissions)
        self.by_image = {s.image: s.index for s in self.submissions}

    def mismatches(self, cap: Capture, sub: Submission) -> list[str]:
        out = []
        if cap.pose_image is not None and cap.pose_image != sub.image:
            other = self.by_image.get(cap.pose_image)
            out.append(f"input of drawing #{other}" if other is not None else "an input that is no drawing sent")
        if cap.prediction is not None and cap.prediction != str(sub.expected):
            out.append(f"prediction {cap.prediction}, expected {sub.expected}")
        if cap.pose_header is not None and cap.pose_header.get("digit") != sub.expected:
            out.append(f"pose editor on capsule {cap.pose_header.get('digit')}, expected {sub.expected}")
        return out


class Session:
    """One student: opens the page, draws, and records each rerun as a Step."""

    def __init__(self, index: int, url: str, checker: Checker, t0: float, fetch_media: bool = True):
        self.index, self.checker, self.t0, self.fetch_media = index, checker, t0, fetch_media
        self.client = StreamlitClient(url)
        self.steps: list[Step] = []
        self.canvas_id: str | None = None
        self.errors: list[str] = []  # outside any one step (connect, disconnect)

    async def _rerun(self, kind: str, widgets: dict[str, str], sub: Submission | None, late_ms: float = 0.0) -> Capture:
        step = Step(self.index, kind, sub.index if sub else -1, round(time.perf_counter() - self.t0, 3))
        step.late_ms = round(late_ms, 1)
        self.steps.append(step)
        cap = await self.client.rerun(widgets)  # a timeout or disconnect ends the session (Session.fail)
        answered = cap.prediction_at or cap.finished_at
        step.latency_ms = round(1000 * (answered - cap.sent), 1) if answered else None
        step.finished_ms = round(1000 * (cap.finished_at - cap.sent), 1) if cap.finished_at else None
        step.received_bytes, step.bytes_by_kind, step.prediction = cap.received_bytes, cap.bytes_by_kind, cap.prediction
        step.spinners, step.errors = cap.spinners, list(cap.errors)
        if sub is not None:
            if cap.prediction is None:
                step.errors.append("no Prediction metric")
            step.mismatches = self.checker.mismatches(cap, sub)
        if self.fetch_media:
            for path in cap.media:
                status, _ = await self.client.fetch(path)
                if status != 200:
                    step.errors.append(f"GET {path}: HTTP {status}")
        return cap

    async def open(self) -> None:
        """Connect and load the page (the page asks for a run as soon as its socket is open)."""
        await self.client.connect()
        cap = await self._rerun("page", {}, None)
        self.canvas_id = cap.canvas_id
        if self.canvas_id is None:
            raise RuntimeError(f"the page has no canvas; it showed errors {cap.errors} (status {cap.finished_status})")

    async def draw(self, sub: Submission, kind: str = "step", late_ms: float = 0.0) -> Step:
        """Submit a drawing; after the first, report holding the decoder weights as the page does (one more run)."""
        assert self.canvas_id is not None
        widgets = {self.canvas_id: sub.state_json}
        cap = await self._rerun(kind, widgets, sub, late_ms)
        step = self.steps[-1]
        if cap.pose_weights and cap.pose_id and cap.pose_header:
            widgets[cap.pose_id] = json.dumps({"held": cap.pose_header["weights_hash"]})
            await self._rerun("held", widgets, sub)
        return step

    def fail(self, exc: BaseException) -> None:
        from websockets.exceptions import ConnectionClosed

        what = "disconnected" if isinstance(exc, ConnectionClosed | OSError) else "failed"
        self.errors.append(f"session {self.index} {what}: {exc!r}"[:300])

    async def close(self) -> None:
        await self.client.close()


async def _sleep_until(t: float) -> None:
    delay = t - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)


async def open_and_first(session: Session, sub: Submission, at: float, sampler: Sampler) -> bool:
    await _sleep_until(at)
    try:
        await session.open()
        await session.draw(sub, "first")
    except Exception as exc:  # a failed session is counted, and the others go on
        session.fail(exc)
        return False
    sampler.drawings += 1
    return True


async def steady(session: Session, subs: Sequence[Submission], times: Sequence[float], sampler: Sampler) -> None:
    try:
        for sub, when in zip(subs, times, strict=True):
            await _sleep_until(when)
            await session.draw(sub, "step", late_ms=1000 * max(0.0, time.perf_counter() - when))
            sampler.drawings += 1
    except Exception as exc:
        session.fail(exc)


def schedule(sessions: int, interval_s: float, duration_s: float, t0: float) -> list[list[float]]:
    """Each session's submission times: session i at t0 + (i / sessions + k) * interval_s, within duration_s."""
    out = []
    for i in range(sessions):
        phase = i / sessions * interval_s
        out.append(
            [
                t0 + phase + k * interval_s
                for k in range(math.ceil(duration_s / interval_s))
                if phase + k * interval_s < duration_s
            ]
        )
    return out
