"""Setting a training run up: the precision, the data (with the redrawn twins of --redrawn), and the model,
optimizer and schedule, new, fine-tuned from --init-from, carried over to MultiMNIST or resumed.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import cast

import torch
from torch.utils.data import Dataset
from torch.utils.data.distributed import DistributedSampler

from capsviz.data.mnist import MNISTSplit, load_mnist
from capsviz.data.multimnist import MULTIMNIST_CONFIG, TEST_PAIRS, MultiMNIST, make_test_set
from capsviz.model.capsnet import CapsNet, CapsNetConfig
from capsviz.model.precision import cpu_capability, native_bf16, resolve
from capsviz.training import checkpoint as ckpt
from capsviz.training.cli import UserInputError
from capsviz.training.resume import restore
from capsviz.training.run import Data, Processes, Training
from capsviz.training.transfer import init_from_mnist


def choose_precision(args: argparse.Namespace, procs: Processes) -> None:
    """Resolve --precision auto (a resumed run keeps the precision it was started with), and say when bf16
    runs emulated: on a CPU without AVX512-BF16 or AMX a bf16 step is many times slower than fp32."""
    chosen = resolve(args.precision, procs.device)
    if args.precision == "auto" and chosen == "fp32":
        procs.say(f"Precision: fp32 (this CPU, {cpu_capability()}, has no native bf16).")
    elif chosen == "bf16" and not native_bf16(procs.device):
        procs.say(f"Warning: bf16 is emulated on this CPU ({cpu_capability()}): --precision fp32 is much faster.")
    args.precision = chosen


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
