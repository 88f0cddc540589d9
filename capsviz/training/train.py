"""Train a CapsNet on MNIST: resumable, atomic checkpoints, bf16 on CPU, optional DDP.

    python -m capsviz.train --data-dir ../shared/data --epochs 30 --out checkpoints
    python -m capsviz.train --out checkpoints --resume          # continue an interrupted run
    torchrun --nproc-per-node 2 -m capsviz.train ...            # DDP (gloo on CPU, nccl on GPU)

Each finished epoch writes the weights and model card (what the app loads), the training state
(for --resume) and metrics.jsonl, all or none of them: a crash, a full disk or a kill part-way
leaves the previous epoch's files in place. Ctrl-C (or SIGTERM) lets the step under way finish,
saves the state and exits with status 130; --resume then carries on from the next batch, bit for
bit as if never stopped. A second Ctrl-C aborts at once, keeping the last checkpoint saved.

Training stops with a message and exit status 1, keeping the last good checkpoint, when the loss
becomes NaN or inf (the message names the epoch and batch: try a lower --lr or --precision fp32)
or when a checkpoint cannot be written (a full disk: free space, then --resume). Missing MNIST, an
unusable --init-from or --redrawn file, or a --resume state made for another model: status 2.
"""

from __future__ import annotations

import argparse
import errno
import json
import math
import os
import platform
import shlex
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import Any, cast

import torch
import torch.distributed as dist
from safetensors import SafetensorError
from torch.utils.data import Dataset
from torch.utils.data.distributed import DistributedSampler
from tqdm import tqdm

from capsviz.data.augment import MODES, augment, swap_in
from capsviz.data.mnist import MNISTSplit, data_checksums, load_mnist
from capsviz.data.multimnist import (
    MULTIMNIST_CONFIG,
    TEST_PAIRS,
    MultiMNIST,
    MultiMNISTSet,
    PairEvaluation,
    centred_split,
    evaluate_pairs,
    make_test_set,
    multimnist_train_step,
)
from capsviz.model.capsnet import CapsNet, CapsNetConfig
from capsviz.model.losses import capsule_loss
from capsviz.model.precision import PRECISIONS, autocast_for, cpu_capability, native_bf16, resolve
from capsviz.model.routing import MAX_ITERATIONS
from capsviz.training import checkpoint as ckpt
from capsviz.training.cli import UserInputError, exit_on_user_error
from capsviz.training.evaluate import Evaluation, evaluate
from capsviz.training.transfer import init_from_mnist

# Hyperparameters a resumed run keeps from the original (the rest may change on --resume).
RECIPE = (
    "task",
    "epoch_images",
    "batch_size",
    "lr",
    "lr_decay",
    "routing_iterations",
    "augment",
    "redrawn",
    "redrawn_p",
    "precision",
    "seed",
    "init_from",
)
TASKS = ("mnist", "multimnist")  # one digit per image; two overlapping digits (the paper's section 6)
# Flags whose values are paths on the training machine: the card's command shows these instead.
PATH_FLAGS = {"--data-dir": "DATA_DIR", "--out": "OUT_DIR", "--init-from": "CHECKPOINT", "--redrawn": "NPZ"}
EXIT_FAILED = 1  # training cannot go on (non-finite loss, checkpoint not writable)
EXIT_INTERRUPTED = 130  # stopped by SIGINT/SIGTERM (state saved) or aborted by a second signal


# --- the command line ----------------------------------------------------------------------------


