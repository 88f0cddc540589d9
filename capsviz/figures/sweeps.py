"""Figures along a sweep: the paper's Figure 4 (reconstructions as one pose dimension is perturbed) and a
transformation's sweep of one capsule's pose and every capsule's length.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from capsviz.figures.style import (
    ACCENT,
    LIGHT,
    POSE_COLOURS,
    Palette,
    add_lines,
    apply_layout,
    png_data_url,
    tile,
    vline,
)

# --- poses -------------------------------------------------------------------------------


def perturbation_figure(
    grid: np.ndarray, deltas: Sequence[float] | np.ndarray, digit: int, height: int = 740, palette: Palette = LIGHT
) -> go.Figure:
    """The paper's Figure 4: rows are the 16 pose dimensions, columns the offsets added to one of
    them, each cell the decoder's reconstruction. Drawn as one pixelated image."""
    dims, cols, h, w = grid.shape
    gap = 2
    img = tile(grid, gap=gap)
    fig = go.Figure(go.Image(source=png_data_url(img), zsmooth=False, hoverinfo="skip"))
    step = w + gap
    zero = int(np.argmin(np.abs(np.asarray(deltas))))
    fig.add_shape(
        type="rect",
        x0=zero * step - 1.5,
        x1=zero * step + w + 0.5,
        y0=-1.5,
        y1=img.shape[0] + 0.5,
        line=dict(color=ACCENT, width=2),
    )
    fig.update_xaxes(
        tickmode="array",
        tickvals=[k * step + w / 2 - 0.5 for k in range(cols)],
        ticktext=[f"{float(d) + 0.0:+.2f}" for d in deltas],
        side="top",
        showgrid=False,
        tickangle=0,
        tickfont_size=11,
        title_text=f"offset added to one dimension of capsule {digit}",
    )
    fig.update_yaxes(
        tickmode="array",
        tickvals=[k * (h + gap) + h / 2 - 0.5 for k in range(dims)],
        ticktext=[f"dim {k + 1}" for k in range(dims)],
        showgrid=False,
    )
    return apply_layout(fig, height, palette, margin=dict(l=10, r=10, t=64, b=10))


# --- equivariance ------------------------------------------------------------------------


def _pose_traces(values: np.ndarray, poses: np.ndarray) -> list[go.Scatter]:
    return [
        go.Scatter(
            x=values,
            y=poses[:, d],
            mode="lines",
            name=f"dim {d + 1}",
            line=dict(color=POSE_COLOURS[d % len(POSE_COLOURS)], width=1.8),
            hovertemplate=f"dim {d + 1}: %{{y:.3f}}<extra>%{{x:.2f}}</extra>",
            legendgroup="pose",
        )
        for d in range(poses.shape[1])
    ]


def _length_traces(
    values: np.ndarray, lengths: np.ndarray, predictions: np.ndarray, digit: int, palette: Palette
) -> list[go.Scatter]:
    """Every capsule's length along the sweep (``digit`` on top, in the accent colour), and the predicted
    class written above each point (in the rival colour where it is not ``digit``)."""
    traces = [
        go.Scatter(
            x=values,
            y=lengths[:, j],
            mode="lines",
            name=f"|v{j}|",
            showlegend=False,
            line=dict(color=ACCENT if j == digit else palette.other, width=3 if j == digit else 1.2),
            hovertemplate=f"digit {j}: |v| = %{{y:.3f}}<extra>%{{x:.2f}}</extra>",
        )
        for j in sorted(range(lengths.shape[1]), key=lambda j: j == digit)
    ]
    wrong = np.asarray(predictions) != digit
    traces.append(
        go.Scatter(
            x=values,
            y=np.full(len(values), 1.1),
            mode="text",
            text=[str(int(p)) for p in predictions],
            textfont=dict(color=[palette.rival if bad else ACCENT for bad in wrong], size=12),
            hovertemplate="predicted %{text}<extra>%{x:.2f}</extra>",
            showlegend=False,
            name="prediction",
        )
    )
    return traces


def sweep_figure(
    values: np.ndarray,
    poses: np.ndarray,
    lengths: np.ndarray,
    predictions: np.ndarray,
    digit: int,
    current: float | None = None,
    x_title: str = "transformation",
    height: int = 520,
    palette: Palette = LIGHT,
) -> go.Figure:
    """Top: the 16 pose values of capsule ``digit`` along a sweep of one transformation. Bottom:
    all 10 capsule lengths along the sweep (``digit`` in the accent colour) with the predicted
    class written above each point. A vertical line marks the current value."""
    values = np.asarray(values, dtype=float)
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.6, 0.4],
        vertical_spacing=0.08,
        subplot_titles=(f"pose of digit capsule {digit} (16 dimensions)", "capsule lengths"),
    )
    for trace in _pose_traces(values, poses):
        fig.add_trace(trace, row=1, col=1)
    for trace in _length_traces(values, lengths, predictions, digit, palette):
        fig.add_trace(trace, row=2, col=1)
    if current is not None:
        add_lines(fig, [vline(float(current), axis=a, colour=palette.ink, width=1.5) for a in ("", "2")])
    fig.update_yaxes(range=[0, 1.2], tickvals=[0, 0.5, 1], row=2, col=1)
    fig.update_xaxes(title_text=x_title, row=2, col=1)
    fig.update_annotations(font_size=12)
    return apply_layout(fig, height, palette, legend=dict(font_size=11, tracegroupgap=0), hovermode="x unified")
