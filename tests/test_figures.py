"""capsviz.figures (style, lengths, routing, sweeps): each builder with small arrays, checked for what it shows, not
just its type."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest
from PIL import Image

from capsviz.figures.lengths import lengths_figure, rival_of
from capsviz.figures.routing import (
    convergence_figure,
    coupling_by_type,
    coupling_entropy,
    coupling_matrix_figure,
    coupling_spatial,
    coupling_spatial_figure,
    coupling_type_figure,
    deviation_span,
)
from capsviz.figures.style import (
    ACCENT,
    DARK,
    LIGHT,
    MUTED,
    RIVAL,
    contrast_ratio,
    palette_for,
    png_data_url,
    tile,
    to_uint8,
)
from capsviz.figures.sweeps import perturbation_figure, sweep_figure
from capsviz.inspect.trace import primary_index, unflatten_primary


def _shapes_at_y(fig: go.Figure, y: float) -> list:
    return [s for s in fig.layout.shapes if s.y0 == pytest.approx(y) and s.y1 == pytest.approx(y)]


def _annotation_texts(fig: go.Figure) -> list[str]:
    return [a.text for a in fig.layout.annotations]


# --- helpers -----------------------------------------------------------------------------------


def test_to_uint8_scales_and_clips():
    img = np.array([[0.0, 0.5], [1.0, 2.0]], np.float32)
    out = to_uint8(img, scale=3)
    assert out.shape == (6, 6) and out.dtype == np.uint8
    assert out[0, 0] == 0 and out[0, 3] == 128 and out[5, 0] == 255 and out[5, 5] == 255
    assert (out[:3, :3] == 0).all()  # nearest: a 3x3 block per pixel


def test_png_data_url_roundtrips():
    img = np.zeros((5, 7), np.float32)
    img[2, 3] = 1.0
    url = png_data_url(img)
    assert url.startswith("data:image/png;base64,")
    back = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    assert back.shape == (5, 7) and back[2, 3] == 255 and back.sum() == 255


def test_tile_places_each_image_with_gutters():
    imgs = np.arange(6, dtype=np.float32).reshape(2, 3, 1, 1) / 10
    out = tile(np.broadcast_to(imgs, (2, 3, 4, 4)), gap=2, gap_value=-1)
    assert out.shape == (2 * 6 - 2, 3 * 6 - 2)
    assert out[0, 0] == 0.0 and out[6, 12] == pytest.approx(0.5)  # row 1, col 2
    assert out[4, 0] == -1 and out[0, 4] == -1  # gutters


def test_rival_is_the_longest_other_capsule():
    lengths = np.array([0.1, 0.8, 0.2, 0.95, 0, 0, 0, 0, 0, 0])
    assert rival_of(lengths, 3) == 1
    assert rival_of(lengths, 1) == 3  # prediction not the argmax: the argmax is the rival


# --- classification ------------------------------------------------------------------------------


def test_lengths_figure_highlights_prediction_and_margins():
    lengths = np.array([0.05, 0.02, 0.6, 0.97, 0.01, 0.03, 0.0, 0.04, 0.2, 0.1])
    fig = lengths_figure(lengths, prediction=3)
    (bar,) = fig.data
    assert isinstance(bar, go.Bar)
    assert list(bar.x) == [str(d) for d in range(10)]
    np.testing.assert_allclose(bar.y, lengths)
    colours = list(bar.marker.color)
    assert colours[3] == ACCENT and colours[2] == RIVAL
    assert all(c == MUTED for j, c in enumerate(colours) if j not in (2, 3))
    for y in (0.9, 0.1):
        (line,) = _shapes_at_y(fig, y)
        assert line.line.dash == "dash"
    texts = " ".join(_annotation_texts(fig))
    assert "m+" in texts and "m−" in texts
    lo, hi = fig.layout.yaxis.range
    assert lo == 0 and 1.0 <= hi <= 1.1


@pytest.mark.parametrize("palette", [LIGHT, DARK], ids=["light", "dark"])
def test_lengths_figure_built_unvalidated_is_what_plotly_validates(palette):
    # lengths_figure skips plotly's validation (it runs on every drawing): plotly's own validated build of the
    # same figure must give the same JSON, so nothing invalid or uncoerced reaches the page
    fig = lengths_figure(np.array([0.05, 0.02, 0.6, 0.97, 0.01, 0.03, 0.0, 0.04, 0.2, 0.1]), palette=palette)
    validated = go.Figure(fig.to_dict())
    assert json.loads(pio.to_json(fig, validate=False)) == json.loads(pio.to_json(validated))


def test_lengths_figure_defaults_to_argmax():
    lengths = np.linspace(0, 0.9, 10)
    assert list(lengths_figure(lengths).data[0].marker.color)[9] == ACCENT


# --- routing arrays --------------------------------------------------------------------------------


def _grid_coupling(digits: int = 10) -> np.ndarray:
    return np.full((32, 6, 6, digits), 1.0 / digits)


def test_coupling_by_type_is_activation_weighted():
    coupling = _grid_coupling()
    coupling[5, 0, 0] = np.eye(10)[7]  # type 5 at (0, 0) sends everything to digit 7
    lengths = np.zeros((32, 6, 6))
    lengths[5, 0, 0] = 1.0  # ... and it is the only active capsule of type 5
    by_type = coupling_by_type(coupling, lengths)
    assert by_type.shape == (32, 10)
    np.testing.assert_allclose(by_type[5], np.eye(10)[7])
    np.testing.assert_allclose(by_type[0], 0.1)  # inactive type: plain mean, still a distribution
    np.testing.assert_allclose(by_type.sum(axis=1), 1.0)


def test_coupling_spatial_sums_over_types_and_names_the_strongest():
    coupling = _grid_coupling()
    lengths = np.zeros((32, 6, 6))
    lengths[3, 2, 4] = 0.5
    lengths[9, 2, 4] = 0.8
    spatial, dominant = coupling_spatial(coupling, lengths)
    assert spatial.shape == (10, 6, 6) and dominant.shape == (10, 6, 6)
    np.testing.assert_allclose(spatial[:, 2, 4], 0.13)
    assert spatial[:, 0, 0].sum() == 0
    assert (dominant[:, 2, 4] == 9).all()


def test_coupling_spatial_relative_to_uniform():
    lengths = np.random.default_rng(5).random((32, 6, 6))
    spatial, _ = coupling_spatial(_grid_coupling(), lengths, relative=True)
    np.testing.assert_allclose(spatial, 0.0, atol=1e-12)  # uniform routing: nothing beyond the even split
    coupling = _grid_coupling()
    coupling[:, 1, 1] = np.eye(10)[2]  # position (1, 1) routes everything to digit 2
    spatial, dominant = coupling_spatial(coupling, lengths, relative=True)
    assert spatial[2, 1, 1] == pytest.approx(0.9 * lengths[:, 1, 1].sum())
    assert spatial[5, 1, 1] == pytest.approx(-0.1 * lengths[:, 1, 1].sum())
    assert dominant[2, 1, 1] == lengths[:, 1, 1].argmax()
    assert deviation_span(spatial) == pytest.approx(abs(spatial).max())
    assert deviation_span(np.zeros(3)) > 0


def test_coupling_entropy_bits():
    uniform = np.full((1152, 10), 0.1)
    assert coupling_entropy(uniform) == pytest.approx(np.log2(10))
    onehot = np.eye(10)[np.arange(1152) % 10]
    assert coupling_entropy(onehot) == pytest.approx(0.0, abs=1e-9)
    mixed = np.concatenate([uniform[:576], onehot[:576]])
    w = np.concatenate([np.zeros(576), np.ones(576)])
    assert coupling_entropy(mixed, w) == pytest.approx(0.0, abs=1e-9)  # only the one-hot rows count
    assert coupling_entropy(mixed) == pytest.approx(np.log2(10) / 2)


# --- routing figures -------------------------------------------------------------------------------


def test_coupling_type_figure_shape_hover_and_highlight():
    by_type = np.random.default_rng(0).dirichlet(np.ones(10), size=32)
    fig = coupling_type_figure(by_type, prediction=4)
    (hm,) = fig.data
    assert isinstance(hm, go.Heatmap)
    assert np.asarray(hm.z).shape == (32, 10)
    assert list(hm.y)[0] == "type 0" and list(hm.y)[31] == "type 31"
    assert "%{y}" in hm.hovertemplate and "%{z" in hm.hovertemplate
    (rect,) = [s for s in fig.layout.shapes if s.type == "rect"]
    assert (rect.x0, rect.x1) == (3.5, 4.5) and rect.line.color == ACCENT
    # diverging scale centred on uniform routing (0.1), wide enough for every value
    assert hm.zmin + hm.zmax == pytest.approx(0.2)
    assert hm.zmax >= by_type.max() and hm.zmin <= by_type.min()
    fixed = coupling_type_figure(np.full((32, 10), 0.1), prediction=0, span=0.05).data[0]
    assert (fixed.zmin, fixed.zmax) == pytest.approx((0.05, 0.15))  # uniform input: all white, at the centre


def test_coupling_spatial_figure_overlays_each_digit_on_the_input():
    rng = np.random.default_rng(1)
    image = rng.random((28, 28)).astype(np.float32)
    spatial = rng.random((10, 6, 6))
    dominant = rng.integers(0, 32, (10, 6, 6))
    lengths = rng.random(10)
    fig = coupling_spatial_figure(image, spatial, dominant, [3, 8], lengths, prediction=3)
    heatmaps = [t for t in fig.data if isinstance(t, go.Heatmap)]
    assert len(heatmaps) == 4  # input + overlay per digit
    background, overlay = heatmaps[0], heatmaps[1]
    assert np.asarray(background.z).shape == (28, 28) and background.hoverinfo == "skip"
    np.testing.assert_allclose(np.asarray(overlay.z), spatial[3])
    assert overlay.zmax == pytest.approx(max(spatial[3].max(), spatial[8].max()))  # one shared scale
    assert heatmaps[3].zmax == overlay.zmax
    # the 6x6 cells are centred across the 28x28 image
    assert overlay.x[0] == pytest.approx(28 / 12 - 0.5) and overlay.x[-1] == pytest.approx(27 - (28 / 12 - 0.5))
    cell = overlay.text[1][4]
    assert "row 1, col 4" in cell and f"strongest type: {dominant[3, 1, 4]}" in cell
    rel = coupling_spatial_figure(image, spatial - 0.5, dominant, [1], relative=True)
    overlay_rel = [t for t in rel.data if isinstance(t, go.Heatmap)][1]
    assert overlay_rel.zmin == -overlay_rel.zmax and overlay_rel.zmax == pytest.approx(abs(spatial[1] - 0.5).max())
    assert "1/10" in overlay_rel.hovertemplate
    titles = _annotation_texts(fig)
    assert titles[0].startswith("digit 3") and "prediction" in titles[0] and titles[1].startswith("digit 8")


def test_coupling_matrix_figure_sorted_by_activation_and_names_capsules():
    rng = np.random.default_rng(2)
    flat_c = rng.dirichlet(np.ones(10), size=1152)  # flat order, index = (row * 6 + col) * 32 + type
    flat_u = rng.random(1152) * 0.5
    top = primary_index(kind=7, row=2, col=5)
    flat_u[top] = 0.99
    coupling, lengths = unflatten_primary(flat_c), unflatten_primary(flat_u)
    fig = coupling_matrix_figure(coupling, lengths, prediction=2)
    strip, matrix = fig.data
    assert np.asarray(matrix.z).shape == (1152, 10)
    assert list(matrix.y)[0].startswith("type 7, row 2, col 5")
    np.testing.assert_allclose(np.asarray(matrix.z)[0], flat_c[top])
    acts = np.asarray(strip.z)[:, 0]
    assert (np.diff(acts) <= 0).all() and acts[0] == pytest.approx(0.99)
    assert "%{y}" in matrix.hovertemplate and "%{z" in matrix.hovertemplate
    assert len(set(matrix.y)) == 1152  # every row label names one capsule


def test_convergence_figure_lines_entropy_and_marker():
    lengths = np.array([[0.3] * 10, [0.2] * 10, [0.1] * 10])
    lengths[:, 6] = [0.5, 0.8, 0.95]
    lengths[:, 0] = [0.4, 0.3, 0.2]
    entropy = np.array([np.log2(10), 2.0, 1.1])
    fig = convergence_figure(lengths, entropy, prediction=6, current=2)
    lines = [t for t in fig.data if t.name and t.name.startswith("digit")]
    assert len(lines) == 10
    (pred_line,) = [t for t in lines if t.name == "digit 6"]
    assert pred_line.line.color == ACCENT and pred_line.line.width == 3
    np.testing.assert_allclose(pred_line.y, lengths[:, 6])
    (ent,) = [t for t in fig.data if t.name == "entropy"]
    np.testing.assert_allclose(ent.y, entropy)
    assert list(ent.x) == [1, 2, 3]
    assert _shapes_at_y(fig, np.log2(10))  # the uniform-coupling reference
    vlines = [s for s in fig.layout.shapes if s.x0 == 2 and s.x1 == 2]
    assert len(vlines) == 2


# --- poses and equivariance --------------------------------------------------------------------------


def test_perturbation_figure_is_one_labelled_image():
    grid = np.random.default_rng(3).random((16, 11, 28, 28)).astype(np.float32)
    deltas = np.round(np.arange(-0.25, 0.2501, 0.05), 2)
    fig = perturbation_figure(grid, deltas, digit=5)
    (img,) = fig.data
    assert isinstance(img, go.Image) and img.source.startswith("data:image/png;base64,")
    png = Image.open(io.BytesIO(base64.b64decode(img.source.split(",", 1)[1])))
    assert png.size == (11 * 30 - 2, 16 * 30 - 2)
    assert list(fig.layout.yaxis.ticktext) == [f"dim {k}" for k in range(1, 17)]
    assert list(fig.layout.xaxis.ticktext)[0] == "-0.25" and list(fig.layout.xaxis.ticktext)[5] == "+0.00"
    (rect,) = fig.layout.shapes
    assert rect.x0 < 5 * 30 < rect.x1  # the zero-offset column is outlined
    assert "capsule 5" in fig.layout.xaxis.title.text


def test_sweep_figure_tracks_pose_lengths_predictions_and_current():
    n = 7
    values = np.linspace(-45, 45, n)
    poses = np.random.default_rng(4).normal(size=(n, 16))
    lengths = np.full((n, 10), 0.1)
    lengths[:, 2] = 0.9
    preds = np.array([2, 2, 2, 2, 2, 7, 7])
    fig = sweep_figure(values, poses, lengths, preds, digit=2, current=15.0, x_title="rotation")
    pose_lines = [t for t in fig.data if t.name and t.name.startswith("dim ")]
    assert len(pose_lines) == 16
    np.testing.assert_allclose(pose_lines[3].y, poses[:, 3])
    length_lines = [t for t in fig.data if t.name and t.name.startswith("|v")]
    assert len(length_lines) == 10
    (tracked,) = [t for t in length_lines if t.name == "|v2|"]
    assert tracked.line.color == ACCENT
    (labels,) = [t for t in fig.data if t.name == "prediction"]
    assert list(labels.text) == [str(p) for p in preds]
    assert list(labels.textfont.color)[-1] == RIVAL and list(labels.textfont.color)[0] == ACCENT
    assert [s for s in fig.layout.shapes if s.x0 == 15.0 and s.x1 == 15.0]
    assert fig.layout.xaxis2.title.text == "rotation"


# --- light and dark ------------------------------------------------------------------------------------


def _text_colours(node, key: str = "") -> list[str]:
    """Every colour a figure's JSON gives to text: the ``color`` of each font, tick font and text font (a single
    colour or a list of them), anywhere in its layout, traces and frames; not its template's (plotly's default
    here, Streamlit's chart theme in the app, whose axis colours the figures override)."""
    found: list[str] = []
    if isinstance(node, dict) and key != "template":
        if key in ("font", "tickfont", "textfont") and "color" in node:
            colour = node["color"]
            found += [colour] if isinstance(colour, str) else list(colour)
        for k, v in node.items():
            found += _text_colours(v, k)
    elif isinstance(node, (list, tuple)):
        for v in node:
            found += _text_colours(v, key)
    return found


