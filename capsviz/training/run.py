"""What a training run is made of: this process's place among the run's processes, the data, what training
updates and its progress, and how a signal asks the run to stop.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data.distributed import DistributedSampler

from capsviz.data.mnist import MNISTSplit
from capsviz.data.multimnist import MultiMNIST, MultiMNISTSet
from capsviz.model.capsnet import CapsNet

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


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


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


def agree(procs: Processes, *flags: bool) -> list[bool]:
    """Under DDP every rank must stop at the same step: a flag raised on any rank holds on all."""
    if not procs.distributed:
        return list(flags)
    votes = torch.tensor(flags, dtype=torch.int32, device=procs.device)
    dist.all_reduce(votes, op=dist.ReduceOp.MAX)
    return [bool(v) for v in votes.tolist()]
