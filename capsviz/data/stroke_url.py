"""A drawing as a short URL-safe text, to share it in the page's URL.

    text = encode_drawing(drawing)     # 'AQA...' base64url, no padding
    drawing = decode_drawing(text)     # a StrokeDrawing, or StrokeError with a message for the user

The bytes: a version byte (CODE_VERSION), a flags byte (TIMES: the points carry their times; ZLIB: the rest is
zlib-compressed), then unsigned LEB128 varints: the number of strokes, and per stroke its pen, its width in tenths
of a canvas px and its point count, followed by its points. A point is x, y (integer canvas px) and, with TIMES, t
(integer ms), each as the zigzag-coded difference from the previous point (across strokes too; the first point
from 0, 0, 0). Drawings without times (scripted ones, t = 0) leave t out.

Measured on the 500 scripted digits (capsviz.testsets.drawn_digits.variants, seed 0; points about 3 px apart, no
times): a digit's code is 136 characters in the median (48-264) with zlib, 363 (87-800) without, since the
rounded deltas repeat a lot and zlib finds the repeats. encode_drawing compresses whenever that is shorter, which
was every one of the 500. With times (the same drawings given 14-18 ms between points and pauses between strokes,
as the page records at 60 Hz) the median is 254 characters. A scripted two-digit drawing (drawn_pairs): 243.

decode_drawing refuses, with a StrokeError (a PreprocessError: str() is for the user) and never anything else: a
text over MAX_CODE_CHARS, bad base64, another version, unknown flags, a corrupt or oversized zlib stream, data that
ends early, more than MAX_STROKES strokes or MAX_POINTS points (counted before anything is allocated), a pen or
width out of range, a point off the canvas and anything after the last stroke.
"""

from __future__ import annotations

import base64
import binascii
import zlib

import numpy as np

from capsviz.data.strokes import CANVAS, MAX_POINTS, MAX_STROKES, MAX_TIME_MS, PENS, Stroke, StrokeDrawing, StrokeError

CODE_VERSION = 1
TIMES, ZLIB = 1, 2  # flag bits
WIDTH_RANGE = (1.0, 80.0)  # canvas px a code may carry (the pen offers 8-40; scripted pairs reach 46)
MAX_CODE_CHARS = 65_536  # a longer text is refused before decoding
MAX_VARINT_BYTES = 5  # 35 bits: every number in a code fits
MAX_BODY_BYTES = 16 + MAX_STROKES * 3 * MAX_VARINT_BYTES + MAX_POINTS * 3 * MAX_VARINT_BYTES
BAD = "The drawing in this link cannot be read"  # + ": <why>."


def _bad(why: str) -> StrokeError:
    return StrokeError(f"{BAD}: {why}.")


# --- varints -------------------------------------------------------------------------------------


def _zigzag(v: np.ndarray) -> np.ndarray:
    return ((v << 1) ^ (v >> 63)).astype(np.uint64)


def _unzigzag(u: np.ndarray) -> np.ndarray:
    return (u >> 1) ^ -(u & 1)


def _varints(values: list[int]) -> bytes:
    out = bytearray()
    for v in values:
        while v >= 0x80:
            out.append((v & 0x7F) | 0x80)
            v >>= 7
        out.append(v)
    return bytes(out)


def _read_varints(body: bytes) -> np.ndarray:
    """Every varint in ``body`` -> int64 array, vectorised; a varint left unfinished or over 5 bytes is refused."""
    b = np.frombuffer(body, np.uint8)
    if not len(b) or b[-1] & 0x80:
        raise _bad("it ends early")
    ends = np.flatnonzero(b < 0x80)
    starts = np.concatenate([[0], ends[:-1] + 1])
    if (ends - starts).max() >= MAX_VARINT_BYTES:
        raise _bad("it holds a number too large for a drawing")
    position = np.arange(len(b)) - np.repeat(starts, ends - starts + 1)
    parts = (b & 0x7F).astype(np.int64) << (7 * position)
    return np.add.reduceat(parts, starts)


# --- encoding ------------------------------------------------------------------------------------


def _quantised(drawing: StrokeDrawing) -> list[tuple[int, int, np.ndarray]]:
    """(pen, width in tenths, (N, 3) int64 x, y, t) per stroke with points, clipped into what a code carries."""
    out = []
    for s in drawing.strokes:
        if not len(s):
            continue
        p = np.rint(s.points.astype(np.float64))
        p[:, :2] = np.clip(p[:, :2], 0, CANVAS)
        p[:, 2] = np.clip(p[:, 2], 0, MAX_TIME_MS)
        width = int(round(float(np.clip(s.width, *WIDTH_RANGE)) * 10))
        out.append((int(s.pen), width, p.astype(np.int64)))
    return out