def add_task_args(p: argparse.ArgumentParser) -> None:
    """What is trained, and how long an epoch is."""
    p.add_argument(
        "--task",
        choices=TASKS,
        default="mnist",
        help="mnist: one digit per image; multimnist: two overlapping digits, 36x36, generated on the fly from "
        "MNIST, starting from the MNIST weights of --init-from (default: the shipped checkpoint)",
    )
    p.add_argument(
        "--epoch-images",
        type=int,
        default=0,
        help="images per epoch, each epoch a fresh shuffle of the whole training set (default 0: all of it); "
        "shorter epochs checkpoint and evaluate more often",
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m capsviz.train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="folder holding MNIST/raw/ (default: $CAPSVIZ_DATA_DIR, else data/ or ~/.cache/capsviz)",
    )
    add_task_args(p)
    p.add_argument("--out", default="runs/capsnet", help="checkpoint folder (default: runs/capsnet)")
    p.add_argument("--epochs", type=int, default=30, help="total epochs (default: 30)")
    p.add_argument("--batch-size", type=int, default=100, help="images per step and process (default: 100)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default: 1e-3)")
    p.add_argument("--lr-decay", type=float, default=0.9, help="learning rate x this after each epoch (default: 0.9)")
    p.add_argument("--routing-iterations", type=int, default=3, help="routing iterations r (default: 3)")
    p.add_argument(
        "--augment",
        choices=MODES,
        default="pen",
        help="paper: +-2 px shifts; canvas: also rotation, scale, stroke width; pen: also elastic distortion and "
        "flagged 1s (default)",
    )
    p.add_argument(
        "--redrawn",
        default=None,
        metavar="NPZ",
        help="training digits redrawn with the canvas pen (python -m capsviz.redrawn_mnist --make-bank NPZ)",
    )
    p.add_argument(
        "--redrawn-p", type=float, default=0.5, help="share of each batch swapped for redrawn twins (default: 0.5)"
    )
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="autocast precision (default auto: bf16 where the hardware runs it natively, else fp32)",
    )
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    p.add_argument("--limit-train", type=int, default=0, help="use only the first N training images (smoke tests)")
    p.add_argument("--limit-test", type=int, default=0, help="evaluate on only the first N test images (smoke tests)")
    p.add_argument(
        "--max-steps", type=int, default=0, help="stop (saving state, as Ctrl-C) after N steps in this invocation"
    )
    p.add_argument("--resume", action="store_true", help="continue from <out>/train_state.safetensors")
    p.add_argument(
        "--init-from", default=None, help="start from these weights (a checkpoint folder), fresh optimizer: fine-tuning"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    args.command = portable_command(sys.argv[1:] if argv is None else argv)  # for the model card
    return args


# --- what a run is made of -----------------------------------------------------------------------


@dataclass
class Progress:
    """Where training stands; all of it goes into the training state."""

    epoch: int = 0  # completed epochs
    batch: int = 0  # batches done within the current epoch
    loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0
    train_time_s: float = 0.0  # wall time spent in training+evaluation, over all sessions
    history: list[dict] = field(default_factory=list)

    def record(self, step: int, loss: float, correct: int, images: int) -> None:
        """Count one step the weights have taken (before the next safe point reads it)."""
        self.batch = step + 1
        self.loss_sum += loss * images
        self.correct += correct
        self.seen += images


@dataclass(frozen=True)
class Processes:
    """This process's place in the run: its rank among ``world`` processes, and its device."""

    rank: int
    world: int
    device: torch.device

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def say(self, *args: Any, **kwargs: Any) -> None:
        if self.main:  # one voice per run
            print(*args, **kwargs)


@dataclass
class Data:
    train: MNISTSplit
    test: MNISTSplit
    redrawn: MNISTSplit | None  # the training digits' redrawn twins (--redrawn)
    sampler: DistributedSampler[int]
    steps_per_epoch: int
    pairs: MultiMNIST | None = None  # --task multimnist: the sampled index is each pair's first digit
    test_pairs: MultiMNISTSet | None = None


@dataclass
class Training:
    """What training updates; its state (and the epoch's generator) is what --resume restores."""

    args: argparse.Namespace
    procs: Processes
    model: CapsNet
    ddp_model: torch.nn.Module  # the model itself unless under DDP
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    progress: Progress = field(default_factory=Progress)
    gen: torch.Generator = field(default_factory=torch.Generator)  # augmentation, this epoch
    steps_this_run: int = 0
    t_mark: float = field(default_factory=time.perf_counter)

    @property
    def out_dir(self) -> Path:
        return Path(self.args.out)

    def clock(self) -> None:
        """Add the wall time since the last call to the run's training time."""
        now = time.perf_counter()
        self.progress.train_time_s += now - self.t_mark
        self.t_mark = now


@dataclass
class EpochRun:
    stop: str | None  # why the epoch ended early ("signal", "max-steps"); None when it finished
    seconds: float = 0.0
    images: int = 0


class TrainingFailed(RuntimeError):
    """Training cannot go on (non-finite loss, checkpoint not writable); the last checkpoint is kept."""


class StopRequest:
    """SIGINT and SIGTERM only ask training to stop: the loop reads the flag at its safe points
    (after a step is fully recorded, never inside a step or a checkpoint write). A second signal
    aborts at once, except under torchrun, whose agent forwards the signal it got (its SIGKILL,
    30 s later, is the hard stop there)."""

    def __init__(self, announce: bool) -> None:
        self.requested = False
        self.announce = announce
        self.abort_on_repeat = "TORCHELASTIC_RUN_ID" not in os.environ

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested and self.abort_on_repeat:
            raise KeyboardInterrupt
        if not self.requested and self.announce:  # os.write: print() is not safe in a handler
            os.write(2, b"\nStopping after this step to save the training state (Ctrl-C again aborts) ...\n")
        self.requested = True

    @contextmanager
    def installed(self) -> Iterator[StopRequest]:
        if threading.current_thread() is not threading.main_thread():  # only the main thread gets signals
            yield self
            return
        previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)