def _every_figure(palette) -> dict[str, go.Figure]:
    """Each builder once, with small arrays, in ``palette``."""
    from capsviz.figures import atlas, pairs
    from capsviz.figures.playback import routing_playback_figure, with_playback

    rng = np.random.default_rng(0)
    lengths = np.linspace(0.05, 0.95, 10)
    image = rng.random((28, 28))
    coupling = rng.dirichlet(np.ones(10), size=(32, 6, 6))
    u = rng.random((32, 6, 6))
    by_type = coupling_by_type(coupling, u)
    spatial, dominant = coupling_spatial(coupling, u)
    grid = rng.random((16, 3, 28, 28))
    steps = [coupling_matrix_figure(coupling, u, prediction=2, palette=palette) for _ in range(2)]
    return {
        "lengths": lengths_figure(lengths, palette=palette),
        "convergence": convergence_figure(np.tile(lengths, (3, 1)), np.array([3.3, 3.2, 3.1]), 9, 2, palette=palette),
        "type": coupling_type_figure(by_type, prediction=4, palette=palette),
        "spatial": coupling_spatial_figure(image, spatial, dominant, [3, 8], lengths, 3, palette=palette),
        "matrix": with_playback(steps, ["1", "2"], palette=palette),
        "playback": routing_playback_figure(
            image, [by_type] * 2, [(spatial, dominant)] * 2, [3], 3, False, 0.1, 1.0, ["a", "b"], palette=palette
        ),
        "perturbation": perturbation_figure(
            rng.random((16, 11, 28, 28)), np.linspace(-0.25, 0.25, 11), 5, palette=palette
        ),
        "sweep": sweep_figure(
            np.arange(5.0), rng.random((5, 16)), rng.random((5, 10)), np.array([1, 1, 7, 1, 1]), 1, 2.0, palette=palette
        ),
        "atlas": atlas.atlas_figure(grid, ["1 · slant", "2 · mixed"] + ["x"] * 14, 7, palette=palette),
        "attribution": atlas.attribution_figure(image, [image - 0.5], ["t"], palette=palette),
        "source": atlas.source_overlay_figure(image, image - 0.5, "t", palette=palette),
        "relation": atlas.routing_relation_figure(
            image, np.full((6, 6), 1 / 36), lengths / lengths.sum(), lengths / lengths.sum(), 9, 8, palette=palette
        ),
        "pair lengths": pairs.pair_lengths_figure(lengths, (9, 8), palette=palette),
        "stroke shares": pairs.stroke_share_figure(rng.random((3, 2, 2)), (9, 8), ("a", "b"), 0.1, palette=palette),
        "accuracy": pairs.accuracy_by_iterations_figure({"1": 90.0, "3": 93.0}, 3, palette=palette),
    }


