"""A scripted drawn-digit test set, rendered the way the app's canvas renders.

The app's canvas (streamlit-drawable-canvas, fabric.js free drawing) paints white, round-capped,
anti-aliased strokes on black and hands back (H, W, 4) RGBA at its CSS size. MNIST's test set says
little about how well the model reads *that*, so this module scripts it: stroke templates for every
digit in the styles people actually use, randomly varied in size, position, slant, aspect, pen
width and wobble, rendered like the canvas, then run through capsviz.data.preprocess.to_mnist.

    drawing = drawing_for(7, style=1, size=280, width=20)   # strokes in canvas pixels, for replay
    rgba = render(drawing)                                  # (280, 280, 4) uint8, like st_canvas
    drawn_digit_accuracy(model, n_per_digit=50, seed=0)     # {"accuracy": ..., "per_class": ...}

    python -m capsviz.drawn_digits --checkpoint checkpoints --n-per-digit 50 --seed 0 [--json]
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from capsviz.data.preprocess import PreprocessError, to_mnist
from capsviz.data.strokes import CANVAS, StrokeDrawing, polyline_drawing, render_ink
from capsviz.data.strokes import PEN_RANGE as PEN_RANGE  # re-exported for older imports; strokes defines it
from capsviz.data.strokes import PEN_WIDTH as PEN_WIDTH  # (same)
from capsviz.inspect.trace import classify
from capsviz.model.capsnet import MNIST_SIDE
from capsviz.training.cli import exit_on_user_error, load_checkpoint

SPACING = 3.0  # canvas px between successive points, about what fabric.js records from a mouse

Polyline = np.ndarray  # (N, 2) float (x, y)


@dataclass(frozen=True)
class Drawing:
    """One drawing as the canvas receives it.

    strokes: each stroke is the (x, y) canvas-pixel positions of one press-move-release, in order.
    width: pen width in canvas pixels. size: the square canvas's side in pixels.
    """

    strokes: tuple[tuple[tuple[float, float], ...], ...]
    width: float
    digit: int
    style: int
    size: int = CANVAS

    @property
    def style_name(self) -> str:
        return TEMPLATES[self.digit][self.style][0]

    def as_strokes(self, pen: int = 0) -> StrokeDrawing:
        """The drawing as capsviz.data.strokes sees it: every stroke at this drawing's width, with ``pen``, t = 0."""
        return polyline_drawing(self.strokes, self.width, pen, self.size)


# --- stroke templates ---------------------------------------------------------------------
# Unit box, x to the right and y down; digits are about 0.6 wide and 1 tall. Angles in degrees,
# counter-clockwise as seen on screen (90 is the top of an arc); a1 < a0 draws clockwise.


def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float) -> Polyline:
    n = max(8, int(abs(a1 - a0) / 5))
    t = np.deg2rad(np.linspace(a0, a1, n))
    return np.stack([cx + rx * np.cos(t), cy - ry * np.sin(t)], axis=1)


