"""Routing, played in the page: one figure per routing iteration, joined into one plotly figure with a
frame per iteration, an iteration slider and Play / Pause buttons. Plotly animates the frames in the
browser, so playing or stepping never reruns the server, and the slider always shows the frame in view.

    fig = with_playback([routing_step_figure(...) for each iteration], labels=["1", "2", "3"])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from capsviz import figures

FRAME_MS = 500  # about 2 frames per second: slow enough to follow each iteration
PLAY, PAUSE = "▶ Play", "❚❚ Pause"


def routing_step_figure(
    image: np.ndarray,
    by_type: np.ndarray,
    spatial: np.ndarray,
    dominant_type: np.ndarray,
    digits: Sequence[int],
    prediction: int,
    relative: bool,
    type_span: float,
    spatial_span: float,
    title: str,
    height: int = 620,
) -> go.Figure:
    """One iteration: the (32 types x 10 digits) mean coupling on the left, and for each digit in
    ``digits`` the activation routed to it over the input on the right (figures.coupling_spatial)."""
    digits = list(digits)
    n = len(digits)
    names = [""] + [f"digit {j}" + (" (prediction)" if j == prediction else "") for j in digits]
    fig = make_subplots(
        rows=1, cols=1 + n, column_widths=[1.4] + [1.0] * n, horizontal_spacing=0.07, subplot_titles=names
    )
    lo, hi = fig.layout.xaxis.domain  # the type map's colour bar lies flat under it, clear of the digit panels
    bar = dict(orientation="h", x=(lo + hi) / 2, xanchor="center", y=-0.02, yanchor="top", len=hi - lo, thickness=8)
    heat = figures.type_heatmap(by_type, type_span, colorbar=bar)
    fig.add_trace(heat, row=1, col=1)
    figures.style_type_axes(fig, prediction, by_type.shape[1], row=1, col=1)
    traces = figures.spatial_traces(image, spatial, dominant_type, digits, relative, spatial_span)
    side = image.shape[0]
    for k, (gray, overlay) in enumerate(traces):
        col = k + 2
        fig.add_trace(gray, row=1, col=col)
        fig.add_trace(overlay, row=1, col=col)
        fig.update_xaxes(visible=False, range=[-0.5, side - 0.5], constrain="domain", row=1, col=col)
        fig.update_yaxes(
            visible=False, range=[side - 0.5, -0.5], constrain="domain", scaleanchor=f"x{col}", row=1, col=col
        )
    fig.update_annotations(font_size=12)
    return figures.apply_layout(
        fig,
        height,
        title=dict(text=title, font_size=13, x=0.005, xanchor="left", yref="container", y=0.98, yanchor="top"),
        margin=dict(l=70, r=10, t=110, b=170),
    )


def _controls(labels: list[str], active: int) -> tuple[list[dict], list[dict]]:
    """Play (every frame, first to last), Pause, and a slider with one step per frame."""
    step = {"mode": "immediate", "frame": {"duration": 0, "redraw": True}, "transition": {"duration": 0}}
    play = {
        "mode": "immediate",
        "fromcurrent": False,
        "frame": {"duration": FRAME_MS, "redraw": True},
        "transition": {"duration": 0},
    }
    buttons = [
        dict(label=PLAY, method="animate", args=[labels, play]),
        dict(label=PAUSE, method="animate", args=[[None], step]),
    ]
    menus = [
        dict(
            type="buttons",
            direction="left",
            showactive=False,
            x=0.0,
            xanchor="left",
            y=0.0,
            yanchor="top",
            pad=dict(r=8, t=56),
            buttons=buttons,
        )
    ]
    slider = dict(
        active=active,
        x=0.0,  # a row of its own, under the buttons: at any width no step hides behind them
        len=1.0,
        y=0.0,
        yanchor="top",
        pad=dict(t=104),
        currentvalue=dict(prefix="routing iteration ", font_size=12),
        steps=[dict(label=name, method="animate", args=[[name], step]) for name in labels],
    )
    return menus, [slider]


def with_playback(steps: Sequence[go.Figure], labels: Sequence[str], active: int | None = None) -> go.Figure:
    """Join figures of the same shape (one per routing iteration) into one animated figure that shows
    ``steps[active]`` (default: the last) until the reader steps or plays."""
    labels = [str(x) for x in labels]
    if len(steps) != len(labels) or not steps:
        raise ValueError(f"need one label per figure, got {len(steps)} figures and {len(labels)} labels")
    active = len(steps) - 1 if active is None else active
    fig = go.Figure(steps[active])
    fig.frames = [
        go.Frame(data=s.data, name=name, layout=dict(title=s.layout.title))
        for s, name in zip(steps, labels, strict=True)
    ]
    menus, sliders = _controls(labels, active)
    fig.update_layout(updatemenus=menus, sliders=sliders)
    return fig
