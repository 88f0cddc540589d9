"""The digit capsules' lengths |v_j|: the bar chart with the margin-loss targets, the prediction's rival and
the class colours every length chart shares.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from capsviz.figures.style import ACCENT, LIGHT, Palette, axis_colours, hline, layout_settings, unvalidated_figure
from capsviz.model.losses import M_MINUS, M_PLUS


def class_colours(n: int, highlight: int | None, rival: int | None = None, palette: Palette = LIGHT) -> list[str]:
    return [ACCENT if j == highlight else palette.rival if j == rival else palette.other for j in range(n)]


def rival_of(lengths: np.ndarray, prediction: int) -> int:
    """The longest capsule other than the prediction."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    return int(order[1] if order[0] == prediction else order[0])


def lengths_figure(
    lengths: np.ndarray, prediction: int | None = None, height: int = 280, palette: Palette = LIGHT
) -> go.Figure:
    """Bar chart of the 10 digit-capsule lengths |v_j|, the prediction in the accent colour, its
    rival in blue, dashed lines at the margin-loss targets m+ = 0.9 and m- = 0.1."""
    lengths = np.asarray(lengths, dtype=float)
    if prediction is None:
        prediction = int(lengths.argmax())
    rival = rival_of(lengths, prediction)
    bar = dict(
        type="bar",
        x=[str(j) for j in range(len(lengths))],
        y=lengths,
        marker=dict(color=class_colours(len(lengths), prediction, rival, palette)),
        text=[f"{v:.2f}" for v in lengths],
        textposition="outside",
        cliponaxis=False,
        hovertemplate="digit capsule %{x}<br>length |v| = %{y:.3f}<extra></extra>",
        name="length",
    )
    margins = [hline(M_PLUS, colour=palette.muted, text="m+", outside=True)]
    margins.append(hline(M_MINUS, colour=palette.muted, text="m−", outside=True))
    margin = dict(l=10, r=34, t=24, b=10)
    layout = layout_settings(height, palette, showlegend=False, bargap=0.25, margin=margin)
    axes = axis_colours(palette)
    title = lambda text: dict(axes["title"], text=text)  # noqa: E731
    layout["xaxis"] = dict(axes, title=title("digit capsule"), type="category")
    layout["yaxis"] = dict(axes, title=title("capsule length |v|"), range=[0, 1.08], tickvals=[0, 0.25, 0.5, 0.75, 1])
    layout["shapes"] = [shape for shape, _ in margins]
    layout["annotations"] = [label for _, label in margins if label]
    return unvalidated_figure([bar], layout)  # built on every drawing's rerun: plain dicts, no validation
