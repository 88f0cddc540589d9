"""Hostile and odd uploads never break the page: each file gets a prediction or a message naming the problem.

Every file is generated here (Pillow, numpy, bytes); nothing is committed. FILES lists them with the outcome
each must get; the same family runs through load_upload + to_mnist directly (fast) and through the app's real
upload widget with AppTest (after each, the page must still work: a good digit uploaded next is read).
"""

from __future__ import annotations

import functools
import io
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image, ImageDraw
from test_app import _app, _metric, _no_exception, env, fake_mnist, random_checkpoint  # noqa: F401
from test_preprocess import shift_tolerant_diff

from capsviz.app import inputs, state
from capsviz.data.preprocess import EmptyDrawingError, PreprocessError, to_mnist
from capsviz.data.uploads import _even_page, check_marks, load_upload

# --- the files ---------------------------------------------------------------------------------------------

PAPER, INK = 235, 20  # a light page, dark ink: the usual photo or scan
SEVEN = [(0.25, 0.2), (0.75, 0.2), (0.45, 0.85)]  # a 7, as fractions of (width, height)
FLAG_ONE = [(0.35, 0.3), (0.55, 0.15), (0.55, 0.85)]  # a 1 with its flag: tells every rotation apart


def _glyph(size=(200, 280), glyph=SEVEN, ink=INK, paper=PAPER, width=16, mode="L") -> Image.Image:
    """A digit drawn as a polyline, dark on light by default, (width, height) = size."""
    w, h = size
    im = Image.new(mode, size, paper)
    ImageDraw.Draw(im).line([(x * w, y * h) for x, y in glyph], fill=ink, width=width, joint="curve")
    return im


def _save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_claiming(width: int, height: int) -> bytes:
    """A decompression bomb's header: a valid PNG declaring width x height 8-bit grey pixels, a tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1000)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def _digit_png() -> bytes:
    return _save(_glyph(), "PNG")


def _digit_jpeg() -> bytes:
    return _save(_glyph().convert("RGB"), "JPEG", quality=90)


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _corrupt_png() -> bytes:
    """A digit PNG with one byte of its image data flipped: the chunk's CRC no longer matches."""
    data = bytearray(_digit_png())
    at = data.index(b"IDAT") + 20
    data[at] ^= 0xFF
    return bytes(data)


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("digit.txt", "a seven")
    return buf.getvalue()


def _strip() -> bytes:
    """100,000 x 10: a strip with marks along it."""
    a = np.full((10, 100_000), PAPER, np.uint8)
    a[2:8, ::1000] = INK
    return _save(Image.fromarray(a), "PNG")


def _sixteen_bit() -> bytes:
    a = np.asarray(_glyph(), np.uint16) * 257  # 0..65535
    return _save(Image.fromarray(a), "PNG")  # mode I;16: a 16-bit greyscale PNG


def _palette() -> bytes:
    return _save(_glyph().convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=16), "PNG")


def _cmyk_jpeg() -> bytes:
    return _save(_glyph().convert("CMYK"), "JPEG", quality=90)


def _grey_alpha() -> bytes:
    """LA: dark ink, opaque; the paper around it transparent."""
    g = _glyph()
    alpha = Image.fromarray(np.where(np.asarray(g) < 128, 255, 0).astype(np.uint8))
    return _save(Image.merge("LA", (g, alpha)), "PNG")


def _alpha_only(colour: int = 0) -> bytes:
    """RGBA whose colour channels are all ``colour`` everywhere: the digit exists only in the alpha channel (a
    drawing app's export of black (or white) strokes on a transparent background)."""
    alpha = 255 - np.asarray(_glyph())  # opaque where the ink is
    rgb = np.full(alpha.shape + (3,), colour, np.uint8)
    return _save(Image.fromarray(np.dstack([rgb, alpha]), "RGBA"), "PNG")


def _animated_gif() -> bytes:
    frames = [_glyph(glyph=SEVEN), _glyph(glyph=FLAG_ONE), _glyph(paper=255, ink=255)]
    return _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=200, loop=0)


