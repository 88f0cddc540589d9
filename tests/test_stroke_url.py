"""capsviz.data.stroke_url: a shared link gives back the drawing that was shared (to the pixel and ms), stays short,
and a broken or hostile link is refused with a message, never a traceback."""

from __future__ import annotations

import base64
import time
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capsviz.data.stroke_url import (
    CODE_VERSION,
    MAX_CODE_CHARS,
    TIMES,
    ZLIB,
    _varints,
    decode_drawing,
    encode_drawing,
)
from capsviz.data.strokes import CANVAS, MAX_POINTS, MAX_STROKES, Stroke, StrokeDrawing, StrokeError, render_ink
from capsviz.testsets.drawn_digits import variants
from capsviz.testsets.drawn_pairs import pair_strokes, scripted_pairs


def assert_same_up_to_quantisation(a: StrokeDrawing, b: StrokeDrawing) -> None:
    assert b.size == a.size and len(b.strokes) == len(a.strokes)
    for s, t in zip(a.strokes, b.strokes, strict=True):
        assert t.pen == s.pen and abs(t.width - s.width) <= 0.05
        assert t.points.shape == s.points.shape and np.abs(t.points - s.points).max() <= 0.5
        assert (t.points == np.rint(t.points)).all()


SCRIPTED = variants(0, 10)


def test_every_scripted_digit_round_trips_and_is_short():
    lengths = []
    for d in SCRIPTED:
        code = encode_drawing(d.as_strokes())
        assert_same_up_to_quantisation(d.as_strokes(), decode_drawing(code))
        assert set(code) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        lengths.append(len(code))
    assert np.median(lengths) < 200 and max(lengths) < 400  # fits any URL


def test_a_decoded_drawing_renders_as_the_shared_one():
    d = SCRIPTED[37].as_strokes()
    ink, again = render_ink(d).astype(float), render_ink(decode_drawing(encode_drawing(d))).astype(float)
    assert np.abs(ink - again).mean() < 2.0


def test_two_pen_drawings_and_times_round_trip():
    for first, second in scripted_pairs(10, 0):
        d = pair_strokes(first, second)
        assert_same_up_to_quantisation(d, decode_drawing(encode_drawing(d)))
    rng = np.random.default_rng(0)
    timed = StrokeDrawing(
        (
            Stroke(np.array([[10, 20, 0], [12.4, 25.6, 16.2], [280, 0, 31]]), 18, pen=1),
            Stroke(np.array([[100, 100, 400]]), 8.0),
            Stroke(np.column_stack([rng.integers(0, 281, (50, 2)), 500 + 16 * np.arange(50)]), 40),
        )
    )
    back = decode_drawing(encode_drawing(timed))
    assert_same_up_to_quantisation(timed, back)
    assert back.strokes[0].points[:, 2].tolist() == [0, 16, 31]
    assert decode_drawing(encode_drawing(StrokeDrawing())).is_empty


def code(*ints: int, flags: int = 0, version: int = CODE_VERSION, tail: bytes = b"") -> str:
    """A hand-made code: the header and these varints (zigzag already applied by the caller)."""
    raw = bytes([version, flags]) + _varints(list(ints)) + tail
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def zcode(body: bytes, flags: int = ZLIB) -> str:
    return base64.urlsafe_b64encode(bytes([CODE_VERSION, flags]) + body).rstrip(b"=").decode()


GOOD = code(1, 0, 180, 2, 20, 20, 2, 0)  # one stroke, pen 0, 18 px, (10, 10) then (11, 10)
HOSTILE = {
    "too long": ("A" * (MAX_CODE_CHARS + 1), "characters long"),
    "not base64": ("AQ!!", "not a drawing's code"),
    "one char": ("A", "not a drawing's code"),
    "empty": ("", "ends early"),
    "not text": (b"AQA", "not text"),
    "other version": (code(0, version=9), "another version"),
    "unknown flags": (code(0, flags=8), "features"),
    "truncated": (GOOD[:-3], "ends early"),
    "unfinished varint": (code(1, 0, 180, tail=b"\x80"), "ends early"),
    "giant varint": (code(tail=b"\xff\xff\xff\xff\xff\x01"), "too large"),
    "too many strokes": (code(MAX_STROKES + 1), f"more than {MAX_STROKES} strokes"),
    "too many points": (code(1, 0, 180, MAX_POINTS + 1, 0, 0), "more than 20,000 points"),
    "points across strokes": (code(2, 0, 180, MAX_POINTS, *[0] * 2 * MAX_POINTS, 0, 180, 1, 0, 0), "20,000 points"),
    "pen 2": (code(1, 2, 180, 1, 0, 0), "pen 2"),
    "width 0": (code(1, 0, 0, 1, 0, 0), "width"),
    "width 200 px": (code(1, 0, 2000, 1, 0, 0), "width"),
    "empty stroke": (code(1, 0, 180, 0), "no points"),
    "off the canvas": (code(1, 0, 180, 1, 2 * (CANVAS + 1), 0), "off the canvas"),
    "negative": (code(1, 0, 180, 1, 1, 0), "off the canvas"),
    "negative time": (code(1, 0, 180, 1, 0, 0, 1, flags=TIMES), "time"),
    "trailing garbage": (code(1, 0, 180, 1, 0, 0, 7), "after the drawing"),
    "trailing bytes": (GOOD + "AAAA", "after the drawing"),
    "corrupt zlib": (zcode(b"\x78\x9cnot zlib"), "corrupt"),
    "truncated zlib": (zcode(zlib.compress(_varints([1, 0, 180, 1, 0, 0]))[:-4]), "ends early"),
    "zlib bomb": (zcode(zlib.compress(b"\x00" * 10_000_000, 9)), "more than a drawing"),
    "zlib then garbage": (zcode(zlib.compress(_varints([0])) + b"xx"), "after the drawing"),
}


@pytest.mark.parametrize("text, words", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_broken_link_is_refused_with_a_message(text, words):
    assert decode_drawing(GOOD).n_points == 2
    t = time.perf_counter()
    with pytest.raises(StrokeError, match=words) as err:
        decode_drawing(text)
    assert time.perf_counter() - t < 0.5
    assert str(err.value).startswith("The drawing in this link cannot be read") and str(err.value).endswith(".")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/ .%", max_size=80))
def test_any_text_is_a_drawing_or_a_stroke_error(text):
    try:
        d = decode_drawing(text)
    except StrokeError:
        return
    assert d.n_points <= MAX_POINTS


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=60), st.integers(0, 3))
def test_any_bytes_after_a_good_header_are_a_drawing_or_a_stroke_error(body, flags):
    try:
        d = decode_drawing(zcode(body, flags=flags))
    except StrokeError:
        return
    assert all(0 <= s.xy.min() and s.xy.max() <= CANVAS for s in d.strokes)


def test_a_drawing_off_the_usual_canvas_cannot_be_shared():
    with pytest.raises(StrokeError, match="280 px canvas"):
        encode_drawing(StrokeDrawing((), size=560))
