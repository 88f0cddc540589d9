"""capsviz.data.strokes: what the drawing component sends is read or refused with a message, never a traceback;
the one renderer inks strokes as the scripted test sets were tuned to."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from capsviz.data.preprocess import PreprocessError, to_mnist
from capsviz.data.strokes import (
    CANVAS,
    MAX_POINTS,
    MAX_STROKES,
    PEN_RANGE,
    PEN_WIDTH,
    PENS,
    Stroke,
    StrokeDrawing,
    StrokeError,
    parse_drawing,
    polyline_drawing,
    render_ink,
    render_layers,
    render_rgba,
    to_payload,
)
from capsviz.testsets.drawn_digits import drawing_for, render, variants


def payload(*strokes: object, v: object = 1, size: object = CANVAS) -> dict:
    return {"v": v, "size": size, "strokes": list(strokes)}


def stroke(p: list, w: object = PEN_WIDTH, pen: object = 0) -> dict:
    return {"w": w, "pen": pen, "p": p}


LINE = [40, 40, 0, 120, 200, 16, 200, 60, 40]


def test_a_page_payload_becomes_a_drawing():
    d, notes = parse_drawing(payload(stroke(LINE), stroke([10, 10, 50, 20.5, 30.25, 66], w=30, pen=1)))
    assert notes == []
    assert isinstance(d, StrokeDrawing) and d.size == CANVAS and d.n_points == 5 and not d.is_empty
    assert [s.pen for s in d.strokes] == [0, 1] and [s.width for s in d.strokes] == [PEN_WIDTH, 30.0]
    assert d.strokes[0].points.dtype == np.float32 and d.strokes[0].points.shape == (3, 3)
    assert d.strokes[1].points[1].tolist() == [20.5, 30.25, 66.0]
    assert d.by_pen(1).n_points == 2 and d.pens == (0, 1)
    assert not d.strokes[0].points.flags.writeable  # a drawing cannot be changed behind the renderer's back


def test_to_payload_is_the_inverse():
    d = drawing_for(4, style=1).as_strokes()
    again, notes = parse_drawing(to_payload(d))
    assert notes == []
    for a, b in zip(d.strokes, again.strokes, strict=True):
        assert np.abs(a.points - b.points).max() <= 0.5 and a.width == b.width
    exact = StrokeDrawing((Stroke(np.array([[1, 2, 0], [3, 4, 5]]), 18, pen=1),))
    assert parse_drawing(to_payload(exact))[0] == exact


def test_points_off_the_canvas_and_odd_pen_widths_are_fixed_with_a_note():
    d, notes = parse_drawing(payload(stroke([-5, 10, 0, 300, 290.5, 8, 50, 50, 9], w=3), stroke([1, 1, 0], w=99)))
    xy = d.strokes[0].xy
    assert xy.min() == 0 and xy.max() == CANVAS
    assert [s.width for s in d.strokes] == [PEN_RANGE[0], PEN_RANGE[1]]
    assert any("2 points outside the canvas" in n for n in notes)
    assert any("pen width" in n for n in notes)


def test_empty_strokes_are_dropped_and_an_empty_canvas_is_empty():
    d, _ = parse_drawing(payload(stroke([]), stroke([5, 5, 0]), stroke([])))
    assert len(d.strokes) == 1
    assert parse_drawing(payload())[0].is_empty


HOSTILE = {
    "not a dict": ([1, 2, 3], "could not be read"),
    "a string": ("drawing", "could not be read"),
    "no version": ({"size": CANVAS, "strokes": []}, "version"),
    "version 2": (payload(v=2), "version"),
    "version True": (payload(v=True), "version"),
    "version '1'": (payload(v="1"), "version"),
    "other size": (payload(size=560), "size"),
    "strokes not a list": ({"v": 1, "size": CANVAS, "strokes": {"p": []}}, "no list of strokes"),
    "stroke not a dict": (payload([1, 2, 3]), "stroke 1"),
    "p missing": (payload({"w": 18}), "stroke 1"),
    "p not flat": (payload(stroke([[1, 2, 3], 4, 5])), "not a number"),
    "p not triples": (payload(stroke([1, 2, 3, 4])), "triples"),
    "NaN": (payload(stroke([1, math.nan, 3])), "finite"),
    "inf": (payload(stroke([1, 2, math.inf])), "finite"),
    "huge int": (payload(stroke([10**400, 2, 3])), "not a number"),
    "bool": (payload(stroke([True, 2, 3])), "not a number"),
    "str": (payload(stroke(["1", 2, 3])), "not a number"),
    "None": (payload(stroke([None, 2, 3])), "not a number"),
    "width None": (payload(stroke(LINE, w=None)), "pen width"),
    "width NaN": (payload(stroke(LINE, w=math.nan)), "pen width"),
    "width huge": (payload(stroke(LINE, w=10**400)), "pen width"),
    "pen 2": (payload(stroke(LINE, pen=PENS)), "pen is 2"),
    "pen -1": (payload(stroke(LINE, pen=-1)), "pen is -1"),
    "pen 0.5": (payload(stroke(LINE, pen=0.5)), "pen is 0.5"),
    "pen True": (payload(stroke(LINE, pen=True)), "pen is True"),
    "too many strokes": (payload(*[stroke([1, 1, 0])] * (MAX_STROKES + 1)), "more than 200 strokes"),
    "too many points": (payload(stroke([1, 1, 0] * (MAX_POINTS + 1))), "more than 20,000 points"),
    "too many points, split": (payload(*[stroke([1, 1, 0] * (MAX_POINTS // 2 + 1))] * 2), "more than 20,000 points"),
}


@pytest.mark.parametrize("hostile, words", HOSTILE.values(), ids=HOSTILE.keys())
def test_what_is_not_a_drawing_is_refused_with_a_message(hostile, words):
    with pytest.raises(StrokeError, match=words) as err:
        parse_drawing(hostile)
    assert isinstance(err.value, PreprocessError) and str(err.value).endswith(".")


def test_a_million_points_fail_fast():
    hostile = payload(stroke([1.5, "x", None] * 1_000_000))
    t = time.perf_counter()
    with pytest.raises(StrokeError, match="clear the canvas"):
        parse_drawing(hostile)
    assert time.perf_counter() - t < 0.05  # counted, not converted


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.sampled_from(["v", "w", "p", "pen"]), inner),
    max_leaves=30,
)
number = st.integers(-10, 400) | st.floats(allow_nan=True, allow_infinity=True)
triples = st.lists(st.tuples(number, number, number), max_size=5).map(lambda ts: [v for t in ts for v in t])
near_miss = st.builds(
    lambda v, size, strokes: {"v": v, "size": size, "strokes": strokes},
    st.sampled_from([1, 1, 1, 2, True, None]),
    st.sampled_from([CANVAS, CANVAS, 0, None]),
    st.lists(
        st.fixed_dictionaries({"w": number | st.none(), "pen": st.integers(-1, 2) | st.booleans(), "p": triples}),
        max_size=4,
    ),
)


@settings(max_examples=300, deadline=None)
@given(json_like | near_miss)
def test_any_json_is_a_drawing_or_a_stroke_error(value):
    try:
        d, notes = parse_drawing(value)
    except StrokeError as err:
        assert str(err)
        return
    assert all(isinstance(n, str) for n in notes)
    for s in d.strokes:
        assert np.isfinite(s.points).all() and 0 <= s.xy.min() and s.xy.max() <= CANVAS
        assert PEN_RANGE[0] <= s.width <= PEN_RANGE[1] and 0 <= s.pen < PENS
    assert render_ink(d, 28).shape == (28, 28)


# --- rendering -------------------------------------------------------------------------------


def test_the_renderer_is_the_one_drawn_digits_renders_with():
    for d in variants(0, 2):
        rgba = render(d)
        assert (render_rgba(d.as_strokes()) == rgba).all()
        assert (render_ink(d.as_strokes()) == rgba[..., 0]).all()


def test_ink_is_white_anti_aliased_and_scales_with_the_pen():
    line = [[(60, 140), (220, 140)]]
    inks = [render_ink(polyline_drawing(line, w)) for w in (8, 16, 32)]
    areas = [ink.sum() / 255 for ink in inks]
    for w, area in zip((8, 16, 32), areas, strict=True):
        assert area == pytest.approx(160 * w + math.pi * w**2 / 4, rel=0.03)  # a capsule: the segment and round caps
    edges = (inks[1] > 0) & (inks[1] < 255)
    assert edges.sum() > 300  # anti-aliased along both sides
    assert (inks[1][140, 60:220] == 255).all() and inks[1][100].max() == 0


def test_each_stroke_keeps_its_own_width():
    thin = Stroke(np.array([[40, 60], [240, 60]]), 8)
    thick = Stroke(np.array([[40, 200], [240, 200]]), 32)
    ink = render_ink(StrokeDrawing((thin, thick)))
    assert (ink[:130] > 127).sum(axis=0).max() == pytest.approx(8, abs=1)
    assert (ink[130:] > 127).sum(axis=0).max() == pytest.approx(32, abs=1)


def test_a_2x_render_box_reduced_is_the_1x_render():
    d = drawing_for(8, style=0, width=20).as_strokes()
    one = render_ink(d).astype(float)
    two = render_ink(d, size=2 * CANVAS)
    assert two.shape == (2 * CANVAS, 2 * CANVAS)
    down = np.asarray(Image.fromarray(two).resize((CANVAS, CANVAS), Image.Resampling.BOX), float)
    # The same ink; an edge pixel differs by at most the 4x supersampling's step (a quarter pixel of edge: 64)
    # plus rounding, because the 2x render places its edges on an 8x grid.
    assert np.abs(down - one).mean() < 1.0 and np.abs(down - one).max() <= 100
    assert two.sum() / 4 == pytest.approx(one.sum(), rel=0.01)


def test_two_pens_render_as_layers_and_rgba_reads_as_a_digit():
    a = drawing_for(3, width=PEN_WIDTH).as_strokes(pen=0)
    b = drawing_for(7, width=PEN_WIDTH).as_strokes(pen=1)
    layers = render_layers(a.plus(b))
    assert layers.shape == (PENS, CANVAS, CANVAS) and layers.dtype == np.uint8
    assert (layers[0] == render_ink(a)).all() and (layers[1] == render_ink(b)).all()
    assert (render_ink(a.plus(b), pen=1) == layers[1]).all()
    rgba = render_rgba(a)
    assert rgba.shape == (CANVAS, CANVAS, 4) and (rgba[..., 3] == 255).all()
    assert to_mnist(rgba).image.shape == (28, 28)
