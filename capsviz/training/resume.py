"""The training state --resume continues from: read and restored (refusing one made for another model), and
saved with each epoch's weights, card and metrics, all or none of them.
"""

from __future__ import annotations

import argparse
import errno
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError

from capsviz.data.multimnist import PairEvaluation
from capsviz.training import checkpoint as ckpt
from capsviz.training.evaluate import Evaluation
from capsviz.training.provenance import training_info
from capsviz.training.run import RECIPE, Processes, Progress, Training, TrainingFailed


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


def _match_param_layout(optimizer: torch.optim.Optimizer) -> None:
    """Give loaded moment buffers their parameter's memory layout (channels-last convs): the
    fused Adam kernel walks parameter and state storage in lockstep."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            for name, buf in optimizer.state.get(p, {}).items():
                if torch.is_tensor(buf) and buf.shape == p.shape and buf.stride() != p.stride():
                    optimizer.state[p][name] = torch.empty_like(p, dtype=buf.dtype).copy_(buf)


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
