"""The served process of the load benchmark: ``streamlit run`` with counters installed first, and how it is started.

``serve_app`` starts ``python -c SERVE_STUB run APP ...`` (``serve_main``): counters (``_instrument``: nothing in
the app's files changes) for checkpoint loads (capsviz.training.checkpoint.load_model), each script run's wall and
CPU time, the wall time of a few sections of it (TIMED_SECTIONS, by dotted module name), and Streamlit's own
``gc.collect(2)`` after every run; they are written as JSON lines to the file EVENTS_ENV names (``read_events``).
Runs and sections carry ``at``, their start in wall-clock ms since the epoch, so a page on the same machine can
line them up with its own times (performance.timeOrigin + performance.now()).
"""

from __future__ import annotations

import contextlib
import cProfile
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capsviz.bench.browser.serve import APP_SCRIPT, REPO_ROOT, free_port, server_flags, stop_process, wait_ready

READY_TIMEOUT_S = 120.0
# The served process reads these (serve_main).
EVENTS_ENV = "CAPSVIZ_LOAD_EVENTS"  # JSON lines: model loads, traces, script runs
THREADS_ENV = "CAPSVIZ_LOAD_TORCH_THREADS"  # torch.set_num_threads in the server, for comparisons
PROFILE_ENV = "CAPSVIZ_LOAD_PROFILE"  # cProfile each script run while PROFILE + ".on" exists; stats dumped here
FREEZE_ENV = "CAPSVIZ_LOAD_GC_FREEZE"  # "run": gc.freeze() after the first script run; "load": once the model is loaded
# Streamlit's gc.collect(2) after every run as is; runner.postScriptGC false; gc.freeze() after the first run; or
# gc.freeze() as soon as the model is loaded (what capsviz.app.cached.model could do); "off+freeze-at-load": both.
GC_MODES = ("default", "off", "freeze", "freeze-at-load", "off+freeze", "off+freeze-at-load")
SERVE_STUB = "from capsviz.bench.load.server import serve_main; serve_main()"


def _event(fd: int, **record: Any) -> None:
    os.write(fd, (json.dumps(record) + "\n").encode())  # O_APPEND: one line per write, whole


TIMED_SECTIONS = [  # (label, module, function): timed in every served script run; nested ones overlap
    ("model: trace_image (forward + routing trace)", "capsviz.inspect.trace", "trace_image"),  # first: see _instrument
    ("sidebar", "capsviz.app.sidebar", "render"),
    ("input: canvas state -> strokes -> to_mnist (whole)", "capsviz.app.inputs", "image_from"),
    ("  of which the canvas's state callback (parse_drawing)", "capsviz.app.canvas", "receive"),
    ("  of which the canvas component (its data: the drawing)", "capsviz.app.canvas", "draw_canvas"),
    ("  of which the strokes inked, cached (hash + render_rgba)", "capsviz.app.cached", "rendered"),
    ("    of which render_rgba (a render-cache miss)", "capsviz.data.strokes", "render_rgba"),
    ("  of which to_mnist (crop, centre, 28x28)", "capsviz.data.preprocess", "to_mnist"),
    ("share link in the URL (share.write)", "capsviz.app.share", "write"),
    ("what the model sees (st.image: PNG) + metric", "capsviz.app.panels.prediction", "seen"),
    ("lengths panel (figure + st.plotly_chart)", "capsviz.app.panels.prediction", "lengths"),
    ("  of which figures.lengths_figure (plotly)", "capsviz.figures.lengths", "lengths_figure"),
    ("pose tab (pose editor payload, Figure 4)", "capsviz.app.panels.pose", "render"),
]


def _now_ms() -> float:
    """Wall-clock ms since the epoch: what a page on this machine reads as performance.timeOrigin + now()."""
    return round(1000 * time.time(), 1)


def _time_section(fd: int, label: str, module: str, name: str) -> None:
    """Replace ``module.name`` with a wrapper that logs each call's wall time (callers look it up at call time)."""
    import importlib

    mod = importlib.import_module(module)
    fn = getattr(mod, name, None)
    if fn is None:  # the app moved on: time what is there
        return

    def timed(*args, **kwargs):
        at, t0 = _now_ms(), time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _event(fd, ev="section", name=label, ms=round(1000 * (time.perf_counter() - t0), 2), at=at)

    setattr(mod, name, timed)


def _freeze(fd: int) -> None:
    gc.collect()
    gc.freeze()
    _event(fd, ev="freeze", objects=gc.get_freeze_count())


def _counted_load(fd: int, load_model: Callable[..., Any], freeze: str) -> Callable[..., Any]:
    """``load_model``, its calls logged with their time; gc.freeze() after each when ``freeze`` is "load"."""

    def counted_load(*args, **kwargs):
        t0 = time.perf_counter()
        model = load_model(*args, **kwargs)
        _event(fd, ev="load_model", ms=round(1000 * (time.perf_counter() - t0), 1))
        if freeze == "load":
            _freeze(fd)
        return model

    return counted_load


def _timed_run(fd: int, run_script: Callable[..., Any], profile_path: str | None, freeze: str) -> Callable[..., Any]:
    """``ScriptRunner._run_script``, each run's wall and CPU time logged; under cProfile while ``profile_path``
    + ".on" exists; gc.freeze() after the first run when ``freeze`` is "run"."""
    profiler = cProfile.Profile() if profile_path else None

    def timed_run(self, *args, **kwargs):
        profiling = profiler is not None and os.path.exists(f"{profile_path}.on")
        at, t0, c0 = _now_ms(), time.perf_counter(), time.thread_time()
        if profiling:
            profiler.enable()
        try:
            return run_script(self, *args, **kwargs)
        finally:
            if profiling:
                profiler.disable()
                profiler.dump_stats(profile_path)
            wall, cpu = time.perf_counter() - t0, time.thread_time() - c0
            _event(fd, ev="run", ms=round(1000 * wall, 1), cpu_ms=round(1000 * cpu, 1), profiled=profiling, at=at)
            if freeze == "run" and not gc.get_freeze_count():
                _freeze(fd)  # everything alive after the first run (modules, model) leaves the collector's scans

    return timed_run


