"""Odd and hostile drawings never break the page: each gets a prediction or a message saying what is wrong,
whether it comes from the canvas (its state "drawing", the stroke payload) or from a shared link (``?d=``).

Payloads reach the canvas component as its frontend sends them on pen-up (conftest.send_drawing); after each
case a plain 1 is drawn and must be read, so the page kept working.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import pytest
from apptest_canvas import canvas_data, canvas_element, send_drawing
from test_app import (  # noqa: F401
    APP,
    ONE,
    TIMEOUT,
    _app,
    _draw,
    _metric,
    _no_exception,
    env,
    fake_mnist,
    random_checkpoint,
)

from capsviz.app import share, state
from capsviz.data.stroke_url import encode_drawing
from capsviz.data.strokes import CANVAS, MAX_POINTS, MAX_STROKES, PEN_WIDTH, StrokeDrawing, polyline_drawing, to_payload


def _payload(lines, width: float = PEN_WIDTH, pen: int = 0) -> dict:
    return to_payload(polyline_drawing(lines, width, pen))


def _with(**changes) -> dict:
    """A plain 1's payload with its top level (or, for keys starting "s_", its stroke) changed."""
    p = _payload(ONE)
    for k, v in changes.items():
        if k.startswith("s_"):
            p["strokes"][0][k[2:]] = v
        else:
            p[k] = v
    return p


