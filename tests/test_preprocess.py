"""capsviz.data.preprocess: MNIST's size and centre normalisation, inputs of every kind, upload safety."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from PIL import Image

from capsviz.data.preprocess import (
    EmptyDrawingError,
    PreprocessError,
    TooSmallError,
    UnreadableImageError,
    stroke_width,
    to_mnist,
)
from capsviz.data.uploads import load_upload


def centre_of_mass(img: np.ndarray) -> tuple[float, float]:
    m = img.sum()
    ys = np.arange(img.shape[0])
    return float((img.sum(1) * ys).sum() / m), float((img.sum(0) * np.arange(img.shape[1])).sum() / m)


def ink_bbox(img: np.ndarray, thr: float = 0.05) -> tuple[int, int]:
    rows = np.flatnonzero((img > thr).any(1))
    cols = np.flatnonzero((img > thr).any(0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def ring(size: int = 280, centre=(100, 170), radius=60, width=14) -> np.ndarray:
    """An off-centre white ring on black, (size, size) uint8."""
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - centre[0], xx - centre[1])
    return np.where(np.abs(r - radius) < width / 2, 255, 0).astype(np.uint8)


def shift_tolerant_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference, minimised over shifts of up to one pixel (centring rounds a
    centre of mass that sits exactly between two pixels either way)."""
    return min(float(np.abs(np.roll(a, (dy, dx), axis=(0, 1)) - b).mean()) for dy in (-1, 0, 1) for dx in (-1, 0, 1))


def canvas_rgba(gray: np.ndarray) -> np.ndarray:
    """What st_canvas returns with a black background: opaque RGBA, ink in R=G=B."""
    return np.dstack([gray, gray, gray, np.full_like(gray, 255)])


def test_output_format_and_centre_of_mass():
    pre = to_mnist(ring())
    assert pre.image.shape == (28, 28) and pre.image.dtype == np.float32
    assert pre.image.min() >= 0.0 and pre.image.max() == pytest.approx(1.0)
    cy, cx = centre_of_mass(pre.image)
    assert abs(cy - 14.0) <= 0.5 and abs(cx - 14.0) <= 0.5  # MNIST: integer shift to pixel 14
    assert not pre.inverted
    assert pre.ink_box == (34, 104, 167, 237)  # (top, left, bottom, right), exclusive ends
    assert pre.source_shape == (280, 280)


def test_subpixel_centring_is_closer():
    cy, cx = centre_of_mass(to_mnist(ring(centre=(101.3, 150.7)), subpixel=True).image)
    assert abs(cy - 14.0) < 0.1 and abs(cx - 14.0) < 0.1


def test_longer_side_is_20_and_aspect_kept():
    img = np.zeros((280, 280), np.uint8)
    img[40:240, 130:150] = 255  # a tall bar, 200 x 20
    out = to_mnist(img, normalize_stroke=False).image
    h, w = ink_bbox(out)
    assert h == 20
    assert w <= 3  # 20 * 20 / 200 = 2 px wide, plus anti-aliasing
    wide = to_mnist(np.ascontiguousarray(img.T), normalize_stroke=False).image
    assert ink_bbox(wide) == (w, 20)


def test_stroke_width_normalised_towards_mnist():
    thick = ring(radius=40, width=30)  # 30 px pen on an 80 px digit: ~7 px in the 28x28 field
    plain = to_mnist(thick, normalize_stroke=False).image
    fixed = to_mnist(thick).image
    assert ink_bbox(fixed)[0] == 20
    assert (fixed > 0.5).sum() < 0.85 * (plain > 0.5).sum()
    big = np.kron(fixed, np.ones((8, 8), np.float32))
    assert 1.8 <= stroke_width(big) / 8 <= 3.8  # MNIST's band


def test_dark_on_light_is_inverted():
    light = 255 - ring()
    pre = to_mnist(light)
    assert pre.inverted
    np.testing.assert_allclose(pre.image, to_mnist(ring()).image, atol=1e-5)
    rgb = np.dstack([light] * 3)
    assert to_mnist(rgb).inverted


