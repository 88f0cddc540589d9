"""Scripted overlapping drawings: two drawn digits of different classes on one canvas, in the app's two pen
colours, the second painted over the first as the canvas paints it. They measure how well the two-digit
model reads what people draw through capsviz.data.preprocess_pair.

    first, second = pair_drawing(rng)                   # two capsviz.testsets.drawn_digits.Drawing, overlapping
    rgba = render_pair(first, second)                   # (280, 280, 4) uint8, as the app's canvas returns
    pair_drawing_accuracy(model, n=200, seed=0)         # {"accuracy": ..., "n": ..., "rejected": ...}

    python -m capsviz.drawn_pairs --checkpoint checkpoints/multimnist --n 200 --seed 0 [--json] [--one-ink]

The two digits are about the same height (45-70% of the canvas, each within +-10%), and their centres are
offset along each axis by the difference of two uniform numbers in [-0.2, 0.2] of that height: the
training pairs' offsets (two shifts of up to 4 px on a 20 px digit) at the canvas's scale.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from capsviz.data.multimnist import pairs_right
from capsviz.data.preprocess import PreprocessError
from capsviz.data.preprocess_pair import FRAME, paint_layers, split_colours, to_pair_frame
from capsviz.data.strokes import CANVAS, StrokeDrawing, render_layers
from capsviz.testsets.drawn_digits import Drawing, random_drawing
from capsviz.training.cli import exit_on_user_error, load_checkpoint

OFFSET = 0.2  # each digit's offset from the pair's middle, per axis, at most this fraction of its height


def _refit(d: Drawing, centre: tuple[float, float], height: float) -> Drawing:
    """The drawing moved and scaled so its ink (pen included) is ``height`` tall around ``centre``."""
    pts = np.concatenate([np.asarray(s, float) for s in d.strokes])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    extent = max(float((hi - lo).max()) + d.width, 1e-6)
    f = height / extent
    mid = (lo + hi) / 2
    strokes = tuple(
        tuple((round(float(x), 1), round(float(y), 1)) for x, y in (np.asarray(s, float) - mid) * f + centre)
        for s in d.strokes
    )
    return Drawing(strokes=strokes, width=d.width * f, digit=d.digit, style=d.style, size=d.size)


def pair_drawing(rng: np.random.Generator, size: int = CANVAS) -> tuple[Drawing, Drawing]:
    """Two random drawings of different classes, overlapping as a MultiMNIST pair's digits do."""
    first = int(rng.integers(10))
    second = int((first + rng.integers(1, 10)) % 10)
    height = rng.uniform(0.45, 0.7) * size
    heights = height * rng.uniform(0.9, 1.1, 2)
    half = (rng.uniform(-OFFSET, OFFSET, (2, 2)) * height).round(1)  # each digit's (x, y) offset
    room = size / 2 - heights.max() / 2 - (np.abs(half).max(axis=0))  # how far the pair's middle may move
    middle = size / 2 + rng.uniform(-1.0, 1.0, 2) * np.maximum(room, 0.0) * 0.5
    out = []
    for k, digit in enumerate((first, second)):
        d = random_drawing(digit, rng, size)
        centre = np.clip(middle + half[k] - half.mean(axis=0), heights[k] / 2, size - heights[k] / 2)
        out.append(_refit(d, (float(centre[0]), float(centre[1])), float(heights[k])))
    return out[0], out[1]


def pair_strokes(first: Drawing, second: Drawing) -> StrokeDrawing:
    """The pair as one two-pen drawing: the first digit's strokes with pen 0, then the second's with pen 1."""
    return first.as_strokes(pen=0).plus(second.as_strokes(pen=1))


def pair_layers(first: Drawing, second: Drawing) -> np.ndarray:
    """(2, H, W) float32 coverage of each drawing, rendered as the canvas renders strokes."""
    return render_layers(pair_strokes(first, second)).astype(np.float32) / 255.0


def render_pair(first: Drawing, second: Drawing) -> np.ndarray:
    """The canvas's RGBA: the first drawing in the first pen colour, the second painted over it in the second."""
    return paint_layers(pair_layers(first, second))


def scripted_pairs(n: int = 200, seed: int = 0, size: int = CANVAS) -> list[tuple[Drawing, Drawing]]:
    """n overlapping pairs; the same seed always gives the same drawings."""
    rng = np.random.default_rng(seed)
    return [pair_drawing(rng, size) for _ in range(n)]


def preprocess_pairs(pairs: list[tuple[Drawing, Drawing]], one_ink: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Render each pair, split its colours and preprocess it (``one_ink``: as one white ink, the way a
    picture is read). Returns images (N, 36, 36) and a mask of the pairs preprocessing accepted."""
    images = np.zeros((len(pairs), FRAME, FRAME), np.float32)
    ok = np.zeros(len(pairs), bool)
    for i, (a, b) in enumerate(pairs):
        layers = split_colours(render_pair(a, b))
        try:
            images[i] = to_pair_frame(layers.total if one_ink else layers).image
            ok[i] = True
        except PreprocessError:
            pass
    return images, ok


@torch.inference_mode()
def pair_drawing_accuracy(model, n: int = 200, seed: int = 0, one_ink: bool = False) -> dict:
    """Both-digits-right accuracy of a 36x36 model on ``scripted_pairs(n, seed)``: the two longest capsules
    are the two drawn classes (a pair preprocessing rejects counts as wrong)."""
    pairs = scripted_pairs(n, seed)
    images, ok = preprocess_pairs(pairs, one_ink)
    labels = torch.tensor([[a.digit, b.digit] for a, b in pairs])
    lengths = torch.cat([model(torch.from_numpy(images[i : i + 100]).unsqueeze(1)).lengths for i in range(0, n, 100)])
    right = pairs_right(lengths, labels).numpy() & ok
    return {"accuracy": float(right.mean()) if n else 0.0, "n": n, "rejected": int((~ok).sum()), "seed": seed}


def montage(pairs: list[tuple[Drawing, Drawing]], images: np.ndarray, cols: int = 10) -> np.ndarray:
    """The canvases (shrunk to the frame's side) above their 36x36 inputs, ``cols`` pairs a row: uint8 RGB."""
    from PIL import Image

    tiles = []
    for (a, b), image in zip(pairs, images, strict=True):
        small = np.asarray(Image.fromarray(render_pair(a, b)[..., :3]).resize((FRAME, FRAME), Image.Resampling.BOX))
        seen = np.repeat((np.clip(image, 0, 1) * 255).astype(np.uint8)[..., None], 3, axis=2)
        tiles.append(np.concatenate([small, seen], axis=0))
    rows = [np.concatenate(tiles[i : i + cols], axis=1) for i in range(0, len(tiles) - cols + 1, cols)]
    return np.concatenate(rows, axis=0)


@exit_on_user_error
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Two-digit accuracy on scripted overlapping drawings.")
    ap.add_argument("--checkpoint", default="checkpoints/multimnist", help="36x36 checkpoint folder or file")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--one-ink", action="store_true", help="read each drawing as one ink, as an upload")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    model, _ = load_checkpoint(args.checkpoint)
    result = pair_drawing_accuracy(model.eval(), args.n, args.seed, args.one_ink)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"both digits right: {result['accuracy']:.2%} of {result['n']} ({result['rejected']} rejected)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
