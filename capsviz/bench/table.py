"""Benchmark: training throughput, single-image trace latency, decoder latency, peak memory.

    python -m capsviz.bench                 # a table, on random MNIST-shaped data (a few minutes)
    python -m capsviz.bench --json          # ... and one JSON object on the last line
    python -m capsviz.bench --compare-precision --data-dir ../shared/data
                                            # also train fp32 and bf16 from one seed on real MNIST
                                            # and compare their test accuracy

Numbers on a shared 2-core machine are noisy: compare runs measured on the same machine, back to back.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import time

import numpy as np
import torch

from capsviz.inspect.trace import reconstruct, trace_image
from capsviz.model.capsnet import MNIST_SIDE, CapsNet
from capsviz.model.precision import cpu_capability, native_bf16, resolve
from capsviz.training.checkpoint import DEFAULT_DIR, CheckpointError, load_model
from capsviz.training.train import train_step


def _percentile(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def train_throughput(precision: str, batch_size: int, steps: int, warmup: int, seed: int = 0) -> float:
    """Images/s of full training steps (forward, routing, decoder, backward, Adam)."""
    torch.manual_seed(seed)
    model = CapsNet().to(memory_format=torch.channels_last).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    x = torch.rand(batch_size, 1, MNIST_SIDE, MNIST_SIDE).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch_size,))
    for _ in range(warmup):
        train_step(model, opt, x, y, precision)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        train_step(model, opt, x, y, precision)
        times.append(time.perf_counter() - t0)
    return batch_size / statistics.median(times)


def latency_ms(fn, repeats: int, warmup: int = 5) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(1000 * (time.perf_counter() - t0))
    return out


def short_training(data_dir: str | None, train_images: int, epochs: int, precision: str, augment_mode: str) -> float:
    """Test accuracy (%) after a short training run from seed 0 on the first ``train_images`` images."""
    from capsviz.data.augment import augment
    from capsviz.data.mnist import load_mnist
    from capsviz.training.evaluate import evaluate

    train, test = load_mnist(True, data_dir), load_mnist(False, data_dir)
    torch.manual_seed(0)
    model = CapsNet().to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    for epoch in range(epochs):
        g = torch.Generator().manual_seed(epoch)
        order = torch.randperm(train_images, generator=g)
        model.train()
        for start in range(0, train_images - 99, 100):
            x, y = train.batch(order[start : start + 100])
            x = augment(x, augment_mode, g, labels=y).contiguous(memory_format=torch.channels_last)
            train_step(model, opt, x, y, precision)
    return round(evaluate(model, test).accuracy, 2)


def cpu_name() -> str:
    """The CPU's model name, as lscpu prints it: every speed figure is reported beside it."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m capsviz.bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--steps", type=int, default=15, help="timed training steps per precision")
    p.add_argument("--repeats", type=int, default=100, help="timed single-image inferences")
    p.add_argument(
        "--checkpoint", default=str(DEFAULT_DIR), help="weights for the inference timings (random if absent)"
    )
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--compare-precision", action="store_true", help="also train fp32 vs bf16 on real MNIST")
    p.add_argument("--compare-augment", action="store_true", help="also train with paper, canvas and pen augmentation")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--train-images", type=int, default=10_000)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--app", action="store_true", help="also time the app's reruns (drawing, pose edit)")
    p.add_argument("--browser", action="store_true", help="also measure the page in headless chromium")
    p.add_argument("--attribution", action="store_true", help="also time the attribution of a new drawing")
    p.add_argument("--load", type=int, default=0, metavar="N", help="also run N concurrent sessions against a server")
    p.add_argument("--load-interval", type=float, default=5.0, help="seconds between one session's drawings")
    p.add_argument("--load-duration", type=float, default=60.0, help="seconds of load")
    p.add_argument("--skip-training", action="store_true", help="leave out the training-throughput rows")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    return p.parse_args(argv)


Rows = list[tuple[str, object]]


