"""Load benchmark: a classroom of real Streamlit sessions drawing digits on one server at once.

    python -m capsviz.bench_load --sessions 30 --interval 5 --duration 60     # one load point
    python -m capsviz.bench_load --sessions 10 20 30                          # a sweep: where p95 passes 2 s
    python -m capsviz.bench_load --memory 2000                                # 2,000 drawings: does RSS plateau?
    python -m capsviz.bench_load --profile 20                                 # where one rerun's time goes
    ... --gc off | --gc freeze | --gc freeze-at-load | --torch-threads 1    # the server as the app could run it
    ... --json                                                                # one JSON object as the last line

It starts the app (``streamlit run streamlit_app.py --server.headless true`` on a free 127.0.0.1 port, the shipped
checkpoint unless CAPSVIZ_CHECKPOINT says otherwise) and opens N sessions in this one asyncio process, each a client
that speaks Streamlit's own websocket protocol as the page does (``/_stcore/stream``: BackMsg protobufs out,
ForwardMsg protobufs in): it asks for the page, finds the canvas component's widget id in the deltas, and submits a
drawing by sending a ``rerun_script`` BackMsg whose ClientState carries the canvas's state, the JSON the canvas sends
(``{"drawing": {"raw": <fabric.js JSON>, "data": <PNG data URL>}, "backgroundFit": null}``). After its first drawing a
session reports that it holds the pose editor's decoder weights, as the page does, so later drawings are not sent the
2.8 MB of weights again. It fetches the input image the page shows from /media, as a browser does.

Every session draws its own scripted drawings (capsviz.testsets.drawn_digits: digit ``i % 10``, random style, size,
slant and pen; no two alike) at a steady rate: session i submits at ``t0 + (i / N + k) * interval``, or as soon as its
previous drawing was answered if that came later (a student looks at the prediction before drawing the next digit; those
steps are counted as late). Per submission it records the time from sending the rerun to the delta that carries the
"Prediction" metric (and to script_finished), and checks what came back against what this process computed for that
drawing (the preprocessed 28x28 input and its prediction, with capsviz.inspect.trace.trace_image at the app's routing
iterations): the Prediction metric, the pose editor's capsule and the 28x28 input it was sent must be the session's
own. Exception deltas, error alerts, disconnects and timeouts are errors.

The served process is ``streamlit run`` with counters installed first (``serve_main``; nothing in the app's files
changes): checkpoint loads (capsviz.training.checkpoint.load_model), each script run's wall and CPU time, the wall time
of a few sections of it (TIMED_SECTIONS: the model's trace, the panels), and Streamlit's own ``gc.collect(2)`` after
every run (``runner.postScriptGC``, on by default). ``--gc off`` runs the server with ``--runner.postScriptGC false``;
``--gc freeze`` calls ``gc.freeze()`` once after the first run (``freeze-at-load``: once the model is loaded), so the
collections after each run no longer walk the half million objects torch, plotly and Streamlit leave alive. The
server's RSS (VmRSS of it and its children, from /proc) and CPU time are sampled every half second. ``--profile N``:
one session, N drawings timed by section, then N more under cProfile. Numbers on a shared machine are noisy: every
table says the CPU and the load average during the run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import cProfile
import gc
import io
import json
import math
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capsviz.bench.browser import APP_SCRIPT, free_port, quantile, server_flags, stop_process, wait_ready

REPO_ROOT = Path(__file__).resolve().parents[2]
CANVAS_COMPONENT = "streamlit-drawable-canvas.streamlit_drawable_canvas"
POSE_COMPONENT = "capsviz_pose_editor"  # capsviz.app.pose_editor.COMPONENT_NAME
PREDICTION_LABEL = "Prediction"
MODEL_SPINNER = "Loading the CapsNet"  # capsviz.app.cached.model's spinner
PLATEAU_MB = 40.0  # tests/test_load.py: RSS may grow at most this much over the last half (growth_last_half)
P95_LIMIT_S = 2.0  # the saturation point: the offered rate at which p95 passes this
READY_TIMEOUT_S = 120.0
RERUN_TIMEOUT_S = 120.0
SAMPLE_EVERY_S = 0.5

# The served process reads these (serve_main).
EVENTS_ENV = "CAPSVIZ_LOAD_EVENTS"  # JSON lines: model loads, traces, script runs
THREADS_ENV = "CAPSVIZ_LOAD_TORCH_THREADS"  # torch.set_num_threads in the server, for comparisons
PROFILE_ENV = "CAPSVIZ_LOAD_PROFILE"  # cProfile each script run while PROFILE + ".on" exists; stats dumped here
FREEZE_ENV = "CAPSVIZ_LOAD_GC_FREEZE"  # "run": gc.freeze() after the first script run; "load": once the model is loaded
# Streamlit's gc.collect(2) after every run as is; runner.postScriptGC false; gc.freeze() after the first run; or
# gc.freeze() as soon as the model is loaded (what capsviz.app.cached.model could do); "off+freeze-at-load": both.
GC_MODES = ("default", "off", "freeze", "freeze-at-load", "off+freeze", "off+freeze-at-load")
SERVE_STUB = "from capsviz.bench.load import serve_main; serve_main()"


# --- results -----------------------------------------------------------------------------------------


def _run_async(coro: Any) -> Any:
    """asyncio.run in a thread of its own: a caller's thread may already run a loop (Playwright's sync API does)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@dataclass(frozen=True)
