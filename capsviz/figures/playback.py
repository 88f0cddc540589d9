"""Routing, played in the page: one figure per routing iteration, joined into one plotly figure with a
frame per iteration, an iteration slider and Play / Pause buttons. Plotly animates the frames in the
browser, so playing or stepping never reruns the server, and the slider always shows the frame in view.

    fig = routing_playback_figure(image, by_type, spatial, digits, ...)   # the Routing tab's figure
    fig = with_playback([figure for each iteration], labels=["1", "2", "3"])  # any figures of one shape
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.basedatatypes import BaseTraceType
from plotly.subplots import make_subplots

from capsviz.figures.routing import spatial_traces, style_type_axes, type_heatmap
from capsviz.figures.style import LIGHT, Palette, apply_layout

FRAME_MS = 500  # about 2 frames per second: slow enough to follow each iteration
PLAY, PAUSE = "▶ Play", "❚❚ Pause"


def _step_layout(
    digits: Sequence[int], prediction: int, by_type_digits: int, side: int, height: int, palette: Palette
) -> tuple[go.Figure, dict]:
    """The empty subplots of one iteration (the type map, then one panel per digit) and the type map's colour
    bar, which lies flat under it, clear of the digit panels."""
    names = [""] + [f"digit {j}" + (" (prediction)" if j == prediction else "") for j in digits]
    n = len(names) - 1
    fig = make_subplots(
        rows=1, cols=1 + n, column_widths=[1.4] + [1.0] * n, horizontal_spacing=0.07, subplot_titles=names
    )
    lo, hi = fig.layout.xaxis.domain
    bar = dict(orientation="h", x=(lo + hi) / 2, xanchor="center", y=-0.02, yanchor="top", len=hi - lo, thickness=8)
    style_type_axes(fig, prediction, by_type_digits, row=1, col=1)
    for col in range(2, n + 2):
        fig.update_xaxes(visible=False, range=[-0.5, side - 0.5], constrain="domain", row=1, col=col)
        fig.update_yaxes(
            visible=False, range=[side - 0.5, -0.5], constrain="domain", scaleanchor=f"x{col}", row=1, col=col
        )
    fig.update_annotations(font_size=12)
    apply_layout(fig, height, palette, margin=dict(l=70, r=10, t=110, b=170))
    return fig, bar


def _step_title(text: str) -> dict:
    return dict(text=text, font_size=13, x=0.005, xanchor="left", yref="container", y=0.98, yanchor="top")


def routing_step_traces(
    image: np.ndarray,
    by_type: np.ndarray,
    spatial: np.ndarray,
    dominant_type: np.ndarray,
    digits: Sequence[int],
    relative: bool,
    type_span: float,
    spatial_span: float,
    type_colorbar: dict,
    palette: Palette = LIGHT,
) -> list[go.Heatmap]:
    """One iteration's traces, each on its subplot's axes: the type map, then each digit's input (grey) and
    routed-activation overlay."""
    traces = [type_heatmap(by_type, type_span, palette, colorbar=type_colorbar)]
    for k, (gray, overlay) in enumerate(spatial_traces(image, spatial, dominant_type, digits, relative, spatial_span)):
        axes = dict(xaxis=f"x{k + 2}", yaxis=f"y{k + 2}")
        traces += [gray.update(axes), overlay.update(axes)]
    return traces


def routing_playback_figure(
    image: np.ndarray,
    by_type: Sequence[np.ndarray],
    spatial: Sequence[tuple[np.ndarray, np.ndarray]],
    digits: Sequence[int],
    prediction: int,
    relative: bool,
    type_span: float,
    spatial_span: float,
    titles: Sequence[str],
    height: int = 620,
    palette: Palette = LIGHT,
) -> go.Figure:
    """Routing, one frame per iteration k: the (32 types x 10 digits) mean coupling by_type[k] on the left,
    and for each digit in ``digits`` the activation routed to it over the input (spatial[k] = (map,
    dominant type), coupling_spatial) on the right; titles[k] above. Shows the last iteration.

    The subplots are laid out once; a frame carries only what changes (the type map and the overlays, the
    title): a whole figure per iteration took ~70 ms of plotly each."""
    digits = list(digits)
    fig, bar = _step_layout(digits, prediction, by_type[0].shape[1], image.shape[0], height, palette)
    steps = [
        routing_step_traces(image, b, m, t, digits, relative, type_span, spatial_span, bar, palette)
        for b, (m, t) in zip(by_type, spatial, strict=True)
    ]
    fig.add_traces(steps[-1])
    changing = [0, *range(2, 1 + 2 * len(digits), 2)]  # the type map and each overlay; the grey inputs stay
    frames = [[s[i] for i in changing] for s in steps]
    return animate(fig, frames, [_step_title(t) for t in titles], traces=changing, palette=palette)


def _controls(labels: list[str], active: int, palette: Palette) -> tuple[list[dict], list[dict]]:
    """Play (every frame, first to last), Pause, and a slider with one step per frame, in the palette's colours
    (plotly's own are light grey, unreadable on a dark page)."""
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
            bgcolor=palette.panel,
            bordercolor=palette.faint,
            font=dict(color=palette.ink),
        )
    ]
    slider = dict(
        active=active,
        x=0.0,  # a row of its own, under the buttons: at any width no step hides behind them
        len=1.0,
        y=0.0,
        yanchor="top",
        pad=dict(t=104),
        currentvalue=dict(prefix="routing iteration ", font=dict(size=12, color=palette.ink)),
        steps=[dict(label=name, method="animate", args=[[name], step]) for name in labels],
        bgcolor=palette.panel,
        activebgcolor=palette.faint,
        bordercolor=palette.faint,
        tickcolor=palette.muted,
        font=dict(color=palette.ink),
    )
    return menus, [slider]