def _exif_rotated(orientation: int, glyph=FLAG_ONE) -> bytes:
    """A phone photo: the pixels stored sideways, EXIF orientation saying how to turn them upright (6: turn
    90 degrees clockwise to display, 8: 90 degrees anticlockwise)."""
    upright = _glyph(size=(300, 400), glyph=glyph).convert("RGB")
    stored = upright.transpose(Image.Transpose.ROTATE_90 if orientation == 6 else Image.Transpose.ROTATE_270)
    exif = stored.getexif()
    exif[0x0112] = orientation
    return _save(stored, "JPEG", quality=90, exif=exif.tobytes())


def _flat(value: int, size=(200, 200)) -> bytes:
    return _save(Image.new("L", size, value), "PNG")


def _noise() -> bytes:
    rng = np.random.default_rng(0)
    return _save(Image.fromarray(rng.integers(0, 256, (200, 200), dtype=np.uint8)), "PNG")


def _two_digits() -> bytes:
    """A 7 and a 1 side by side on one page, apart."""
    page = Image.new("L", (400, 280), PAPER)
    page.paste(_glyph(size=(200, 280)), (0, 0))
    page.paste(_glyph(size=(200, 280), glyph=FLAG_ONE), (200, 0))
    return _save(page, "PNG")


def _touching_border() -> bytes:
    """A 1 running off the top and bottom of the picture."""
    return _save(_glyph(size=(160, 200), glyph=[(0.5, -0.1), (0.5, 1.1)], width=18), "PNG")


PHOTO_SEVEN = [(0.35, 0.3), (0.65, 0.3), (0.47, 0.75)]


def _photo() -> bytes:
    """4000 x 3000 JPEG: a dark 7 on paper lit unevenly (240 at the top left, falling to 170 bottom right)."""
    w, h = 4000, 3000
    ink = np.asarray(_glyph(size=(w, h), glyph=PHOTO_SEVEN, ink=255, paper=0, width=110), np.float32) / 255
    light = 240 - 35 * (np.arange(w, dtype=np.float32)[None, :] / w + np.arange(h, dtype=np.float32)[:, None] / h)
    page = light * (1 - 0.85 * ink)
    return _save(Image.fromarray(page.astype(np.uint8)).convert("RGB"), "JPEG", quality=85)


def _tiny() -> bytes:
    """8 x 8: a 7 at the size of an icon."""
    return _save(_glyph(size=(80, 80), width=12).resize((8, 8), Image.Resampling.BOX), "PNG")


def _coloured(paper=(40, 90, 200), ink=(10, 10, 30)) -> bytes:
    """Dark ink on a strongly coloured (here blue) paper."""
    mask = np.asarray(_glyph(ink=255, paper=0)) > 127
    a = np.where(mask[..., None], np.array(ink, np.uint8), np.array(paper, np.uint8))
    return _save(Image.fromarray(a.astype(np.uint8), "RGB"), "PNG")


def _multipage_tiff() -> bytes:
    return _save(_glyph(), "TIFF", save_all=True, append_images=[_glyph(glyph=FLAG_ONE)])


def _float_tiff() -> bytes:
    return _save(Image.fromarray(np.asarray(_glyph(), np.float32) / 255.0 * 1000.0 - 300.0, "F"), "TIFF")


def _mnist_like() -> bytes:
    """28 x 28, white on black, like an MNIST image."""
    return _save(_glyph(size=(28, 28), ink=255, paper=0, width=3), "PNG")


def _bilevel() -> bytes:
    return _save(_glyph().point(lambda v: 255 if v > 127 else 0).convert("1", dither=Image.Dither.NONE), "PNG")


def _transparent_gif() -> bytes:
    """A palette GIF whose paper is the transparent colour."""
    im = _glyph().convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    return _save(im, "GIF", transparency=im.getpixel((0, 0)))


def _apng() -> bytes:
    """An animated PNG (APNG): the 7 first, then a 1."""
    return _save(_glyph(), "PNG", save_all=True, append_images=[_glyph(glyph=FLAG_ONE)], duration=300)


@dataclass(frozen=True)
class Hostile:
    name: str  # the upload's file name (the extension is what the browser would claim)
    make: Callable[[], bytes]
    expect: str  # "prediction", or a word the error message must contain
    note: str = ""  # a word a warning shown next to the prediction must contain, if any


PREDICTION = "prediction"