class Submission:
    """One drawing as the canvas sends it, and what the app must answer for it."""

    index: int
    digit: int
    state_json: str  # the canvas component's state: {"drawing": {"raw", "data"}, "backgroundFit"}
    image: bytes  # the 28x28 input the model sees, as the pose editor gets it (export.pose_payload.image_bytes)
    expected: int  # the app's prediction for it (trace_image at the app's routing iterations)


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


@dataclass
class Sample:
    t_s: float
    rss_mb: float
    cpu_s: float  # the server's user + system CPU time so far
    drawings: int  # drawings answered so far


# --- the served process: streamlit run, with counters --------------------------------------------------


def _event(fd: int, **record: Any) -> None:
    os.write(fd, (json.dumps(record) + "\n").encode())  # O_APPEND: one line per write, whole


TIMED_SECTIONS = [  # (label, module, function): timed in every served script run; nested ones overlap
    ("model: trace_image (forward + routing trace)", "capsviz.inspect.trace", "trace_image"),  # first: see _instrument
    ("sidebar", "capsviz.app.sidebar", "render"),
    ("input: canvas state -> PNG decode -> to_mnist", "capsviz.app.inputs", "image_from"),
    ("what the model sees (st.image: PNG) + metric", "capsviz.app.panels.prediction", "seen"),
    ("lengths panel (figure + st.plotly_chart)", "capsviz.app.panels.prediction", "lengths"),
    ("  of which figures.lengths_figure (plotly)", "capsviz.figures.core", "lengths_figure"),
    ("pose tab (pose editor payload, Figure 4)", "capsviz.app.panels.pose", "render"),
]


def _time_section(fd: int, label: str, module: str, name: str) -> None:
    """Replace ``module.name`` with a wrapper that logs each call's wall time (callers look it up at call time)."""
    import importlib

    mod = importlib.import_module(module)
    fn = getattr(mod, name, None)
    if fn is None:  # the app moved on: time what is there
        return

    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _event(fd, ev="section", name=label, ms=round(1000 * (time.perf_counter() - t0), 2))

    setattr(mod, name, timed)


def _freeze(fd: int) -> None:
    gc.collect()
    gc.freeze()
    _event(fd, ev="freeze", objects=gc.get_freeze_count())