def test_float_and_grey_background_inputs():
    ref = to_mnist(ring()).image
    np.testing.assert_allclose(to_mnist(ring().astype(np.float32) / 255).image, ref, atol=1e-5)
    grey_paper = (200 - ring().astype(np.float32) * (150 / 255)).astype(np.uint8)  # dark ink on grey
    pre = to_mnist(grey_paper)
    assert pre.inverted and shift_tolerant_diff(pre.image, ref) < 0.02


def test_canvas_rgba_opaque_and_alpha_only():
    g = ring()
    ref = to_mnist(g).image
    np.testing.assert_allclose(to_mnist(canvas_rgba(g)).image, ref, atol=1e-5)
    # transparent background: untouched pixels are (0, 0, 0, 0), strokes white, ink only in alpha
    alpha_only = np.dstack([np.full_like(g, 255)] * 3 + [g])
    np.testing.assert_allclose(to_mnist(alpha_only).image, ref, atol=1e-5)
    # a transparent PNG of black handwriting: composited over white, then inverted
    black_ink = np.dstack([np.zeros_like(g)] * 3 + [g])
    np.testing.assert_allclose(to_mnist(black_ink).image, ref, atol=1e-5)


def test_noise_below_threshold_is_ignored():
    img = ring().astype(np.float32) / 255
    img[5:8, 5:8] = 0.08  # a faint smudge in a corner must not stretch the bounding box
    assert to_mnist(img).ink_box == to_mnist(ring()).ink_box


def test_empty_raises():
    for blank in (
        np.zeros((280, 280), np.uint8),
        np.full((100, 80, 3), 255, np.uint8),
        np.zeros((280, 280, 4), np.uint8),
    ):
        with pytest.raises(EmptyDrawingError) as err:
            to_mnist(blank)
        assert "draw a digit" in str(err.value)
    assert issubclass(EmptyDrawingError, PreprocessError) and issubclass(PreprocessError, ValueError)


def test_dot_is_too_small():
    dot = np.zeros((280, 280), np.uint8)
    yy, xx = np.mgrid[:280, :280]
    dot[np.hypot(yy - 140, xx - 140) < 12] = 255  # one click with a 24 px pen
    with pytest.raises(TooSmallError, match="too small to read"):
        to_mnist(dot)
    speck = np.zeros((28, 28), np.uint8)
    speck[10:12, 10:12] = 255
    with pytest.raises(TooSmallError):
        to_mnist(speck)


def test_bad_array_shape():
    with pytest.raises(UnreadableImageError):
        to_mnist(np.zeros((4, 4, 5), np.uint8))


# --- uploads ------------------------------------------------------------------------------


