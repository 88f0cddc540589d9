"""Drawings as strokes: what the app's drawing component sends, checked, and the one renderer that inks them.

The page sends the strokes themselves, not a picture of them. Every stroke lives in the canvas's coordinate space
(CANVAS x CANVAS CSS pixels, x to the right, y down, pixel i spanning [i, i + 1)):

    drawing, notes = parse_drawing(payload)       # StrokeDrawing + user-facing notes (clipped points, pen widths)
    ink = render_ink(drawing)                     # (280, 280) uint8 coverage, 0..255
    rgba = render_rgba(drawing)                   # (280, 280, 4) white on opaque black: what to_mnist takes
    layers = render_layers(drawing)               # (PENS, 280, 280) coverage per pen, for the two-digit mode
    payload = to_payload(drawing)                 # the inverse of parse_drawing (integers), for tests and the bench

The page's payload (JSON):

    {"v": 1, "size": 280, "strokes": [{"w": 18, "pen": 0, "p": [x0, y0, t0, x1, y1, t1, ...]}, ...]}

x, y in canvas px and t in ms since the drawing's first point (integers from the page; finite floats are
accepted too), w the pen width in canvas px, pen 0 (the one-digit pen, the amber first pen) or 1 (the blue second
pen). Anything else is refused with a StrokeError whose str() is a message for the user, never a traceback; sizes
are checked before anything is converted, so a hostile payload fails fast.

Rendering is the one the scripted test sets were tuned with to match streamlit-drawable-canvas (which the app
used before): each stroke drawn at 4x as straight Pillow line segments plus a disc at every point (round caps and
joins), at its own width, then BOX-filtered down. capsviz.testsets.drawn_digits.render and drawn_pairs ink through
it, so the accuracy they measure is the accuracy of this renderer.

Pure library (numpy, Pillow).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from capsviz.data.preprocess import PreprocessError

CANVAS = 280  # the canvas's side in CSS px: the coordinate space of every stroke
PEN_WIDTH = 18  # the app's default pen, canvas px
PEN_RANGE = (8, 40)  # the pen widths the app offers, canvas px
PENS = 2  # pen 0: the one-digit pen and the two-digit mode's first (amber) pen; pen 1: the second (blue) pen
FORMAT_VERSION = 1  # the payload's "v"
MAX_STROKES = 200  # more is not a digit: clear and draw again
MAX_POINTS = 20_000  # points over all strokes (a minute of continuous drawing at 60 Hz is 3,600)
MAX_TIME_MS = 3_600_000  # t is clipped into [0, an hour]
SUPERSAMPLE = 4  # strokes are drawn at 4x and box-filtered down: anti-aliased like the browser's canvas

TOO_MANY_STROKES = f"The drawing has more than {MAX_STROKES} strokes: clear the canvas and draw again."
TOO_MANY_POINTS = f"The drawing has more than {MAX_POINTS:,} points: clear the canvas and draw again."
UNREADABLE = "The canvas sent a drawing that could not be read"  # + ": <why>. Clear the canvas and draw again."


class StrokeError(PreprocessError):
    """A drawing's strokes cannot be read; str(error) is a message for the user."""


def _unreadable(why: str) -> StrokeError:
    return StrokeError(f"{UNREADABLE}: {why}. Clear the canvas and draw again.")


@dataclass(frozen=True, eq=False)
class Stroke:
    """One press-move-release. points: (N, 3) float32 columns x, y (canvas px) and t (ms since the drawing's
    first point; scripted drawings may leave it 0), read-only. width: the pen width in canvas px. pen: 0 or 1."""

    points: np.ndarray
    width: float
    pen: int = 0

    def __post_init__(self) -> None:
        pts = np.array(self.points, dtype=np.float32, copy=True)
        if pts.ndim == 2 and pts.shape[1] == 2:  # (x, y) only: t = 0
            pts = np.concatenate([pts, np.zeros((len(pts), 1), np.float32)], axis=1)
        if pts.ndim != 2 or pts.shape[1] != 3:
            raise ValueError(f"stroke points must be (N, 3) x, y, t; got shape {pts.shape}")
        pts.setflags(write=False)
        object.__setattr__(self, "points", pts)
        object.__setattr__(self, "width", float(self.width))
        object.__setattr__(self, "pen", int(self.pen))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Stroke):
            return NotImplemented
        return self.width == other.width and self.pen == other.pen and np.array_equal(self.points, other.points)

    def __hash__(self) -> int:
        return hash((self.width, self.pen, self.points.tobytes()))

    def __len__(self) -> int:
        return len(self.points)

    @property
    def xy(self) -> np.ndarray:
        """(N, 2) the stroke's positions, canvas px."""
        return self.points[:, :2]