def _instrument(events_path: str, profile_path: str | None, freeze: str) -> None:
    """Count checkpoint loads and traces and time each script run, without touching the app's files: the
    wrappers replace module attributes before the app's modules import them."""
    from streamlit.runtime.scriptrunner import script_runner

    import capsviz.inspect.trace
    import capsviz.training.checkpoint

    fd = os.open(events_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    load_model, run_script = capsviz.training.checkpoint.load_model, script_runner.ScriptRunner._run_script
    profiler = cProfile.Profile() if profile_path else None

    def counted_load(*args, **kwargs):
        t0 = time.perf_counter()
        model = load_model(*args, **kwargs)
        _event(fd, ev="load_model", ms=round(1000 * (time.perf_counter() - t0), 1))
        if freeze == "load":
            _freeze(fd)
        return model

    def timed_run(self, *args, **kwargs):
        profiling = profiler is not None and os.path.exists(f"{profile_path}.on")
        t0, c0 = time.perf_counter(), time.thread_time()
        if profiling:
            profiler.enable()
        try:
            return run_script(self, *args, **kwargs)
        finally:
            if profiling:
                profiler.disable()
                profiler.dump_stats(profile_path)
            wall, cpu = time.perf_counter() - t0, time.thread_time() - c0
            _event(fd, ev="run", ms=round(1000 * wall, 1), cpu_ms=round(1000 * cpu, 1), profiled=profiling)
            if freeze == "run" and not gc.get_freeze_count():
                _freeze(fd)  # everything alive after the first run (modules, model) leaves the collector's scans

    explicit = threading.local()

    class TimedGC:
        """Streamlit's script runner calls gc.collect(2) after every run (runner.postScriptGC): time it. (Never
        gc.get_objects() in here: it hands out tuples other threads are still building, which then fail.)"""

        def __getattr__(self, name: str) -> Any:
            return getattr(gc, name)

        def collect(self, generation: int = 2) -> int:
            t0 = time.perf_counter()
            explicit.on = True
            try:
                return gc.collect(generation)
            finally:
                explicit.on = False
                _event(fd, ev="gc", ms=round(1000 * (time.perf_counter() - t0), 1))

    started: dict[int, float] = {}

    def automatic_full(phase: str, info: dict[str, int]) -> None:
        """Python's own full collections (the ones Streamlit does not ask for), timed."""
        if info["generation"] != 2 or getattr(explicit, "on", False):
            return
        if phase == "start":
            started[threading.get_ident()] = time.perf_counter()
        elif (t0 := started.pop(threading.get_ident(), None)) is not None:
            _event(fd, ev="auto_gc", ms=round(1000 * (time.perf_counter() - t0), 1))

    gc.callbacks.append(automatic_full)
    # Before any capsviz.app module is imported: capsviz.app.cached binds load_model and trace_image at import.
    capsviz.training.checkpoint.load_model = counted_load
    for label, module, name in TIMED_SECTIONS:
        _time_section(fd, label, module, name)
    script_runner.gc = TimedGC()  # type: ignore[assignment]
    script_runner.ScriptRunner._run_script = timed_run  # type: ignore[method-assign]


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


# --- /proc: memory and CPU of the server and its children ---------------------------------------------------


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


# --- the drawings -------------------------------------------------------------------------------------------


def _fabric_json(drawing) -> dict[str, Any]:
    """A fabric.js-like JSON of the strokes (what the canvas's "raw" holds), so the state is about its real size."""
    objects = []
    for stroke in drawing.strokes:
        path = [["M", *stroke[0]]] + [["L", x, y] for x, y in stroke[1:]]
        objects.append({"type": "path", "stroke": "#FFFFFF", "strokeWidth": drawing.width, "fill": None, "path": path})
    return {"version": "4.4.0", "objects": objects, "background": "#000000"}


def _png_data_url(rgba) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


_WORKER: dict[str, Any] = {}


def _worker_model(model_path: str) -> tuple[Any, int]:
    """The model and the app's routing iterations (the card's, else the model's), loaded once per worker."""
    if "model" not in _WORKER:
        import torch

        from capsviz.training.checkpoint import load_model, read_card

        torch.set_num_threads(1)
        model = load_model(model_path)
        card = read_card(model_path)
        _WORKER["model"] = model
        _WORKER["iterations"] = int(card.get("routing_iterations") or model.cfg.routing_iterations)
    return _WORKER["model"], _WORKER["iterations"]


def make_submission(index: int, seed: int, model_path: str) -> Submission:
    """Drawing ``index`` of the seed's set: digit ``index % 10``, randomly varied, as the canvas would send it."""
    import numpy as np

    from capsviz.data.preprocess import to_mnist
    from capsviz.export.pose_payload import image_bytes
    from capsviz.inspect.trace import trace_image
    from capsviz.testsets.drawn_digits import random_drawing, render

    drawing = random_drawing(index % 10, np.random.default_rng([seed, index]))
    rgba = render(drawing)
    state = {"drawing": {"raw": _fabric_json(drawing), "data": _png_data_url(rgba)}, "backgroundFit": None}
    image = to_mnist(rgba).image
    model, iterations = _worker_model(model_path)
    expected = int(trace_image(model, image, iterations=iterations).prediction)
    return Submission(index, drawing.digit, json.dumps(state), image_bytes(image), expected)


def _submission_chunk(args: tuple[range, int, str]) -> list[Submission]:
    indices, seed, model_path = args
    return [make_submission(i, seed, model_path) for i in indices]


def checkpoint_path() -> str:
    """The checkpoint the served app uses (capsviz.app.cached.checkpoint_path)."""
    from capsviz.training.checkpoint import DEFAULT_DIR

    return os.environ.get("CAPSVIZ_CHECKPOINT") or str(DEFAULT_DIR)


def make_submissions(n: int, seed: int = 0, workers: int = 2) -> list[Submission]:
    """``n`` distinct drawings with their expected answers, made in ``workers`` processes (about 50 ms each)."""
    model_path = checkpoint_path()
    chunk = max(1, math.ceil(n / (4 * workers)))
    jobs = [(range(a, min(a + chunk, n)), seed, model_path) for a in range(0, n, chunk)]
    if workers <= 1 or n < 20:
        subs = [s for job in jobs for s in _submission_chunk(job)]
    else:
        with ProcessPoolExecutor(workers) as pool:
            subs = [s for part in pool.map(_submission_chunk, jobs) for s in part]
    if len({s.state_json for s in subs}) != len(subs):
        raise RuntimeError("two drawings came out the same: pick another seed")
    return subs


# --- the client: Streamlit's websocket protocol ---------------------------------------------------------------


@dataclass
class Capture:
    """What one rerun sent back, read as a page would."""

    sent: float
    prediction_at: float | None = None
    finished_at: float | None = None
    finished_status: int | None = None
    prediction: str | None = None
    canvas_id: str | None = None
    pose_id: str | None = None
    pose_header: dict[str, Any] | None = None
    pose_image: bytes | None = None
    pose_weights: bool = False
    media: list[str] = field(default_factory=list)
    spinners: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    received_bytes: int = 0
    bytes_by_kind: dict[str, int] = field(default_factory=dict)  # message or element type -> bytes

    def add(self, msg, nbytes: int, now: float) -> None:
        self.received_bytes += nbytes
        kind = msg.WhichOneof("type")
        delta = msg.delta
        what = delta.new_element.WhichOneof("type") if kind == "delta" and delta.HasField("new_element") else kind
        self.bytes_by_kind[what] = self.bytes_by_kind.get(what, 0) + nbytes
        if kind == "script_finished":
            self.finished_at, self.finished_status = now, msg.script_finished
        elif kind == "delta":
            if delta.HasField("new_element"):
                self._element(delta.new_element, now)
            elif delta.HasField("new_transient"):
                for element in delta.new_transient.elements:
                    self._element(element, now)

    def _element(self, el, now: float) -> None:
        kind = el.WhichOneof("type")
        if kind == "metric" and el.metric.label == PREDICTION_LABEL:
            self.prediction, self.prediction_at = el.metric.body, now
        elif kind == "bidi_component":
            self._component(el.bidi_component)
        elif kind == "imgs":
            self.media += [img.url for img in el.imgs.imgs if img.url.startswith("/media/")]
        elif kind == "spinner":
            self.spinners.append(el.spinner.text)
        elif kind == "exception":
            self.errors.append(f"exception {el.exception.type}: {el.exception.message[:200]}")
        elif kind == "alert" and el.alert.format == 1:  # Alert.Format.ERROR
            self.errors.append(f"error alert: {el.alert.body[:200]}")

    def _component(self, comp) -> None:
        from capsviz.export.pose_payload import parse_payload

        if comp.component_name == CANVAS_COMPONENT:
            self.canvas_id = comp.id
        elif comp.component_name == POSE_COMPONENT:
            header, image, weights = parse_payload(comp.bytes)
            self.pose_id, self.pose_header, self.pose_image, self.pose_weights = (
                comp.id,
                header,
                image,
                weights is not None,
            )


class StreamlitClient:
    """One browser tab, as far as the server can tell: the page's websocket, its rerun requests and media fetches."""

    def __init__(self, url: str, timeout_s: float = RERUN_TIMEOUT_S):
        self.url = url
        self.timeout_s = timeout_s
        self.ws: Any = None

    async def connect(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.typing import Subprotocol

        ws_url = self.url.replace("http://", "ws://", 1) + "/_stcore/stream"
        self.ws = await connect(
            ws_url, subprotocols=[Subprotocol("streamlit")], max_size=None, open_timeout=self.timeout_s
        )

    async def rerun(self, widgets: dict[str, str]) -> Capture:
        """Send a rerun_script BackMsg carrying these widgets' JSON states; read until script_finished."""
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        back = BackMsg()
        back.rerun_script.query_string = ""
        for widget_id, value in widgets.items():
            state = back.rerun_script.widget_states.widgets.add()
            state.id, state.json_value = widget_id, value
        capture = Capture(sent=time.perf_counter())
        await self.ws.send(back.SerializeToString())
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), self.timeout_s)
            capture.add(ForwardMsg.FromString(raw), len(raw), time.perf_counter())
            if capture.finished_at is not None:
                if capture.finished_status != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    return capture
                capture.finished_at = None  # a run that stopped for ours: ours follows

    async def fetch(self, path: str) -> tuple[int, int]:
        """GET ``path`` from the server as the page's <img> does: (HTTP status, body bytes)."""
        host, port = self.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            data = await asyncio.wait_for(reader.read(-1), self.timeout_s)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1]), len(body)

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()


