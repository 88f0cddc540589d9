"""How a run was made, for its model card: the command (its paths replaced by placeholders), the recipe, the
hardware and the data's checksums; no paths of the training machine, since the card travels with the weights.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from capsviz.data.mnist import data_checksums
from capsviz.training.run import RECIPE, Data, Progress, Training

# Flags whose values are paths on the training machine: the card's command shows these instead.
PATH_FLAGS = {"--data-dir": "DATA_DIR", "--out": "OUT_DIR", "--init-from": "CHECKPOINT", "--redrawn": "NPZ"}


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
