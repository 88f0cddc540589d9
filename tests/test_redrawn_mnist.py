"""capsviz.testsets.redrawn_mnist: MNIST digits re-inked with the canvas's pen keep their shape, and the
shipped checkpoint reads them about as well as the originals."""

from __future__ import annotations

import numpy as np
import pytest

from capsviz.data.preprocess import PreprocessError, to_mnist
from capsviz.testsets.redrawn_mnist import centre_line, redraw, redrawn_accuracy

MIN_REDRAWN_ACCURACY = 0.98  # shipped checkpoint, first 500 test digits: see the model card for all 10,000


def _bar() -> np.ndarray:
    im = np.zeros((28, 28), np.float32)
    im[4:24, 12:16] = 1.0
    return im


def test_centre_line_of_a_bar_is_its_axis():
    pts = centre_line(_bar())
    assert len(pts) > 10
    assert np.allclose(pts[:, 1], 14.0, atol=0.6)  # x: the bar's middle
    assert pts[:, 0].min() < 8 and pts[:, 0].max() > 20  # y: most of its length
    assert len(centre_line(np.zeros((28, 28), np.float32))) == 0


def test_redraw_is_canvas_like_and_seeded():
    a = redraw(_bar(), np.random.default_rng(0))
    b = redraw(_bar(), np.random.default_rng(0))
    c = redraw(_bar(), np.random.default_rng(1))
    assert a.shape == (280, 280, 4) and a.dtype == np.uint8 and (a[..., 3] == 255).all()
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    ink = a[..., 0]
    assert (ink == 255).sum() > 300 and ((ink > 0) & (ink < 255)).any()  # solid core, soft edge
    ys, xs = np.nonzero(ink > 127)
    assert np.ptp(ys) > 3 * np.ptp(xs)  # still an upright bar
    with pytest.raises(PreprocessError):
        redraw(np.zeros((28, 28), np.float32), np.random.default_rng(0))


def test_redrawn_digit_comes_back_close_to_the_original(mnist_test):
    rng = np.random.default_rng(0)
    for i in range(20):
        original = mnist_test.images[i].numpy().astype(np.float32) / 255
        back = to_mnist(redraw(original, rng)).image
        a, b = original > 0.3, back > 0.3
        assert (a & b).sum() / (a | b).sum() > 0.3, i  # same digit, same place, other pen


@pytest.mark.slow
def test_shipped_checkpoint_reads_redrawn_digits(mnist_test):
    from capsviz.training.checkpoint import DEFAULT_DIR, load_model

    n = 500
    images = mnist_test.images[:n].numpy().astype(np.float32) / 255
    res = redrawn_accuracy(load_model(DEFAULT_DIR), images, mnist_test.labels[:n].numpy(), seed=0)
    assert res["n"] == n and res["rejected"] == 0
    assert res["accuracy"] >= MIN_REDRAWN_ACCURACY, res["per_class"]