# --- a session: page, first drawing, steady drawings ---------------------------------------------------------


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


async def _open_and_first(session: Session, sub: Submission, at: float, sampler: Sampler) -> bool:
    await _sleep_until(at)
    try:
        await session.open()
        await session.draw(sub, "first")
    except Exception as exc:  # a failed session is counted, and the others go on
        session.fail(exc)
        return False
    sampler.drawings += 1
    return True


async def _steady(session: Session, subs: Sequence[Submission], times: Sequence[float], sampler: Sampler) -> None:
    try:
        for sub, when in zip(subs, times, strict=True):
            await _sleep_until(when)
            await session.draw(sub, "step", late_ms=1000 * max(0.0, time.perf_counter() - when))
            sampler.drawings += 1
    except Exception as exc:
        session.fail(exc)


# --- summaries ---------------------------------------------------------------------------------------------


def _latency(steps: Sequence[Step], finished: bool = False) -> dict[str, Any]:
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


def _server_summary(events: list[dict[str, Any]]) -> dict[str, Any]:
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


def _rss_summary(samples: Sequence[Sample], start: float) -> dict[str, Any]:
    rss = [s.rss_mb for s in samples]
    return {
        "rss_start_mb": round(start, 1),
        "rss_peak_mb": round(max(rss, default=start), 1),
        "rss_end_mb": round(rss[-1] if rss else start, 1),
    }