@pytest.mark.parametrize("palette", [LIGHT, DARK], ids=lambda p: p.name)
def test_every_palette_reads_on_its_page(palette):
    """Text (the ink; the muted tick labels, also on the atlas's panel; hover labels) contrasts >= 4.5 (WCAG AA)
    with the page it was chosen for, the rival's colour (also text, in the sweep) too; the coupling scale's middle
    (uniform routing) is close to the page, its ends far from it."""
    assert contrast_ratio(palette.ink, palette.background) >= 7.0
    assert contrast_ratio(palette.muted, palette.background) >= 4.5
    assert contrast_ratio(palette.muted, palette.panel) >= 4.5
    assert contrast_ratio(palette.ink, palette.panel) >= 4.5
    assert contrast_ratio(palette.ink, palette.hover) >= 4.5
    assert contrast_ratio(palette.rival, palette.background) >= 4.5
    assert contrast_ratio(palette.faint, palette.background) > contrast_ratio(palette.grid, palette.background) > 1.1
    scale = dict((pos, colour) for pos, colour in palette.coupling_scale)
    assert contrast_ratio(scale[0.5], palette.background) < 1.5
    assert min(contrast_ratio(scale[end], palette.background) for end in (0.0, 1.0)) > 3.0
    assert palette_for(palette.name) is palette


