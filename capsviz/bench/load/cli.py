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
import json
import sys
from typing import Any

from capsviz.bench.load.profiling import run_profile
from capsviz.bench.load.report import format_rows, format_table, sweep_table
from capsviz.bench.load.runs import run_memory, run_sweep, saturation
from capsviz.bench.load.server import GC_MODES


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
