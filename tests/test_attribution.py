"""capsviz.inspect.attribution: Integrated Gradients of capsule lengths, its faithfulness, routing relation and the map
back onto a drawing. Uses the shipped checkpoint and MNIST's test set."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from scipy import ndimage

from capsviz.data.preprocess import to_mnist
from capsviz.inspect import attribution as A
from capsviz.inspect.trace import trace_image
from capsviz.training.checkpoint import load_model


@pytest.fixture(scope="module")
def model():
    return load_model()


@pytest.fixture(scope="module")
def digits(mnist_test) -> tuple[np.ndarray, np.ndarray]:
    """30 test digits (3 per class, the first of each in test order) as floats, and their labels."""
    labels = mnist_test.labels.numpy()
    idx = np.concatenate([np.flatnonzero(labels == c)[:3] for c in range(10)])
    return mnist_test.images.numpy()[idx].astype(np.float32) / 255.0, labels[idx]


def test_the_attributed_lengths_are_the_models(model, digits):
    """Same forward values as the model (only the gradient path through routing differs)."""
    images, _ = digits
    x = torch.as_tensor(images[:8]).unsqueeze(1)
    with torch.no_grad():
        ours = A.capsule_lengths(model, x)
        theirs = model(x, reconstruct=False).lengths
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)


def test_map_shape_sign_and_completeness(model, digits):
    images, labels = digits
    image, label = images[0], int(labels[0])
    a = A.attribute(model, image, label, n_steps=48)
    assert a.values.shape == (28, 28)
    assert np.all(a.values[image == 0] == 0)  # black input and black baseline: nothing to attribute
    assert a.score > a.baseline_score and a.values.sum() > 0  # the ink makes the capsule longer
    # Completeness: the map sums to length(x) - length(black).
    assert a.values.sum() == pytest.approx(a.score - a.baseline_score, rel=0.03)
    assert abs(a.delta) < 0.03 * abs(a.score - a.baseline_score)
    assert a.score == pytest.approx(float(trace_image(model, image).lengths[label]), abs=1e-4)


def test_the_contrast_is_the_difference_of_two_maps(model, digits):
    """IG is linear in the attributed function: the map of length(7) - length(1) is map(7) - map(1) (exactly in
    fp32; to bf16's rounding of the path's gradients by default)."""
    image = digits[0][0]
    for bf16, tol in ((False, 1e-4), (None, 2e-2)):
        c = A.attribute(model, image, 7, versus=1, n_steps=8, bf16=bf16)
        seven, one = (A.attribute(model, image, d, n_steps=8, bf16=bf16) for d in (7, 1))
        diff = seven.values - one.values
        np.testing.assert_allclose(c.values, diff, rtol=0, atol=tol * np.abs(diff).max())
        assert c.versus == 1 and c.score == pytest.approx(seven.score - one.score, abs=1e-5)


def test_top_and_random_ink_take_the_same_share_of_the_ink():
    image = np.zeros((28, 28), np.float32)
    image[5:25, 10:15] = 1.0  # 100 ink pixels
    values = np.arange(784, dtype=np.float32).reshape(28, 28)
    top = A.top_ink(image, values)
    rand = A.random_ink(image, np.random.default_rng(0))
    assert top.sum() == rand.sum() == 10
    assert np.all(image[top] > 0) and np.all(image[rand] > 0)
    assert values[top].min() >= values[(image > 0) & ~top].max()  # the ten largest


def test_receptive_weights_cover_each_cells_17x17_patch():
    w = A.receptive_weights()
    assert w.shape == (6, 28)
    for r in range(6):
        assert set(np.flatnonzero(w[r])) == set(range(2 * r, 2 * r + 17))
        assert w[r].sum() == 81 and w[r].max() == 9  # 9 x 9 paths, the most through the centre


def test_routing_relation_is_a_distribution_and_favours_the_explained_capsule(model, digits):
    images, labels = digits
    for image, label in zip(images[::6], labels[::6], strict=True):
        trace = trace_image(model, image)
        rel = A.routing_relation(trace, A.attribute(model, image, int(label)).values)
        assert rel.cell_weight.shape == (6, 6) and rel.cell_weight.sum() == pytest.approx(1.0)
        assert rel.cell_coupling.shape == (6, 6, 10)
        assert rel.routed.sum() == pytest.approx(1.0) and rel.routed_all.sum() == pytest.approx(1.0)
        assert int(np.argmax(rel.routed)) == label  # the primaries above its ink vote for it


def _drawing(size: tuple[int, int], lines, width: int) -> np.ndarray:
    im = Image.new("L", (size[1], size[0]))
    d = ImageDraw.Draw(im)
    for line in lines:
        d.line(line, fill=255, width=width, joint="curve")
    return np.asarray(im)


@pytest.mark.parametrize(
    ("size", "lines", "width", "subpixel"),
    [
        ((280, 280), [[(70, 50), (210, 50), (120, 240)]], 18, False),  # the canvas, a 7
        ((280, 280), [[(140, 60), (150, 200)]], 4, True),  # a thin 1: the stroke is dilated
        ((300, 500), [[(200, 40), (320, 40), (260, 260)]], 40, False),  # a wide upload, a thick pen
        ((1200, 900), [[(200, 100), (700, 100), (450, 1100)]], 60, False),  # a photo: reduced 3x3 first
    ],
)
def test_a_map_over_the_input_lands_on_the_drawing(size, lines, width, subpixel):
    """The model's input, mapped back through the preprocessing, lies on the drawing's strokes."""
    source = _drawing(size, lines, width)
    pre = to_mnist(source, subpixel=subpixel)
    back = A.to_source_grid(pre.image, pre)
    assert back.shape == source.shape
    ink, mapped = source > 127, back > 0.5
    field_px = max(pre.source_scale)  # source pixels per input pixel
    # What comes back sits on the ink, within about a pixel of the input (more where thin strokes were dilated) ...
    assert np.percentile(ndimage.distance_transform_edt(~ink)[mapped], 95) <= 1.5 * field_px
    assert (ink & (back > 0.2)).sum() / ink.sum() > 0.7  # ... and covers it
    cy, cx = (np.argwhere(ink).mean(axis=0) - np.argwhere(mapped).mean(axis=0)) / np.array(size)
    assert abs(cy) < 0.02 and abs(cx) < 0.02


def test_attribution_timings_report_the_new_drawing_cost(model):
    t = A.attribution_timings(model, repeats=2)
    assert {"n_steps", "p50_ms", "p95_ms", "threads", "trace_p50_ms"} <= set(t)
    assert t["n_steps"] == A.N_STEPS and 0 < t["p50_ms"] <= t["p95_ms"]


@pytest.mark.slow
def test_deleting_the_most_attributed_ink_hurts_more_than_deleting_random_ink(model, digits):
    """Faithfulness on 30 test digits (3 per class): the top 10% of the ink by attribution vs random 10%s."""
    images, _ = digits
    result, convergence = A.faithfulness(model, images)
    s = result.summary()
    assert s["top_mean_drop"] > 2 * s["random_mean_drop"]
    assert s["top_beats_random"] >= 0.9
    assert convergence["rel_delta_p50"] < 0.05