def _curve(samples: Sequence[Sample], points: int = 8) -> list[tuple[float, float, int]]:
    """(t_s, rss_mb, drawings answered) at a few evenly spaced samples."""
    if not samples:
        return []
    picks = sorted({round(k * (len(samples) - 1) / (points - 1)) for k in range(points)})
    return [(samples[i].t_s, samples[i].rss_mb, samples[i].drawings) for i in picks]


def _checks(steps: Sequence[Step], sessions: Sequence[Session]) -> dict[str, Any]:
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


def _environment(loads: Sequence[float]) -> dict[str, Any]:
    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "load_average_during": [round(min(loads), 2), round(max(loads), 2)] if loads else None,
        "load_average_after": load_average(),
    }


# --- the load run ---------------------------------------------------------------------------------------------


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
        *(_open_and_first(p, subs[i], t_start + ramp_s * i / sessions, sampler) for i, p in enumerate(people))
    )
    t0 = time.perf_counter() + 0.5
    rss_before_steps = sampler.sample().rss_mb
    times = schedule(sessions, interval_s, duration_s, t0)
    jobs = []
    for i, p in enumerate(people):
        if opened[i]:
            mine = [subs[sessions * (k + 1) + i] for k in range(len(times[i]))]
            jobs.append(_steady(p, mine, times[i], sampler))
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
        "latency": _latency(timed),
        "finished": _latency(timed, finished=True),
        "page_load": _latency([s for s in steps if s.kind == "page"]),
        "first_drawing": _latency([s for s in steps if s.kind == "first"]),
        "bytes_per_step_p50": round(statistics.median(s.received_bytes for s in timed)) if timed else None,
        "server_cpu_cores": round((cpu1 - cpu0) / elapsed, 2) if elapsed > 0 else None,
        "rss_before_steps_mb": rss_before_steps,
        "rss_curve": _curve(sampler.samples),
    }
    result.update(_rss_summary(sampler.samples, rss_start))
    result.update(_checks(steps, people))
    result.update(_environment(sampler.loads))
    result["server"] = _server_summary(read_events(server.events_path))
    return result


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
        result = _run_async(_load(server, subs, sessions, interval_s, duration_s, ramp_s, fetch_media))
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


