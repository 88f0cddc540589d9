"""capsviz.data.augment: every mode keeps shape and range, is reproducible from its generator, and the
pen mode's flags go on 1s only, at the top left, keeping the digit centred."""

from __future__ import annotations

import pytest
import torch

from capsviz.data.augment import MODES, NEEDS_LABELS, add_flags, augment, random_elastic, swap_in


def _bar_ones(n: int) -> torch.Tensor:
    """n plain upright 1s, MNIST-like: a 3-px bar, rows 4-23, centred."""
    x = torch.zeros(n, 1, 28, 28)
    x[:, 0, 4:24, 13:16] = 1.0
    return x


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(8, 1, 28, 28, generator=g) > 0.8).float()
    x = torch.cat([x, _bar_ones(8)])
    y = torch.tensor([0, 2, 3, 4, 5, 6, 7, 8] + [1] * 8)
    return x, y


@pytest.mark.parametrize("mode", MODES)
def test_modes_keep_shape_range_and_are_reproducible(mode):
    x, y = _batch()
    a = augment(x, mode, torch.Generator().manual_seed(1), labels=y)
    b = augment(x, mode, torch.Generator().manual_seed(1), labels=y)
    c = augment(x, mode, torch.Generator().manual_seed(2), labels=y)
    assert a.shape == x.shape and a.dtype == x.dtype
    assert a.min() >= 0 and a.max() <= 1 + 1e-6
    assert torch.equal(a, b)
    if mode != "none":
        assert not torch.equal(a, c)


def test_bad_mode_and_missing_labels_are_refused():
    x, _ = _batch()
    with pytest.raises(ValueError, match="must be one of"):
        augment(x, "rotate-a-lot", torch.Generator())
    for mode in NEEDS_LABELS:
        with pytest.raises(ValueError, match="labels"):
            augment(x, mode, torch.Generator())


def test_flags_go_on_ones_only_top_left_and_keep_the_centre():
    x, y = _batch()
    out = add_flags(x, y, torch.Generator().manual_seed(0), p=1.0, base_p=0.0)
    assert torch.equal(out[:8], x[:8])  # other digits untouched
    ones = out[8:, 0]
    assert (ones.sum((1, 2)) > x[8:, 0].sum((1, 2)) + 5).all()  # each 1 got a stroke
    # the flag: ink left of the bar in the top third, none there before
    cols = torch.arange(28.0)
    mass = ones.sum((1, 2))
    cx = (ones.sum(1) * cols).sum(1) / mass
    cy = (ones.sum(2) * cols).sum(1) / mass
    assert (cx - 13.5).abs().max() <= 1.0 and (cy - 13.5).abs().max() <= 1.0  # re-centred like MNIST
    for img, shift_x in zip(ones, (13.5 - cx).round(), strict=True):
        rows, colidx = torch.nonzero(img > 0.5, as_tuple=True)
        left = colidx < 13 + shift_x - 1
        assert left.any() and rows[left].float().mean() < rows.float().mean()  # left ink sits high


def test_flag_probability_and_base():
    x = _bar_ones(400)
    y = torch.ones(400, dtype=torch.long)
    out = add_flags(x, y, torch.Generator().manual_seed(0), p=0.5, base_p=1.0)
    changed = (out != x).flatten(1).any(1).float().mean().item()
    assert 0.4 < changed < 0.6
    flagged = out[(out != x).flatten(1).any(1)]
    # a base: a wide row of ink in the lower half; without one the lower half is only the bar
    wide_low = ((flagged[:, 0, 14:] > 0.5).sum(2).amax(1) >= 8).float().mean()
    assert wide_low > 0.9
    plain = add_flags(x, y, torch.Generator().manual_seed(0), p=0.5, base_p=0.0)
    assert ((plain[:, 0, 14:] > 0.5).sum(2).amax(1) >= 8).float().mean() == 0


def test_elastic_moves_ink_but_not_much():
    x, _ = _batch()
    same = random_elastic(x, torch.Generator().manual_seed(0), alpha=0.0)
    assert torch.allclose(same, x, atol=1e-5)
    warped = random_elastic(_bar_ones(16), torch.Generator().manual_seed(0), alpha=8.0)
    assert not torch.allclose(warped, _bar_ones(16))
    rel = (warped.sum((1, 2, 3)) / _bar_ones(16).sum((1, 2, 3)) - 1).abs()
    assert rel.max() < 0.35  # a warp, not an eraser