def encode_drawing(drawing: StrokeDrawing) -> str:
    """``drawing`` as base64url text without padding (see the module's docstring). Points are rounded to whole
    canvas px and ms, widths to tenths of a px and clipped into WIDTH_RANGE; strokes without points are left out.
    Raises StrokeError for a drawing no code can carry (another canvas size, too many strokes or points)."""
    if drawing.size != CANVAS:
        raise StrokeError(f"Only drawings on the {CANVAS} px canvas can be shared, not {drawing.size} px.")
    strokes = _quantised(drawing)
    if len(strokes) > MAX_STROKES or sum(len(p) for _, _, p in strokes) > MAX_POINTS:
        raise StrokeError("The drawing is too large to share in a link.")
    times = any(p[:, 2].any() for _, _, p in strokes)
    columns = 3 if times else 2
    values = [len(strokes)]
    previous = np.zeros(3, np.int64)
    for pen, width, p in strokes:
        deltas = np.diff(np.vstack([previous, p]), axis=0)[:, :columns]
        previous = p[-1]
        values += [pen, width, len(p), *_zigzag(deltas.ravel()).tolist()]
    body = _varints(values)
    flags = TIMES if times else 0
    packed = zlib.compress(body, 9)
    if len(packed) < len(body):
        body, flags = packed, flags | ZLIB
    return base64.urlsafe_b64encode(bytes([CODE_VERSION, flags]) + body).rstrip(b"=").decode("ascii")


# --- decoding ------------------------------------------------------------------------------------


def _bytes_of(text: object) -> bytes:
    if not isinstance(text, str):
        raise _bad("it is not text")
    if len(text) > MAX_CODE_CHARS:
        raise _bad(f"it is {len(text):,} characters long, more than the {MAX_CODE_CHARS:,} a drawing needs")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise _bad("it is not a drawing's code (it may have been cut short or mistyped)") from None
    if len(raw) < 2:
        raise _bad("it ends early")
    return raw


def _body_of(raw: bytes) -> tuple[bytes, int]:
    version, flags = raw[0], raw[1]
    if version != CODE_VERSION:
        raise _bad(f"it was made by another version of the app (code version {version}, this app reads {CODE_VERSION})")
    if flags & ~(TIMES | ZLIB):
        raise _bad("it uses features this app does not know")
    body = raw[2:]
    if flags & ZLIB:
        unpack = zlib.decompressobj()
        try:
            body = unpack.decompress(body, MAX_BODY_BYTES)
        except zlib.error:
            raise _bad("its compressed data is corrupt") from None
        if unpack.unconsumed_tail:
            raise _bad("it unpacks to more than a drawing can hold")
        if not unpack.eof:
            raise _bad("it ends early")
        if unpack.unused_data:
            raise _bad("it has data after the drawing")
    elif len(body) > MAX_BODY_BYTES:
        raise _bad("it is longer than a drawing can be")
    return body, 3 if flags & TIMES else 2


def _strokes_of(ints: np.ndarray, columns: int) -> list[tuple[int, float, np.ndarray]]:
    """Walk the varints: (pen, width, (N, columns) zigzagged deltas) per stroke; counts checked before slicing."""
    n_strokes, at, total, out = int(ints[0]), 1, 0, []
    if n_strokes > MAX_STROKES:
        raise _bad(f"it has more than {MAX_STROKES} strokes")
    lo, hi = (round(w * 10) for w in WIDTH_RANGE)
    for i in range(n_strokes):
        if at + 3 > len(ints):
            raise _bad("it ends early")
        pen, width, n = (int(v) for v in ints[at : at + 3])
        if pen >= PENS:
            raise _bad(f"stroke {i + 1} uses pen {pen}; there are {PENS}")
        if not lo <= width <= hi:
            raise _bad(f"stroke {i + 1}'s pen width is out of range")
        if n == 0:
            raise _bad(f"stroke {i + 1} has no points")
        total += n
        if total > MAX_POINTS:
            raise _bad(f"it has more than {MAX_POINTS:,} points")
        at += 3
        if at + n * columns > len(ints):
            raise _bad("it ends early")
        out.append((pen, width / 10, ints[at : at + n * columns].reshape(n, columns)))
        at += n * columns
    if at != len(ints):
        raise _bad("it has data after the drawing")
    return out


def decode_drawing(text: str) -> StrokeDrawing:
    """The drawing ``encode_drawing`` made, or StrokeError with a message for the user (and nothing else)."""
    body, columns = _body_of(_bytes_of(text))
    strokes = _strokes_of(_read_varints(body), columns)
    if not strokes:
        return StrokeDrawing((), CANVAS)
    deltas = _unzigzag(np.concatenate([d for _, _, d in strokes]))
    points = np.cumsum(deltas, axis=0)
    if columns == 2:
        points = np.column_stack([points, np.zeros(len(points), np.int64)])
    if points[:, :2].min() < 0 or points[:, :2].max() > CANVAS:
        raise _bad("it has a point off the canvas")
    if points[:, 2].min() < 0 or points[:, 2].max() > MAX_TIME_MS:
        raise _bad("it has a point time out of range")
    cuts = np.cumsum([len(d) for _, _, d in strokes])[:-1]
    return StrokeDrawing(
        tuple(Stroke(p, w, pen) for (pen, w, _), p in zip(strokes, np.split(points, cuts), strict=True)), CANVAS
    )
