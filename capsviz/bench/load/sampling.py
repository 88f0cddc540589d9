"""The server's memory and CPU from /proc (it and its children), sampled in the event loop; the machine's CPU
name and load average for the tables."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

SAMPLE_EVERY_S = 0.5


@dataclass
class Sample:
    t_s: float
    rss_mb: float
    cpu_s: float  # the server's user + system CPU time so far
    drawings: int  # drawings answered so far


def _children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry))
    return kids


def process_tree(pid: int) -> list[int]:
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo += _children(p)
    return tree


def rss_mb(pid: int) -> float:
    """VmRSS of ``pid`` and all its descendants, in MB (0 for a process that is gone)."""
    total_kb = 0
    for p in process_tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            pass
    return total_kb / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and its descendants, in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in process_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / ticks


def load_average() -> tuple[float, float, float]:
    one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    return float(one), float(five), float(fifteen)


def cpu_name() -> str:
    """The CPU's model name, as lscpu prints it."""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


class Sampler:
    """Samples the server's RSS and CPU time every ``every_s`` seconds in the event loop."""

    def __init__(self, pid: int, t0: float, every_s: float = SAMPLE_EVERY_S):
        self.pid, self.t0, self.every_s = pid, t0, every_s
        self.samples: list[Sample] = []
        self.loads: list[float] = []
        self.drawings = 0  # drawings answered so far; the sessions count up
        self._task: asyncio.Task | None = None

    def sample(self) -> Sample:
        s = Sample(
            round(time.perf_counter() - self.t0, 2), round(rss_mb(self.pid), 1), cpu_seconds(self.pid), self.drawings
        )
        self.samples.append(s)
        self.loads.append(load_average()[0])
        return s

    async def _loop(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.every_s)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.sample()