def test_swap_in_replaces_the_given_share():
    x = torch.zeros(1000, 1, 4, 4)
    twins = torch.ones(1000, 1, 4, 4)
    out = swap_in(x, twins, 0.3, torch.Generator().manual_seed(0))
    share = out.flatten(1).amax(1).mean().item()
    assert 0.25 < share < 0.35
    assert set(out.unique().tolist()) == {0.0, 1.0}  # whole images swapped, never blended
    assert torch.equal(swap_in(x, twins, 0.0, torch.Generator()), x)


# --- the documented ranges: ±2 px shifts, ±12° rotation, 0.9–1.1 scale ---------------------------------------


def _two_dots(n: int, sigma: float = 1.5) -> torch.Tensor:
    """n copies of two Gaussian dots 12 px apart on a horizontal line through the image centre (13.5, 13.5)."""
    yy, xx = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    img = sum(torch.exp(-((yy - 13.5) ** 2 + (xx - cx) ** 2) / (2 * sigma**2)) for cx in (7.5, 19.5))
    return img.expand(n, 1, 28, 28).clone()


def _measure(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per image: shift of the centre of mass (dy, dx) in px, angle of the line through the two dots in
    degrees, and the dots' distance relative to the original 12 px."""
    x = x[:, 0].double()
    yy, xx = torch.meshgrid(torch.arange(28.0, dtype=x.dtype), torch.arange(28.0, dtype=x.dtype), indexing="ij")

    def centre(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = (x * w).sum((1, 2))
        return (x * w * yy).sum((1, 2)) / m, (x * w * xx).sum((1, 2)) / m

    cy, cx = centre(torch.ones_like(x))
    left = (xx < cx.view(-1, 1, 1)).to(x.dtype)  # one dot each side of the pair's centre
    (ly, lx), (ry, rx) = centre(left), centre(1 - left)
    angle = torch.rad2deg(torch.atan2(ry - ly, rx - lx))
    return cy - 13.5, cx - 13.5, angle, torch.hypot(ry - ly, rx - lx) / 12


N_SAMPLES = 4000
# Measurement error on these dots (bilinear resampling, stroke-width blending): the 4,000 measured angles reach
# ±12.04°, the scales 0.896-1.101. A range 1° or 0.02 wider or narrower than documented fails.
ANGLE_TOL, SCALE_TOL = 0.5, 0.01


def test_canvas_augmentation_spans_the_documented_ranges():
    """`canvas` (and `pen`, which adds elastic distortion and flags to it): ±2 px shifts, ±12° rotation,
    0.9–1.1 scale, as README and the model card's augmentation line say -- no more, and not less."""
    dy, dx, angle, scale = _measure(augment(_two_dots(N_SAMPLES), "canvas", torch.Generator().manual_seed(0)))
    for shift in (dy, dx):
        assert (shift - shift.round()).abs().max() < 0.05  # whole-pixel shifts (measured: within 0.015)
        assert set(shift.round().long().tolist()) == {-2, -1, 0, 1, 2}
    assert len(set(zip(dy.round().tolist(), dx.round().tolist(), strict=True))) == 25  # independent in y and x
    assert angle.abs().max() <= 12 + ANGLE_TOL
    assert angle.min() < -11 and angle.max() > 11
    assert 0.9 - SCALE_TOL <= scale.min() < 0.91 and 1.09 < scale.max() <= 1.1 + SCALE_TOL
    assert ((scale > 0.9) & (scale < 0.95)).any() and ((scale > 1.05) & (scale < 1.1)).any()  # spread, not two values


def test_paper_augmentation_only_shifts():
    dy, dx, angle, scale = _measure(augment(_two_dots(500), "paper", torch.Generator().manual_seed(0)))
    for shift in (dy, dx):
        assert (shift - shift.round()).abs().max() < 1e-3  # whole pixels (the dots' far tails fall off the edge)
        assert set(shift.round().long().tolist()) == {-2, -1, 0, 1, 2}
    assert angle.abs().max() < 1e-3 and (scale - 1).abs().max() < 1e-3
