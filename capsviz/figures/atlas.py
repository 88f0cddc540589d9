"""Figures for the pose atlas and the attribution view, as pure functions: numpy arrays in, plotly figures out.

No streamlit and no model calls (the arrays come from capsviz.inspect.pose_atlas and capsviz.inspect.attribution).
Shares the look of capsviz.figures.style: its layout, accent colours and image helpers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from capsviz.figures.style import (
    ACCENT,
    COUPLING_SCALE,
    GRAY_SCALE,
    LIGHT,
    OVERLAY_SCALE,
    Palette,
    apply_layout,
    png_data_url,
)

ATLAS_COLUMNS = ("1st pct", "median", "99th pct")
BLOCKS_PER_ROW = 4  # atlas: dimensions side by side
GAP = 2  # px between the three images of one dimension
BLOCK_GAP_X, BLOCK_GAP_Y = 14, 16  # px between dimensions (room for the name above each)
# Attribution: blue takes from the capsule's length, orange adds to it, transparent neither (over the input, white
# ink on black on either page): the light coupling scale with its white middle see-through.
ATTRIBUTION_SCALE = [*COUPLING_SCALE[:2], [0.5, "rgba(255,255,255,0)"], *COUPLING_SCALE[3:]]


# --- the pose atlas -------------------------------------------------------------------------------------


def _block_origin(d: int, per_row: int, h: int, block_w: int) -> tuple[int, int]:
    """(top, left) of dimension d's block of images; a band above each block holds its name."""
    return (d // per_row) * (h + BLOCK_GAP_Y) + BLOCK_GAP_Y, (d % per_row) * (block_w + BLOCK_GAP_X)


def _rgb(colour: str) -> np.ndarray:
    """'#RRGGBB' -> (3,) floats in [0, 1]."""
    h = colour.lstrip("#")
    return np.array([int(h[k : k + 2], 16) / 255.0 for k in (0, 2, 4)], np.float32)


def atlas_page(grid: np.ndarray, per_row: int = BLOCKS_PER_ROW, page_colour: str = LIGHT.panel) -> np.ndarray:
    """(D, 3, H, W) images in [0, 1] -> one uint8 RGB page: each dimension a block of its three images (white
    ink on black, as MNIST), blocks in reading order, ``per_row`` to a row, on a page of ``page_colour`` (the
    palette's panel: light gray, or dark slate on a dark page)."""
    dims, cols, h, w = grid.shape
    block_w = cols * w + (cols - 1) * GAP
    rows = -(-dims // per_row)
    rgb = np.empty((rows * (h + BLOCK_GAP_Y), per_row * block_w + (per_row - 1) * BLOCK_GAP_X, 3), np.float32)
    rgb[:] = _rgb(page_colour)
    for d in range(dims):
        top, left = _block_origin(d, per_row, h, block_w)
        for k in range(cols):
            x0 = left + k * (w + GAP)
            rgb[top : top + h, x0 : x0 + w] = np.clip(grid[d, k], 0.0, 1.0)[..., None]
    return (rgb * 255).round().astype(np.uint8)


def atlas_figure(
    grid: np.ndarray,
    labels: Sequence[str],
    digit: int,
    per_row: int = BLOCKS_PER_ROW,
    width: int = 1000,
    palette: Palette = LIGHT,
) -> go.Figure:
    """The measured Figure 4: for each pose dimension of capsule ``digit`` (grid (16, 3, 28, 28)), the
    reconstruction with that dimension at its 1st percentile, median and 99th percentile over the class's MNIST
    test digits, titled with the dimension's measured name (``labels``, e.g. "7 · slant"). The height fits
    the page at ``width`` px."""
    dims, cols, h, w = grid.shape
    page = atlas_page(grid, per_row, palette.panel)
    fig = go.Figure(go.Image(source=png_data_url(page), zsmooth=False, hoverinfo="skip"))
    block_w = cols * w + (cols - 1) * GAP
    for d, label in enumerate(labels):
        top, left = _block_origin(d, per_row, h, block_w)
        named = not label.endswith(("mixed", "little effect"))
        fig.add_annotation(
            x=left + block_w / 2,
            y=top - 2,
            text=f"<b>{label}</b>" if named else label,
            showarrow=False,
            yanchor="bottom",
            font=dict(size=12, color=palette.ink if named else palette.muted),
        )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    title = (
        f"Capsule {digit}: each pose dimension at its {', '.join(ATLAS_COLUMNS)} over MNIST test {digit}s, "
        "the others at a typical digit's values; names measured"
    )
    side, top = 6, 48
    height = top + side + round((width - 2 * side) * page.shape[0] / page.shape[1])
    margin = dict(l=side, r=side, t=top, b=side)
    return apply_layout(fig, height, palette, title=dict(text=title, font_size=13), margin=margin)


# --- attribution ------------------------------------------------------------------------------------------


def _span(values: np.ndarray) -> float:
    return float(np.abs(values).max()) or 1e-6


def attribution_traces(image: np.ndarray, attribution: np.ndarray, span: float | None = None) -> list:
    """The 28x28 input in gray with the attribution over it: orange adds to the capsule's length, blue takes
    from it, on one symmetric scale."""
    s = _span(attribution) if span is None else span
    gray = go.Heatmap(z=image, colorscale=GRAY_SCALE, zmin=0, zmax=1, showscale=False, hoverinfo="skip")
    over = go.Heatmap(
        z=attribution,
        colorscale=ATTRIBUTION_SCALE,
        zmin=-s,
        zmax=s,
        colorbar=dict(thickness=10, len=0.8, title=dict(text="Δ length", side="right")),
        hovertemplate="row %{y}, col %{x}<br>%{z:+.4f}<extra></extra>",
    )
    return [gray, over]


def attribution_figure(
    image: np.ndarray, maps: Sequence[np.ndarray], titles: Sequence[str], height: int = 300, palette: Palette = LIGHT
) -> go.Figure:
    """One panel per attribution map (each (H, W)) over the same input, side by side, each on its own symmetric
    scale with its colour bar beside it."""
    fig = make_subplots(rows=1, cols=len(maps), subplot_titles=list(titles), horizontal_spacing=0.12)
    for k, a in enumerate(maps):
        axis = "" if k == 0 else str(k + 1)
        right = fig.layout[f"xaxis{axis}"].domain[1]
        gray, over = attribution_traces(image, a)
        over.update(colorbar=dict(x=right + 0.01, thickness=8, len=0.8, title=dict(text="Δ length", side="right")))
        fig.add_trace(gray, row=1, col=k + 1)
        fig.add_trace(over, row=1, col=k + 1)
        fig.update_xaxes(visible=False, constrain="domain", row=1, col=k + 1)
        fig.update_yaxes(visible=False, autorange="reversed", scaleanchor=f"x{axis}", row=1, col=k + 1)
    return apply_layout(fig, height, palette)


def source_overlay_figure(
    source: np.ndarray, attribution: np.ndarray, title: str, height: int = 300, palette: Palette = LIGHT
) -> go.Figure:
    """The attribution mapped back onto the user's drawing (both (H, W), the drawing's pixel grid)."""
    fig = go.Figure(attribution_traces(source, attribution))
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x")
    return apply_layout(fig, height, palette, title=dict(text=title, font_size=13))


# --- routing above the ink ----------------------------------------------------------------------------------


def routing_relation_figure(
    image: np.ndarray,
    cell_weight: np.ndarray,
    routed: np.ndarray,
    routed_all: np.ndarray,
    target: int,
    rival: int | None = None,
    height: int = 300,
    palette: Palette = LIGHT,
) -> go.Figure:
    """Left: which primary-capsule grid cells see the most-attributed ink (cell_weight (G, G), sums to 1),
    stretched over the input as the routing panel draws the grid. Right: where those cells' primary capsules send
    their votes (routed (J,), coupling weighted by cell and capsule length), as percentage points above or below
    uniform routing (1/J), bars; all primary capsules (routed_all (J,)), marks."""
    g, side, j = cell_weight.shape[0], image.shape[0], len(routed)
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.4, 0.6],
        horizontal_spacing=0.12,
        subplot_titles=["Grid cells above the top-attributed ink", "Their votes vs uniform routing"],
    )
    centres = (np.arange(g) + 0.5) * side / g - 0.5  # cell centres in input pixels
    fig.add_trace(go.Heatmap(z=image, colorscale=GRAY_SCALE, zmin=0, zmax=1, showscale=False, hoverinfo="skip"), 1, 1)
    cells = go.Heatmap(
        z=cell_weight,
        x=centres,
        y=centres,
        colorscale=OVERLAY_SCALE,
        zmin=0,
        showscale=False,
        hovertemplate="share of the top ink: %{z:.1%}<extra></extra>",
    )
    fig.add_trace(cells, 1, 1)
    fig.update_xaxes(visible=False, row=1, col=1)
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x", row=1, col=1)
    digits = [str(d) for d in range(j)]
    colours = [ACCENT if d == target else palette.rival if d == rival else palette.other for d in range(j)]
    above = 100 * (np.asarray(routed) - 1 / j)
    everyone = 100 * (np.asarray(routed_all) - 1 / j)
    fig.add_trace(go.Bar(x=digits, y=above, marker_color=colours, name="above the ink"), 1, 2)
    marks = go.Scatter(
        x=digits, y=everyone, mode="markers", marker=dict(symbol="line-ew-open", size=22, color=palette.ink), name="all"
    )
    fig.add_trace(marks, 1, 2)
    fig.update_yaxes(title_text=f"pp vs 1/{j}", zerolinecolor=palette.ink, row=1, col=2)
    fig.update_xaxes(title_text="digit capsule", row=1, col=2)
    return apply_layout(fig, height, palette, showlegend=True, legend=dict(orientation="h", y=-0.3, x=0.5))
