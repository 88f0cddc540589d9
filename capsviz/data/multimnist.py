"""MultiMNIST (Sabour, Frosst & Hinton 2017, section 6), generated on the fly from MNIST.

Each 28x28 digit is padded into a 36x36 field and shifted by an integer in [-4, 4] along x and along
y (so it never leaves the field); a second digit of a *different class*, from the same split, is
shifted the same way; the composite is the pixel sum clipped to 1. The two shifted digits are also
returned on their own: they are the reconstruction targets, each decoded from its own capsule.

    source = MultiMNIST(load_mnist(train=True))
    batch = source.sample(first_indices, generator)      # MultiMNISTBatch, a pair per first digit
    test = load_test_set()                               # the fixed 10,000 test pairs (TEST_SEED)
    model = init_from_mnist(load_model("checkpoints"))   # capsviz.training.transfer: a 36x36 CapsNet
    loss, right = multimnist_train_step(model, optimizer, batch.to(device), "bf16")
    evaluate_pairs(model, test).accuracy                 # percent of pairs with both digits right

All randomness comes from an explicit CPU ``torch.Generator``: the same generator state gives the
same pairs, so a resumed run can reproduce them. Composition is a gather on uint8 digits and one
float conversion: a few milliseconds for a batch of 100 pairs on a CPU (the step takes seconds).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from capsviz.model.capsnet import MNIST_SIDE

from capsviz.data.mnist import MNISTSplit, load_mnist
from capsviz.model.losses import multi_digit_loss
from capsviz.model.capsnet import CapsNet, CapsNetConfig
from capsviz.model.precision import autocast_for

MAX_SHIFT = 4  # px, each digit, along each axis (the paper's "up to 4 pixels in each direction")
SIZE = MNIST_SIDE + 2 * MAX_SHIFT  # 36: a digit shifted by up to 4 px still lies wholly inside
DIGITS = 2  # digits per image
TEST_PAIRS = 10_000
TEST_SEED = 20171026  # the fixed test set: load_test_set() == make_test_set(mnist_test, TEST_PAIRS, TEST_SEED)

#: The MultiMNIST CapsNet: 36x36 input -> Conv1 28x28x256 -> 10x10x32 = 3200 primary capsules -> 36x36 decoder.
MULTIMNIST_CONFIG = CapsNetConfig(image_size=SIZE, primary_grid=CapsNetConfig.grid_for(SIZE))


@dataclass(frozen=True)
class MultiMNISTArrays:
    """A MultiMNIST batch as numpy, for the app.

    images (N, 36, 36) float32 in [0, 1]; labels (N, 2) int64; digits (N, 2, 36, 36) float32, each
    digit's own shifted image; indices (N, 2) into the MNIST split; shifts (N, 2, 2) as (dy, dx)."""

    images: np.ndarray
    labels: np.ndarray
    digits: np.ndarray
    indices: np.ndarray
    shifts: np.ndarray


@dataclass(frozen=True)
class MultiMNISTBatch:
    """B MultiMNIST images, all tensors on one device.

    images:  (B, 1, 36, 36) float32 in [0, 1], the composite clip(digits[:, 0] + digits[:, 1], 0, 1).
    labels:  (B, 2) int64, the two classes (always different).
    digits:  (B, 2, 36, 36) float32, each digit alone, padded and shifted: the reconstruction targets.
    indices: (B, 2) int64, the two digits' indices in the MNIST split.
    shifts:  (B, 2, 2) int64, each digit's (dy, dx) from the centre, in [-4, 4].
    """

    images: torch.Tensor
    labels: torch.Tensor
    digits: torch.Tensor
    indices: torch.Tensor
    shifts: torch.Tensor

    def __len__(self) -> int:
        return self.labels.shape[0]

    def to(self, device: torch.device | str) -> MultiMNISTBatch:
        """The batch on ``device``; images in channels-last layout, as training and evaluation use."""
        return MultiMNISTBatch(
            images=self.images.to(device).contiguous(memory_format=torch.channels_last),
            labels=self.labels.to(device),
            digits=self.digits.to(device),
            indices=self.indices.to(device),
            shifts=self.shifts.to(device),
        )

    def numpy(self) -> MultiMNISTArrays:
        return MultiMNISTArrays(
            images=self.images[:, 0].cpu().numpy(),
            labels=self.labels.cpu().numpy(),
            digits=self.digits.cpu().numpy(),
            indices=self.indices.cpu().numpy(),
            shifts=self.shifts.cpu().numpy(),
        )


