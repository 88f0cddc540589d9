"""MNIST's test digits redrawn with the canvas's pen: other writers' real handwriting, as the app sees it.

The scripted drawn digits (capsviz.testsets.drawn_digits) are shapes written by one hand (ours). This set keeps the
shapes of MNIST's test writers and changes exactly what the canvas changes: each digit is thinned to its
centre line (scikit-image's skeletonize, on an 8x upsampled copy), re-inked as the canvas inks a stroke
(uniform width, round ends, anti-aliased, white on black) at a random size, position and pen width on the
280 px canvas, then brought back to MNIST's format by capsviz.data.preprocess.to_mnist.

    python -m capsviz.redrawn_mnist --checkpoint checkpoints --data-dir ../shared/data [--limit N] [--json]
    python -m capsviz.redrawn_mnist --make-bank runs/redrawn_train.npz --workers 2   # for train --redrawn

The bank is the same for the training digits: ``capsviz.training.train --redrawn BANK`` swaps a share of each
batch for their redrawn twins, so the model learns the canvas's pen without losing MNIST's writers.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from PIL import Image
from scipy import ndimage

from capsviz.data.preprocess import PreprocessError, to_mnist
from capsviz.data.strokes import CANVAS
from capsviz.inspect.trace import classify
from capsviz.model.capsnet import MNIST_SIDE
from capsviz.training.cli import exit_on_user_error, load_checkpoint

UPSAMPLE = 8  # thin at 224 x 224: the centre line of a 28 x 28 stroke is too coarse to re-ink


def centre_line(image: np.ndarray) -> np.ndarray:
    """(y, x) points (N, 2) of the digit's centre line, in 28 x 28 pixel units; empty if no ink."""
    from skimage.morphology import skeletonize  # imported here: only this module needs scikit-image

    big = np.asarray(
        Image.fromarray(np.clip(image * 255, 0, 255).astype(np.uint8)).resize(
            (28 * UPSAMPLE, 28 * UPSAMPLE), Image.Resampling.BILINEAR
        ),
        dtype=np.float32,
    )
    for level in (128, 64):  # faint digits: a lower threshold before giving up
        skeleton = skeletonize(big >= level)
        if skeleton.any():
            return (np.argwhere(skeleton) + 0.5) / UPSAMPLE
    return np.zeros((0, 2))


def redraw(image: np.ndarray, rng: np.random.Generator, size: int = CANVAS, pen: float | None = None) -> np.ndarray:
    """A 28 x 28 digit in [0, 1] redrawn on a size x size canvas: (size, size, 4) uint8 RGBA like
    st_canvas's, ink 35-90% of the canvas tall, pen 10-35 px (at most 22% of the ink's height, as in
    capsviz.testsets.drawn_digits) or the given ``pen`` width, anywhere it fits. Raises PreprocessError when
    the digit has no ink."""
    pts = centre_line(image)
    if len(pts) == 0:
        raise PreprocessError("no ink to redraw")
    height = rng.uniform(0.35, 0.9) * size
    width = float(min(rng.uniform(10.0, 35.0), 0.22 * height)) if pen is None else float(pen)
    lo, hi = pts.min(0), pts.max(0)
    scale = (height - width) / max(float((hi - lo).max()), 1e-6)
    half = (hi - lo) * scale / 2 + width / 2 + 2
    centre = np.array([rng.uniform(h, size - h) if h < size / 2 else size / 2 for h in half])
    canvas_pts = np.rint((pts - (lo + hi) / 2) * scale + centre).astype(int)
    canvas_pts = np.clip(canvas_pts, 0, size - 1)
    marks = np.ones((size, size), bool)
    marks[canvas_pts[:, 0], canvas_pts[:, 1]] = False
    # Distance to the centre line, then a round pen of the given width with a one-pixel soft edge.
    dist = ndimage.distance_transform_edt(marks)
    ink = np.clip(width / 2 + 0.5 - dist, 0.0, 1.0)
    out = np.empty((size, size, 4), np.uint8)
    out[..., :3] = np.rint(ink * 255).astype(np.uint8)[..., None]
    out[..., 3] = 255
    return out