def _bezier(p0, p1, p2, p3, n: int = 24) -> Polyline:
    t = np.linspace(0.0, 1.0, n)[:, None]
    p0, p1, p2, p3 = (np.asarray(p, float) for p in (p0, p1, p2, p3))
    return (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t**2 * p2 + t**3 * p3


def _pts(*points) -> Polyline:
    return np.asarray(points, float)


def _join(*parts: Polyline) -> Polyline:
    """Concatenate polylines into one stroke (the pen goes straight from one part's end to the next's start)."""
    return np.concatenate([np.asarray(p, float) for p in parts], axis=0)


Templates = dict[int, list[tuple[str, list[Polyline]]]]


def _templates_0_to_4() -> Templates:
    arc2 = _arc(0.5, 0.28, 0.3, 0.27, 160, -30)
    return {
        0: [
            ("oval, anticlockwise", [_arc(0.5, 0.5, 0.3, 0.5, 100, 470)]),
            ("oval, clockwise", [_arc(0.5, 0.5, 0.27, 0.5, 80, -285)]),
            ("round", [_arc(0.5, 0.5, 0.42, 0.5, 95, 455)]),
        ],
        1: [
            ("bar", [_pts((0.5, 0.0), (0.5, 1.0))]),
            ("flag", [_pts((0.28, 0.22), (0.55, 0.0), (0.55, 1.0))]),
            ("flag and base", [_pts((0.28, 0.22), (0.55, 0.0), (0.55, 1.0)), _pts((0.28, 1.0), (0.82, 1.0))]),
        ],
        2: [
            ("plain", [_join(arc2, _pts((0.15, 1.0), (0.88, 1.0)))]),
            ("looped", [_join(arc2, _pts((0.32, 0.84)), _arc(0.27, 0.91, 0.08, 0.07, 45, 330), _pts((0.88, 0.97)))]),
            (
                "swan",
                [_join(_bezier((0.2, 0.25), (0.3, -0.08), (0.98, -0.02), (0.68, 0.45)), _pts((0.14, 1.0), (0.9, 1.0)))],
            ),
        ],
        3: [
            ("round", [_join(_arc(0.47, 0.25, 0.29, 0.25, 150, -90), _arc(0.47, 0.75, 0.33, 0.25, 90, -150))]),
            ("flat top", [_join(_pts((0.18, 0.0), (0.8, 0.0), (0.42, 0.4)), _arc(0.47, 0.69, 0.33, 0.31, 110, -150))]),
        ],
        4: [
            ("open", [_pts((0.55, 0.0), (0.08, 0.66), (0.92, 0.66)), _pts((0.68, 0.3), (0.68, 1.0))]),
            ("closed", [_pts((0.62, 0.0), (0.08, 0.66), (0.92, 0.66)), _pts((0.62, 0.0), (0.62, 1.0))]),
            ("square", [_pts((0.18, 0.0), (0.14, 0.6), (0.9, 0.6)), _pts((0.7, 0.12), (0.7, 1.0))]),
        ],
    }


def _templates_5_to_9() -> Templates:
    top8, bot8 = (0.5, 0.25, 0.22, 0.24), (0.5, 0.73, 0.28, 0.26)
    top9 = (0.47, 0.28, 0.26, 0.27)
    bowl5 = _arc(0.46, 0.69, 0.33, 0.3, 140, -150)
    return {
        5: [
            ("two strokes", [_join(_pts((0.26, 0.0), (0.22, 0.46)), bowl5), _pts((0.26, 0.0), (0.84, 0.0))]),
            ("one stroke", [_join(_pts((0.84, 0.0), (0.26, 0.0), (0.22, 0.46)), bowl5)]),
        ],
        6: [
            (
                "curved",
                [
                    _join(
                        _bezier((0.74, 0.02), (0.4, 0.1), (0.2, 0.42), (0.22, 0.72)),
                        _arc(0.5, 0.72, 0.28, 0.27, 180, 510),
                    )
                ],
            ),
            ("straight", [_join(_pts((0.66, 0.0), (0.24, 0.68)), _arc(0.5, 0.75, 0.27, 0.24, 200, 520))]),
        ],
        7: [
            ("plain", [_pts((0.1, 0.02), (0.9, 0.02), (0.42, 1.0))]),
            ("crossbar", [_pts((0.1, 0.02), (0.9, 0.02), (0.42, 1.0)), _pts((0.36, 0.52), (0.8, 0.52))]),
            ("hooked", [_pts((0.1, 0.2), (0.1, 0.02), (0.9, 0.02), (0.42, 1.0))]),
            ("curved stem", [_join(_pts((0.1, 0.02)), _bezier((0.9, 0.02), (0.6, 0.35), (0.45, 0.65), (0.45, 1.0)))]),
        ],
        8: [
            ("one stroke", [_join(_arc(*top8, 20, 200), _arc(*bot8, 60, -240), _arc(*top8, -20, 25))]),
            ("two loops", [_arc(*top8, 0, 365), _arc(*bot8, 95, 460)]),
        ],
        9: [
            ("straight tail", [_join(_arc(*top9, 0, 365), _pts((0.71, 1.0)))]),
            ("curved tail", [_join(_arc(*top9, 0, 365), _bezier((0.73, 0.28), (0.76, 0.7), (0.66, 1.0), (0.3, 0.96)))]),
            ("open loop", [_join(_arc(*top9, 30, 345), _pts((0.74, 0.05), (0.7, 1.0)))]),
        ],
    }


TEMPLATES: Templates = {**_templates_0_to_4(), **_templates_5_to_9()}


# --- placing a template on the canvas -----------------------------------------------------


def _resample(line: Polyline, spacing: float) -> Polyline:
    """Points every ``spacing`` units along the polyline (what a mouse moving at speed records)."""
    seg = np.linalg.norm(np.diff(line, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    if s[-1] <= 0:
        return line[:1].copy()
    t = np.linspace(0.0, s[-1], max(2, int(math.ceil(s[-1] / spacing)) + 1))
    return np.stack([np.interp(t, s, line[:, 0]), np.interp(t, s, line[:, 1])], axis=1)


def _wobble(line: Polyline, amplitude: float, rng: np.random.Generator) -> Polyline:
    """Add a smooth hand tremor: a few low-frequency sinusoids along the stroke's length."""
    pts = _resample(line, 0.01)
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    out = pts.copy()
    for axis in range(2):
        for _ in range(3):
            freq = rng.uniform(0.3, 1.5)  # cycles per unit length
            out[:, axis] += amplitude / 2 * rng.normal() * np.sin(2 * np.pi * freq * s + rng.uniform(0, 2 * np.pi))
    return out


def _place(
    strokes: list[Polyline], size: int, centre: tuple[float, float], height: float, width: float
) -> tuple[tuple[tuple[float, float], ...], ...]:
    """Scale strokes so their ink (pen width included) is ``height`` px tall (or wide, if wider)
    around ``centre``; then resample at mouse spacing and round to what a browser reports."""
    allp = np.concatenate(strokes)
    lo, hi = allp.min(axis=0), allp.max(axis=0)
    extent = float(max(hi[1] - lo[1], hi[0] - lo[0], 1e-6))
    scale = max(height - width, 1.0) / extent
    mid = (lo + hi) / 2
    out = []
    for line in strokes:
        p = (line - mid) * scale + np.asarray(centre, float)
        p = _resample(p, SPACING)
        p = np.clip(p, 0.0, size - 1.0)
        out.append(tuple((round(float(x), 1), round(float(y), 1)) for x, y in p))
    return tuple(out)


def drawing_for(
    digit: int,
    style: int = 0,
    size: int = CANVAS,
    centre: tuple[float, float] | None = None,
    height: float | None = None,
    width: float = 20.0,
) -> Drawing:
    """The template strokes of ``digit`` in ``style`` placed on a size x size canvas: upright, no
    wobble, ink ``height`` px tall (default 70% of the canvas) centred at ``centre`` (default the
    middle). For the browser test to replay as mouse strokes, and for examples."""
    styles = TEMPLATES[digit]
    if not 0 <= style < len(styles):
        raise ValueError(f"digit {digit} has styles 0..{len(styles) - 1}, got {style}")
    centre = centre if centre is not None else (size / 2, size / 2)
    height = height if height is not None else 0.7 * size
    strokes = _place(styles[style][1], size, centre, height, width)
    return Drawing(strokes=strokes, width=float(width), digit=digit, style=style, size=size)


def random_drawing(digit: int, rng: np.random.Generator, size: int = CANVAS, style: int | None = None) -> Drawing:
    """One randomly varied drawing of ``digit``: size 35-90% of the canvas, anywhere it fits,
    slant up to +-20 degrees, aspect 0.75-1.3, pen 10-35 px (capped at 22% of the digit's height:
    wider and its loops fill in, which a person would see and redraw), and a wobbly hand."""
    styles = TEMPLATES[digit]
    style = int(rng.integers(len(styles))) if style is None else style
    height = rng.uniform(0.35, 0.9) * size
    width = float(min(rng.uniform(10.0, 35.0), 0.22 * height))
    slant = math.radians(rng.uniform(-20.0, 20.0))
    tilt = math.radians(rng.uniform(-6.0, 6.0))
    aspect = rng.uniform(0.75, 1.3)
    # slant (shear about the middle: the top leans right for a positive angle), aspect, small rotation
    shear = np.array([[aspect, -math.tan(slant)], [0.0, 1.0]])
    rot = np.array([[math.cos(tilt), -math.sin(tilt)], [math.sin(tilt), math.cos(tilt)]])
    m = rot @ shear
    strokes = []
    for line in styles[style][1]:
        line = _wobble(line, 0.02, rng) + rng.normal(0.0, 0.01, 2)
        strokes.append((line - 0.5) @ m.T)
    allp = np.concatenate(strokes)
    span = allp.max(axis=0) - allp.min(axis=0)
    scale = (height - width) / max(float(span.max()), 1e-6)
    half = span * scale / 2 + width / 2 + 2
    half = np.minimum(half, size / 2)
    centre = (float(rng.uniform(half[0], size - half[0])), float(rng.uniform(half[1], size - half[1])))
    placed = _place(strokes, size, centre, height, width)
    return Drawing(strokes=placed, width=width, digit=digit, style=style, size=size)


def variants(seed: int = 0, n_per_digit: int = 50, size: int = CANVAS) -> list[Drawing]:
    """n_per_digit random drawings of each digit 0-9, digit-major, styles cycled so each appears
    equally often; the same seed always gives the same drawings."""
    rng = np.random.default_rng(seed)
    out = []
    for digit in range(10):
        n_styles = len(TEMPLATES[digit])
        for i in range(n_per_digit):
            out.append(random_drawing(digit, rng, size, style=i % n_styles))
    return out


# --- rendering ----------------------------------------------------------------------------


def render(drawing: Drawing, size: int | None = None, transparent: bool = False) -> np.ndarray:
    """Paint a drawing as the canvas does (capsviz.data.strokes.render_ink): (size, size, 4) uint8 RGBA, white
    anti-aliased strokes with round caps and joins. Opaque black background (the app's background_color="#000000"),
    or with ``transparent`` streamlit-drawable-canvas's default: black transparent background, ink only in alpha."""
    ink = render_ink(drawing.as_strokes(), size)
    out = np.zeros((*ink.shape, 4), np.uint8)
    if transparent:
        out[..., :3] = np.where(ink[..., None] > 0, 255, 0)
        out[..., 3] = ink
    else:
        out[..., :3] = ink[..., None]
        out[..., 3] = 255
    return out


# --- accuracy -----------------------------------------------------------------------------


def preprocess_all(drawings: list[Drawing], **to_mnist_kwargs) -> tuple[np.ndarray, np.ndarray]:
    """Render and preprocess each drawing. Returns images (N, 28, 28) float32 and a mask (N,) of
    the drawings to_mnist accepted (a rejected one gets a blank image)."""
    images = np.zeros((len(drawings), MNIST_SIDE, MNIST_SIDE), np.float32)
    ok = np.zeros(len(drawings), bool)
    for i, d in enumerate(drawings):
        try:
            images[i] = to_mnist(render(d), **to_mnist_kwargs).image
            ok[i] = True
        except PreprocessError:
            pass
    return images, ok


def drawn_digit_accuracy(model, n_per_digit: int = 50, seed: int = 0, **to_mnist_kwargs) -> dict:
    """Accuracy of ``model`` on ``variants(seed, n_per_digit)`` through to_mnist.

    Returns {"accuracy", "n", "rejected", "per_class": {"0": acc, ...},
    "per_style": {"7 crossbar": acc, ...}, "confusion": 10x10 counts [true][predicted]}; a drawing
    to_mnist rejects counts as wrong."""
    drawings = variants(seed, n_per_digit)
    images, ok = preprocess_all(drawings, **to_mnist_kwargs)
    labels = np.array([d.digit for d in drawings])
    preds = classify(model, images)
    right = (preds == labels) & ok
    confusion = np.zeros((10, 10), int)
    for t, p, good in zip(labels, preds, ok, strict=True):
        if good:
            confusion[t, p] += 1
    per_style: dict[str, list[bool]] = {}
    for d, r in zip(drawings, right, strict=True):
        per_style.setdefault(f"{d.digit} {d.style_name}", []).append(bool(r))
    return {
        "accuracy": float(right.mean()) if len(right) else 0.0,
        "n": len(drawings),
        "rejected": int((~ok).sum()),
        "per_class": {str(c): float(right[labels == c].mean()) for c in range(10)},
        "per_style": {k: float(np.mean(v)) for k, v in per_style.items()},
        "confusion": confusion.tolist(),
    }


def _montage(images: np.ndarray, cols: int) -> np.ndarray:
    rows = math.ceil(len(images) / cols)
    grid = np.zeros((rows * 29, cols * 29), np.float32)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        grid[r * 29 : r * 29 + 28, c * 29 : c * 29 + 28] = im
    return (grid * 255).astype(np.uint8)


@exit_on_user_error
def main(argv: list[str] | None = None) -> int:
    from capsviz.training.checkpoint import DEFAULT_DIR, write_card

    ap = argparse.ArgumentParser(description="Accuracy of a checkpoint on scripted canvas-style drawn digits.")
    ap.add_argument("--checkpoint", default=str(DEFAULT_DIR), help="checkpoint folder or .safetensors file")
    ap.add_argument("--n-per-digit", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    ap.add_argument(
        "--no-stroke-norm", action="store_true", help="skip stroke-width normalisation (plain MNIST recipe)"
    )
    ap.add_argument("--subpixel", action="store_true", help="centre by sub-pixel shift instead of MNIST's integer one")
    ap.add_argument("--montage", metavar="PNG", help="also save the preprocessed 28x28 inputs as one image")
    ap.add_argument("--update-card", action="store_true", help="record the result in the checkpoint's model card")
    args = ap.parse_args(argv)
    model, card = load_checkpoint(args.checkpoint)
    kwargs = {"normalize_stroke": not args.no_stroke_norm, "subpixel": args.subpixel}
    result = drawn_digit_accuracy(model, args.n_per_digit, args.seed, **kwargs)
    result["checkpoint"] = {k: card.get(k) for k in ("epochs", "test_accuracy") if k in card}
    if args.montage:
        images, _ = preprocess_all(variants(args.seed, args.n_per_digit), **kwargs)
        Image.fromarray(_montage(images, args.n_per_digit)).save(args.montage)
    if args.update_card:
        card["drawn_digit_accuracy"] = {
            "accuracy": round(100 * result["accuracy"], 2),
            "n": result["n"],
            "seed": args.seed,
            "per_class": {str(c): round(100 * a, 1) for c, a in result["per_class"].items()},
            "set": "scripted canvas-style drawings (capsviz.testsets.drawn_digits), through capsviz.data.preprocess",
        }
        write_card(args.checkpoint, card)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"checkpoint {args.checkpoint}  {result['checkpoint']}")
    print(f"drawn digits: {result['accuracy']:.2%} of {result['n']} ({result['rejected']} rejected by preprocessing)")
    print("per class:  " + "  ".join(f"{c}: {a:.0%}" for c, a in result["per_class"].items()))
    weak = sorted(result["per_style"].items(), key=lambda kv: kv[1])[:5]
    print("weakest styles: " + ", ".join(f"{k} {a:.0%}" for k, a in weak))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