def test_palette_for_defaults_to_light():
    assert palette_for(None) is LIGHT and palette_for("") is LIGHT and palette_for("sepia") is LIGHT
    assert palette_for("dark") is DARK
    assert contrast_ratio("#FFFFFF", "#000000") == pytest.approx(21.0)
    assert contrast_ratio("#767676", "#FFFFFF") == pytest.approx(4.54, abs=0.01)  # WCAG's smallest AA grey


def test_palettes_match_the_pages_of_the_streamlit_theme():
    """.streamlit/config.toml follows the viewer (no ``base``) and its light and dark pages are the palettes'."""
    import tomllib
    from pathlib import Path

    config = tomllib.loads((Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml").read_text())
    theme = config["theme"]
    assert "base" not in theme and theme["primaryColor"].upper() == ACCENT
    for palette in (LIGHT, DARK):
        page = theme[palette.name]
        assert page["backgroundColor"].upper() == palette.background
        assert page["textColor"].upper() == palette.ink


@pytest.mark.parametrize("palette", [LIGHT, DARK], ids=lambda p: p.name)
def test_every_figure_writes_in_its_palette(palette):
    """Each builder's text (axes, tick labels, titles, annotations, legends, hover labels, the playback controls)
    is in colours that read on the palette's page, and its backgrounds are transparent (the page shows). The
    accent (the prediction's title) is exempt on the light page: 2.8:1, as the brand's orange, beside its text."""
    for name, fig in _every_figure(palette).items():
        layout = fig.layout
        assert layout.paper_bgcolor == "rgba(0,0,0,0)" and layout.plot_bgcolor == "rgba(0,0,0,0)", name
        assert layout.font.color == palette.ink and layout.hoverlabel.bgcolor == palette.hover, name
        assert layout.xaxis.tickfont.color == palette.muted and layout.yaxis.gridcolor == palette.grid, name
        colours = set(_text_colours(fig.to_plotly_json())) - {ACCENT}
        assert colours, name
        for colour in colours:
            assert contrast_ratio(colour, palette.background) >= 4.5, (name, colour)
    if palette is DARK:  # the light page's colours are not left behind
        dark = _every_figure(DARK)
        assert list(dark["lengths"].data[0].marker.color)[8] == DARK.rival
        assert dark["type"].data[0].colorscale[2][1] == DARK.coupling_scale[2][1]
        for control in (*dark["playback"].layout.updatemenus, *dark["playback"].layout.sliders):
            assert control.bgcolor == DARK.panel and control.font.color == DARK.ink


def test_the_atlas_page_takes_the_palette_panel():
    from capsviz.figures.atlas import atlas_page

    grid = np.zeros((16, 3, 28, 28))
    assert tuple(atlas_page(grid)[0, 0]) == (0xF0, 0xF0, 0xF0)
    assert tuple(atlas_page(grid, page_colour=DARK.panel)[0, 0]) == (0x1E, 0x29, 0x3B)