# --- small pieces --------------------------------------------------------------------------------


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def hardware(device: torch.device, world: int) -> dict:
    info = {"device": str(device), "processes": world, "torch": torch.__version__, "threads": torch.get_num_threads()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    else:
        cpu = platform.processor()
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        info["cpu"] = cpu
        info["cores"] = os.cpu_count()
    return info


def train_step(model, optimizer, x, y, precision: str) -> tuple[float, int]:
    """One optimisation step; returns (loss, number correct). Loss and lengths stay fp32."""
    with autocast_for(x.device, precision):
        out = model(x, target=y)
    loss = capsule_loss(out.lengths, out.reconstruction, x, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item(), int((out.lengths.argmax(1) == y).sum())


def _match_param_layout(optimizer: torch.optim.Optimizer) -> None:
    """Give loaded moment buffers their parameter's memory layout (channels-last convs): the
    fused Adam kernel walks parameter and state storage in lockstep."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            for name, buf in optimizer.state.get(p, {}).items():
                if torch.is_tensor(buf) and buf.shape == p.shape and buf.stride() != p.stride():
                    optimizer.state[p][name] = torch.empty_like(p, dtype=buf.dtype).copy_(buf)


def load_redrawn(path: str, train_set: MNISTSplit) -> MNISTSplit:
    """The redrawn twins of the training digits, checked against them (same shape, same labels)."""
    import numpy as np

    try:
        with np.load(path) as f:
            images, labels = f["images"], f["labels"]
    except (OSError, KeyError, ValueError) as exc:
        raise UserInputError(
            f"cannot read the redrawn training digits {path} ({exc}); make them with "
            f"python -m capsviz.redrawn_mnist --make-bank {path}"
        ) from exc
    if images.shape != tuple(train_set.images.shape) or not np.array_equal(labels, train_set.labels.numpy()):
        raise UserInputError(f"{path} does not match this MNIST training set; remake it with --make-bank")
    return MNISTSplit(images=torch.from_numpy(images), labels=train_set.labels)


def agree(procs: Processes, *flags: bool) -> list[bool]:
    """Under DDP every rank must stop at the same step: a flag raised on any rank holds on all."""
    if not procs.distributed:
        return list(flags)
    votes = torch.tensor(flags, dtype=torch.int32, device=procs.device)
    dist.all_reduce(votes, op=dist.ReduceOp.MAX)
    return [bool(v) for v in votes.tolist()]


@contextmanager
def writing(out_dir: Path) -> Iterator[None]:
    """A checkpoint that cannot be written (full disk, no permission) stops the run with a message."""
    try:
        yield
    except (OSError, SafetensorError) as exc:  # safetensors reports a full disk as SafetensorError
        full = getattr(exc, "errno", None) == errno.ENOSPC or "os error 28" in str(exc)
        raise TrainingFailed(
            f"cannot write the checkpoint in {out_dir} ({'disk full: ' if full else ''}{exc}); the previous "
            f"checkpoint there is intact. {'Free some space' if full else 'Fix the folder'}, then continue "
            "with --resume."
        ) from exc


# --- setting up ----------------------------------------------------------------------------------


def init_processes(device_name: str) -> Processes:
    """Join torchrun's process group when there is one (nccl on CUDA, gloo on the CPU)."""
    device = pick_device(device_name)
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Processes(rank=0, world=1, device=device)
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Processes(rank=dist.get_rank(), world=dist.get_world_size(), device=device)


def read_resume_state(args: argparse.Namespace, procs: Processes) -> tuple[dict, dict, Path] | None:
    """The state --resume continues from (None: start afresh); the run keeps its saved recipe."""
    path = Path(args.out) / ckpt.TRAIN_STATE
    if not args.resume:
        return None
    if not path.is_file():
        procs.say(f"No training state at {path}; starting a new run.")
        return None
    tensors, meta = ckpt.read_train_state(path)  # CheckpointError for a file that is not one
    for k in RECIPE:
        setattr(args, k, meta["args"].get(k, getattr(args, k)))
    return tensors, meta, path


def choose_precision(args: argparse.Namespace, procs: Processes) -> None:
    """Resolve --precision auto (a resumed run keeps the precision it was started with), and say when bf16
    runs emulated: on a CPU without AVX512-BF16 or AMX a bf16 step is many times slower than fp32."""
    chosen = resolve(args.precision, procs.device)
    if args.precision == "auto" and chosen == "fp32":
        procs.say(f"Precision: fp32 (this CPU, {cpu_capability()}, has no native bf16).")
    elif chosen == "bf16" and not native_bf16(procs.device):
        procs.say(f"Warning: bf16 is emulated on this CPU ({cpu_capability()}): --precision fp32 is much faster.")
    args.precision = chosen


def load_data(args: argparse.Namespace, procs: Processes) -> Data:
    train_set = load_mnist(train=True, data_dir=args.data_dir)
    test_set = load_mnist(train=False, data_dir=args.data_dir)
    redrawn = load_redrawn(args.redrawn, train_set) if args.redrawn else None
    if args.limit_train:
        train_set.images, train_set.labels = train_set.images[: args.limit_train], train_set.labels[: args.limit_train]
    if args.limit_test:
        test_set.images, test_set.labels = test_set.images[: args.limit_test], test_set.labels[: args.limit_test]
    indices = cast("Dataset[int]", range(len(train_set)))  # the sampler needs only a length
    sampler: DistributedSampler[int] = DistributedSampler(
        indices, num_replicas=procs.world, rank=procs.rank, shuffle=True, seed=args.seed, drop_last=True
    )
    per_epoch = min(len(sampler), args.epoch_images or len(sampler))
    data = Data(train_set, test_set, redrawn, sampler, steps_per_epoch=per_epoch // args.batch_size)
    if args.task == "multimnist":
        data.pairs = MultiMNIST(train_set)
        data.test_pairs = make_test_set(load_mnist(train=False, data_dir=args.data_dir), args.limit_test or TEST_PAIRS)
    return data


def task_config(args: argparse.Namespace) -> CapsNetConfig:
    base = MULTIMNIST_CONFIG if args.task == "multimnist" else CapsNetConfig()
    return replace(base, routing_iterations=args.routing_iterations)


def build_model(args: argparse.Namespace) -> CapsNet:
    """A new CapsNet for the task, or one fine-tuned from --init-from; for MultiMNIST, the weights of
    a model of either size carry over (capsviz.training.transfer)."""
    cfg = task_config(args)
    if args.task == "mnist":
        model = CapsNet(cfg)
        if args.init_from:
            model.load_state_dict(ckpt.load_model(args.init_from).state_dict())
        return model
    args.init_from = args.init_from or str(ckpt.DEFAULT_DIR)  # training from scratch is out of a CPU's reach
    source = ckpt.load_model(args.init_from)
    if source.cfg.image_size == cfg.image_size:
        model = CapsNet(cfg)
        model.load_state_dict(source.state_dict())
        return model
    return init_from_mnist(source, cfg)


def build_training(args: argparse.Namespace, procs: Processes, state: tuple[dict, dict, Path] | None) -> Training:
    """Model, optimizer and schedule: new, fine-tuned from --init-from, or restored for --resume."""
    model = CapsNet(task_config(args)) if state is not None else build_model(args)  # restore() loads weights
    model = model.to(procs.device).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, fused=procs.device.type in ("cpu", "cuda"))
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=args.lr_decay)
    t = Training(args, procs, model, model, optimizer, scheduler)
    if state is not None:
        restore(t, *state)
        procs.say(f"Resuming {t.out_dir} at epoch {t.progress.epoch + 1}, batch {t.progress.batch}.")
    elif args.init_from:
        procs.say(f"Starting from the weights in {args.init_from}.")
    if procs.distributed:
        t.ddp_model = torch.nn.parallel.DistributedDataParallel(model)
    return t


def restore(t: Training, tensors: dict[str, torch.Tensor], meta: dict[str, Any], path: Path) -> None:
    """Put a saved training state back, refusing one that was made for another model."""
    config = json.loads(json.dumps(t.model.cfg.to_dict()))  # as the state stores it (lists, not tuples)
    saved = meta.get("config", config)  # states from before the config was saved: the shapes decide
    saved = saved if isinstance(saved, dict) else {}
    weights = {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
    differences = [f"{k} {saved.get(k)!r} there, {v!r} here" for k, v in config.items() if saved.get(k) != v]
    problem = ", ".join(differences) or ckpt.mismatch(weights, t.model.state_dict())
    if problem:
        raise ckpt.CheckpointError(
            f"Training state {path} was made for another model ({problem}); --resume cannot continue it. "
            "Start a new run without --resume, or give another --out."
        )
    try:
        t.optimizer.load_state_dict(ckpt.optimizer_state(tensors, meta))
        t.scheduler.load_state_dict(meta["scheduler"])
        t.progress = Progress(**meta["progress"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ckpt.CheckpointError(f"Training state {path} is damaged ({exc}); start a new run.") from exc
    _match_param_layout(t.optimizer)
    t.model.load_state_dict(weights)
    torch.set_rng_state(tensors["rng.torch"])
    t.gen.set_state(tensors["rng.epoch"])  # carries on mid-epoch; a new epoch makes its own


def model_card_base(t: Training, data: Data) -> dict[str, Any]:
    """The card's fields that hold for the whole run; no paths: the card travels with the weights."""
    cfg = t.model.cfg
    base: dict[str, Any] = {
        "model": "CapsNet (Sabour, Frosst & Hinton 2017), 3-layer with reconstruction decoder",
        "architecture": cfg.to_dict(),
        "routing_iterations": cfg.routing_iterations,
        "parameters": sum(p.numel() for p in t.model.parameters()),
        "data": {
            "dataset": "MNIST",
            "train_images": len(data.train),
            "test_images": len(data.test),
            "sha256": data_checksums(t.args.data_dir),
        },
    }
    if data.test_pairs is not None:
        base["model"] += ", trained on MultiMNIST (two overlapping digits, Sabour et al. 2017, section 6)"
        base["data"] |= {"dataset": "MultiMNIST, generated from MNIST", "test_pairs": len(data.test_pairs)}
    return base


def portable_command(argv: Sequence[str]) -> str:
    """The command line as the card records it: the paths of this machine become placeholders."""
    words: list[str] = []
    hide: str | None = None  # the placeholder for the word after a path flag
    for word in argv:
        flag = word.split("=", 1)[0]
        if hide is not None:
            words.append(hide)
            hide = None
        elif flag in PATH_FLAGS and "=" in word:
            words.append(f"{flag}={PATH_FLAGS[flag]}")
        else:
            words.append(word)
            hide = PATH_FLAGS.get(word)
    return " ".join(["python -m capsviz.train", *(shlex.quote(w) for w in words)])


def training_info(args: argparse.Namespace, device: torch.device, world: int, progress: Progress) -> dict:
    """How the run was made, for the card; file names only, no paths (the card travels)."""
    recipe = {k: getattr(args, k) for k in RECIPE}
    recipe["redrawn"] = args.redrawn and Path(args.redrawn).name
    return {
        "command": getattr(args, "command", None) or portable_command(sys.argv[1:]),
        **recipe,
        "epochs": progress.epoch,
        "wall_time_s": round(progress.train_time_s, 1),
        "hardware": hardware(device, world),
        "optimizer": "Adam, learning rate x lr_decay after each epoch",
        "init_from": args.init_from and Path(args.init_from).name,
    }


# --- training ------------------------------------------------------------------------------------


def training_batch(t: Training, data: Data, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The sampled images, redrawn twins swapped in and augmented, on the device, channels-last."""
    x, y = data.train.batch(idx)
    if data.redrawn is not None:
        x = swap_in(x, data.redrawn.batch(idx)[0], t.args.redrawn_p, t.gen)
    x = augment(x.to(t.procs.device), t.args.augment, t.gen, labels=y)
    return x.contiguous(memory_format=torch.channels_last), y.to(t.procs.device)


def task_step(t: Training, data: Data, idx: torch.Tensor) -> tuple[float, int, int]:
    """One optimisation step on the sampled indices: (loss, number right, images)."""
    if data.pairs is not None:  # each index is a pair's first digit; the generator picks the rest
        batch = data.pairs.sample(idx, t.gen).to(t.procs.device)
        return (*multimnist_train_step(t.ddp_model, t.optimizer, batch, t.args.precision), len(batch))
    x, y = training_batch(t, data, idx)
    return (*train_step(t.ddp_model, t.optimizer, x, y, t.args.precision), len(y))


def task_evaluation(t: Training, data: Data, iterations: int | None = None) -> Evaluation | PairEvaluation:
    kw = dict(iterations=iterations, precision=t.args.precision, device=t.procs.device)
    if data.test_pairs is not None:
        return evaluate_pairs(t.model, data.test_pairs, **kw)
    return evaluate(t.model, data.test, **kw)


def train_one_epoch(t: Training, data: Data, stop: StopRequest) -> EpochRun:
    """Train from the recorded batch to the epoch's end, or to the first safe point where a stop
    is due; the progress always describes exactly the steps applied to the weights."""
    args, p = t.args, t.progress
    data.sampler.set_epoch(p.epoch)
    order = torch.tensor(list(data.sampler), dtype=torch.long)
    if p.batch == 0:  # augmentation randomness is a function of (seed, epoch, rank): resumable
        t.gen = torch.Generator().manual_seed(args.seed * 1_000_003 + p.epoch * 1009 + t.procs.rank)
    t.model.train()
    lr = t.optimizer.param_groups[0]["lr"]
    steps = range(p.batch, data.steps_per_epoch)
    hide = not t.procs.main or args.no_progress
    desc = f"epoch {p.epoch + 1}/{args.epochs}"
    bar = tqdm(steps, initial=p.batch, total=data.steps_per_epoch, desc=desc, disable=hide, dynamic_ncols=True)
    run, start = EpochRun(stop=None), time.perf_counter()
    for step in bar:
        if args.max_steps and t.steps_this_run >= args.max_steps:
            run.stop = "max-steps"
            break
        loss, correct, n = task_step(t, data, order[step * args.batch_size : (step + 1) * args.batch_size])
        p.record(step, loss, correct, n)
        t.steps_this_run, run.images = t.steps_this_run + 1, run.images + n
        run.stop = after_step(t, stop, loss, step, data.steps_per_epoch)  # the safe point
        if run.stop:
            break
        if step % 10 == 0:
            bar.set_postfix(loss=f"{p.loss_sum / p.seen:.4f}", acc=f"{100 * p.correct / p.seen:.2f}%", lr=f"{lr:.2e}")
    bar.close()
    run.seconds = time.perf_counter() - start
    return run


def after_step(t: Training, stop: StopRequest, loss: float, step: int, steps_per_epoch: int) -> str | None:
    """The safe point: the step is applied and recorded. Fail on a non-finite loss (on any rank),
    else say "signal" when a stop was asked for."""
    signalled, diverged = agree(t.procs, stop.requested, not math.isfinite(loss))
    if diverged:
        raise TrainingFailed(
            f"the loss became {loss if not math.isfinite(loss) else 'NaN or inf on another process'} at epoch "
            f"{t.progress.epoch + 1}, batch {step + 1} of {steps_per_epoch}; training stopped without saving, "
            f"so {t.out_dir} keeps its last good checkpoint. Try a lower --lr, or --precision fp32."
        )
    return "signal" if signalled else None


def end_epoch(t: Training, data: Data, run: EpochRun) -> Evaluation | PairEvaluation | None:
    """Evaluate (rank 0), step the schedule, log the epoch and start the next one's progress."""
    p = t.progress
    ev = task_evaluation(t, data) if t.procs.main else None
    lr = t.optimizer.param_groups[0]["lr"]
    t.scheduler.step()
    t.clock()
    row = {
        "epoch": p.epoch + 1,
        "lr": lr,
        "train_loss": round(p.loss_sum / max(p.seen, 1), 5),
        "train_accuracy": round(100 * p.correct / max(p.seen, 1), 3),
        "images_per_s": round(run.images * t.procs.world / run.seconds, 1) if run.seconds > 0 else None,
    }
    p.epoch, p.batch, p.loss_sum, p.correct, p.seen = p.epoch + 1, 0, 0.0, 0, 0
    if ev is not None:
        row.update(
            test_loss=round(ev.loss, 5), test_accuracy=round(ev.accuracy, 3), wall_time_s=round(p.train_time_s, 1)
        )
        p.history.append(row)
        t.procs.say(
            f"epoch {row['epoch']}: test accuracy {ev.accuracy:.2f}% ({ev.errors} errors), "
            f"train {row['train_accuracy']:.2f}%, {row['images_per_s']} images/s"
        )
    return ev


def save_state(t: Training) -> None:
    """Write the training state --resume continues from (rank 0 only; the ranks agree on it)."""
    if not t.procs.main:
        return
    if not all(bool(torch.isfinite(w).all()) for w in t.model.parameters()):  # never save a diverged model
        raise TrainingFailed(f"the weights hold NaN or inf; {t.out_dir} keeps its last good checkpoint.")
    tensors = {f"model.{k}": v for k, v in t.model.state_dict().items()}
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.epoch"] = t.gen.get_state()
    meta = {
        "args": vars(t.args),
        "config": t.model.cfg.to_dict(),
        "scheduler": t.scheduler.state_dict(),
        "progress": t.progress.__dict__,
    }
    ckpt.save_train_state(t.out_dir / ckpt.TRAIN_STATE, t.optimizer, tensors, meta)


def save_checkpoint(t: Training, ev: Evaluation | PairEvaluation, card_base: dict[str, Any]) -> None:
    """The epoch's weights, card, metrics and training state, replaced together; the state goes
    last because --resume trusts it."""
    card = dict(
        card_base,
        epochs=t.progress.epoch,
        test_accuracy=round(ev.accuracy, 2),
        test_errors=ev.errors,
        test_misclassified=ev.misclassified,
        test_loss=round(ev.loss, 5),
        training=training_info(t.args, t.procs.device, t.procs.world, t.progress),
    )
    if isinstance(ev, Evaluation):
        card["per_class_accuracy"] = ev.per_class
    metrics = "".join(json.dumps(row) + "\n" for row in t.progress.history)
    with writing(t.out_dir), ckpt.write_together():
        ckpt.save_weights(t.model, t.out_dir)
        ckpt.write_card(t.out_dir, card)
        ckpt.atomic_write_text(t.out_dir / ckpt.METRICS, metrics)
        save_state(t)


def fit(t: Training, data: Data, stop: StopRequest, card_base: dict[str, Any]) -> str | None:
    """Run the remaining epochs; returns why training stopped early ("signal", "max-steps") or None."""
    while t.progress.epoch < t.args.epochs:
        if agree(t.procs, stop.requested)[0]:  # asked during the last evaluation or checkpoint write
            return "signal"
        run = train_one_epoch(t, data, stop)
        if run.stop:
            return run.stop
        ev = end_epoch(t, data, run)
        if ev is not None:
            save_checkpoint(t, ev, card_base)
        if t.procs.distributed:
            dist.barrier()
    return None


def save_and_stop(t: Training, why: str) -> int:
    """At a safe point: save the state and say how to continue."""
    t.clock()
    with writing(t.out_dir):
        save_state(t)
    p = t.progress
    at = f"epoch {p.epoch + 1}, batch {p.batch}" if p.epoch < t.args.epochs else "the end (routing sweep to do)"
    what = "Interrupted" if why == "signal" else "Stopped after --max-steps"
    t.procs.say(f"\n{what}: state saved at {at}. Continue with --resume.")
    return EXIT_INTERRUPTED if why == "signal" else 0


def measure_routing(t: Training, data: Data, stop: StopRequest) -> bool:
    """Rank 0, once training is done: accuracy with 1-5 routing iterations, into the card.
    Returns False when a stop was asked for first (the card stays without it)."""
    t.procs.say("Measuring accuracy with 1-5 routing iterations ...")
    sweep: dict[str, float] = {}
    for r in range(1, MAX_ITERATIONS + 1):
        if stop.requested:  # each pass is a full evaluation: do not make Ctrl-C wait for all five
            return False
        sweep[str(r)] = round(task_evaluation(t, data, iterations=r).accuracy, 2)
    card = ckpt.read_card(t.out_dir)
    card["accuracy_by_routing_iterations"] = sweep
    if data.test_pairs is not None:  # the same model on single, centred MNIST digits
        single = evaluate(t.model, centred_split(data.test), precision=t.args.precision, device=t.procs.device)
        card["mnist_accuracy"] = round(single.accuracy, 2)
    with writing(t.out_dir):
        ckpt.write_card(t.out_dir, card)
    t.procs.say(json.dumps(sweep))
    return True


def train(args: argparse.Namespace, procs: Processes, stop: StopRequest) -> int:
    """Set up (or resume) the run, train the remaining epochs, then measure routing."""
    if args.threads:
        torch.set_num_threads(args.threads)
    state = read_resume_state(args, procs)
    choose_precision(args, procs)
    torch.manual_seed(args.seed)
    data = load_data(args, procs)
    t = build_training(args, procs, state)
    card_base = model_card_base(t, data) if procs.main else {}
    if state is None:
        procs.say(f"Training {t.out_dir}: {args.epochs} epochs of {data.steps_per_epoch} steps.")
    why = fit(t, data, stop, card_base)
    if why:
        return save_and_stop(t, why)
    if procs.main and not measure_routing(t, data, stop):
        return save_and_stop(t, "signal")
    return 0


@exit_on_user_error
def main(argv: Sequence[str] | argparse.Namespace | None = None) -> int:
    """The training program; takes the command line (or parsed args) and returns the exit status."""
    args = argv if isinstance(argv, argparse.Namespace) else parse_args(argv)
    with StopRequest(announce=os.environ.get("RANK", "0") == "0").installed() as stop:
        procs = init_processes(args.device)
        try:
            return train(args, procs, stop)
        except TrainingFailed as exc:
            if procs.main:
                print(f"error: {exc}", file=sys.stderr)
            return EXIT_FAILED
        except KeyboardInterrupt:  # a second signal: abort, keeping the last checkpoint saved
            procs.say(f"\nAborted: {args.out} holds the last checkpoint saved. Continue with --resume.")
            return EXIT_INTERRUPTED
        finally:
            if procs.distributed:
                dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
