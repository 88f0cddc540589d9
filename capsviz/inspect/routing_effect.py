"""How much routing by agreement actually changes the couplings, measured over test images.

    python -m capsviz.routing_effect --checkpoint checkpoints --n 1000             # one digit (MNIST)
    python -m capsviz.routing_effect --checkpoint checkpoints/multimnist --n 1000  # two digits (MultiMNIST)

For each image: the activation-weighted mean entropy of the coupling distributions c_i. (bits; uniform
coupling is log2 10 = 3.32) at the first and the last routing iteration, and the share of all primary
activation routed to the image's own digit capsules (one label, or both of a pair's), first and last. The
means over the images go to stdout as JSON, and with --update-card into the model card, for the README's
comparison of the one-digit and the two-digit models.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass

import numpy as np
import torch

from capsviz.data.mnist import load_mnist
from capsviz.figures.routing import coupling_entropy
from capsviz.model.capsnet import CapsNet
from capsviz.training.checkpoint import load_model, read_card, write_card
from capsviz.training.cli import exit_on_user_error


@dataclass(frozen=True)
class RoutingEffect:
    images: int
    iterations: int
    entropy_first_bits: float  # mean over images of the activation-weighted coupling entropy, iteration 1
    entropy_last_bits: float
    entropy_drop_bits: float
    share_first: float  # mean share of primary activation routed to the image's own digit(s), iteration 1
    share_last: float
    share_moved: float  # share_last - share_first


@torch.inference_mode()
def measure(model: CapsNet, images: np.ndarray, labels: np.ndarray, batch_size: int = 50) -> RoutingEffect:
    """images (N, S, S) in [0, 1]; labels (N,) or (N, K): each image's own digit capsule(s)."""
    labels = np.asarray(labels).reshape(len(images), -1)
    entropy, share = [], []
    for start in range(0, len(images), batch_size):
        x = torch.as_tensor(np.asarray(images[start : start + batch_size], np.float32)).unsqueeze(1)
        out = model(x, record=True, reconstruct=False)
        coupling = out.routing.coupling.numpy()  # (R, B, I, J)
        weights = out.primary.norm(dim=-1).numpy()  # (B, I): |u_i|
        for b in range(x.shape[0]):
            w = weights[b] / max(weights[b].sum(), 1e-12)
            own = labels[start + b]
            entropy.append([coupling_entropy(coupling[r, b], weights[b]) for r in (0, -1)])
            share.append([float((coupling[r, b][:, own].sum(axis=1) * w).sum()) for r in (0, -1)])
    e, s = np.mean(entropy, axis=0), np.mean(share, axis=0)
    return RoutingEffect(
        images=len(images),
        iterations=model.cfg.routing_iterations,
        entropy_first_bits=round(float(e[0]), 4),
        entropy_last_bits=round(float(e[1]), 4),
        entropy_drop_bits=round(float(e[0] - e[1]), 4),
        share_first=round(float(s[0]), 4),
        share_last=round(float(s[1]), 4),
        share_moved=round(float(s[1] - s[0]), 4),
    )


def test_images(model: CapsNet, n: int, data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` test images the model was made for: MNIST digits, or the seeded MultiMNIST pairs."""
    from capsviz.data.multimnist import SIZE, load_test_set

    if model.cfg.image_size == SIZE:
        pairs = load_test_set(data_dir=data_dir, n=n)
        arrays = pairs.numpy()
        return arrays.images, arrays.labels
    split = load_mnist(train=False, data_dir=data_dir)
    return split.images[:n].numpy().astype(np.float32) / 255.0, split.labels[:n].numpy()


@exit_on_user_error
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default="checkpoints", help="checkpoint folder (one-digit or two-digit model)")
    p.add_argument("--data-dir", default=None, help="folder holding MNIST/raw/ (default: $CAPSVIZ_DATA_DIR)")
    p.add_argument("--n", type=int, default=1000, help="test images (default 1000)")
    p.add_argument("--update-card", action="store_true", help="record the result in the model card")
    args = p.parse_args(argv)
    model = load_model(args.checkpoint)
    images, labels = test_images(model, args.n, args.data_dir)
    effect = measure(model, images, labels)
    print(json.dumps(asdict(effect)))
    if args.update_card:
        card = read_card(args.checkpoint)
        card["routing_effect"] = asdict(effect)
        write_card(args.checkpoint, card)
    return 0


if __name__ == "__main__":
    sys.exit(main())
