"""Uploaded files -> pixel arrays ready for ``to_mnist``: decoding with every limit checked before a pixel is
decoded (size, decompression bombs, shape), the first frame of an animated or multi-page file, EXIF orientation,
the page behind the ink evened out, and ``check_marks``, which looks for noise and for more than one digit.

Every failure is a capsviz.data.preprocess.PreprocessError whose message is written for the user.
"""

from __future__ import annotations

import io
import math
import re
import warnings

import numpy as np
from PIL import Image, ImageOps
from scipy import ndimage

from capsviz.data.preprocess import (
    INK_THRESHOLD,
    MIN_CONTRAST,
    PreprocessError,
    UnreadableImageError,
    border_pixels,
    box_reduce,
    find_ink,
    to_gray,
)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def load_upload(
    data: bytes, max_pixels: int = 25_000_000, max_bytes: int = 20_000_000, notes: list[str] | None = None
) -> np.ndarray:
    """Decode an uploaded file (PNG, JPEG, GIF, BMP, TIFF, WebP, ... anything Pillow reads).

    Returns (H, W) uint8 grayscale, (H, W, 3) RGB or (H, W, 4) RGBA, EXIF orientation applied (a phone
    photo stored sideways comes back upright), ready for to_mnist. An animated or multi-page file gives its
    first frame, and says so in ``notes`` (user-facing sentences appended when a list is passed). A page
    that is not plain white or black behind its ink (coloured paper, uneven light) is evened out
    (_even_page) and comes back as (H, W) grayscale, ink on white (or light ink on black).

    Raises UnreadableImageError with a user-facing message for an empty, oversized, non-image, truncated
    or corrupt file, for images over ``max_pixels`` (which also stops decompression bombs before any
    pixel is decoded), under MIN_UPLOAD_SIDE px on a side, or more than MAX_ASPECT times longer than wide."""
    try:
        data = bytes(data)
    except TypeError as exc:
        raise UnreadableImageError("The upload could not be read as a file.") from exc
    if not data:
        raise UnreadableImageError("The uploaded file is empty.")
    if len(data) > max_bytes:
        raise UnreadableImageError(
            f"The file is {_mb(len(data))}; the limit is {_mb(max_bytes)}. Upload a smaller image."
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im: Image.Image = Image.open(io.BytesIO(data))  # reads the header only
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise UnreadableImageError(_too_big_message(_bomb_pixels(exc), max_pixels)) from exc
        except Exception as exc:  # UnidentifiedImageError, SyntaxError, struct.error, ... from odd files
            raise UnreadableImageError(
                "That file is not an image this app can read. Upload a PNG or JPEG of a digit."
            ) from exc
        w, h = im.size
        if w * h > max_pixels:
            raise UnreadableImageError(_too_big_message((w, h), max_pixels))
        _check_shape(w, h)
        frames, kind = _frame_count(im), im.format
        try:
            im.seek(0)  # first frame of a GIF / multi-page TIFF
            im.load()
        except Exception as exc:  # truncated data, broken compressed stream, bomb in a later chunk
            raise UnreadableImageError(
                "The image file is truncated or corrupt and could not be decoded. Try saving it again."
            ) from exc
    try:
        im = ImageOps.exif_transpose(im)
    except Exception:  # a malformed EXIF block should not cost the user the image
        pass
    if frames > 1 and notes is not None:
        notes.append(_frames_note(kind, frames))
    return _even_page(_to_array(im))


def _bomb_pixels(exc: Exception) -> int | None:
    """The pixel count Pillow names when it refuses a decompression bomb (it refuses before .size exists)."""
    found = re.search(r"Image size \((\d+) pixels\)", str(exc))
    return int(found.group(1)) if found else None


def _too_big_message(size: tuple[int, int] | int | None, max_pixels: int) -> str:
    """``size``: (width, height), or only the pixel count (a refused bomb), or None (unknown)."""
    if isinstance(size, tuple):
        dims = f" ({size[0]}x{size[1]} px)"
    else:
        dims = f" ({size / 1e6:,.0f} megapixels)" if size else ""
    return f"The image is too large{dims}; the limit is {max_pixels / 1e6:.0f} megapixels. Upload a smaller image."


def _to_array(im: Image.Image) -> np.ndarray:
    """A decoded Pillow image -> uint8 (H, W), (H, W, 3) or (H, W, 4)."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(im, dtype=np.float64)  # high bit depth: stretch its own range to 0-255
        lo, hi = float(a.min()), float(a.max())
        return ((a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)).round().astype(np.uint8)
    if im.mode in ("1", "L"):
        return np.asarray(im.convert("L"), dtype=np.uint8)
    has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    return np.asarray(im.convert("RGBA" if has_alpha else "RGB"), dtype=np.uint8)


# --- uploads: shape, frames, the page behind the ink, how many marks ----------------------

MIN_UPLOAD_SIDE = 8  # px on each side: an 8x8 icon is the smallest picture a digit can be read from
MAX_ASPECT = 50  # a picture more than 50 times longer than wide is a strip, not a photo of one digit
PAGE_SIDE = 256  # the page's background is fitted on a copy about this size
PAGE_EVEN = 0.05  # a background varying less than this, on the side to_mnist expects, is left alone
PAGE_GRAIN = 0.06  # a background noisier than this (noise, texture) has no smooth lighting to even out
TEXTURE_SPREAD = 0.15  # a frame this varied (median absolute deviation) is noise or texture, not a background
MARKS_SIDE = 512  # marks are counted on a copy at most this size
SPECKS = 20  # this many separate bits of ink, the two largest holding under half of it: scattered specks
NOISE_MESSAGE = (
    "No digit found: the picture looks like noise or texture, with no mark standing out from a plain "
    "background. Upload a picture of one digit on plain paper."
)


def _check_shape(w: int, h: int) -> None:
    if min(w, h) < MIN_UPLOAD_SIDE:
        raise UnreadableImageError(
            f"The image is {w}x{h} px: too small to hold a digit (the limit is {MIN_UPLOAD_SIDE} px on each side)."
        )
    if max(w, h) > MAX_ASPECT * min(w, h):
        raise UnreadableImageError(
            f"The image is {w}x{h} px: too long and narrow to be a picture of one digit (the limit is "
            f"{MAX_ASPECT}:1). Crop it to the digit."
        )


def _frame_count(im: Image.Image) -> int:
    """Frames in an animated GIF, PNG or WebP, pages in a TIFF; 1 for a still image and for a camera's MPO
    (a JPEG with preview images attached: its first frame is the photo)."""
    if im.format == "MPO":
        return 1
    try:
        return max(1, int(getattr(im, "n_frames", 1)))
    except Exception:  # a damaged later frame: the first may still be fine
        return 1


def _frames_note(kind: str | None, frames: int) -> str:
    if kind == "TIFF":
        return f"The file has {frames} pages: only the first page is read."
    return f"The image is animated ({frames} frames): only its first frame is read."


def _even_page(a: np.ndarray) -> np.ndarray:
    """Even out the page behind the ink: coloured or grey paper, light falling off across a photo.

    The background is fitted as a smooth (quadratic) surface on a small copy, robustly (the ink left
    out), then divided out (dark ink -> on white) or subtracted (light ink -> on black): (H, W) uint8.
    A page already even and on the side to_mnist expects (dark ink on light paper, light ink on dark) is
    returned as it came, and so is a blank one and one whose background is itself noisy (noise, texture:
    there is no lighting to fit)."""
    h, w = a.shape[:2]
    k = max(1, math.ceil(max(h, w) / PAGE_SIDE))
    small = to_gray(a[::k, ::k]).astype(np.float64)
    values = small.ravel()
    lo, hi = (float(v) for v in np.percentile(values, [0.5, 99.5]))
    if hi - lo < MIN_CONTRAST:
        return a  # blank: to_mnist says so
    bg = float(np.median(border_pixels(small)))
    dark_ink = bg - lo >= hi - bg
    rows, cols = np.arange(0, h, k, dtype=np.float64), np.arange(0, w, k, dtype=np.float64)
    design = np.stack([t.ravel() for t in _quadratic(rows / h, cols / w, small.shape)], axis=1)
    keep = values > (bg + lo) / 2 if dark_ink else values < (bg + hi) / 2  # the paper's side of the ink
    grain = 0.0
    for _ in range(3):
        if keep.sum() < design.shape[1] * 4:
            return a
        coef = np.linalg.lstsq(design[keep], values[keep], rcond=None)[0]
        resid = values - design @ coef
        grain = 1.4826 * float(np.median(np.abs(resid[keep])))
        keep = np.abs(resid) <= max(3.0 * grain, 0.03)
    surface = (design @ coef).reshape(small.shape)
    expected_side = surface.min() > 0.5 if dark_ink else surface.max() < 0.5
    if grain > PAGE_GRAIN or (surface.max() - surface.min() <= PAGE_EVEN and expected_side):
        return a
    y = np.arange(h, dtype=np.float32)[:, None] / h
    x = np.arange(w, dtype=np.float32)[None, :] / w
    full = sum((c * t for c, t in zip(coef.astype(np.float32), _quadratic(y, x, (h, w)), strict=True)), np.float32(0))
    g = to_gray(a)
    if dark_ink:
        out = g / np.maximum(full, 0.02)
    else:
        out = (g - full) / np.maximum(1.0 - full, 0.02)
    return (np.clip(out, 0.0, 1.0) * 255.0).round().astype(np.uint8)


def _quadratic(y: np.ndarray, x: np.ndarray, shape: tuple[int, ...]) -> list[np.ndarray]:
    """The six terms of a quadratic surface over rows y and columns x (each in [0, 1)), broadcast to shape."""
    y = y.reshape(-1, 1)
    x = x.reshape(1, -1)
    return [np.broadcast_to(t, shape) for t in (np.ones_like(x * y), x, y, x * x, x * y, y * y)]


def check_marks(image: np.ndarray) -> list[str]:
    """Look at an upload's ink before it is read as one digit.

    Raises PreprocessError (NOISE_MESSAGE) when no mark stands out: a frame that is not a plain
    background (noise, a texture), or ink scattered in specks. Returns warnings for the user: more than one
    separate digit-sized mark (two digits side by side, say), where the one-digit model's reading is
    uncertain. A blank image passes (to_mnist says it is blank)."""
    g = to_gray(image)
    frame = border_pixels(g)
    if float(np.median(np.abs(frame - np.median(frame)))) > TEXTURE_SPREAD:
        raise PreprocessError(NOISE_MESSAGE)
    ink, _ = find_ink(g)
    if float(ink.max()) < MIN_CONTRAST:
        return []
    ink = box_reduce(ink, math.ceil(max(ink.shape) / MARKS_SIDE))
    labels, n = ndimage.label(ink > INK_THRESHOLD * float(ink.max()), structure=np.ones((3, 3)))
    if n < 2:
        return []
    mass = np.asarray(ndimage.sum(ink, labels, np.arange(1, n + 1)))
    order = np.argsort(mass)[::-1]
    if n >= SPECKS and mass[order[:2]].sum() < 0.5 * mass.sum():
        raise PreprocessError(NOISE_MESSAGE)
    boxes = ndimage.find_objects(labels)
    first = boxes[order[0]]

    def side(box: tuple[slice, ...]) -> int:
        return max(s.stop - s.start for s in box)

    def apart(box: tuple[slice, ...]) -> bool:  # no overlap in rows, or none in columns
        return any(s.stop <= f.start or f.stop <= s.start for s, f in zip(box, first, strict=True))

    marks = [i for i in order if mass[i] >= 0.25 * mass[order[0]] and side(boxes[i]) >= 0.5 * side(first)]
    if not any(apart(boxes[i]) for i in marks[1:]):
        return []
    return [
        f"More than one mark: {len(marks)} separate digit-sized marks were found, but the model reads one "
        "digit, so this prediction is uncertain. Crop the picture to a single digit."
    ]