@dataclass(frozen=True)
class StrokeDrawing:
    """A whole drawing: its strokes in the order they were drawn, on a size x size canvas."""

    strokes: tuple[Stroke, ...] = ()
    size: int = CANVAS

    def __post_init__(self) -> None:
        object.__setattr__(self, "strokes", tuple(self.strokes))

    @property
    def n_points(self) -> int:
        return sum(len(s) for s in self.strokes)

    @property
    def is_empty(self) -> bool:
        return self.n_points == 0

    @property
    def pens(self) -> tuple[int, ...]:
        """The pens used, ascending."""
        return tuple(sorted({s.pen for s in self.strokes}))

    def with_strokes(self, strokes: Iterable[Stroke]) -> StrokeDrawing:
        """The same canvas with these strokes."""
        return StrokeDrawing(tuple(strokes), self.size)

    def by_pen(self, pen: int) -> StrokeDrawing:
        """Only the strokes drawn with ``pen``."""
        return self.with_strokes(s for s in self.strokes if s.pen == pen)

    def plus(self, other: StrokeDrawing) -> StrokeDrawing:
        """This drawing's strokes, then ``other``'s (drawn after, on the same canvas)."""
        return self.with_strokes(self.strokes + other.strokes)


def polyline_drawing(
    lines: Iterable[Sequence[Sequence[float]]], width: float, pen: int = 0, size: int = CANVAS
) -> StrokeDrawing:
    """Strokes from (x, y) polylines, all at one pen ``width`` (t = 0): scripted drawings and tests."""
    strokes = [Stroke(np.asarray(line, np.float32).reshape(-1, 2), width, pen) for line in lines]
    return StrokeDrawing(tuple(s for s in strokes if len(s)), size)


# --- the page's payload --------------------------------------------------------------------------


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _is_int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _check_header(payload: object) -> list:
    """The payload's version, size and stroke list, and the stroke and point counts (before converting any)."""
    if not isinstance(payload, dict):
        raise _unreadable("it is not a drawing")
    v = payload.get("v")
    if not _is_int(v) or v != FORMAT_VERSION:
        raise StrokeError(
            f"The canvas sent a drawing in format version {v!r}; this app reads version {FORMAT_VERSION}. "
            "Reload the page and draw again."
        )
    size = payload.get("size")
    if not _is_int(size) or size != CANVAS:
        raise _unreadable(f"its canvas size is {size!r}, not {CANVAS}")
    strokes = payload.get("strokes")
    if not isinstance(strokes, list):
        raise _unreadable("it has no list of strokes")
    if len(strokes) > MAX_STROKES:
        raise StrokeError(TOO_MANY_STROKES)
    total = 0
    for i, s in enumerate(strokes):
        if not isinstance(s, dict) or not isinstance(s.get("p"), list):
            raise _unreadable(f"stroke {i + 1} has no list of points")
        if len(s["p"]) % 3:
            raise _unreadable(f"stroke {i + 1}'s points are not (x, y, t) triples")
        total += len(s["p"]) // 3
        if total > MAX_POINTS:
            raise StrokeError(TOO_MANY_POINTS)
    return strokes


def _points(p: list, i: int) -> np.ndarray:
    """A stroke's flat [x, y, t, ...] list -> (N, 3) float64, every entry a finite number."""
    if not all(_is_number(v) for v in p):
        raise _unreadable(f"stroke {i + 1} has a point that is not a number")
    try:
        pts = np.asarray(p, dtype=np.float64).reshape(-1, 3)
    except (OverflowError, ValueError, TypeError):
        raise _unreadable(f"stroke {i + 1} has a point that is not a number") from None
    if not np.isfinite(pts).all():
        raise _unreadable(f"stroke {i + 1} has a point that is not a finite number")
    return pts


def _width_and_pen(s: dict, i: int) -> tuple[float, int]:
    w, pen = s.get("w"), s.get("pen", 0)
    try:
        width = float(w) if _is_number(w) and isinstance(w, (int, float, np.number)) else math.nan
    except OverflowError:  # float(10**400)
        width = math.nan
    if not math.isfinite(width):
        raise _unreadable(f"stroke {i + 1}'s pen width is not a number")
    if not _is_int(pen) or not 0 <= pen < PENS:
        raise _unreadable(f"stroke {i + 1}'s pen is {pen!r}, not one of 0..{PENS - 1}")
    return width, int(pen)


