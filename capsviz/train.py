"""Train a CapsNet on MNIST: resumable, atomic checkpoints, bf16 on CPU, optional DDP.

    python -m capsviz.train --data-dir ../shared/data --epochs 30 --out checkpoints
    python -m capsviz.train --out checkpoints --resume          # continue an interrupted run
    torchrun --nproc-per-node 2 -m capsviz.train ...            # DDP (gloo on CPU, nccl on GPU)

Each finished epoch writes, atomically: the weights and model card (what the app loads), the
training state (for --resume) and one line of metrics.jsonl. Ctrl-C (or SIGTERM) saves the state
mid-epoch and exits cleanly; --resume then carries on from that very batch.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data.distributed import DistributedSampler
from tqdm import tqdm

from capsviz import checkpoint as ckpt
from capsviz.augment import MODES, augment, swap_in
from capsviz.data import DataNotFoundError, MNISTSplit, data_checksums, load_mnist, resolve_data_dir
from capsviz.evaluate import autocast_for, evaluate, routing_sweep
from capsviz.losses import capsule_loss
from capsviz.model import CapsNet, CapsNetConfig

# Hyperparameters a resumed run keeps from the original (the rest may change on --resume).
RECIPE = ("batch_size", "lr", "lr_decay", "routing_iterations", "augment", "redrawn", "redrawn_p", "precision", "seed")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m capsviz.train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--data-dir", default=None, help="folder holding MNIST/raw/ (default: $CAPSVIZ_DATA_DIR, else ../shared/data)"
    )
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
    p.add_argument("--precision", choices=["bf16", "fp32"], default="bf16", help="autocast precision (default: bf16)")
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
    return p.parse_args(argv)


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


def _epoch_generator(seed: int, epoch: int, rank: int) -> torch.Generator:
    # Augmentation randomness is a function of (seed, epoch, rank): resuming reproduces it.
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch * 1009 + rank)


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
        raise ValueError(
            f"cannot read the redrawn training digits {path} ({exc}); make them with "
            f"python -m capsviz.redrawn_mnist --make-bank {path}"
        ) from exc
    if images.shape != tuple(train_set.images.shape) or not np.array_equal(labels, train_set.labels.numpy()):
        raise ValueError(f"{path} does not match this MNIST training set; remake it with --make-bank")
    return MNISTSplit(images=torch.from_numpy(images), labels=train_set.labels)


class Interrupted(Exception):
    pass


def _raise_interrupt(signum, frame):  # SIGTERM behaves like Ctrl-C: save and exit
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    device = pick_device(args.device)
    if distributed:
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    main_proc = rank == 0
    if args.threads:
        torch.set_num_threads(args.threads)
    say = print if main_proc else (lambda *a, **k: None)
    out_dir = Path(args.out)
    state_path = out_dir / ckpt.TRAIN_STATE

    saved_meta = saved_tensors = None
    if args.resume:
        if not state_path.is_file():
            say(f"No training state at {state_path}; starting a new run.")
        else:
            saved_tensors, saved_meta = ckpt.read_train_state(state_path)
            for k in RECIPE:  # a resumed run keeps its recipe
                setattr(args, k, saved_meta["args"].get(k, getattr(args, k)))

    torch.manual_seed(args.seed)
    try:
        train_set = load_mnist(train=True, data_dir=args.data_dir)
        test_set = load_mnist(train=False, data_dir=args.data_dir)
    except DataNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    redrawn = None
    if args.redrawn:
        try:
            redrawn = load_redrawn(args.redrawn, train_set)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if args.limit_train:
        train_set.images, train_set.labels = train_set.images[: args.limit_train], train_set.labels[: args.limit_train]
    if args.limit_test:
        test_set.images, test_set.labels = test_set.images[: args.limit_test], test_set.labels[: args.limit_test]

    cfg = CapsNetConfig(routing_iterations=args.routing_iterations)
    model = CapsNet(cfg).to(device).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, fused=device.type in ("cpu", "cuda"))
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=args.lr_decay)
    progress = Progress()
    if args.init_from and saved_meta is None:
        try:
            model.load_state_dict(ckpt.load_model(args.init_from).state_dict())
        except ckpt.CheckpointError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        say(f"Starting from the weights in {args.init_from}.")
    if saved_meta is not None:
        optimizer.load_state_dict(ckpt.optimizer_state(saved_tensors, saved_meta))
        _match_param_layout(optimizer)
        model.load_state_dict({k[len("model.") :]: v for k, v in saved_tensors.items() if k.startswith("model.")})
        scheduler.load_state_dict(saved_meta["scheduler"])
        torch.set_rng_state(saved_tensors["rng.torch"])
        progress = Progress(**saved_meta["progress"])
        say(f"Resuming {out_dir} at epoch {progress.epoch + 1}, batch {progress.batch}.")
    ddp_model = torch.nn.parallel.DistributedDataParallel(model) if distributed else model

    sampler = DistributedSampler(
        range(len(train_set)), num_replicas=world, rank=rank, shuffle=True, seed=args.seed, drop_last=True
    )
    steps_per_epoch = len(sampler) // args.batch_size
    card_base = {
        "model": "CapsNet (Sabour, Frosst & Hinton 2017), 3-layer with reconstruction decoder",
        "architecture": cfg.to_dict(),
        "routing_iterations": cfg.routing_iterations,
        "parameters": sum(p.numel() for p in model.parameters()),
        "data": {"dataset": "MNIST", "train_images": len(train_set), "test_images": len(test_set)},
    }
    if main_proc:
        card_base["data"]["sha256"] = data_checksums(args.data_dir)
        card_base["data"]["data_dir"] = str(resolve_data_dir(args.data_dir))

    def save_state(gen_state: torch.Tensor) -> None:
        if not main_proc:
            return
        tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
        tensors["rng.torch"] = torch.get_rng_state()
        tensors["rng.epoch"] = gen_state
        meta = {"args": vars(args), "scheduler": scheduler.state_dict(), "progress": progress.__dict__}
        ckpt.save_train_state(state_path, optimizer, tensors, meta)

    prev = signal.signal(signal.SIGTERM, _raise_interrupt) if main_proc else None
    steps_this_run = 0
    gen = _epoch_generator(args.seed, progress.epoch, rank)
    t_mark = time.perf_counter()
    try:
        while progress.epoch < args.epochs:
            epoch = progress.epoch
            sampler.set_epoch(epoch)
            order = torch.tensor(list(sampler), dtype=torch.long)
            gen = _epoch_generator(args.seed, epoch, rank)
            if saved_meta is not None and progress.batch > 0:  # resuming mid-epoch
                # Only rank 0 saves its generator: under DDP the other ranks' augmentation for the
                # rest of this one epoch then differs from an uninterrupted run (still random).
                gen.set_state(saved_tensors["rng.epoch"])
            saved_meta = saved_tensors = None
            model.train()
            lr = optimizer.param_groups[0]["lr"]
            bar = tqdm(
                range(progress.batch, steps_per_epoch),
                initial=progress.batch,
                total=steps_per_epoch,
                desc=f"epoch {epoch + 1}/{args.epochs}",
                disable=not main_proc or args.no_progress,
                dynamic_ncols=True,
                leave=True,
            )
            t_epoch = time.perf_counter()
            images_this_epoch = 0
            for step in bar:
                if args.max_steps and steps_this_run >= args.max_steps:
                    raise Interrupted
                idx = order[step * args.batch_size : (step + 1) * args.batch_size]
                x, y = train_set.batch(idx)
                if redrawn is not None:
                    x = swap_in(x, redrawn.batch(idx)[0], args.redrawn_p, gen)
                x = augment(x.to(device), args.augment, gen, labels=y).contiguous(memory_format=torch.channels_last)
                loss, correct = train_step(ddp_model, optimizer, x, y.to(device), args.precision)
                progress.batch = step + 1
                progress.loss_sum += loss * len(y)
                progress.correct += correct
                progress.seen += len(y)
                images_this_epoch += len(y)
                steps_this_run += 1
                if step % 10 == 0:
                    bar.set_postfix(
                        loss=f"{progress.loss_sum / progress.seen:.4f}",
                        acc=f"{100 * progress.correct / progress.seen:.2f}%",
                        lr=f"{lr:.2e}",
                    )
            train_s = time.perf_counter() - t_epoch
            bar.close()
            if main_proc:
                ev = evaluate(model, test_set, precision=args.precision, device=device)
            scheduler.step()
            now = time.perf_counter()
            progress.train_time_s += now - t_mark
            t_mark = now
            row = {
                "epoch": epoch + 1,
                "lr": lr,
                "train_loss": round(progress.loss_sum / max(progress.seen, 1), 5),
                "train_accuracy": round(100 * progress.correct / max(progress.seen, 1), 3),
                "images_per_s": round(images_this_epoch * world / train_s, 1) if train_s > 0 else None,
            }
            progress.epoch, progress.batch, progress.loss_sum, progress.correct, progress.seen = epoch + 1, 0, 0.0, 0, 0
            if main_proc:
                row.update(
                    test_loss=round(ev.loss, 5),
                    test_accuracy=round(ev.accuracy, 3),
                    wall_time_s=round(progress.train_time_s, 1),
                )
                progress.history.append(row)
                save_state(gen.get_state())
                ckpt.save_weights(model, out_dir)
                card = dict(
                    card_base,
                    epochs=progress.epoch,
                    test_accuracy=round(ev.accuracy, 2),
                    test_errors=ev.errors,
                    per_class_accuracy=ev.per_class,
                    test_misclassified=ev.misclassified,
                    test_loss=round(ev.loss, 5),
                    training=training_info(args, device, world, progress),
                )
                ckpt.write_card(out_dir, card)
                ckpt.atomic_write_text(out_dir / ckpt.METRICS, "".join(json.dumps(r) + "\n" for r in progress.history))
                say(
                    f"epoch {epoch + 1}: test accuracy {ev.accuracy:.2f}% ({ev.errors} errors), "
                    f"train {row['train_accuracy']:.2f}%, {row['images_per_s']} images/s"
                )
            if distributed:
                dist.barrier()
        if main_proc:
            say("Measuring accuracy with 1-5 routing iterations ...")
            card = ckpt.read_card(out_dir)
            card["accuracy_by_routing_iterations"] = routing_sweep(
                model, test_set, precision=args.precision, device=device
            )
            ckpt.write_card(out_dir, card)
            say(json.dumps(card["accuracy_by_routing_iterations"]))
    except (KeyboardInterrupt, Interrupted) as exc:
        progress.train_time_s += time.perf_counter() - t_mark
        save_state(gen.get_state())
        say(
            f"\n{'Interrupted' if isinstance(exc, KeyboardInterrupt) else 'Stopped after --max-steps'}: "
            f"state saved at epoch {progress.epoch + 1}, batch {progress.batch}. Continue with --resume."
        )
        return 130 if isinstance(exc, KeyboardInterrupt) else 0
    finally:
        if prev is not None:
            signal.signal(signal.SIGTERM, prev)
        if distributed:
            dist.destroy_process_group()
    return 0


def training_info(args, device, world, progress: Progress) -> dict:
    return {
        "command": "python -m capsviz.train " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        **{k: getattr(args, k) for k in RECIPE},
        "epochs": progress.epoch,
        "wall_time_s": round(progress.train_time_s, 1),
        "hardware": hardware(device, world),
        "optimizer": "Adam, learning rate x lr_decay after each epoch",
        "init_from": args.init_from,
    }


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