PAINTED = _payload([[(0, y), (CANVAS, y)] for y in range(0, CANVAS + 1, 20)], width=40)
LONG = [[float(x % 200 + 40), float(40 + (x // 200) % 200), x] for x in range(MAX_POINTS + 1)]


@dataclass(frozen=True)
class Odd:
    name: str
    payload: object  # what the canvas's state "drawing" holds
    shows: str  # "prediction", or the kind of message: "info", "warning", "error"
    words: str = ""  # the message must contain these
    notes: tuple[str, ...] = field(default=())  # warnings that come with a prediction


CASES = [
    # drawings the canvas can really send
    Odd("erased", {"v": 1, "size": CANVAS, "strokes": []}, "info", "Draw a digit"),
    Odd("painted_white", PAINTED, "warning", "all ink"),
    Odd("dot", _payload([[(140, 140)]]), "warning", "too small"),
    Odd("corner_speck", _payload([[(3, 3), (6, 5)]], width=8), "warning", "too small"),
    Odd("thin_pen", _payload(ONE, width=8), "prediction"),
    Odd("fat_pen_one", _payload(ONE, width=40), "prediction"),
    # sent by something else than the page: corrected with a note, or refused with a message
    Odd("off_the_edge", _payload([[(140, 100), (400, 400)]]), "prediction", notes=("onto its edge",)),
    Odd("fat_pen", _payload(ONE, width=120), "prediction", notes=("pen width",)),
    Odd("nan", _with(s_p=[140, 40, 0, float("nan"), 240, 5]), "error", "not a finite number"),
    Odd("inf", _with(s_p=[140, 40, 0, float("inf"), 240, 5]), "error", "not a finite number"),
    Odd("string_point", _with(s_p=[140, 40, 0, "140", 240, 5]), "error", "not a number"),
    Odd("bool_point", _with(s_p=[140, 40, 0, True, 240, 5]), "error", "not a number"),
    Odd("null_point", _with(s_p=[140, 40, 0, None, 240, 5]), "error", "not a number"),
    Odd("odd_length", _with(s_p=[140, 40, 0, 140]), "error", "triples"),
    Odd("wrong_version", _with(v=2), "error", "format version"),
    Odd("no_version", {"size": CANVAS, "strokes": []}, "error", "format version"),
    Odd("wrong_size", _with(size=560), "error", "canvas size"),
    Odd("pen_7", _with(s_pen=7), "error", "pen is 7"),
    Odd("width_nan", _with(s_w=float("nan")), "error", "pen width"),
    Odd("strokes_not_a_list", _with(strokes="garbage"), "error", "no list of strokes"),
    Odd("garbage_string", "garbage", "error", "could not be read"),
    Odd("a_list", [1, 2, 3], "error", "could not be read"),
    Odd("null", None, "info", "Draw a digit"),  # no drawing: nothing to refuse
    Odd("too_many_strokes", _payload([[(140, 40), (140, 240)]] * (MAX_STROKES + 1)), "error", "strokes"),
    Odd("100k_points", _with(s_p=[v for i in range(100_000) for v in (140, 40 + i % 200, i)]), "error", "points"),
    Odd("just_over_the_points", _with(s_p=[v for p in LONG for v in p]), "error", "points"),
]


@pytest.mark.usefixtures("env")  # test_app's random checkpoint and fake MNIST
@pytest.mark.parametrize("odd", CASES, ids=lambda c: c.name)
def test_odd_drawings(odd):
    at = _app()
    before = canvas_element(at).proto.id
    send_drawing(at, odd.payload)
    _no_exception(at)
    if odd.shows == "prediction":
        assert _metric(at) is not None
        assert not at.error
        warnings = [w.value for w in at.warning]
        assert len(warnings) == len(odd.notes) and all(n in w for n, w in zip(odd.notes, warnings, strict=True))
    else:
        assert _metric(at) is None
        shown = {"info": at.info, "warning": at.warning, "error": at.error}[odd.shows]
        assert any(odd.words in m.value for m in shown), [m.value for m in shown]
        if odd.shows != "error":
            assert not at.error
        else:  # refused: an empty canvas, a fresh component (whatever the page held is gone), no prompt over it
            assert canvas_data(at)["drawing"] is None
            assert canvas_element(at).proto.id != before
            assert "d" not in at.query_params
    _draw(at, ONE)  # the page still works: a plain 1 is read
    _no_exception(at)
    assert _metric(at) is not None and not at.error and not at.warning


# --- shared links --------------------------------------------------------------------------------------------


def _link_app(**params) -> object:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


SEVEN = polyline_drawing([[(70, 50), (210, 50), (120, 240)]], PEN_WIDTH)


def _recoded(code: str, fix) -> str:
    raw = bytearray(base64.urlsafe_b64decode(code + "=" * (-len(code) % 4)))
    fix(raw)
    return base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


def _set_first_byte(raw: bytearray) -> None:
    raw[0] = 99


def _code_of_points(n: int) -> str:
    """A link code, made by hand, of one stroke of ``n`` points (more than a drawing may hold), zlib-packed."""
    import zlib

    from capsviz.data import stroke_url

    body = stroke_url._varints([1, 0, 180, n, 200, 200] + [0, 0] * (n - 1))
    raw = bytes([stroke_url.CODE_VERSION, stroke_url.ZLIB]) + zlib.compress(body, 9)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


BAD_LINKS = {
    "truncated": encode_drawing(SEVEN)[:-7],
    "garbage": "%%not a drawing%%",
    "empty_value": "!",
    "wrong_version": _recoded(encode_drawing(SEVEN), _set_first_byte),
    "100k_points": _code_of_points(100_000),
    "too_long": "A" * 300_000,
    "nan": "NaN",
}


@pytest.mark.usefixtures("env")
@pytest.mark.parametrize("name", list(BAD_LINKS))
def test_a_damaged_link_shows_a_message_and_an_empty_canvas(name):
    at = _link_app(src="draw", tab="routing", it="2", d=BAD_LINKS[name])
    _no_exception(at)
    assert at.error and "cannot be read" in at.error[0].value, [e.value for e in at.error]
    assert _metric(at) is None
    assert canvas_data(at)["drawing"] is None
    assert "d" not in at.query_params  # the address no longer carries it
    _draw(at, ONE)
    _no_exception(at)
    assert _metric(at) is not None and not at.error


@pytest.mark.usefixtures("env")
def test_a_link_opens_its_drawing_tab_and_iterations_and_follows_the_page():
    at = _link_app(src="draw", tab="routing", it="2", d=encode_drawing(SEVEN))
    _no_exception(at)
    assert _metric(at) is not None and not at.error
    assert canvas_data(at)["drawing"] == to_payload(SEVEN)
    assert at.session_state[state.TAB] == state.ROUTING_TAB
    assert at.slider(key=state.ITERATIONS).value == 2
    assert at.query_params["tab"] == "routing" and at.query_params["it"] == "2"
    assert at.query_params["d"] == encode_drawing(SEVEN)
    _draw(at, ONE)  # a pen-up: the URL follows
    assert at.query_params["d"] == encode_drawing(polyline_drawing(ONE, PEN_WIDTH))
    send_drawing(at, to_payload(StrokeDrawing()))  # cleared: no drawing in the URL
    assert "d" not in at.query_params and at.query_params["src"] == "draw"


@pytest.mark.usefixtures("env")
@pytest.mark.parametrize(
    "params",
    [{"src": "nowhere", "tab": "nope", "it": "99"}, {"it": "-1", "tab": ""}, {"mode": "x" * 1000, "it": "NaN"}],
    ids=["unknown", "negative", "odd"],
)
def test_unknown_link_values_are_ignored(params):
    at = _link_app(**params)
    _no_exception(at)
    assert not at.error
    assert any("Draw a digit" in i.value for i in at.info)
    assert at.query_params["src"] == share.SOURCE_NAMES[state.DRAW]
