"""Odd drawings never break the page: each gets a prediction or a message saying what is wrong.

The canvas's value is injected through session state the way its frontend sends it (see test_app._draw); after
each case a plain 1 is drawn and must be read, so the page kept working.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pytest
from PIL import Image, ImageDraw
from test_app import (  # noqa: F401
    ONE,
    _app,
    _canvas_drawing,
    _draw,
    _metric,
    _no_exception,
    _png_url,
    env,
    fake_mnist,
    random_checkpoint,
)

from capsviz.app import state
from capsviz.data.strokes import CANVAS, PEN_WIDTH

KEY = f"{state.CANVAS_PREFIX}0"


def _filled(colour) -> str:
    return _png_url(Image.new("RGBA", (CANVAS, CANVAS), colour))


def _dot() -> str:
    im = _canvas_drawing([])
    r = PEN_WIDTH / 2
    ImageDraw.Draw(im).ellipse([140 - r, 140 - r, 140 + r, 140 + r], fill=(255, 255, 255, 255))
    return _png_url(im)


@dataclass(frozen=True)
class Odd:
    name: str
    url: str  # the canvas's PNG data URL (or something broken in its place)
    shows: str  # "prediction", or the kind of message: "info", "warning", "error"
    words: str = ""  # the message must contain these


CASES = [
    Odd("erased", _png_url(_canvas_drawing([])), "info", "Draw a digit"),
    Odd("transparent", _filled((0, 0, 0, 0)), "info", "Draw a digit"),
    Odd("painted_white", _filled((255, 255, 255, 255)), "warning", "all ink"),
    Odd("dot", _dot(), "warning", "too small"),
    Odd("corner_speck", _png_url(_canvas_drawing([[(3, 3), (6, 5)]], width=2)), "warning", "too small"),
    Odd("hair_line", _png_url(_canvas_drawing(ONE, width=1)), "prediction"),
    Odd("hair_seven", _png_url(_canvas_drawing([[(70, 50), (210, 50), (120, 240)]], width=1)), "prediction"),
    Odd("off_the_edge", _png_url(_canvas_drawing([[(140, 100), (400, 400)]])), "prediction"),
    Odd("edge_to_edge", _png_url(_canvas_drawing([[(-50, 140), (400, 140)]])), "prediction"),
    Odd("fat_pen", _png_url(_canvas_drawing(ONE, width=120)), "prediction"),
    Odd("not_base64", "data:image/png;base64,@@@not base64@@@", "error", "could not be read"),
    Odd("not_png", "data:image/png;base64," + base64.b64encode(b"hello").decode(), "error", "could not be read"),
    Odd("no_header", "just text", "error", "could not be read"),
]


@pytest.mark.usefixtures("env")  # test_app's random checkpoint and fake MNIST
@pytest.mark.parametrize("odd", CASES, ids=lambda c: c.name)
def test_odd_drawings(odd):
    at = _app()
    at.session_state[KEY] = {"drawing": {"raw": {"objects": []}, "data": odd.url}, "backgroundFit": None}
    at.run()
    _no_exception(at)
    if odd.shows == "prediction":
        assert _metric(at) is not None
        assert not at.error and not at.warning
    else:
        assert _metric(at) is None
        shown = {"info": at.info, "warning": at.warning, "error": at.error}[odd.shows]
        assert any(odd.words in m.value for m in shown), [m.value for m in shown]
        if odd.shows != "error":
            assert not at.error
    _draw(at, ONE)  # the page still works: a plain 1 is read
    _no_exception(at)
    assert _metric(at) is not None and not at.error and not at.warning
