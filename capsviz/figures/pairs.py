"""The two-digit view's pictures and charts, as pure functions: numpy arrays in, images or plotly figures out.

The two predicted capsules keep one colour each everywhere: the longest in red, the second in green, as the
paper's Figure 5 overlays its two reconstructions. The pen colours of the drawing (capsviz.data.preprocess_pair
.INK_COLOURS) name the strokes, never a capsule.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from capsviz.data.preprocess_pair import hex_rgb, paint_layers
from capsviz.figures.lengths import lengths_figure
from capsviz.figures.style import ACCENT, LIGHT, Palette, apply_layout

CAPSULE_COLOURS = ("#EF4444", "#22C55E")  # the longest capsule, the second longest (the paper's Figure 5)
INPUT_DIM = 0.45  # how bright the input stays under the overlaid reconstructions


def _rgb_uint8(rgb: np.ndarray, scale: int) -> np.ndarray:
    a = (np.clip(rgb, 0.0, 1.0) * 255.0).round().astype(np.uint8)
    return a.repeat(scale, axis=0).repeat(scale, axis=1) if scale > 1 else a


def tinted(image: np.ndarray, colour: str, scale: int = 1) -> np.ndarray:
    """A grey (S, S) image in [0, 1] drawn in ``colour`` on black: (S*scale, S*scale, 3) uint8."""
    return _rgb_uint8(np.asarray(image, np.float64)[..., None] * hex_rgb(colour), scale)


def overlay(image: np.ndarray, reconstructions: np.ndarray, scale: int = 1) -> np.ndarray:
    """The paper's Figure 5: the input dimmed in grey, each reconstruction (K, S, S) added in its capsule's
    colour. Returns (S*scale, S*scale, 3) uint8."""
    rgb = np.repeat(np.asarray(image, np.float64)[..., None] * INPUT_DIM, 3, axis=2)
    for recon, colour in zip(reconstructions, CAPSULE_COLOURS, strict=False):
        rgb = rgb + np.asarray(recon, np.float64)[..., None] * hex_rgb(colour)
    return _rgb_uint8(rgb, scale)


def painted_layers(layers: np.ndarray, scale: int = 1) -> np.ndarray:
    """Ink layers (2, S, S) in the pen colours, the second over the first, as the canvas shows them: RGB uint8."""
    rgb = paint_layers(np.asarray(layers, np.float32))[..., :3]
    return rgb.repeat(scale, axis=0).repeat(scale, axis=1) if scale > 1 else rgb


def pair_lengths_figure(
    lengths: np.ndarray, digits: Sequence[int], height: int = 280, palette: Palette = LIGHT
) -> go.Figure:
    """lengths_figure with the two predicted capsules in their colours."""
    fig = lengths_figure(lengths, digits[0], height=height, palette=palette)
    colours = [palette.other] * len(lengths)
    for d, colour in zip(digits, CAPSULE_COLOURS, strict=False):
        colours[d] = colour
    fig.update_traces(marker_color=colours)
    return fig


def stroke_share_figure(
    shares: np.ndarray,
    digits: Sequence[int],
    stroke_names: Sequence[str],
    uniform: float,
    height: int = 260,
    palette: Palette = LIGHT,
) -> go.Figure:
    """How much of each stroke group's activation each predicted capsule claims, per routing iteration.

    shares (R, K, D) from capsviz.inspect.pair_trace.stroke_shares; one panel per stroke group (K), one line per
    capsule (D, in CAPSULE_COLOURS), a dotted line at the uniform share. Drawn in percent: plotly then picks
    as many decimals as the spread needs (routing may move the shares by a tenth of a point)."""
    shares = 100.0 * np.asarray(shares, np.float64)
    uniform = 100.0 * uniform
    iters = np.arange(1, shares.shape[0] + 1)
    fig = make_subplots(rows=1, cols=shares.shape[1], subplot_titles=list(stroke_names), horizontal_spacing=0.1)
    for k in range(shares.shape[1]):
        for d, digit in enumerate(digits):
            fig.add_trace(
                go.Scatter(
                    x=iters,
                    y=shares[:, k, d],
                    mode="lines+markers",
                    name=f"capsule {digit}",
                    legendgroup=str(digit),
                    showlegend=k == 0,
                    line=dict(color=CAPSULE_COLOURS[d % len(CAPSULE_COLOURS)], width=3),
                    hovertemplate=f"{stroke_names[k]}<br>iteration %{{x}}: capsule {digit} claims %{{y:.2f}}%"
                    "<extra></extra>",
                ),
                row=1,
                col=k + 1,
            )
        fig.add_trace(
            go.Scatter(
                x=[0.75, len(iters) + 0.25],
                y=[uniform, uniform],
                mode="lines",
                name=f"uniform ({uniform:g}%)",
                legendgroup="uniform",
                showlegend=k == 0,
                line=dict(color=palette.faint, dash="dot", width=1.5),
                hoverinfo="skip",
            ),
            row=1,
            col=k + 1,
        )
    fig.update_xaxes(tickmode="array", tickvals=iters, title_text="routing iteration")
    # The axis fits the data and the uniform line: a routing that hardly moves still shows, at its true size.
    fig.update_yaxes(ticksuffix="%")
    fig.update_yaxes(title_text="share of its activation", row=1, col=1)
    fig.update_annotations(font_size=12)
    return apply_layout(fig, height, palette, legend=dict(orientation="h", y=-0.3, x=0))


def accuracy_by_iterations_figure(
    by_iterations: dict[str, float], current: int, height: int = 220, palette: Palette = LIGHT
) -> go.Figure:
    """The model card's accuracy (%) at each number of routing iterations, the one in use highlighted."""
    keys = sorted(by_iterations, key=int)
    values = [float(by_iterations[k]) for k in keys]
    colours = [ACCENT if int(k) == current else palette.other for k in keys]
    fig = go.Figure(
        go.Bar(
            x=keys,
            y=values,
            marker_color=colours,
            text=[f"{v:.2f}%" for v in values],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{x} routing iterations: %{y:.2f}% of pairs with both digits right<extra></extra>",
        )
    )
    lo = min(values) if values else 0.0
    fig.update_yaxes(range=[max(0.0, lo - 5.0), 100.5], title_text="both digits right (%)")
    fig.update_xaxes(type="category", title_text="routing iterations at inference")
    return apply_layout(fig, height, palette, showlegend=False, margin=dict(l=10, r=10, t=24, b=10))