def parse_drawing(payload: object) -> tuple[StrokeDrawing, list[str]]:
    """Check what the page sent and make it a StrokeDrawing.

    Returns the drawing and notes for the user about what was changed: points outside the canvas moved onto its
    edge, pen widths outside PEN_RANGE clipped into it, times outside [0, MAX_TIME_MS] clipped. Strokes without
    points are dropped. Raises StrokeError (a user-facing message) for anything that is not a drawing: a wrong
    or missing version, size other than CANVAS, non-numbers (NaN, inf, bool, str, None), a pen other than
    0..PENS-1, or more than MAX_STROKES strokes / MAX_POINTS points (counted before anything is converted)."""
    raw = _check_header(payload)
    strokes, clipped, widths, times = [], 0, 0, 0
    for i, s in enumerate(raw):
        w, pen = _width_and_pen(s, i)
        pts = _points(s["p"], i)
        if not len(pts):
            continue
        inside = np.clip(pts[:, :2], 0.0, CANVAS)
        clipped += int((inside != pts[:, :2]).any(axis=1).sum())
        t = np.clip(pts[:, 2], 0.0, MAX_TIME_MS)
        times += int((t != pts[:, 2]).sum())
        if not PEN_RANGE[0] <= w <= PEN_RANGE[1]:
            widths += 1
            w = float(np.clip(w, *PEN_RANGE))
        strokes.append(Stroke(np.column_stack([inside, t]), w, pen))
    notes = []
    if clipped:
        notes.append(f"{clipped} point{'s' if clipped > 1 else ''} outside the canvas moved onto its edge.")
    if widths:
        lo, hi = PEN_RANGE
        counted = f"{widths} stroke{'s' if widths > 1 else ''}"
        notes.append(f"The pen width of {counted} was set into the pen's range, {lo}-{hi} px.")
    if times:
        notes.append(f"{times} point time{'s' if times > 1 else ''} outside the first hour set into it.")
    return StrokeDrawing(tuple(strokes), CANVAS), notes


def to_payload(drawing: StrokeDrawing) -> dict:
    """The payload the page would send for ``drawing`` (x, y, t rounded to integers; widths too where whole)."""
    strokes = []
    for s in drawing.strokes:
        flat = np.rint(s.points.astype(np.float64)).astype(np.int64).ravel().tolist()
        w: float = int(s.width) if float(s.width).is_integer() else float(s.width)
        strokes.append({"w": w, "pen": int(s.pen), "p": flat})
    return {"v": FORMAT_VERSION, "size": int(drawing.size), "strokes": strokes}


def payload_json(drawing: StrokeDrawing) -> str:
    """``to_payload`` as compact JSON text: a cheap cache key (one string to hash, not nested lists)."""
    return json.dumps(to_payload(drawing), separators=(",", ":"))


# --- rendering -----------------------------------------------------------------------------------


def render_ink(drawing: StrokeDrawing, size: int | None = None, pen: int | None = None) -> np.ndarray:
    """(size, size) uint8 ink coverage, 0..255: white anti-aliased strokes, round caps and joins, each stroke at
    its own width (scaled with the image: ``size`` 2 * CANVAS is a 2x high-DPI render). ``pen``: only that pen's
    strokes. The algorithm the scripted test sets were tuned with to match the browser's canvas: Pillow line
    segments plus a disc at every point, drawn at SUPERSAMPLE x and BOX-filtered down."""
    size = int(size or drawing.size)
    k = SUPERSAMPLE
    f = size / drawing.size * k
    img = Image.new("L", (size * k, size * k), 0)
    draw = ImageDraw.Draw(img)
    for stroke in drawing.strokes:
        if pen is not None and stroke.pen != pen:
            continue
        w = stroke.width * f
        r = w / 2
        pts = [(x * f, y * f) for x, y in stroke.xy.astype(np.float64).tolist()]
        # Straight segments plus a disc at every point: round caps and joins. (Pillow's own joint="curve"
        # leaves notches on short segments of a wide line.)
        if len(pts) > 1:
            draw.line(pts, fill=255, width=max(1, round(w)))
        for x, y in pts:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return np.asarray(img.resize((size, size), Image.Resampling.BOX), dtype=np.uint8)


def render_rgba(drawing: StrokeDrawing, size: int | None = None) -> np.ndarray:
    """(size, size, 4) uint8: every stroke white on opaque black, as the app shows it and to_mnist takes it."""
    ink = render_ink(drawing, size)
    out = np.empty((*ink.shape, 4), np.uint8)
    out[..., :3] = ink[..., None]
    out[..., 3] = 255
    return out


def render_layers(drawing: StrokeDrawing, size: int | None = None) -> np.ndarray:
    """(PENS, size, size) uint8: each pen's ink coverage on its own (ink under the other pen's is kept)."""
    return np.stack([render_ink(drawing, size, pen=p) for p in range(PENS)])