FILES = [
    # not images, or broken ones
    Hostile("empty.png", lambda: b"", "empty"),
    Hostile("notes.png", lambda: b"shopping list: eggs, milk, a 7\n" * 20, "not an image"),
    Hostile("scan.png", lambda: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n", "not an image"),
    Hostile("digits.jpg", _zip, "not an image"),
    Hostile("page.jpg", lambda: b"<!DOCTYPE html><html><body><img src=x></body></html>", "not an image"),
    Hostile("vector.png", lambda: b'<svg xmlns="http://www.w3.org/2000/svg"><text>7</text></svg>', "not an image"),
    Hostile("signature.png", lambda: b"\x89PNG\r\n\x1a\n", "not an image"),
    Hostile("truncated.png", lambda: _truncated(_digit_png()), "truncated"),
    Hostile("truncated.jpg", lambda: _truncated(_digit_jpeg()), "truncated"),
    Hostile("corrupt.png", _corrupt_png, "corrupt"),
    # sizes
    Hostile("bomb.png", lambda: _png_claiming(50_000, 50_000), "too large"),
    Hostile("big_header.png", lambda: _png_claiming(6_000, 6_000), "too large"),
    Hostile("pixel.png", lambda: _flat(0, size=(1, 1)), "too small"),
    Hostile("strip.png", _strip, "long"),
    Hostile("tiny.png", _tiny, PREDICTION),
    Hostile("photo.jpg", _photo, PREDICTION),
    # modes and formats
    Hostile("sixteen.png", _sixteen_bit, PREDICTION),
    Hostile("palette.png", _palette, PREDICTION),
    Hostile("cmyk.jpg", _cmyk_jpeg, PREDICTION),
    Hostile("grey_alpha.png", _grey_alpha, PREDICTION),
    Hostile("alpha_black.png", lambda: _alpha_only(0), PREDICTION),
    Hostile("alpha_white.png", lambda: _alpha_only(255), PREDICTION),
    Hostile("bilevel.png", _bilevel, PREDICTION),
    Hostile("grey.jpg", lambda: _save(_glyph(), "JPEG", quality=90), PREDICTION),
    Hostile("webp.png", lambda: _save(_glyph(), "WEBP"), PREDICTION),
    Hostile("bitmap.png", lambda: _save(_glyph(), "BMP"), PREDICTION),
    Hostile("float.png", _float_tiff, PREDICTION),
    Hostile("mnist.png", _mnist_like, PREDICTION),
    Hostile("animated.png", _animated_gif, PREDICTION, note="animated"),
    Hostile("apng.png", _apng, PREDICTION, note="animated"),
    Hostile("transparent.png", _transparent_gif, PREDICTION),
    Hostile("pages.png", _multipage_tiff, PREDICTION, note="pages"),
    Hostile("phone6.jpg", lambda: _exif_rotated(6), PREDICTION),
    Hostile("phone8.jpg", lambda: _exif_rotated(8), PREDICTION),
    # contents
    Hostile("white.png", lambda: _flat(255), "blank"),
    Hostile("black.png", lambda: _flat(0), "blank"),
    Hostile("noise.png", _noise, "noise"),
    Hostile("two.png", _two_digits, PREDICTION, note="more than one"),
    Hostile("border.png", _touching_border, PREDICTION),
    Hostile("blue_paper.png", _coloured, PREDICTION),
    Hostile("chalk.png", lambda: _coloured(paper=(30, 80, 40), ink=(240, 240, 200)), PREDICTION),
    Hostile("digit.png", _digit_png, PREDICTION),
]


# --- what the app does with each file ------------------------------------------------------------------------


@functools.cache
def _data(name: str) -> bytes:
    (hostile,) = [h for h in FILES if h.name == name]
    return hostile.make()


def _read(data: bytes) -> tuple[str, str, list[str]]:
    """What the app's upload does with the bytes (inputs.upload without the page): (PREDICTION, "", warnings)
    or ("message", the error shown, []). Anything else raised fails the test: that would be a traceback."""
    try:
        image, notes = inputs.read_upload(data)
    except EmptyDrawingError:
        return "message", inputs.BLANK_UPLOAD, []
    except PreprocessError as exc:
        return "message", str(exc), []
    assert image.shape == (28, 28) and image.dtype == np.float32
    assert np.isfinite(image).all() and image.min() >= 0 and image.max() == 1
    return PREDICTION, "", notes


def _check(hostile: Hostile, kind: str, message: str, notes: list[str]) -> None:
    if hostile.expect == PREDICTION:
        assert kind == PREDICTION, message
        if hostile.note:
            assert any(hostile.note in n.lower() for n in notes), notes
        else:
            assert not notes, notes
    else:
        assert kind == "message", f"{hostile.name} was read as a digit"
        assert hostile.expect in message.lower(), message


def test_the_family_is_large_and_mixed():
    assert len(FILES) >= 30 and len({h.name for h in FILES}) == len(FILES)
    expected = [h.expect for h in FILES]
    assert 15 <= expected.count(PREDICTION) <= len(FILES) - 10


@pytest.mark.parametrize("hostile", FILES, ids=lambda h: h.name)
def test_each_upload_is_read_or_named(hostile):
    _check(hostile, *_read(_data(hostile.name)))


# --- read the way a user means ---------------------------------------------------------------------------------


def _seen(data: bytes) -> np.ndarray:
    """The 28x28 image the model sees for an upload."""
    return inputs.read_upload(data)[0]


SEVEN_SEEN = {  # each must be seen as the plain dark-on-light 7 (digit.png) is
    "sixteen.png",
    "palette.png",
    "cmyk.jpg",
    "grey_alpha.png",
    "alpha_black.png",  # ink only in the alpha channel, black behind: the opaque part is the digit
    "alpha_white.png",  # ... white behind: the same
    "bilevel.png",
    "grey.jpg",
    "webp.png",
    "bitmap.png",
    "float.png",
    "animated.png",  # the first frame
    "apng.png",
    "pages.png",
    "transparent.png",
    "blue_paper.png",  # dark ink on coloured paper: the paper is evened out to white
    "chalk.png",
}


@pytest.mark.parametrize(
    ("width", "height", "size"), [(50_000, 50_000, "2,500 megapixels"), (6_000, 6_000, "6000x6000 px")]
)
def test_a_too_large_image_is_refused_with_its_size(width, height, size):
    """Pillow refuses a bomb (over twice its own limit) before the size can be read: the message still says
    how large the image claims to be, from Pillow's own count."""
    with pytest.raises(PreprocessError, match=rf"too large \({size}\); the limit is 25 megapixels"):
        load_upload(_png_claiming(width, height))


@pytest.mark.parametrize("name", sorted(SEVEN_SEEN))
def test_odd_formats_are_seen_as_the_plain_digit(name):
    assert shift_tolerant_diff(_seen(_data(name)), _seen(_data("digit.png"))) < 0.02


def test_exif_rotated_photos_are_read_upright():
    """A 1 with its flag, stored sideways with EXIF orientation 6 or 8, is seen as the upright 1 (exif_transpose),
    not as a turned or mirrored one."""
    upright = _seen(_save(_glyph(size=(300, 400), glyph=FLAG_ONE).convert("RGB"), "JPEG", quality=90))
    for name in ("phone6.jpg", "phone8.jpg"):
        seen = _seen(_data(name))
        assert shift_tolerant_diff(seen, upright) < 0.01, name
        for wrong in (np.rot90(upright), np.rot90(upright, 2), np.rot90(upright, 3), upright[:, ::-1]):
            assert shift_tolerant_diff(seen, wrong) > 0.04, name


def test_unevenly_lit_photo_is_evened_out():
    """The 4000 x 3000 photo, light falling from 240 to 170 across it, is seen as the same 7 on even paper is;
    without evening, the dim corner was taken for ink and the crop ran into it."""
    flat = _save(_glyph(size=(400, 300), glyph=PHOTO_SEVEN, width=11), "PNG")
    pixels = load_upload(_data("photo.jpg"))
    assert pixels.shape == (3000, 4000)  # evened: grey, ink on white
    corners = [pixels[:100, :100], pixels[:100, -100:], pixels[-100:, :100], pixels[-100:, -100:]]
    assert all(abs(float(np.median(c)) - 255) < 4 for c in corners)
    pre = to_mnist(pixels)
    top, left, bottom, right = pre.ink_box
    assert (top, left) > (800, 1300) and (bottom, right) < (2350, 2700)  # the 7, not the corner
    assert shift_tolerant_diff(pre.image, _seen(flat)) < 0.03


def test_a_clean_page_is_left_as_it_came():
    for name in ("digit.png", "mnist.png", "alpha_black.png", "chalk.png", "white.png", "noise.png"):
        pixels = np.asarray(Image.open(io.BytesIO(_data(name))))
        assert _even_page(pixels) is pixels, name


def test_two_digits_warn_and_one_digit_in_pieces_does_not():
    """Two digits side by side (or one above the other) are read, with a warning that the reading is uncertain;
    a digit drawn in separate pieces (a 5 whose top bar does not touch), a digit with specks of dirt around
    it, and a 1 next to a small smudge are one mark."""
    stacked = Image.new("L", (200, 560), PAPER)
    stacked.paste(_glyph(), (0, 0))
    stacked.paste(_glyph(glyph=FLAG_ONE), (0, 280))
    for im in (np.asarray(Image.open(io.BytesIO(_data("two.png")))), np.asarray(stacked)):
        (warning,) = check_marks(im)
        assert "more than one mark" in warning.lower() and "2 separate" in warning

    five = _glyph(glyph=[(0.3, 0.2), (0.3, 0.5), (0.6, 0.5), (0.7, 0.7), (0.55, 0.85), (0.25, 0.8)])
    ImageDraw.Draw(five).line([(0.4 * 200, 0.2 * 280), (0.75 * 200, 0.2 * 280)], fill=INK, width=16)
    dirty = _glyph()
    rng = np.random.default_rng(1)
    for x, y in rng.integers(5, 195, (30, 2)):
        ImageDraw.Draw(dirty).ellipse([x, y, x + 2, y + 2], fill=INK)
    smudge = _glyph(glyph=FLAG_ONE)
    ImageDraw.Draw(smudge).ellipse([150, 230, 170, 245], fill=INK)
    for im in (five, dirty, smudge):
        assert check_marks(np.asarray(im)) == []
        assert to_mnist(np.asarray(im)).image.shape == (28, 28)


def test_scattered_specks_are_noise():
    specks = np.full((300, 300), PAPER, np.uint8)
    rng = np.random.default_rng(2)
    for y, x in rng.integers(0, 297, (400, 2)):
        specks[y : y + 3, x : x + 3] = INK
    with pytest.raises(PreprocessError, match="noise"):
        check_marks(specks)


# --- the page: every file through the real upload widget -----------------------------------------------------


def _mime(name: str) -> str:
    return "image/jpeg" if name.endswith(".jpg") else "image/png"


def _upload(at, name: str, data: bytes):
    at.radio(key=state.SOURCE).set_value(state.UPLOAD).run()
    at.file_uploader(key=state.UPLOAD_KEY).set_value((name, data, _mime(name))).run()
    return at


@pytest.mark.usefixtures("env")  # test_app's random checkpoint and fake MNIST
@pytest.mark.parametrize("hostile", FILES, ids=lambda h: h.name)
def test_each_upload_on_the_page(hostile):
    """The page shows a prediction or an error naming the problem, never a traceback; then it keeps working:
    a good digit uploaded next is read, and the Draw source still prompts."""
    at = _upload(_app(), hostile.name, _data(hostile.name))
    _no_exception(at)
    errors = [e.value for e in at.error]
    warnings = [w.value for w in at.warning]
    if hostile.expect == PREDICTION:
        assert _metric(at) is not None and not errors, errors
        _check(hostile, PREDICTION, "", warnings)
    else:
        assert _metric(at) is None, f"{hostile.name} was read as a digit"
        assert len(errors) == 1, errors
        _check(hostile, "message", errors[0], [])
    at.file_uploader(key=state.UPLOAD_KEY).set_value(("digit.png", _data("digit.png"), "image/png")).run()
    _no_exception(at)
    assert _metric(at) is not None and not at.error
    at.radio(key=state.SOURCE).set_value(state.DRAW).run()
    _no_exception(at)
    assert any("Draw a digit" in i.value for i in at.info)