# --- memory: many drawings through one server --------------------------------------------------------------------


async def _memory_slot(slot: int, queue: asyncio.Queue, per_session: int, ctx: dict[str, Any]) -> None:
    """One browser tab after another: each opens the page, draws ``per_session`` drawings back to back, closes."""
    sampler, checker, people = ctx["sampler"], ctx["checker"], ctx["people"]
    while not queue.empty():
        session = Session(len(people), ctx["url"], checker, sampler.t0, ctx["fetch_media"])
        people.append(session)
        try:
            await session.open()
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
    await asyncio.gather(*(_memory_slot(i, queue, per_session, ctx) for i in range(sessions)))
    elapsed = time.perf_counter() - t_start
    await asyncio.sleep(2.0)
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
        "latency": _latency(drawn),
        "rss_by_drawings": rss_by_drawings(sampler.samples, len(subs)),
        "rss_growth_last_half_mb": growth_last_half(sampler.samples, len(subs)),
        "rss_curve": _curve(sampler.samples, 10),
    }
    result.update(_rss_summary(sampler.samples, rss_start))
    result.update(_checks(steps, ctx["people"]))
    result.update(_environment(sampler.loads))
    result["server"] = _server_summary(read_events(server.events_path))
    return result


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
        result = _run_async(_memory(server, subs, sessions, per_session, fetch_media))
    result["gc_mode"] = gc_mode
    return result


# --- where a rerun's time goes: timed sections, then cProfile, inside the served script runs ----------------------


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
        "latency": _latency(timed),
        "finished": _latency(timed, finished=True),
        "bytes_per_drawing_p50": round(statistics.median(s.received_bytes for s in timed)),
        "bytes_by_kind": _bytes_by_kind(timed),
        **_run_breakdown(events),
        "top_own_time_ms": top_functions(pstats.Stats(str(profile_path)), profiled_runs),
        "profiled_runs": profiled_runs,
        "server": _server_summary(read_events(server.events_path)),
        "errors": sum(len(s.errors) for s in session.steps) + len(session.errors),
        "mismatched_answers": sum(bool(s.mismatches) for s in session.steps),
        **_environment([load_average()[0]]),
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
            result = _run_async(_profile(server, subs, profile_path, drawings))
    result["gc_mode"] = gc_mode
    return result


# --- reporting ------------------------------------------------------------------------------------------------


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
    rows = []
    if result["mode"] == "load":
        n, every = result["sessions"], result["interval_s"]
        rows += [
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
    else:
        rows += [
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
    server = result["server"]
    rows += [
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
    return rows


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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m capsviz.bench_load", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--sessions", type=int, nargs="+", default=[30], help="concurrent sessions (several: a sweep)")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between one session's drawings")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of steady drawing")
    p.add_argument("--ramp", type=float, default=5.0, help="seconds over which the sessions connect")
    p.add_argument("--torch-threads", type=int, default=None, help="torch.set_num_threads in the server")
    p.add_argument("--gc", choices=GC_MODES, default="default", help="the server's collector after each run")
    p.add_argument("--no-media", action="store_true", help="do not fetch the page's /media images")
    p.add_argument("--memory", type=int, default=0, metavar="N", help="instead: N drawings through one server, RSS")
    p.add_argument("--memory-sessions", type=int, default=4, help="tabs at a time for --memory")
    p.add_argument("--per-session", type=int, default=100, help="drawings per tab for --memory")
    p.add_argument("--profile", type=int, default=0, metavar="N", help="instead: profile N drawings' script runs")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = p.parse_args(argv)
    media = not args.no_media
    out: Any
    if args.profile:
        out = run_profile(args.profile, gc_mode=args.gc)
        print(format_table(format_rows(out)))
    elif args.memory:
        out = run_memory(args.memory, args.memory_sessions, args.per_session, gc_mode=args.gc, fetch_media=media)
        print(format_table(format_rows(out)))
    else:
        out = run_sweep(
            args.sessions,
            args.interval,
            args.duration,
            ramp_s=args.ramp,
            torch_threads=args.torch_threads,
            gc_mode=args.gc,
            fetch_media=media,
        )
        for r in out:
            print(format_table(format_rows(r)), end="\n\n")
        if len(out) > 1:
            print(sweep_table(out))
            print(saturation(out))
    if args.json:
        print(json.dumps(out if not isinstance(out, list) else {"sweep": out}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