def animate(
    fig: go.Figure,
    frames: Sequence[Sequence[BaseTraceType]],
    titles: Sequence[Any],
    labels: Sequence[str] | None = None,
    traces: Sequence[int] | None = None,
    active: int | None = None,
    palette: Palette = LIGHT,
) -> go.Figure:
    """Give ``fig`` (showing frame ``active``, default the last) one plotly frame per entry of ``frames``
    (the data of the traces numbered ``traces``, default all, in order) with its title, named by ``labels``
    (default "1", "2", ...), plus Play / Pause and a slider."""
    labels = [str(x) for x in labels] if labels is not None else [str(k + 1) for k in range(len(frames))]
    if len(frames) != len(labels) or len(titles) != len(labels) or not frames:
        raise ValueError(f"need one label and title per frame, got {len(frames)} frames, {len(labels)} labels")
    active = len(frames) - 1 if active is None else active
    fig.update_layout(title=titles[active])
    fig.frames = [
        go.Frame(data=list(data), name=name, layout=dict(title=title), traces=None if traces is None else list(traces))
        for data, title, name in zip(frames, titles, labels, strict=True)
    ]
    menus, sliders = _controls(labels, active, palette)
    fig.update_layout(updatemenus=menus, sliders=sliders)
    return fig


def with_playback(
    steps: Sequence[go.Figure], labels: Sequence[str], active: int | None = None, palette: Palette = LIGHT
) -> go.Figure:
    """Join figures of the same shape (one per routing iteration) into one animated figure that shows
    ``steps[active]`` (default: the last) until the reader steps or plays."""
    labels = [str(x) for x in labels]
    if len(steps) != len(labels) or not steps:
        raise ValueError(f"need one label per figure, got {len(steps)} figures and {len(labels)} labels")
    active = len(steps) - 1 if active is None else active
    return animate(
        go.Figure(steps[active]),
        [s.data for s in steps],
        [s.layout.title for s in steps],
        labels,
        active=active,
        palette=palette,
    )
