"""Two overlapping digits (a two-colour drawing or a picture) -> the 36x36 input of the MultiMNIST model,
placed the way the training pairs sit in their frame.

    layers = split_colours(canvas_rgba)      # InkLayers: one ink layer per pen colour, (2, H, W)
    pre = to_pair_frame(layers)              # PairPreprocessed: .image (36, 36), .layers (2, 36, 36)
    pre = to_pair_frame(upload_pixels)       # one ink: .layers is None

A MultiMNIST training pair (capsviz.data.multimnist) is two MNIST digits, each a 20x20 box centred by mass in
28x28, each shifted by up to 4 px along each axis in a 36x36 field, summed and clipped. A drawing whose two
digits are told apart by their pen colour is made the same way: each colour's ink goes through MNIST's own
recipe (capsviz.data.preprocess.to_mnist), and the two are placed with the offset the user drew between their
centres of mass (at the mean scale of the two digits), clamped to the training pairs' +-4 px each, then
summed and clipped (capsviz.data.multimnist.place_digits). Ink of one colour (a picture, or both digits drawn
with one pen) cannot be split: it is fitted whole, its longer side scaled to PAIR_LONG_SIDE (the median
over the training pairs' composites) and its centre of mass put at the frame's centre.

Measured on 600 scripted overlapping drawings (capsviz.testsets.drawn_pairs, seed 0) with an early fine-tune (400
steps, 65.6% both right on the first 1,000 MultiMNIST test pairs): each pen's digit made and placed as above,
63.0% both right; the whole drawing scaled as drawn (both digits at their mean size), 62.7%; the same
drawings read as one ink, 58.0% (PAIR_LONG_SIDE 22-23 best of 20-25).

The canvas paints each stroke opaquely over the ones before it: where the second digit crosses the first,
the first digit's ink is hidden. ``split_colours`` recovers each colour's coverage from the RGBA by
unmixing the two known pen colours; the first digit then has a gap one pen wide at each crossing, which
the sum covers with the second digit's ink.

Pure library (numpy, scipy, torch for place_digits); every failure is a capsviz.data.preprocess.PreprocessError.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

from capsviz.data.multimnist import MAX_SHIFT, SIZE, place_digits
from capsviz.data.preprocess import BOX, CENTRE, EMPTY_MESSAGE, INK_THRESHOLD, EmptyDrawingError, PreprocessError, to_mnist

FRAME = SIZE  # 36: the MultiMNIST model's input side
FRAME_CENTRE = CENTRE + MAX_SHIFT  # 18.0: where an unshifted digit's centre of mass sits in the frame
# The longer side of a training pair's ink (pixels above 10% of its peak): 5th-95th percentile 20-28 px,
# median 23 (2,000 MultiMNIST test pairs). One-ink sources are scaled to the median.
PAIR_LONG_SIDE = 23
INK_COLOURS = ("#FBBF24", "#38BDF8")  # the canvas's pens: first digit amber, second digit sky blue
MIN_LAYER_INK = 0.05  # a colour layer with less peak coverage than this is empty (anti-aliasing residue)


class PairPreprocessError(PreprocessError):
    """One of the two digits cannot be read; str(error) is a message for the user."""


@dataclass(frozen=True)
class InkLayers:
    """A drawing split by pen colour: layers (K, H, W) float32 coverage in [0, 1], one per colour."""

    layers: np.ndarray

    @property
    def total(self) -> np.ndarray:
        """All the ink, as the canvas shows it in white: (H, W) in [0, 1]."""
        return np.clip(self.layers.sum(axis=0), 0.0, 1.0).astype(np.float32)

    def present(self) -> list[int]:
        """The layers that hold ink."""
        return [k for k, layer in enumerate(self.layers) if float(layer.max()) >= MIN_LAYER_INK]


@dataclass(frozen=True)
class PairPreprocessed:
    """The model's input and how it was made.

    image: (36, 36) float32 in [0, 1], white ink on black.
    layers: (2, 36, 36) each pen colour's digit as placed in the frame (its 28x28 MNIST form, shifted),
        or None when the ink came in one piece (a picture, or one pen used for both digits).
    shifts: (2, 2) each digit's (dy, dx) from the centre, as MultiMNIST's shifts; None with ``layers``.
    clamped: the drawn offset between the digits was larger than the training pairs' and was reduced.
    inverted: the source was dark ink on a light background.
    """

    image: np.ndarray
    layers: np.ndarray | None = None
    shifts: np.ndarray | None = None
    clamped: bool = False
    inverted: bool = False


# --- colours -> ink layers -------------------------------------------------------------------------


def hex_rgb(colour: str) -> np.ndarray:
    """'#RRGGBB' -> (3,) float in [0, 1]."""
    c = colour.lstrip("#")
    return np.array([int(c[i : i + 2], 16) for i in (0, 2, 4)], np.float64) / 255.0


def split_colours(rgba: np.ndarray, colours: tuple[str, ...] = INK_COLOURS) -> InkLayers:
    """Canvas RGBA (H, W, 4) uint8 -> each pen colour's coverage.

    The canvas paints strokes over black (or on a transparent layer): a pixel's premultiplied colour is
    sum_k a_k * colour_k, a_k the coverage of pen k there. Least squares on the known colours recovers
    the a_k; negative parts (noise) are dropped. An RGB image without alpha is read as opaque."""
    a = np.asarray(rgba)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise PreprocessError(f"Expected an RGB or RGBA canvas image, got an array of shape {tuple(a.shape)}.")
    rgb = a[..., :3].astype(np.float64) / 255.0
    alpha = a[..., 3:4].astype(np.float64) / 255.0 if a.shape[2] == 4 else 1.0
    mix = np.stack([hex_rgb(c) for c in colours], axis=1)  # (3, K)
    cover = (rgb * alpha) @ np.linalg.pinv(mix).T  # (H, W, K)
    layers = np.clip(np.moveaxis(cover, -1, 0), 0.0, 1.0).astype(np.float32)
    return InkLayers(layers)


def paint_layers(layers: np.ndarray, colours: tuple[str, ...] = INK_COLOURS) -> np.ndarray:
    """(K, H, W) coverage -> (H, W, 4) uint8 RGBA on opaque black, each layer painted over the ones before
    it as the canvas paints strokes (the inverse of split_colours, up to the hidden ink under crossings)."""
    out = np.zeros((*layers.shape[1:], 3), np.float64)
    for layer, colour in zip(layers, colours, strict=True):
        a = np.clip(layer, 0.0, 1.0)[..., None]
        out = out * (1.0 - a) + hex_rgb(colour) * a
    rgba = np.full((*layers.shape[1:], 4), 255, np.uint8)
    rgba[..., :3] = (out * 255.0).round().astype(np.uint8)
    return rgba


# --- placing ---------------------------------------------------------------------------------------


def _centre_of_mass(ink: np.ndarray) -> np.ndarray:
    """(row, col) of the ink above INK_THRESHOLD of its peak, as preprocess measures ink."""
    kept = np.where(ink >= INK_THRESHOLD * float(ink.max()), ink, 0.0)
    return np.asarray(ndimage.center_of_mass(kept), np.float64)


def _long_side(ink: np.ndarray) -> int:
    rows = np.flatnonzero((ink >= INK_THRESHOLD * float(ink.max())).any(axis=1))
    cols = np.flatnonzero((ink >= INK_THRESHOLD * float(ink.max())).any(axis=0))
    return int(max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1)


def place_at_centre(patch: np.ndarray, size: int = FRAME, centre: float = FRAME_CENTRE) -> np.ndarray:
    """Put a patch into a size x size field with its centre of mass at (centre, centre), by an integer
    shift as MNIST does; ink falling outside the field is cut."""
    h, w = patch.shape
    cy, cx = ndimage.center_of_mass(patch)
    big = np.zeros((size + 2 * (h + w), size + 2 * (h + w)), np.float32)
    pad = h + w
    iy, ix = round(centre - cy), round(centre - cx)
    big[pad + iy : pad + iy + h, pad + ix : pad + ix + w] = patch
    return big[pad : pad + size, pad : pad + size]


def drawn_shifts(coms: np.ndarray, scale: float) -> tuple[np.ndarray, bool]:
    """Centres of mass (2, 2) in source pixels and the source -> frame scale -> each digit's integer shift
    (2, 2) from the frame's centre, half the drawn offset each way, clamped to +-MAX_SHIFT; and whether
    the clamp changed anything."""
    half = (coms - coms.mean(axis=0)) * scale
    shifts = np.clip(np.round(half), -MAX_SHIFT, MAX_SHIFT).astype(np.int64)
    return shifts, bool((np.abs(np.round(half)) > MAX_SHIFT).any())


def _split_pair(layers: np.ndarray, normalize_stroke: bool) -> PairPreprocessed:
    """Two inked layers (2, H, W) -> each in MNIST's form, shifted by the drawn offset, summed."""
    digits, coms, longs = [], [], []
    for k, layer in enumerate(layers):
        try:
            digits.append(to_mnist(layer, normalize_stroke=normalize_stroke).image)
        except PreprocessError as exc:
            raise PairPreprocessError(f"{('First', 'Second')[k]} digit: {exc}") from exc
        coms.append(_centre_of_mass(layer))
        longs.append(_long_side(layer))
    scale = BOX / float(np.mean(longs))  # source px -> frame px, at the two digits' mean size
    shifts, clamped = drawn_shifts(np.stack(coms), scale)
    placed = place_digits(torch.from_numpy(np.stack(digits)), torch.from_numpy(shifts)).numpy()
    image = np.clip(placed.sum(axis=0), 0.0, 1.0).astype(np.float32)
    return PairPreprocessed(image=image, layers=placed.astype(np.float32), shifts=shifts, clamped=clamped)


