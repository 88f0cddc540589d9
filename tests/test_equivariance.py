"""capsviz.inspect.equivariance: the image transforms and the batched sweep."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from capsviz.inspect.equivariance import (
    LIMITS,
    EquivarianceSweep,
    Transform,
    default_values,
    run_images,
    sweep,
    transform_image,
)
from capsviz.inspect.trace import reconstruct, trace_image
from capsviz.model.capsnet import CapsNet, CapsNetConfig


def _bar() -> np.ndarray:
    img = np.zeros((28, 28), np.float32)
    img[13:15, 6:22] = 1.0  # horizontal bar through the centre (13.5, 13.5)
    return img


def _ink_extent(img: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(img > 0.5)
    return rows.min(), rows.max(), cols.min(), cols.max()


@pytest.fixture(scope="module")
def model() -> CapsNet:
    torch.manual_seed(0)
    return CapsNet(CapsNetConfig()).eval()


def test_identity_returns_the_input():
    img = np.random.default_rng(0).random((28, 28)).astype(np.float32)
    out = transform_image(img, Transform())
    np.testing.assert_array_equal(out, img)
    assert out is not img
    # a zero-valued non-default call is the identity too, up to interpolation round-off
    np.testing.assert_allclose(transform_image(img, Transform(angle=1e-9)), img, atol=1e-5)


def test_rotating_a_bar_by_90_degrees_makes_it_vertical():
    out = transform_image(_bar(), Transform(angle=90))
    r0, r1, c0, c1 = _ink_extent(out)
    assert (r0, r1) == (6, 21) and (c0, c1) == (13, 14)
    assert out.sum() == pytest.approx(_bar().sum(), rel=1e-3)


def test_rotation_is_counter_clockwise_on_screen():
    img = np.zeros((28, 28), np.float32)
    img[13:15, 20:22] = 1.0  # a blob right of the centre
    out = transform_image(img, Transform(angle=90))
    r, c = np.unravel_index(out.argmax(), out.shape)
    assert r < 10 and 12 <= c <= 15  # now above the centre


def test_shift_moves_by_whole_pixels_right_and_down():
    img = np.zeros((28, 28), np.float32)
    img[10, 10] = 1.0
    out = transform_image(img, Transform(shift_x=3, shift_y=-2))
    assert out[8, 13] == pytest.approx(1.0) and out.sum() == pytest.approx(1.0)


def test_scale_enlarges_about_the_centre():
    img = np.zeros((28, 28), np.float32)
    img[11:17, 11:17] = 1.0  # 6x6 square centred at 13.5
    r0, r1, c0, c1 = _ink_extent(transform_image(img, Transform(scale=1.3)))
    assert (
        (r1 - r0) >= 7
        and (r0 + r1) / 2 == pytest.approx(13.5, abs=0.5)
        and (c0 + c1) / 2 == pytest.approx(13.5, abs=0.5)
    )
    r0, r1, _, _ = _ink_extent(transform_image(img, Transform(scale=0.7)))
    assert (r1 - r0) <= 4


def test_rotation_then_inverse_restores_the_interior():
    img = np.zeros((28, 28), np.float32)
    img[8:20, 12:16] = 1.0
    back = transform_image(transform_image(img, Transform(angle=30)), Transform(angle=-30))
    assert np.abs(back - img).mean() < 0.03


def test_transform_with_value_and_validation():
    t = Transform(angle=10).with_value("scale", 1.2)
    assert (t.angle, t.scale) == (10, 1.2)
    with pytest.raises(ValueError):
        Transform().with_value("shear", 1)
    with pytest.raises(ValueError):
        default_values("shear")
    for kind, (lo, hi) in LIMITS.items():
        vals = default_values(kind)
        assert vals[0] == pytest.approx(lo) and vals[-1] == pytest.approx(hi)


def test_run_images_batches_and_decodes_the_chosen_capsule(model):
    imgs = np.stack([_bar(), transform_image(_bar(), Transform(angle=45))])
    res = run_images(model, imgs, digit=4)
    assert res.lengths.shape == (2, 10) and res.poses.shape == (2, 10, 16) and res.reconstructions.shape == (2, 28, 28)
    np.testing.assert_array_equal(res.predictions, res.lengths.argmax(1))
    np.testing.assert_allclose(res.reconstructions[1], reconstruct(model, res.poses[1], 4), atol=1e-5)
    # the batched pass agrees with the single-image trace
    tr = trace_image(model, imgs[0])
    np.testing.assert_allclose(res.lengths[0], tr.lengths, atol=1e-5)


def test_sweep_shapes_and_consistency(model):
    sw = sweep(model, _bar(), "angle", digit=3)
    assert isinstance(sw, EquivarianceSweep)
    n = len(default_values("angle"))
    assert sw.kind == "angle" and sw.digit == 3 and sw.values.shape == (n,)
    assert sw.images.shape == (n, 28, 28) and sw.reconstructions.shape == (n, 28, 28)
    assert sw.lengths.shape == (n, 10) and sw.poses.shape == (n, 16) and sw.predictions.shape == (n,)
    zero = int(np.argmin(np.abs(sw.values)))
    np.testing.assert_allclose(sw.images[zero], _bar())
    tr = trace_image(model, _bar())
    np.testing.assert_allclose(sw.poses[zero], tr.poses[3], atol=1e-5)
    np.testing.assert_allclose(sw.lengths[zero], tr.lengths, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(sw.poses, axis=1), sw.lengths[:, 3], atol=1e-5)


def test_sweep_holds_the_other_parameters_and_defaults_to_the_prediction(model):
    base = Transform(angle=20)
    sw = sweep(model, _bar(), "shift_x", values=[-2.0, 0.0, 2.0], base=base)
    np.testing.assert_allclose(sw.images[1], transform_image(_bar(), base), atol=1e-6)
    assert sw.digit == int(trace_image(model, transform_image(_bar(), base)).prediction)