def encode(arr: np.ndarray, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_png_and_jpeg_round_trip():
    paper = 255 - ring()  # dark ink on white, as a photo or scan would be
    ref = to_mnist(ring()).image
    for fmt in ("PNG", "JPEG"):
        arr = load_upload(encode(paper, fmt))
        assert arr.dtype == np.uint8 and arr.shape == (280, 280)
        pre = to_mnist(arr)
        assert pre.inverted
        assert shift_tolerant_diff(pre.image, ref) < (0.01 if fmt == "PNG" else 0.03), fmt
    rgba = load_upload(encode(canvas_rgba(ring()), "PNG"))
    assert rgba.shape == (280, 280, 4)
    np.testing.assert_allclose(to_mnist(rgba).image, ref, atol=1e-5)


def _scan_of(digit: np.ndarray, scale: int = 10, margin: int = 60) -> bytes:
    """An MNIST digit as a scan or photo would bring it: enlarged 10x (bicubic, Pillow's default), dark ink on
    white paper, with a white margin (wider at the top), as an RGB PNG."""
    big = Image.fromarray(255 - digit).resize((28 * scale, 28 * scale), Image.BICUBIC)
    paper = Image.new("L", (28 * scale + 2 * margin, 28 * scale + 2 * margin + 40), 255)
    paper.paste(big, (margin, margin + 40))
    buf = io.BytesIO()
    paper.convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


def _shift_tolerant_corr(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation, maximised over shifts of up to one pixel (see shift_tolerant_diff)."""
    return max(
        float(np.corrcoef(np.roll(a, (dy, dx), axis=(0, 1)).ravel(), b.ravel())[0, 1])
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
    )


def test_real_mnist_digits_round_trip_through_the_upload_path(mnist_test):
    """20 real test digits, enlarged and printed dark on white, come back through load_upload + to_mnist as
    (nearly) the same 28x28 image, and the shipped model reads each as it reads the original."""
    import torch

    from capsviz.training.checkpoint import load_model

    originals = mnist_test.images[:20].numpy()
    back = []
    for i, digit in enumerate(originals):
        arr = load_upload(_scan_of(digit))
        assert arr.shape == (28 * 10 + 120 + 40, 28 * 10 + 120, 3), i
        pre = to_mnist(arr)
        assert pre.inverted, i
        back.append(pre.image)
    back = np.stack(back)
    want = originals.astype(np.float32) / 255
    # Measured (bicubic 10x): worst digit 0.041 mean abs difference and 0.909 correlation, mean correlation 0.96.
    diffs = [shift_tolerant_diff(b, w) for b, w in zip(back, want, strict=True)]
    corrs = [_shift_tolerant_corr(b, w) for b, w in zip(back, want, strict=True)]
    assert max(diffs) < 0.06, np.round(diffs, 3)
    assert min(corrs) > 0.85 and np.mean(corrs) > 0.93, np.round(corrs, 3)

    model = load_model()
    with torch.inference_mode():
        lengths = model(torch.from_numpy(np.concatenate([want, back]))[:, None]).lengths
    pred = lengths.argmax(1).numpy()
    np.testing.assert_array_equal(pred[20:], pred[:20])  # same reading as the original, digit by digit
    assert (pred[:20] == mnist_test.labels[:20].numpy()).all()  # ... and the originals are read right


def test_exif_orientation_applied():
    img = np.zeros((40, 60), np.uint8)
    im = Image.fromarray(img)
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    buf = io.BytesIO()
    im.save(buf, format="JPEG", exif=exif.tobytes())
    assert load_upload(buf.getvalue()).shape == (60, 40)


def test_rejects_non_image():
    with pytest.raises(UnreadableImageError, match="not an image"):
        load_upload(b"%PDF-1.4 this is not a picture")
    with pytest.raises(UnreadableImageError, match="empty"):
        load_upload(b"")


def test_rejects_truncated_png():
    data = encode(255 - ring(), "PNG")
    with pytest.raises(UnreadableImageError, match="truncated or corrupt"):
        load_upload(data[: len(data) // 2])


def test_rejects_huge_image_before_decoding():
    # A valid PNG header claiming 20000 x 20000 pixels: rejected from the header alone.
    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    ihdr = (20000).to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    data = (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")
    )
    with pytest.raises(UnreadableImageError, match="too large") as err:
        load_upload(data)
    assert "the limit is 25 megapixels" in str(err.value)  # names the limit
    small = encode(np.zeros((100, 100), np.uint8), "PNG")
    with pytest.raises(UnreadableImageError, match="too large"):
        load_upload(small, max_pixels=5_000)
    noisy = encode(np.random.default_rng(0).integers(0, 256, (800, 800), dtype=np.uint8), "PNG")  # ~640 KB
    with pytest.raises(UnreadableImageError, match="limit is 0.5 MB"):
        load_upload(noisy, max_bytes=500_000)
    assert load_upload(noisy, max_bytes=len(noisy)).shape == (800, 800)  # at the limit: accepted


def test_slight_stroke_thinning_keeps_the_background_black():
    """Thinning a stroke by less than a pixel once turned the whole background inside the digit's box
    grey (the distance transform is 0 off the ink): the hole of a ring must stay black at any pen
    width, including those just above MNIST's stroke band that need only a slight thinning."""
    yy, xx = np.mgrid[:140, :140]
    radius = np.hypot(yy - 70, xx - 70)
    for width in np.arange(20.5, 22.0, 0.05):  # 20.65-21.0 need thinning by 0.25-0.48 px
        ring = (np.abs(radius - (50 - width / 2)) <= width / 2).astype(np.uint8) * 255
        out = to_mnist(ring).image
        assert out[12:17, 12:17].max() < 0.05, width
        assert (out == 0).mean() > 0.4, width
