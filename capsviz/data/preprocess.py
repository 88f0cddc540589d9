"""Any drawing or upload -> the 28x28 image the model expects, made the way MNIST's digits were made.

    pre = to_mnist(canvas_rgba)          # Preprocessed: .image (28, 28) float32 in [0, 1]
    pixels = load_upload(file_bytes)     # capsviz.data.uploads: (H, W) / (H, W, 3) / (H, W, 4) uint8, for to_mnist

MNIST's recipe (LeCun et al.): crop to the ink, scale it so the longer side fills a 20x20 box
keeping the aspect ratio (anti-aliased), then place it in a 28x28 field with its centre of mass
at the centre. On the test set the centre of mass sits at (14.0, 14.0) (row, col, pixel-index
coordinates) with a spread of 0.29 px: an integer shift putting the rounded centre at pixel 14.

One addition MNIST did not need: stroke-width normalisation. A canvas stroke of fixed width
scaled into the 20 px box can end up 1 px thin (big digit, thin pen) or 7 px thick (small digit,
fat pen), while MNIST's strokes are 1.8-4.3 px (median 2.7). Strokes outside a band are eroded or
dilated at source resolution before the resize, to the nearest edge of the band (a clamp, so a
slightly different drawing never gives a very different input). Measured on scripted canvas
drawings (capsviz.testsets.drawn_digits, epoch-1 checkpoint): pens 30% of the digit's height 76% -> 92%
correct, 10 px pens on big digits 91.5% -> 92.5%, the standard mix 93.9% -> 94.1%. Sources under
64 px (a 28x28 MNIST image) are left alone: through to_mnist MNIST's test images score as they do
raw (98.60% vs 98.65%).

Every failure is a PreprocessError (a ValueError) whose message is written for the user.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from capsviz.model.capsnet import MNIST_SIDE

FIELD = MNIST_SIDE  # output side
BOX = 20  # the longer side of the ink is scaled to this
CENTRE = 14.0  # where MNIST puts the centre of mass (row and column, pixel-index coordinates)
# Ink below this fraction of the brightest pixel is noise, left out of the bounding box and centre of
# mass: a canvas's faintest anti-aliasing, and JPEG ringing around strokes (7% at the 99.9th
# percentile at quality 75).
INK_THRESHOLD = 0.1
MIN_CONTRAST = 0.1  # less contrast than this between ink and background counts as blank
MIN_SIDE_PX = 4  # an ink bbox shorter than this on its longer side is unreadable
# Stroke widths in the 28x28 output are clamped into MNIST's 5th-95th percentile band, in pixels
# (median 2.7), measured as stroke_width() measures them, on 8x-upsampled test images.
STROKE_MIN, STROKE_MAX = 1.8, 4.3
WORK_SIDE = 512  # crops larger than this are box-reduced first: the output is 20 px anyway
WORK_MIN = 64  # crops smaller than this (a 28x28 upload) are too coarse for stroke normalisation


class PreprocessError(ValueError):
    """The image cannot be turned into a digit; str(error) is a message for the user."""


class EmptyDrawingError(PreprocessError):
    """No ink at all (an untouched canvas, a blank page)."""


class TooSmallError(PreprocessError):
    """The ink is a dot or a speck: too small to be read as a digit."""


class UnreadableImageError(PreprocessError):
    """The upload is not an image, is damaged, too large, or has an unsupported layout."""


EMPTY_MESSAGE = "Nothing to read yet: draw a digit from 0 to 9 (or upload a picture of one)."


@dataclass(frozen=True)
class Preprocessed:
    """The model's input and how it was made from the source.

    image: (28, 28) float32 in [0, 1], white ink on black, brightest pixel 1.
    inverted: the source was dark ink on a light background and was inverted.
    ink_box: (top, left, bottom, right) of the ink in the source, bottom/right exclusive.
    source_shape: (H, W) of the source.
    stroke_width: estimated stroke width of the source ink in source pixels (0 if not measured).
    source_offset, source_scale: where the 28x28 field lies on the source, (row, col) each: the field's
        pixel (r, c) covers source rows offset[0] + [r, r + 1) * scale[0] and columns likewise (pixel-edge
        coordinates), so maps over the field can be drawn back onto the source.
    """

    image: np.ndarray
    inverted: bool
    ink_box: tuple[int, int, int, int]
    source_shape: tuple[int, int]
    stroke_width: float = 0.0
    source_offset: tuple[float, float] = (0.0, 0.0)
    source_scale: tuple[float, float] = (1.0, 1.0)


# --- arrays -> ink ------------------------------------------------------------------------


def _to_unit_float(a: np.ndarray) -> np.ndarray:
    """Any numeric array -> float32 in [0, 1] (integers by their dtype's range; floats above 1 as 0-255)."""
    if a.dtype == bool:
        return a.astype(np.float32)
    if np.issubdtype(a.dtype, np.integer):
        return a.astype(np.float32) / float(np.iinfo(a.dtype).max)
    if not np.issubdtype(a.dtype, np.floating):
        raise UnreadableImageError(f"Expected a numeric image array, got dtype {a.dtype}.")
    f = np.nan_to_num(a.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    if f.size and f.max() > 1.0:  # float pixels in 0..255
        f = f / 255.0
    return np.clip(f, 0.0, 1.0)


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def to_gray(image: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, 1|2|3|4) -> (H, W) float32 in [0, 1] on an opaque background.

    Transparency is composited over whichever of black or white contrasts with the visible pixels:
    the canvas with a transparent background draws white strokes seen only in alpha (-> over
    black), a transparent PNG of black handwriting needs white behind it."""
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        return _to_unit_float(a)
    if a.ndim != 3 or a.shape[2] not in (2, 3, 4):
        raise UnreadableImageError(f"Expected a grayscale, RGB or RGBA image, got an array of shape {tuple(a.shape)}.")
    f = _to_unit_float(a)
    if f.shape[2] == 3:
        return _luminance(f)
    lum = f[..., 0] if f.shape[2] == 2 else _luminance(f[..., :3])
    alpha = f[..., -1]
    if alpha.min() >= 254.0 / 255.0:  # opaque: alpha says nothing
        return lum
    visible = alpha > 0.5
    dark_ink = visible.any() and float(lum[visible].mean()) < 0.5
    background = 1.0 if dark_ink else 0.0
    return lum * alpha + background * (1.0 - alpha)


def border_pixels(g: np.ndarray) -> np.ndarray:
    k = max(1, min(g.shape) // 50)  # a 2% frame: robust to a stroke touching the edge
    return np.concatenate([g[:k].ravel(), g[-k:].ravel(), g[:, :k].ravel(), g[:, -k:].ravel()])


def find_ink(g: np.ndarray) -> tuple[np.ndarray, bool]:
    """Gray (H, W) -> ink (H, W) in [0, 1], background 0, and whether it was inverted.

    Dark-on-light is recognised by a bright frame (median of the outer 2%); the background level
    is subtracted so a grey paper photo still has a black background."""
    border = border_pixels(g)
    inverted = float(np.median(border)) > 0.5
    if inverted:
        g = 1.0 - g
        border = 1.0 - border
    background = float(np.median(border))
    ink = np.clip(g - background, 0.0, None)
    return ink, inverted


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def box_reduce(a: np.ndarray, k: int) -> np.ndarray:
    """Mean over k x k blocks (zero-padded to a multiple of k)."""
    if k <= 1:
        return a
    h, w = a.shape
    ph, pw = -h % k, -w % k
    a = np.pad(a, ((0, ph), (0, pw)))
    return a.reshape((h + ph) // k, k, (w + pw) // k, k).mean(axis=(1, 3))


# --- stroke width -------------------------------------------------------------------------


def stroke_width(ink: np.ndarray) -> float:
    """Estimated stroke width in pixels of white-on-black ink (H, W) in [0, 1].

    For a stroke of width w every ink pixel's distance to the nearest background pixel averages
    w / 4 (the mean of min(x, w - x) over the width), so w ~ 4 * mean(EDT) over the ink."""
    mask = ink > 0.5 * float(ink.max())
    if not mask.any():
        return 0.0
    edt = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    return float(4.0 * edt[mask].mean())


def _set_stroke_width(ink: np.ndarray, width: float, target: float) -> tuple[np.ndarray, tuple[int, int]]:
    """Erode (target < width) or dilate (target > width) ink (H, W) so its strokes are about
    ``target`` px wide, with a one-pixel soft edge so the later downscale stays anti-aliased.
    Returns the result cropped to its ink (dilation grows it, erosion shrinks it), and where its pixel
    (0, 0) lies in ``ink`` (row, col; negative when it grew)."""
    r = (width - target) / 2.0  # how far each edge moves inwards (negative: outwards)
    p = math.ceil(max(-r, 0.0)) + 2
    mask = np.pad(ink > 0.5 * float(ink.max()), p)
    if r > 0:
        out = np.clip(ndimage.distance_transform_edt(mask) - r + 0.5, 0.0, 1.0)
        out[~mask] = 0.0  # the EDT is 0 off the ink: for r < 0.5 the background would turn grey
    else:
        out = np.clip(-r + 0.5 - ndimage.distance_transform_edt(~mask), 0.0, 1.0)
        out[mask] = 1.0
    if not (out > 0).any():
        return ink, (0, 0)
    top, left, bottom, right = _bbox(out > INK_THRESHOLD)
    return out[top:bottom, left:right].astype(np.float32), (top - p, left - p)


# --- the pipeline -------------------------------------------------------------------------


def _resize(a: np.ndarray, height: int, width: int) -> np.ndarray:
    """Area-averaging resize of float (H, W) -> (height, width): each output pixel is the mean ink it
    covers, as MNIST's anti-aliased size normalisation did."""
    img = Image.fromarray(np.ascontiguousarray(a, dtype=np.float32))
    return np.asarray(img.resize((width, height), Image.Resampling.BOX), dtype=np.float32)


def _resize_bilinear(a: np.ndarray, height: int, width: int) -> np.ndarray:
    img = Image.fromarray(np.ascontiguousarray(a, dtype=np.float32))
    return np.asarray(img.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)


def _place(patch: np.ndarray, subpixel: bool) -> tuple[np.ndarray, tuple[float, float]]:
    """Put a (h, w) patch into the 28x28 field with its centre of mass at (14, 14). Returns the field and
    where the patch's pixel (0, 0) landed in it (row, col).

    Integer shift by default, like MNIST (whose centres of mass scatter +-0.5 px around 14): a
    sub-pixel shift blurs by bilinear interpolation and made no difference on drawn digits."""
    h, w = patch.shape
    mass = float(patch.sum())
    cy = float((patch.sum(axis=1) * np.arange(h)).sum() / mass)
    cx = float((patch.sum(axis=0) * np.arange(w)).sum() / mass)
    pad = FIELD  # room on every side, so no offset can fall off the canvas before the crop
    big = np.zeros((FIELD + 2 * pad, FIELD + 2 * pad), np.float32)
    oy, ox = CENTRE - cy, CENTRE - cx
    iy, ix = math.floor(oy) if subpixel else round(oy), math.floor(ox) if subpixel else round(ox)
    big[pad + iy : pad + iy + h, pad + ix : pad + ix + w] = patch
    if subpixel:
        big = ndimage.shift(big, (oy - iy, ox - ix), order=1, mode="constant")
    shift = (oy, ox) if subpixel else (float(iy), float(ix))
    return big[pad : pad + FIELD, pad : pad + FIELD], shift


def to_mnist(image: np.ndarray, normalize_stroke: bool = True, subpixel: bool = False) -> Preprocessed:
    """Turn a drawing or photo into MNIST's format.

    image: (H, W) grayscale, (H, W, 3) RGB or (H, W, 4) RGBA; uint8, other integers, bool, or float
        (in [0, 1], or 0-255). White-on-black and dark-on-light are both accepted.
    normalize_stroke: bring the stroke width into MNIST's band (see the module docstring).
    subpixel: centre by a sub-pixel shift instead of MNIST's integer one.

    Raises EmptyDrawingError (no ink), TooSmallError (a dot), UnreadableImageError (bad array).
    """
    a = np.asarray(image)
    if a.ndim not in (2, 3) or a.shape[0] == 0 or a.shape[1] == 0:
        raise UnreadableImageError(f"Expected a grayscale, RGB or RGBA image, got an array of shape {a.shape}.")
    ink, inverted = find_ink(to_gray(a))
    peak = float(ink.max())
    if peak < MIN_CONTRAST:
        raise EmptyDrawingError(EMPTY_MESSAGE)
    ink = np.where(ink < INK_THRESHOLD * peak, 0.0, ink / peak).astype(np.float32)
    top, left, bottom, right = box = _bbox(ink > 0)
    crop = ink[top:bottom, left:right]

    # Work at <= 512 px: enough resolution for the stroke estimate and a smooth erosion, cheap for
    # a 25 MP photo; a work pixel is k x k source pixels.
    k = math.ceil(max(crop.shape) / WORK_SIDE)
    work, work_origin = box_reduce(crop, k), (0, 0)  # origin: where work's pixel (0, 0) lies on the reduced crop
    long_side = max(crop.shape)
    low_res = long_side < WORK_MIN  # e.g. a 28x28 MNIST image: measure on an upsampled copy
    if low_res:
        up = math.ceil(WORK_MIN / long_side)
        width_src = stroke_width(_resize_bilinear(crop, crop.shape[0] * up, crop.shape[1] * up)) / up
    else:
        width_src = stroke_width(work) * k
    if long_side < MIN_SIDE_PX or long_side < 1.5 * width_src:
        raise TooSmallError(
            f"The drawing is too small to read ({bottom - top}x{right - left} px, about one stroke wide): "
            "draw the digit bigger, filling most of the box."
        )
    # Low-resolution sources are left alone: eroding or dilating a 20 px crop distorts more than it
    # fixes (it cost 0.7% on MNIST's own test images).
    if normalize_stroke and width_src > 0 and not low_res:
        width = width_src / k
        long_work = max(work.shape)
        now = width * BOX / long_work  # stroke width it would have in the 28x28 field
        want = min(max(now, STROKE_MIN), STROKE_MAX)  # clamp, not reset: no jump at the band's edges
        if abs(want - now) > 0.05:
            # Moving every edge by r also shortens the long side by 2r; solve
            # (width - 2r) * BOX / (long_work - 2r) = want for r.
            r = (width - want * long_work / BOX) / (2.0 * (1.0 - want / BOX))
            work, work_origin = _set_stroke_width(work, width, width - 2.0 * r)

    h, w = work.shape
    scale = BOX / max(h, w)
    patch = np.clip(_resize(work, max(1, round(h * scale)), max(1, round(w * scale))), 0.0, None)
    if patch.sum() <= 0:
        raise TooSmallError("The drawing is too faint or thin to read: draw with a thicker pen.")
    placed, at = _place(patch, subpixel)  # >= 0 everywhere: a non-negative patch, moved
    out = np.clip(placed / placed.max(), 0.0, 1.0).astype(np.float32)
    geometry = _field_on_source((top, left), k, work_origin, work.shape, patch.shape, at)
    return Preprocessed(out, inverted, box, a.shape[:2], width_src, *geometry)


def _field_on_source(
    crop_at: tuple[int, int],
    k: int,
    work_at: tuple[int, int],
    work_shape: tuple[int, ...],
    patch_shape: tuple[int, ...],
    patch_at: tuple[float, float],
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Where the 28x28 field lies on the source: (offset, scale) per axis, so field pixel edge f is at source
    offset + f * scale. A field pixel is work / patch work pixels, each k source pixels; the crop starts at
    crop_at in the source, the work image at work_at (work pixels) on the reduced crop, the patch at patch_at in
    the field."""
    sy, sx = k * work_shape[0] / patch_shape[0], k * work_shape[1] / patch_shape[1]
    oy = crop_at[0] + k * work_at[0] - patch_at[0] * sy
    ox = crop_at[1] + k * work_at[1] - patch_at[1] * sx
    return (oy, ox), (sy, sx)
