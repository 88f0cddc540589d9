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
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import torch
import torch.distributed as dist
from tqdm import tqdm

from capsviz.data.augment import MODES, augment, swap_in
from capsviz.data.multimnist import PairEvaluation, centred_split, evaluate_pairs, multimnist_train_step
from capsviz.model.losses import capsule_loss
from capsviz.model.precision import PRECISIONS, autocast_for
from capsviz.model.routing import MAX_ITERATIONS
from capsviz.training import checkpoint as ckpt
from capsviz.training.build import build_training, choose_precision, load_data
from capsviz.training.cli import exit_on_user_error
from capsviz.training.evaluate import Evaluation, evaluate
from capsviz.training.provenance import model_card_base, portable_command
from capsviz.training.resume import read_resume_state, save_checkpoint, save_state, writing
from capsviz.training.run import Data, EpochRun, Processes, StopRequest, Training, TrainingFailed, agree, init_processes

TASKS = ("mnist", "multimnist")  # one digit per image; two overlapping digits (the paper's section 6)
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


# --- the loop ------------------------------------------------------------------------------------


def train_step(model, optimizer, x, y, precision: str) -> tuple[float, int]:
    """One optimisation step; returns (loss, number correct). Loss and lengths stay fp32."""
    with autocast_for(x.device, precision):
        out = model(x, target=y)
    loss = capsule_loss(out.lengths, out.reconstruction, x, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item(), int((out.lengths.argmax(1) == y).sum())


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
