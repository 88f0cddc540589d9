"""Accuracy of a CapsNet on the MNIST test set: overall, per class, per routing iteration count. For a
two-digit (MultiMNIST) checkpoint: both digits right on the seeded test pairs, by routing iterations, and
single centred MNIST digits.

python -m capsviz.evaluate --checkpoint checkpoints --data-dir DATA_DIR [--update-card]
python -m capsviz.evaluate --checkpoint checkpoints/multimnist --data-dir DATA_DIR [--update-card]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field

import torch

from capsviz.data.mnist import MNISTSplit, load_mnist
from capsviz.model.losses import capsule_loss
from capsviz.model.precision import autocast_for
from capsviz.model.routing import MAX_ITERATIONS
from capsviz.training.cli import exit_on_user_error


@dataclass
class Evaluation:
    accuracy: float  # percent
    loss: float
    per_class: list[float]  # percent, digits 0..9
    errors: int
    misclassified: list[dict] = field(default_factory=list)  # {"index", "label", "predicted"}


@torch.inference_mode()
def evaluate(
    model,
    split: MNISTSplit,
    iterations: int | None = None,
    batch_size: int = 500,
    precision: str = "fp32",
    device: torch.device | str = "cpu",
) -> Evaluation:
    device = torch.device(device)
    model.eval()
    correct = torch.zeros(10, dtype=torch.long)
    total = torch.zeros(10, dtype=torch.long)
    loss_sum = 0.0
    wrong: list[dict] = []
    for start in range(0, len(split), batch_size):
        idx = torch.arange(start, min(start + batch_size, len(split)))
        x, y = split.batch(idx)
        x, y = x.to(device).contiguous(memory_format=torch.channels_last), y.to(device)
        with autocast_for(device, precision):
            out = model(x, target=y, iterations=iterations)
        loss_sum += capsule_loss(out.lengths, out.reconstruction, x, y).item() * len(y)
        pred = out.lengths.argmax(1).cpu()
        y = y.cpu()
        for i in torch.nonzero(pred != y).flatten().tolist():
            wrong.append({"index": start + i, "label": int(y[i]), "predicted": int(pred[i])})
        total += torch.bincount(y, minlength=10)
        correct += torch.bincount(y[pred == y], minlength=10)
    per_class = (100.0 * correct / total.clamp(min=1)).tolist()
    return Evaluation(
        accuracy=100.0 * correct.sum().item() / len(split),
        loss=loss_sum / len(split),
        per_class=[round(a, 2) for a in per_class],
        errors=len(wrong),
        misclassified=wrong,
    )


def routing_sweep(model, split: MNISTSplit, iterations=tuple(range(1, MAX_ITERATIONS + 1)), **kw) -> dict[str, float]:
    return {str(r): round(evaluate(model, split, iterations=r, **kw).accuracy, 2) for r in iterations}


def mnist_result(model, test: MNISTSplit, args: argparse.Namespace) -> dict:
    ev = evaluate(model, test, precision=args.precision)
    return {
        "test_accuracy": round(ev.accuracy, 2),
        "test_errors": ev.errors,
        "per_class_accuracy": ev.per_class,
        "test_misclassified": ev.misclassified,
        "accuracy_by_routing_iterations": routing_sweep(model, test, precision=args.precision),
        "eval_precision": args.precision,
    }


def pair_result(model, test: MNISTSplit, args: argparse.Namespace) -> dict:
    """A two-digit (MultiMNIST) model: both-digits-right on the seeded test pairs, and single centred digits."""
    from capsviz.data.multimnist import centred_split, evaluate_pairs, make_test_set

    pairs = make_test_set(test)
    ev = evaluate_pairs(model, pairs, precision=args.precision, sweep=tuple(range(1, MAX_ITERATIONS + 1)))
    return {
        "test_accuracy": round(ev.accuracy, 2),
        "test_errors": ev.errors,
        "test_misclassified": ev.misclassified,
        "accuracy_by_routing_iterations": ev.by_iterations,
        "mnist_accuracy": round(evaluate(model, centred_split(test), precision=args.precision).accuracy, 2),
        "eval_precision": args.precision,
    }


@exit_on_user_error
def main(argv: list[str] | None = None) -> int:
    from capsviz.training.checkpoint import DEFAULT_DIR, load_model, read_card, write_card

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=str(DEFAULT_DIR), help="checkpoint folder or .safetensors file")
    p.add_argument(
        "--data-dir",
        default=None,
        help="folder holding MNIST/raw/ (default: $CAPSVIZ_DATA_DIR, else data/ or ~/.cache/capsviz)",
    )
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--update-card", action="store_true", help="write the figures into the model card")
    args = p.parse_args(argv)
    model = load_model(args.checkpoint)
    test = load_mnist(train=False, data_dir=args.data_dir)
    result = (
        pair_result(model, test, args)
        if model.cfg.image_size != test.images.shape[-1]
        else mnist_result(model, test, args)
    )
    shown = {k: v for k, v in result.items() if k != "test_misclassified"}
    print(json.dumps(shown, indent=2))
    if args.update_card:
        card = read_card(args.checkpoint)
        card.update(result)
        write_card(args.checkpoint, card)
    return 0


if __name__ == "__main__":
    sys.exit(main())