def place_digits(digits28: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Put 28x28 digits into the 36x36 field, centred, then shifted.

    digits28 (..., 28, 28) any dtype; shifts (..., 2) integer (dy, dx) in [-4, 4] ->
    (..., 36, 36), same dtype, zero outside the digit: out[4 + dy + r, 4 + dx + c] = digit[r, c].
    """
    lead = digits28.shape[:-2]
    d = digits28.reshape(-1, MNIST_SIDE, MNIST_SIDE)
    s = shifts.reshape(-1, 2).to(torch.long)
    if s.numel() and int(s.abs().max()) > MAX_SHIFT:
        raise ValueError(f"shifts must lie in [-{MAX_SHIFT}, {MAX_SHIFT}]")
    p = 2 * MAX_SHIFT
    padded = F.pad(d, (p, p, p, p))  # (N, 44, 44): digit at [8, 36)
    ar = torch.arange(SIZE, device=d.device)
    # out[r] = digit[r - 4 - dy] = padded[r - 4 - dy + 8]
    rows = (ar[None, :] + MAX_SHIFT - s[:, 0:1])[:, :, None]
    cols = (ar[None, :] + MAX_SHIFT - s[:, 1:2])[:, None, :]
    out = padded[torch.arange(d.shape[0], device=d.device)[:, None, None], rows, cols]
    return out.reshape(*lead, SIZE, SIZE)


def centre_pad(images: torch.Tensor | np.ndarray, size: int = SIZE) -> torch.Tensor | np.ndarray:
    """Centre 28x28 images (..., 28, 28) in a zero (..., size, size) field; torch or numpy in,
    the same out. How a single MNIST digit (or a canvas drawing) is shown to the 36x36 model."""
    h, w = images.shape[-2:]
    top, left = (size - h) // 2, (size - w) // 2
    if top < 0 or left < 0:
        raise ValueError(f"cannot centre {h}x{w} images in {size}x{size}")
    pads = (top, size - h - top, left, size - w - left)
    if isinstance(images, np.ndarray):
        return np.pad(images, [(0, 0)] * (images.ndim - 2) + [pads[:2], pads[2:]])
    return F.pad(images, (pads[2], pads[3], pads[0], pads[1]))


def centred_split(split: MNISTSplit, size: int = SIZE) -> MNISTSplit:
    """The split with every digit centred in size x size: ``capsviz.training.evaluate.evaluate(model,
    centred_split(mnist_test))`` is the 36x36 model's single-digit MNIST accuracy."""
    images = centre_pad(split.images, size)
    assert isinstance(images, torch.Tensor)  # a tensor in, a tensor out
    return MNISTSplit(images=images.contiguous(), labels=split.labels)


class MultiMNIST:
    """Pairs drawn from one MNIST split (train pairs from the training split, test pairs from the
    test split, as the paper). Digits are kept as uint8; pairs are composed per batch."""

    def __init__(self, split: MNISTSplit):
        if split.images.shape[-2:] != (MNIST_SIDE, MNIST_SIDE):
            raise ValueError(f"expected 28x28 MNIST digits, got {tuple(split.images.shape[-2:])}")
        self.split = split
        labels = split.labels.long()
        # Class-sorted order: the digits of class c are order[starts[c] : starts[c] + counts[c]].
        self.order = torch.argsort(labels, stable=True)
        self.counts = torch.bincount(labels, minlength=10)
        self.starts = torch.cumsum(self.counts, 0) - self.counts
        if int((self.counts > 0).sum()) < 2:
            raise ValueError("MultiMNIST needs digits of at least two classes")

    def __len__(self) -> int:
        return len(self.split)

    def partners(self, first: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """For first-digit indices (B,) and uniform numbers u (B,) in [0, 1): the index of a digit
        of another class, uniform over all the split's digits whose class differs."""
        c = self.split.labels[first].long()
        others = len(self.split) - self.counts[c]
        r = (u * others).long().clamp(max=others - 1)
        # r counts the class-sorted digits with class c skipped.
        pos = r + (r >= self.starts[c]) * self.counts[c]
        return self.order[pos]

    def pairs(self, indices: torch.Tensor, shifts: torch.Tensor) -> MultiMNISTBatch:
        """Compose given pairs: indices (B, 2) into the split, shifts (B, 2, 2) (dy, dx), on the CPU."""
        indices, shifts = indices.long(), shifts.long()
        digits = place_digits(self.split.images[indices], shifts).float().div_(255.0)  # (B, 2, 36, 36)
        images = digits.sum(dim=1, keepdim=True).clamp_(max=1.0)
        return MultiMNISTBatch(
            images=images, labels=self.split.labels[indices].long(), digits=digits, indices=indices, shifts=shifts
        )

    def draw(self, first: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """For first-digit indices (B,): pair indices (B, 2), with a random partner of another
        class, and shifts (B, 2, 2) in [-4, 4], from 5 uniform numbers per pair drawn from ``g`` in
        pair order (so the pairs for a prefix of ``first`` are a prefix of the pairs)."""
        u = torch.rand(len(first), 1 + 2 * DIGITS, generator=g)
        first = first.long().cpu()
        second = self.partners(first, u[:, 0])
        shifts = (u[:, 1:] * (2 * MAX_SHIFT + 1)).long().clamp_(max=2 * MAX_SHIFT).sub_(MAX_SHIFT)
        return torch.stack([first, second], 1), shifts.view(-1, DIGITS, 2)

    def sample(self, first: torch.Tensor, g: torch.Generator) -> MultiMNISTBatch:
        """A pair for each first digit (B,): a random partner of another class and random shifts
        for both, drawn from the CPU generator ``g``."""
        return self.pairs(*self.draw(first, g))

    def random_batch(self, batch_size: int, g: torch.Generator) -> MultiMNISTBatch:
        """``batch_size`` pairs with uniformly random first digits."""
        return self.sample(torch.randint(len(self.split), (batch_size,), generator=g), g)


@dataclass(frozen=True)
class MultiMNISTSet:
    """A fixed list of pairs (indices (N, 2), shifts (N, 2, 2)) over a source; composed on demand."""

    source: MultiMNIST
    indices: torch.Tensor
    shifts: torch.Tensor
    seed: int | None = None

    def __len__(self) -> int:
        return self.indices.shape[0]

    @property
    def labels(self) -> torch.Tensor:
        """(N, 2) int64."""
        return self.source.split.labels[self.indices].long()

    def batch(self, index: torch.Tensor | slice) -> MultiMNISTBatch:
        """The pairs at ``index`` (a slice or (B,) indices), on the CPU."""
        return self.source.pairs(self.indices[index], self.shifts[index])

    def numpy(self, index: torch.Tensor | slice | None = None) -> MultiMNISTArrays:
        """The pairs at ``index`` (all by default: about 160 MB for 10,000) as numpy arrays."""
        return self.batch(slice(None) if index is None else index).numpy()


def make_test_set(split: MNISTSplit, n: int = TEST_PAIRS, seed: int = TEST_SEED) -> MultiMNISTSet:
    """n fixed pairs, a deterministic function of (split, n, seed): pair i has split digit i mod N
    as its first digit (every test digit once when n = N = 10,000), a partner of another class and
    shifts drawn from ``torch.Generator().manual_seed(seed)``. A shorter set is a prefix of a longer one."""
    source = MultiMNIST(split)
    indices, shifts = source.draw(torch.arange(n) % len(split), torch.Generator().manual_seed(seed))
    return MultiMNISTSet(source, indices, shifts, seed)


def load_test_set(
    data_dir: str | os.PathLike | None = None, n: int = TEST_PAIRS, seed: int = TEST_SEED
) -> MultiMNISTSet:
    """The MultiMNIST test set from the MNIST test split in the data folder (see capsviz.data.mnist)."""
    return make_test_set(load_mnist(train=False, data_dir=data_dir), n, seed)


# --- metric, evaluation, training step ---------------------------------------------------------


def pairs_right(lengths: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """lengths (B, 10), labels (B, K) distinct -> (B,) bool: the K longest capsules are exactly the
    K labels (the paper's MultiMNIST criterion, for K = 2)."""
    k = labels.shape[1]
    top = lengths.topk(k, dim=1).indices.sort(dim=1).values
    return (top == labels.to(top.device).sort(dim=1).values).all(dim=1)


@dataclass
class PairEvaluation:
    accuracy: float  # percent of pairs with both digits right
    errors: int
    loss: float  # multi_digit_loss, mean per pair
    by_iterations: dict[str, float] = field(default_factory=dict)  # accuracy (%) by routing iterations
    misclassified: list[dict] = field(default_factory=list)  # {"index", "labels", "predicted"}


@torch.inference_mode()
def evaluate_pairs(
    model: CapsNet,
    test_set: MultiMNISTSet,
    iterations: int | None = None,
    batch_size: int = 500,
    precision: str = "fp32",
    device: torch.device | str = "cpu",
    sweep: tuple[int, ...] = (),
) -> PairEvaluation:
    """Both-digits-right accuracy on ``test_set`` at ``iterations`` routing iterations (None: the
    trained value); ``sweep`` adds the accuracy at each of those iteration counts (the convolutions
    run once per batch for all of them)."""
    device = torch.device(device)
    model.eval()
    iterations = iterations or model.cfg.routing_iterations
    right = 0
    right_by = dict.fromkeys(sweep, 0)
    loss_sum = 0.0
    wrong: list[dict] = []
    for start in range(0, len(test_set), batch_size):
        b = test_set.batch(slice(start, start + batch_size)).to(device)
        with autocast_for(device, precision):
            out = model(b.images, target=b.labels, iterations=iterations)
            u = out.primary
            for r in sweep:
                v = out.poses if r == iterations else model.digit(u, r)[0]
                right_by[r] += int(pairs_right(v.norm(dim=-1), b.labels).sum())
        loss_sum += multi_digit_loss(out.lengths, out.reconstruction, b.digits, b.labels).item() * len(b)
        ok = pairs_right(out.lengths, b.labels).cpu()
        right += int(ok.sum())
        top = out.lengths.topk(2, dim=1).indices.cpu()
        for i in torch.nonzero(~ok).flatten().tolist():
            wrong.append({"index": start + i, "labels": b.labels[i].tolist(), "predicted": top[i].tolist()})
    n = len(test_set)
    return PairEvaluation(
        accuracy=100.0 * right / n,
        errors=n - right,
        loss=loss_sum / n,
        by_iterations={str(r): round(100.0 * c / n, 2) for r, c in right_by.items()},
        misclassified=wrong,
    )


def multimnist_train_step(
    model: torch.nn.Module,  # a CapsNet, or one wrapped for DDP
    optimizer: torch.optim.Optimizer,
    batch: MultiMNISTBatch,
    precision: str = "bf16",
    micro_batch: int | None = None,
) -> tuple[float, int]:
    """One optimisation step on a batch (already on the model's device, ``batch.to(device)``);
    returns (loss, number of pairs with both digits right). As capsviz.training.train.train_step: autocast
    (bf16) for the network, capsule lengths and the loss in fp32. Each digit is decoded from its
    own capsule, with the others masked, against its own shifted image.

    ``micro_batch``: forward and backward passes of at most this many images, gradients summed
    (weighted by size, so the step is the whole batch's), to bound memory; None: the whole batch.
    (On the 2-core CPU, 2 x 50 against 1 x 100 at batch 100: 1.43 vs 1.46 CPU-s per step, no
    clear difference.)"""
    n = len(batch)
    micro_batch = micro_batch or n
    optimizer.zero_grad(set_to_none=True)
    total, right = 0.0, 0
    for start in range(0, n, micro_batch):
        part = slice(start, start + micro_batch)
        images, labels = batch.images[part], batch.labels[part]
        with autocast_for(images.device, precision):
            out = model(images, target=labels)
        loss = multi_digit_loss(out.lengths, out.reconstruction, batch.digits[part], labels)
        (loss * (len(labels) / n)).backward()
        total += loss.item() * len(labels) / n
        right += int(pairs_right(out.lengths.detach(), labels).sum())
    optimizer.step()
    return total, right
