"""capsviz.testsets.drawn_digits: templates, canvas-like rendering, determinism, and the shipped model's
accuracy on scripted drawings."""

from __future__ import annotations

import numpy as np
import pytest

from capsviz.data.preprocess import to_mnist
from capsviz.testsets.drawn_digits import TEMPLATES, Drawing, drawing_for, render, variants
from capsviz.training.checkpoint import DEFAULT_DIR

# Measured on the checkpoint at hand when this was written (see the report in the commit); raise
# it when a better checkpoint lands.
MIN_DRAWN_ACCURACY = 0.985  # shipped checkpoint ("pen" augmentation): 99.8% of 500 (seed 0), 99.85% of 2,000
MIN_FLAGGED_ONES = 0.9  # shipped: 99% of flagged 1s; the "canvas"-augmented checkpoint before it: 75%


def test_templates_cover_every_digit():
    assert sorted(TEMPLATES) == list(range(10))
    for digit, styles in TEMPLATES.items():
        assert styles, digit
        for name, strokes in styles:
            assert name and strokes
            for line in strokes:
                assert line.ndim == 2 and line.shape[1] == 2 and len(line) >= 2
    assert len(TEMPLATES[1]) >= 3 and len(TEMPLATES[7]) >= 2 and len(TEMPLATES[4]) >= 2


def test_render_is_canvas_like():
    rgba = render(drawing_for(8, style=0, width=20))
    assert rgba.shape == (280, 280, 4) and rgba.dtype == np.uint8
    assert (rgba[..., 3] == 255).all()  # opaque black background
    ink = rgba[..., 0]
    assert (ink == rgba[..., 1]).all() and (ink == rgba[..., 2]).all()
    assert (ink == 255).sum() > 1000 and (ink == 0).sum() > 30000
    assert ((ink > 0) & (ink < 255)).any()  # anti-aliased edges
    alpha = render(drawing_for(8, style=0, width=20), transparent=True)
    assert (alpha[..., 3] == ink).all()


def test_drawing_for_places_strokes():
    d = drawing_for(7, style=1, size=400, centre=(150, 220), height=200, width=16)
    assert isinstance(d, Drawing) and d.digit == 7 and len(d.strokes) == 2  # crossbar 7
    pts = np.concatenate([np.asarray(s) for s in d.strokes])
    assert pts.min() >= 0 and pts.max() <= 399
    lo, hi = pts.min(0), pts.max(0)
    assert hi[1] - lo[1] == pytest.approx(200 - 16, abs=1)  # ink height includes the pen
    assert (lo + hi) / 2 == pytest.approx((150, 220), abs=1)
    steps = np.linalg.norm(np.diff(np.asarray(d.strokes[0]), axis=0), axis=1)
    assert steps.max() < 5  # dense enough to replay as mouse moves
    with pytest.raises(ValueError):
        drawing_for(1, style=99)


def test_variants_deterministic_and_varied():
    a, b, c = variants(3, 4), variants(3, 4), variants(4, 4)
    assert len(a) == 40 and [d.digit for d in a] == [d for d in range(10) for _ in range(4)]
    assert a == b
    assert a != c
    widths = [d.width for d in variants(0, 20)]
    assert 10 <= min(widths) and max(widths) <= 35 and np.ptp(widths) > 10


def test_every_variant_preprocesses():
    for d in variants(1, 3):
        pre = to_mnist(render(d))
        assert pre.image.shape == (28, 28) and pre.image.max() == pytest.approx(1.0)


def test_shipped_checkpoint_reads_drawn_digits():
    import torch

    from capsviz.testsets.drawn_digits import drawn_digit_accuracy
    from capsviz.training.checkpoint import load_model

    torch.manual_seed(0)
    result = drawn_digit_accuracy(load_model(DEFAULT_DIR), n_per_digit=20, seed=0)
    assert result["n"] == 200 and result["rejected"] == 0
    assert result["accuracy"] >= MIN_DRAWN_ACCURACY, result["per_class"]


def test_shipped_checkpoint_reads_flagged_ones_as_one():
    """A 1 with a flag (as much of the world writes it) is a 1, not a 7."""
    import torch

    from capsviz.inspect.trace import classify
    from capsviz.testsets.drawn_digits import preprocess_all, random_drawing
    from capsviz.training.checkpoint import load_model

    rng = np.random.default_rng(7)
    drawings = [random_drawing(1, rng, style=s) for s in (1, 2) for _ in range(20)]
    images, ok = preprocess_all(drawings)
    assert ok.all()
    torch.manual_seed(0)
    preds = classify(load_model(DEFAULT_DIR), images)
    assert (preds == 1).mean() >= MIN_FLAGGED_ONES, np.bincount(preds, minlength=10)