def training_section(args: argparse.Namespace, res: dict) -> Rows:
    cpu = torch.device("cpu")
    res["train_images_per_s_fp32"] = round(train_throughput("fp32", args.batch_size, max(5, args.steps // 2), 2), 1)
    res["train_precision"] = resolve("auto", cpu)  # what `capsviz-train` uses here: bf16 only where native
    if res["train_precision"] == "bf16":
        res["train_images_per_s_bf16"] = round(train_throughput("bf16", args.batch_size, args.steps, 3), 1)
        bf16: object = res["train_images_per_s_bf16"]
    else:  # emulated bf16 runs a step in minutes: not worth timing, and training does not use it here
        bf16 = f"not timed: no native bf16 on this CPU ({cpu_capability()}); training runs fp32"
    res["train_images_per_s"] = res[f"train_images_per_s_{res['train_precision']}"]
    return [("training, bf16 autocast (images/s)", bf16), ("training, fp32 (images/s)", res["train_images_per_s_fp32"])]


def inference_section(args: argparse.Namespace, res: dict) -> Rows:
    try:
        model = load_model(args.checkpoint)
        res["inference_weights"] = "checkpoint"
    except CheckpointError:
        model = CapsNet().eval()
        res["inference_weights"] = "random (no checkpoint)"
    image = np.random.default_rng(0).random((MNIST_SIDE, MNIST_SIDE), dtype=np.float32)
    traces = latency_ms(lambda: trace_image(model, image), args.repeats)
    poses = trace_image(model, image).poses
    decodes = latency_ms(lambda: reconstruct(model, poses, 3), args.repeats)
    res["trace_ms_p50"] = round(_percentile(traces, 50), 2)
    res["trace_ms_p95"] = round(_percentile(traces, 95), 2)
    res["decoder_ms_p50"] = round(_percentile(decodes, 50), 3)
    res["decoder_ms_p95"] = round(_percentile(decodes, 95), 3)
    return [
        ("single image + full routing trace, p50 (ms)", res["trace_ms_p50"]),
        ("single image + full routing trace, p95 (ms)", res["trace_ms_p95"]),
        ("decoder only, p50 (ms)", res["decoder_ms_p50"]),
    ]


def app_section(args: argparse.Namespace, res: dict) -> Rows:
    from capsviz.app.timing import app_timings  # streamlit lives in capsviz.app only

    res.update(app_timings())
    return [
        ("app: new drawing, whole rerun, p50 (ms)", res["app_new_drawing_ms_p50"]),
        ("app: new drawing, whole rerun, p95 (ms)", res["app_new_drawing_ms_p95"]),
        ("app: new drawing, routing tab open, p50 (ms)", res["app_new_drawing_routing_tab_ms_p50"]),
        ("app: new drawing, equivariance tab open, p50 (ms)", res["app_new_drawing_equivariance_tab_ms_p50"]),
        ("app: pose edit released, whole rerun, p50 (ms)", res["app_pose_slider_ms_p50"]),
    ]


def browser_section(args: argparse.Namespace, res: dict) -> Rows:
    """Headless chromium: the pose editor's frames and decoder, pen-up to prediction, bytes per drawing."""
    from capsviz.bench.browser.report import format_table
    from capsviz.bench.browser.run import run_browser_bench

    res["browser"] = run_browser_bench()
    res["tables"].append(format_table(res["browser"]))
    return []


def attribution_section(args: argparse.Namespace, res: dict) -> Rows:
    from capsviz.inspect.attribution import attribution_timings

    t = attribution_timings()
    res["attribution"] = t
    return [
        (f"attribution of a new drawing ({t['n_steps']} IG steps), p50 / p95 (ms)", f"{t['p50_ms']} / {t['p95_ms']}")
    ]


def load_section(args: argparse.Namespace, res: dict) -> Rows:
    """N sessions drawing at once against one server (Streamlit's websocket protocol)."""
    from capsviz.bench.load.report import format_rows
    from capsviz.bench.load.runs import run_load

    res["load"] = run_load(args.load, args.load_interval, args.load_duration)
    return format_rows(res["load"])


def comparison_section(args: argparse.Namespace, res: dict) -> Rows:
    """Short training runs from one seed: (result key, table label, precision, augmentation) each."""
    short = f"{args.epochs} epoch(s) on {args.train_images} training images, seed 0, full test set"
    cpu = torch.device("cpu")
    runs = []
    if args.compare_augment:
        res["augment_comparison"] = short
        runs += [
            (f"test_accuracy_augment_{m}", f"test accuracy, {m} augmentation (%)", resolve("auto", cpu), m)
            for m in ("paper", "canvas", "pen")
        ]
    if args.compare_precision:
        res["precision_comparison"] = short
        precisions = ("fp32", "bf16") if native_bf16(cpu) else ("fp32",)  # emulated bf16: hours here
        runs += [(f"test_accuracy_{p}", f"test accuracy after {p} training (%)", p, "paper") for p in precisions]
    rows: Rows = []
    for key, label, precision, mode in runs:
        res[key] = short_training(args.data_dir, args.train_images, args.epochs, precision, mode)
        rows.append((label, res[key]))
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    tables: list[str] = []
    res: dict[str, object] = {
        "cpu": cpu_name(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "batch_size": args.batch_size,
        "tables": tables,  # sections with tables of their own
    }
    sections = [
        (not args.skip_training, training_section),
        (True, inference_section),
        (args.app, app_section),
        (args.browser, browser_section),
        (args.attribution, attribution_section),
        (args.load > 0, load_section),
        (args.compare_augment or args.compare_precision, comparison_section),
    ]
    rows: Rows = []
    for wanted, section in sections:
        if wanted:
            rows += section(args, res)
    res["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    rows.append(("peak memory of this process, RSS (MB)", res["peak_rss_mb"]))
    width = max(len(r[0]) for r in rows)
    print(f"capsviz benchmark  ({res['cpu']}, torch {torch.__version__}, {res['threads']} threads)")
    print(f"{'measure':<{width}}  value")
    print(f"{'-' * width}  -------")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    res.pop("tables")
    for table in tables:
        print()
        print(table)
    if args.json:
        print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