class _TimedGC:
    """Streamlit's script runner calls gc.collect(2) after every run (runner.postScriptGC): time it. (Never
    gc.get_objects() in here: it hands out tuples other threads are still building, which then fail.)"""

    def __init__(self, fd: int, explicit: threading.local):
        self.fd, self.explicit = fd, explicit  # explicit.on: a collection Streamlit asked for is running

    def __getattr__(self, name: str) -> Any:
        return getattr(gc, name)

    def collect(self, generation: int = 2) -> int:
        t0 = time.perf_counter()
        self.explicit.on = True
        try:
            return gc.collect(generation)
        finally:
            self.explicit.on = False
            _event(self.fd, ev="gc", ms=round(1000 * (time.perf_counter() - t0), 1))


def _automatic_full_gcs(fd: int, explicit: threading.local) -> Callable[[str, dict[str, int]], None]:
    """A gc.callbacks entry that times Python's own full collections (the ones Streamlit does not ask for)."""
    started: dict[int, float] = {}

    def automatic_full(phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2 or getattr(explicit, "on", False):
            return
        if phase == "start":
            started[threading.get_ident()] = time.perf_counter()
        elif (t0 := started.pop(threading.get_ident(), None)) is not None:
            _event(fd, ev="auto_gc", ms=round(1000 * (time.perf_counter() - t0), 1))

    return automatic_full


def _instrument(events_path: str, profile_path: str | None, freeze: str) -> None:
    """Count checkpoint loads and traces and time each script run, without touching the app's files: the
    wrappers replace module attributes before the app's modules import them."""
    from streamlit.runtime.scriptrunner import script_runner

    import capsviz.inspect.trace
    import capsviz.training.checkpoint

    fd = os.open(events_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    load_model, run_script = capsviz.training.checkpoint.load_model, script_runner.ScriptRunner._run_script
    explicit = threading.local()
    gc.callbacks.append(_automatic_full_gcs(fd, explicit))
    # Before any capsviz.app module is imported: capsviz.app.cached binds load_model and trace_image at import, and
    # the panels bind the figures they import (from capsviz.figures.lengths import lengths_figure): the sections
    # outside capsviz.app are wrapped first (a stable sort keeps TIMED_SECTIONS' order within each group).
    capsviz.training.checkpoint.load_model = _counted_load(fd, load_model, freeze)
    for label, module, name in sorted(TIMED_SECTIONS, key=lambda section: section[1].startswith("capsviz.app.")):
        _time_section(fd, label, module, name)
    script_runner.gc = _TimedGC(fd, explicit)  # type: ignore[assignment]
    script_runner.ScriptRunner._run_script = _timed_run(fd, run_script, profile_path, freeze)  # type: ignore[method-assign]


def serve_main() -> None:
    """The served process (``python -c SERVE_STUB run APP ...``): counters if EVENTS_ENV is set, torch threads
    if THREADS_ENV is, then Streamlit's own command line with the arguments it was given."""
    if threads := os.environ.get(THREADS_ENV):
        import torch

        torch.set_num_threads(int(threads))
    if events := os.environ.get(EVENTS_ENV):
        _instrument(events, os.environ.get(PROFILE_ENV), os.environ.get(FREEZE_ENV, ""))
    from streamlit.web import cli

    sys.argv = ["streamlit", *sys.argv[1:]]
    sys.exit(cli.main())


@dataclass
class Server:
    url: str
    pid: int
    events_path: Path
    log_path: Path


@contextlib.contextmanager
def serve_app(
    script: str | os.PathLike = APP_SCRIPT,
    torch_threads: int | None = None,
    profile_path: Path | None = None,
    gc_mode: str = "default",
    timeout_s: float = READY_TIMEOUT_S,
) -> Iterator[Server]:
    """``streamlit run script --server.headless true`` on a free 127.0.0.1 port, counters installed; stopped after.
    ``gc_mode`` (GC_MODES): "off" adds ``--runner.postScriptGC false``; "freeze": gc.freeze() after the first run;
    "freeze-at-load": gc.freeze() as soon as the checkpoint is loaded; "off+...": both."""
    if gc_mode not in GC_MODES:
        raise ValueError(f"gc_mode is one of {GC_MODES}, not {gc_mode!r}")
    work = Path(tempfile.mkdtemp(prefix="capsviz-load-"))
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", EVENTS_ENV: str(work / "events.jsonl")}
    if torch_threads:
        env[THREADS_ENV] = str(torch_threads)
    if profile_path is not None:
        env[PROFILE_ENV] = str(profile_path)
    if "freeze" in gc_mode:
        env[FREEZE_ENV] = "load" if gc_mode.endswith("freeze-at-load") else "run"
    cmd = [sys.executable, "-c", SERVE_STUB, "run", str(Path(script).resolve()), *server_flags(port)]
    if gc_mode.startswith("off"):
        cmd += ["--runner.postScriptGC", "false"]
    log_path = work / "streamlit.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(proc, url, log_path, timeout_s)
        yield Server(url, proc.pid, work / "events.jsonl", log_path)
    finally:
        stop_process(proc, timeout_s=15)
        shutil.rmtree(work, ignore_errors=True)


def read_events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