def redrawn_set(images: np.ndarray, seed: int = 0, pen: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Redraw and preprocess every image (N, 28, 28). Returns the model's inputs (N, 28, 28) float32
    and a mask (N,) of those to_mnist accepted (a rejected one gets a blank image)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((len(images), MNIST_SIDE, MNIST_SIDE), np.float32)
    ok = np.zeros(len(images), bool)
    for i, im in enumerate(images):
        try:
            out[i] = to_mnist(redraw(im, rng, pen=pen)).image
            ok[i] = True
        except PreprocessError:
            pass
    return out, ok


def _bank_chunk(args: tuple[np.ndarray, int]) -> np.ndarray:
    images, seed = args
    out, ok = redrawn_set(images.astype(np.float32) / 255.0, seed)
    out[~ok] = images[~ok].astype(np.float32) / 255.0  # nothing to redraw: keep the original
    return np.rint(out * 255).astype(np.uint8)


def make_bank(images: np.ndarray, seed: int = 0, workers: int = 1, chunk: int = 1000) -> np.ndarray:
    """Redrawn twins (N, 28, 28) uint8 of MNIST images (N, 28, 28) uint8, in chunks of ``chunk``
    (chunk i drawn with seed (seed, i), so the bank is the same for any number of workers)."""
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm

    jobs = [(images[i : i + chunk], seed * 1_000_003 + i // chunk) for i in range(0, len(images), chunk)]
    if workers <= 1:
        parts = [_bank_chunk(j) for j in tqdm(jobs, desc="redrawing", unit="chunk")]
    else:
        with ProcessPoolExecutor(workers) as pool:
            parts = list(tqdm(pool.map(_bank_chunk, jobs), total=len(jobs), desc="redrawing", unit="chunk"))
    return np.concatenate(parts) if parts else np.zeros((0, MNIST_SIDE, MNIST_SIDE), np.uint8)


def redrawn_accuracy(model, images: np.ndarray, labels: np.ndarray, seed: int = 0, pen: float | None = None) -> dict:
    """Accuracy of ``model`` on ``images`` (N, 28, 28) in [0, 1] redrawn with the canvas's pen, beside
    its accuracy on the originals. A digit to_mnist rejects counts as wrong."""
    redrawn, ok = redrawn_set(images, seed, pen)
    preds = classify(model, redrawn)
    right = (preds == labels) & ok
    original = classify(model, images.astype(np.float32)) == labels
    return {
        "accuracy": float(right.mean()) if len(right) else 0.0,
        "original_accuracy": float(original.mean()) if len(original) else 0.0,
        "n": int(len(labels)),
        "rejected": int((~ok).sum()),
        "per_class": {str(c): float(right[labels == c].mean()) for c in range(10) if (labels == c).any()},
    }


@exit_on_user_error
def main(argv: list[str] | None = None) -> int:
    from capsviz.data.mnist import load_mnist
    from capsviz.training.checkpoint import DEFAULT_DIR, write_card

    ap = argparse.ArgumentParser(
        description="Accuracy of a checkpoint on MNIST's test digits redrawn with the canvas's pen."
    )
    ap.add_argument("--checkpoint", default=str(DEFAULT_DIR), help="checkpoint folder or .safetensors file")
    ap.add_argument(
        "--data-dir",
        default=None,
        help="folder holding MNIST/raw/ (default: $CAPSVIZ_DATA_DIR, else data/ or ~/.cache/capsviz)",
    )
    ap.add_argument("--limit", type=int, default=0, help="only the first N test digits (default: all 10,000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pen", type=float, default=None, help="one pen width in canvas px (default: random 10-35)")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    ap.add_argument("--update-card", action="store_true", help="record the result in the checkpoint's model card")
    ap.add_argument(
        "--make-bank", metavar="NPZ", help="instead: redraw the 60,000 training digits into NPZ (for training)"
    )
    ap.add_argument("--workers", type=int, default=1, help="processes for --make-bank")
    args = ap.parse_args(argv)
    if args.make_bank:
        return _make_bank_cli(args)
    model, card = load_checkpoint(args.checkpoint)
    test = load_mnist(train=False, data_dir=args.data_dir)
    n = args.limit or len(test)
    images = test.images[:n].numpy().astype(np.float32) / 255.0  # (N, 28, 28) uint8 -> [0, 1]
    result = redrawn_accuracy(model, images, test.labels[:n].numpy(), args.seed, args.pen)
    if args.update_card:
        card["redrawn_mnist_accuracy"] = {
            "accuracy": round(100 * result["accuracy"], 2),
            "original_accuracy": round(100 * result["original_accuracy"], 2),
            "n": result["n"],
            "seed": args.seed,
            "pen": args.pen or "random 10-35 px",
            "set": "MNIST test digits redrawn with the canvas's pen (capsviz.testsets.redrawn_mnist), "
            "through capsviz.data.preprocess",
        }
        write_card(args.checkpoint, card)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(
        f"MNIST test digits redrawn with the canvas's pen: {result['accuracy']:.2%} of {result['n']} "
        f"({result['rejected']} rejected by preprocessing); the same digits as MNIST has them: "
        f"{result['original_accuracy']:.2%}"
    )
    print("per class:  " + "  ".join(f"{c}: {a:.1%}" for c, a in result["per_class"].items()))
    return 0


def _make_bank_cli(args: argparse.Namespace) -> int:
    from pathlib import Path

    from capsviz.data.mnist import load_mnist

    train = load_mnist(train=True, data_dir=args.data_dir)  # main turns DataNotFoundError into status 2
    bank = make_bank(train.images.numpy(), args.seed, args.workers)
    out = Path(args.make_bank)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez_compressed(tmp, images=bank, labels=train.labels.numpy(), seed=args.seed)
    tmp.replace(out)  # atomic: an interrupted run leaves no half-written bank
    print(f"wrote {len(bank)} redrawn training digits to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