def _whole(ink: np.ndarray, normalize_stroke: bool) -> PairPreprocessed:
    """One piece of ink: MNIST's recipe, then enlarged from the 20 px box to PAIR_LONG_SIDE and centred."""
    pre = to_mnist(ink, normalize_stroke=normalize_stroke)
    image = pre.image
    rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
    crop = image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    factor = PAIR_LONG_SIDE / BOX
    h, w = (max(1, math.floor(n * factor + 0.5)) for n in crop.shape)
    big = np.asarray(Image.fromarray(crop).resize((w, h), Image.Resampling.BILINEAR), np.float32)
    out = np.clip(place_at_centre(np.clip(big, 0.0, None)), 0.0, None)
    return PairPreprocessed(image=(out / max(float(out.max()), 1e-6)).astype(np.float32), inverted=pre.inverted)


def to_pair_frame(source: np.ndarray | InkLayers, normalize_stroke: bool = True) -> PairPreprocessed:
    """A two-colour drawing (InkLayers) or any picture (as capsviz.data.preprocess.to_mnist takes) -> the
    MultiMNIST model's 36x36 input. With two inked layers each digit is made like a training pair's
    digit (see the module docstring); otherwise the ink is fitted whole.

    Raises EmptyDrawingError, TooSmallError, UnreadableImageError (as to_mnist), PairPreprocessError."""
    if not isinstance(source, InkLayers):
        return _whole(source, normalize_stroke)
    inked = source.present()
    if not inked:
        raise EmptyDrawingError(EMPTY_MESSAGE)
    if len(inked) == 1:
        return _whole(source.total, normalize_stroke)
    return _split_pair(source.layers[inked[:2]], normalize_stroke)
