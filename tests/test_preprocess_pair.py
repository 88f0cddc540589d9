"""Two-digit preprocessing (capsviz.data.preprocess_pair), the stroke-share computation (capsviz.inspect.pair_trace),
the scripted overlapping drawings (capsviz.testsets.drawn_pairs) and the pair figures. No trained weights needed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from scipy import ndimage

from capsviz.data.multimnist import MAX_SHIFT, MULTIMNIST_CONFIG, place_digits
from capsviz.data.preprocess import EmptyDrawingError, to_mnist
from capsviz.data.preprocess_pair import (
    FRAME,
    FRAME_CENTRE,
    INK_COLOURS,
    PAIR_LONG_SIDE,
    InkLayers,
    PairPreprocessError,
    drawn_shifts,
    hex_rgb,
    paint_layers,
    split_colours,
    to_pair_frame,
)
from capsviz.figures import pairs as pair_figures
from capsviz.inspect.pair_trace import field_ink, field_weights, stroke_shares, top_two, trace_shares
from capsviz.inspect.trace import trace_image
from capsviz.model.capsnet import CapsNet
from capsviz.model.routing import uniform_coupling
from capsviz.testsets.drawn_digits import drawing_for, render
from capsviz.testsets.drawn_pairs import pair_layers, render_pair, scripted_pairs


def _layers(*drawings) -> np.ndarray:
    return np.stack([render(d)[..., 0].astype(np.float32) / 255.0 for d in drawings])


def _bar_and_ring(offset: int = 40) -> np.ndarray:
    """Two 280x280 layers: a vertical bar (a 1) left of a ring (a 0), ``offset`` px apart."""
    layers = []
    for shape in ("bar", "ring"):
        im = Image.new("L", (280, 280))
        d = ImageDraw.Draw(im)
        if shape == "bar":
            d.line([(140 - offset // 2, 50), (140 - offset // 2, 230)], fill=255, width=18)
        else:
            d.ellipse((140 + offset // 2 - 60, 50, 140 + offset // 2 + 60, 230), outline=255, width=18)
        layers.append(np.asarray(im, np.float32) / 255.0)
    return np.stack(layers)


# --- colours -> ink layers -------------------------------------------------------------------------------------


def test_split_colours_recovers_each_pen_where_the_strokes_do_not_cross():
    layers = _bar_and_ring(offset=200)  # far apart: no pixel painted twice
    split = split_colours(paint_layers(layers))
    np.testing.assert_allclose(split.layers, layers, atol=2.5 / 255)
    assert split.present() == [0, 1]


def test_split_colours_over_a_crossing_keeps_the_top_stroke_and_all_the_ink():
    layers = _bar_and_ring(offset=0)  # the bar runs through the ring
    split = split_colours(paint_layers(layers))
    crossing = (layers[0] > 0.99) & (layers[1] > 0.99)
    assert crossing.sum() > 100
    assert split.layers[1][crossing].min() > 0.98  # the second pen painted over the first there
    assert split.layers[0][crossing].max() < 0.02
    np.testing.assert_allclose(split.total[crossing], 1.0, atol=0.02)  # the model still sees ink there


def test_split_colours_reads_a_transparent_canvas_like_an_opaque_one():
    layers = _bar_and_ring(offset=200)
    transparent = np.zeros((280, 280, 4), np.uint8)  # the drawing layer: the pen's colour, coverage in alpha
    for k, colour in enumerate(INK_COLOURS):
        transparent[layers[k] > 0, :3] = (hex_rgb(colour) * 255).round().astype(np.uint8)
    transparent[..., 3] = (np.clip(layers.sum(0), 0, 1) * 255).round().astype(np.uint8)
    np.testing.assert_allclose(split_colours(transparent).layers, layers, atol=2.5 / 255)


def test_the_pens_are_distinct_and_unmixable():
    mix = np.stack([hex_rgb(c) for c in INK_COLOURS], axis=1)
    assert np.linalg.cond(mix) < 5


# --- preprocessing -----------------------------------------------------------------------------------------------


def test_two_inks_become_two_mnist_digits_shifted_by_the_drawn_offset():
    layers = _bar_and_ring(offset=60)
    pre = to_pair_frame(InkLayers(layers))
    assert pre.image.shape == (FRAME, FRAME) and pre.image.dtype == np.float32
    assert pre.layers is not None and pre.layers.shape == (2, FRAME, FRAME)
    np.testing.assert_allclose(pre.image, np.clip(pre.layers.sum(axis=0), 0, 1))
    # each layer is its ink in MNIST's form (to_mnist), moved by its shift, exactly as training pairs are made
    for k in range(2):
        placed = place_digits(torch.from_numpy(to_mnist(layers[k]).image), torch.from_numpy(pre.shifts[k])).numpy()
        np.testing.assert_allclose(pre.layers[k], placed)
    (dy0, dx0), (dy1, dx1) = pre.shifts
    assert dx0 < 0 < dx1 and abs(dy0) <= 1 and abs(dy1) <= 1  # the bar was drawn left of the ring
    assert np.abs(pre.shifts).max() <= MAX_SHIFT and not pre.clamped
    mid = np.mean([ndimage.center_of_mass(layer) for layer in pre.layers], axis=0)
    np.testing.assert_allclose(mid, FRAME_CENTRE, atol=1.0)  # the pair's middle sits at the frame's centre


def test_digits_drawn_far_apart_are_brought_within_the_training_offsets():
    pre = to_pair_frame(InkLayers(_bar_and_ring(offset=200)))
    assert pre.clamped
    assert pre.shifts[0, 1] == -MAX_SHIFT and pre.shifts[1, 1] == MAX_SHIFT


def test_drawn_shifts_are_half_the_scaled_offset_each_way():
    shifts, clamped = drawn_shifts(np.array([[100.0, 80.0], [110.0, 140.0]]), scale=0.1)
    assert shifts.tolist() == [[0, -3], [0, 3]] and not clamped
    shifts, clamped = drawn_shifts(np.array([[0.0, 0.0], [0.0, 200.0]]), scale=0.1)
    assert shifts.tolist() == [[0, -MAX_SHIFT], [0, MAX_SHIFT]] and clamped


def test_a_multimnist_pair_given_as_two_layers_comes_back_with_its_shifts():
    a = to_mnist(render(drawing_for(3))).image
    b = to_mnist(render(drawing_for(7))).image
    shifts = np.array([[2, -3], [-2, 3]])
    digits = place_digits(torch.from_numpy(np.stack([a, b])), torch.from_numpy(shifts)).numpy()
    pre = to_pair_frame(InkLayers(digits))
    assert np.abs(pre.shifts - shifts).max() <= 1
    overlap = (pre.image * np.clip(digits.sum(0), 0, 1)).sum() / (np.clip(digits.sum(0), 0, 1) ** 2).sum()
    assert overlap > 0.8  # nearly the same picture as the pair itself


def test_one_ink_is_fitted_whole_to_the_pairs_size_and_centred():
    ink = np.clip(_bar_and_ring(offset=60).sum(axis=0), 0, 1)
    pre = to_pair_frame(ink)
    assert pre.layers is None and pre.shifts is None
    rows = np.flatnonzero((pre.image > 0.1).any(axis=1))
    cols = np.flatnonzero((pre.image > 0.1).any(axis=0))
    assert abs(max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 - PAIR_LONG_SIDE) <= 2
    np.testing.assert_allclose(ndimage.center_of_mass(pre.image), FRAME_CENTRE, atol=0.8)
    assert pre.image.max() == pytest.approx(1.0)


def test_one_pen_on_the_canvas_is_read_whole():
    layers = np.stack([np.clip(_bar_and_ring().sum(0), 0, 1), np.zeros((280, 280), np.float32)])
    pre = to_pair_frame(split_colours(paint_layers(layers)))
    assert pre.layers is None and pre.image.max() == pytest.approx(1.0)


def test_dark_on_light_upload_is_inverted():
    ink = np.clip(_bar_and_ring().sum(axis=0), 0, 1)
    pre = to_pair_frame((255 - ink * 235).astype(np.uint8))
    assert pre.inverted
    np.testing.assert_allclose(pre.image, to_pair_frame(ink).image, atol=0.1)


def test_empty_and_unreadable_drawings_raise_messages():
    with pytest.raises(EmptyDrawingError):
        to_pair_frame(InkLayers(np.zeros((2, 280, 280), np.float32)))
    layers = _bar_and_ring()
    layers[1] = 0.0
    layers[1, 140:143, 140:143] = 1.0  # a speck of the second pen
    with pytest.raises(PairPreprocessError, match="Second digit"):
        to_pair_frame(InkLayers(layers))


# --- stroke shares -------------------------------------------------------------------------------------------------


def test_field_weights_and_field_ink_follow_the_primary_grid():
    w = field_weights()
    assert w.shape == (17, 17) and w.sum() == pytest.approx(1.0) and w.argmax() == 8 * 17 + 8
    assert field_ink(np.ones((2, 36, 36))).shape == (2, 10, 10)
    assert field_ink(np.ones((1, 28, 28))).shape == (1, 6, 6)
    ink = np.zeros((1, 36, 36))
    ink[0, 10, 10] = 1.0  # seen by positions whose field (rows 2r .. 2r + 16) holds row 10: r = 0 .. 5
    seen = field_ink(ink)[0] > 0
    assert seen[:6, :6].all() and not seen[6:].any() and not seen[:, 6:].any()


def _left_right(types: int = 2, grid: int = 10, size: int = 36) -> tuple[np.ndarray, np.ndarray]:
    """Ink layers in the left and right thirds, and all-ones primary lengths."""
    layers = np.zeros((2, size, size))
    layers[0, 8:28, 2:10] = 1.0
    layers[1, 8:28, 26:34] = 1.0
    return layers, np.ones((types, grid, grid))


def test_uniform_routing_gives_every_ink_the_uniform_share():
    layers, lengths = _left_right()
    coupling = np.full((1, 200, 10), 0.1)
    shares = stroke_shares(coupling, lengths, layers, (3, 5))
    assert shares.shape == (1, 2, 2)
    np.testing.assert_allclose(shares, uniform_coupling(10))


def test_each_ink_goes_to_the_digit_its_capsules_route_to():
    layers, lengths = _left_right()
    types, grid = lengths.shape[:2]
    coupling = np.full((2, grid, grid, types, 10), 0.0)
    coupling[0] = 0.1  # iteration 1: uniform
    coupling[1, :, :5, :, 3] = 1.0  # iteration 2: the left half routes all to digit 3 ...
    coupling[1, :, 5:, :, 5] = 1.0  # ... the right half to digit 5 (flat i = (row * G + col) * types + t)
    shares = stroke_shares(coupling.reshape(2, -1, 10), lengths, layers, (3, 5))
    np.testing.assert_allclose(shares[0], 0.1)
    assert shares[1, 0, 0] > 0.95 and shares[1, 0, 1] < 0.05  # the left ink: digit 3's
    assert shares[1, 1, 1] > 0.95 and shares[1, 1, 0] < 0.05  # the right ink: digit 5's


def test_a_layer_without_ink_has_no_share():
    layers, lengths = _left_right()
    layers[1] = 0.0
    shares = stroke_shares(np.full((1, 200, 10), 0.1), lengths, layers, (3, 5))
    assert np.isfinite(shares[0, 0]).all() and np.isnan(shares[0, 1]).all()


def test_trace_shares_run_on_a_36x36_model():
    torch.manual_seed(0)
    model = CapsNet(MULTIMNIST_CONFIG).eval()
    pre = to_pair_frame(InkLayers(_bar_and_ring(offset=60)))
    trace = trace_image(model, pre.image, iterations=3)
    assert trace.primary_lengths.shape == (32, 10, 10)
    shares = trace_shares(trace, pre.layers, top_two(trace.lengths))
    assert shares.shape == (3, 2, 2) and np.isfinite(shares).all()
    np.testing.assert_allclose(shares[0], 0.1, atol=1e-6)  # the first iteration routes uniformly


def test_top_two_is_longest_first():
    assert top_two(np.array([0.1, 0.8, 0.3, 0.9])) == (3, 1)


# --- scripted overlapping drawings and figures ----------------------------------------------------------------------


def test_scripted_pairs_overlap_in_two_classes_and_repeat_with_the_seed():
    pairs = scripted_pairs(20, seed=3)
    assert all(a.digit != b.digit for a, b in pairs)
    assert [(a.digit, b.digit) for a, b in pairs] == [(a.digit, b.digit) for a, b in scripted_pairs(20, seed=3)]
    overlapping = 0
    for a, b in pairs[:8]:
        la, lb = pair_layers(a, b)
        boxes = [ndimage.find_objects((x > 0.5).astype(int))[0] for x in (la, lb)]
        rows = min(boxes[0][0].stop, boxes[1][0].stop) - max(boxes[0][0].start, boxes[1][0].start)
        cols = min(boxes[0][1].stop, boxes[1][1].stop) - max(boxes[0][1].start, boxes[1][1].start)
        overlapping += rows > 0 and cols > 0
    assert overlapping == 8  # their ink boxes overlap
    rgba = render_pair(*pairs[0])
    assert rgba.shape == (280, 280, 4) and rgba.dtype == np.uint8 and (rgba[..., 3] == 255).all()


def test_pair_figures():
    image = np.zeros((36, 36), np.float32)
    recons = np.zeros((2, 36, 36), np.float32)
    recons[0, :, :18] = 1.0
    recons[1, :, 18:] = 1.0
    rgb = pair_figures.overlay(image, recons, scale=2)
    assert rgb.shape == (72, 72, 3)
    assert tuple(rgb[0, 0]) == tuple((hex_rgb(pair_figures.CAPSULE_COLOURS[0]) * 255).round().astype(int))
    assert tuple(rgb[0, -1]) == tuple((hex_rgb(pair_figures.CAPSULE_COLOURS[1]) * 255).round().astype(int))
    shares = np.full((3, 2, 2), 0.1)
    fig = pair_figures.stroke_share_figure(shares, (3, 5), ("amber", "blue"), 0.1)
    assert [t.name for t in fig.data].count("capsule 3") == 2 and len(fig.data) == 6
    acc = pair_figures.accuracy_by_iterations_figure({"1": 90.0, "2": 92.5, "3": 93.0}, current=2)
    assert list(acc.data[0].x) == ["1", "2", "3"] and acc.data[0].marker.color[1] != acc.data[0].marker.color[0]
    lengths = pair_figures.pair_lengths_figure(np.linspace(0, 0.9, 10), (9, 8))
    colours = lengths.data[0].marker.color
    assert colours[9] == pair_figures.CAPSULE_COLOURS[0] and colours[8] == pair_figures.CAPSULE_COLOURS[1]
