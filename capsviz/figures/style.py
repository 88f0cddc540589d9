"""The figures' shared look: the colours and colour scales (one accent for the predicted or chosen class, one
for its top rival, muted grey for the rest, one white-to-orange scale for every coupling heatmap), the font
and layout, reference lines drawn as plain layout dicts, and the image helpers (uint8, PNG data URLs, tiles).
"""

from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go
from PIL import Image

ACCENT = "#F97316"  # predicted / chosen class
RIVAL = "#2563EB"  # runner-up class
MUTED = "#CBD5E1"  # every other class
INK = "#0F172A"  # text
GRID = "#E2E8F0"
# Coupling is shown against uniform routing (c = 1/10): white = uniform, orange = more, blue = less.
COUPLING_SCALE = [[0.0, "#1D4ED8"], [0.25, "#93C5FD"], [0.5, "#FFFFFF"], [0.75, "#FDBA74"], [1.0, "#C2410C"]]
DIVERGING_OVERLAY = [[0.0, "rgba(59,130,246,0.95)"], [0.5, "rgba(255,255,255,0)"], [1.0, "rgba(249,115,22,0.95)"]]
OVERLAY_SCALE = [[0.0, "rgba(249,115,22,0)"], [0.25, "rgba(249,115,22,0.35)"], [1.0, "rgba(253,186,116,0.95)"]]
GRAY_SCALE = [[0.0, "#000000"], [1.0, "#FFFFFF"]]
POSE_COLOURS = (
    "#1F77B4",
    "#FF7F0E",
    "#2CA02C",
    "#D62728",
    "#9467BD",
    "#8C564B",
    "#E377C2",
    "#7F7F7F",
    "#BCBD22",
    "#17BECF",
    "#393B79",
    "#AD494A",
    "#637939",
    "#8C6D31",
    "#7B4173",
    "#3182BD",
)
FONT = dict(family="Inter, system-ui, -apple-system, Segoe UI, sans-serif", size=13, color=INK)


def apply_layout(fig: go.Figure, height: int, **kw) -> go.Figure:
    settings = dict(
        height=height,
        margin=dict(l=10, r=10, t=36, b=10),
        font=FONT,
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        hoverlabel=dict(bgcolor="white", font_size=12),
    )
    fig.update_layout(**{**settings, **kw})
    return fig


def hline(
    y: float,
    axis: str = "",
    dash: str = "dash",
    colour: str = "#64748B",
    text: str | None = None,
    below: bool = False,
    outside: bool = False,
    right: bool = False,
) -> tuple[dict, dict | None]:
    """A horizontal line across subplot ``axis`` ('' first, '2' second, ...) with an optional label: at
    its left end above it (``right``: its right end; ``below``: right end, below it), or just outside
    the plot on the right (``outside``). Built as plain layout dicts: plotly's add_hline is slow."""
    shape = dict(
        type="line",
        xref=f"x{axis} domain",
        x0=0,
        x1=1,
        yref=f"y{axis}",
        y0=y,
        y1=y,
        line=dict(color=colour, dash=dash, width=1),
    )
    label = None
    if text:
        if outside:
            x, xanchor, yanchor = 1.01, "left", "middle"
        else:
            x, xanchor = (1, "right") if right or below else (0, "left")
            yanchor = "top" if below else "bottom"
        label = dict(
            xref=f"x{axis} domain",
            x=x,
            xanchor=xanchor,
            yref=f"y{axis}",
            y=y,
            yanchor=yanchor,
            text=text,
            showarrow=False,
            font=dict(size=11, color=colour),
        )
    return shape, label


def vline(x: float, axis: str = "", dash: str = "dot", colour: str = INK, width: float = 1.0) -> tuple[dict, None]:
    shape = dict(
        type="line",
        xref=f"x{axis}",
        x0=x,
        x1=x,
        yref=f"y{axis} domain",
        y0=0,
        y1=1,
        line=dict(color=colour, dash=dash, width=width),
    )
    return shape, None


def add_lines(fig: go.Figure, lines: list[tuple[dict, dict | None]]) -> None:
    for shape, label in lines:
        fig.add_shape(shape)
        if label:
            fig.add_annotation(label)


# --- images ------------------------------------------------------------------------------


def outline_column(fig: go.Figure, column: int, xref: str, width: float) -> None:
    """Outline one digit capsule's column of a heatmap, full height, in the accent colour."""
    fig.add_shape(
        type="rect",
        xref=xref,
        yref="paper",
        x0=column - 0.5,
        x1=column + 0.5,
        y0=0,
        y1=1,
        line=dict(color=ACCENT, width=width),
    )


def to_uint8(image: np.ndarray, scale: int = 1) -> np.ndarray:
    """[0, 1] float image -> uint8, upscaled ``scale`` times by pixel repetition (nearest)."""
    a = (np.clip(np.asarray(image, np.float32), 0.0, 1.0) * 255.0).round().astype(np.uint8)
    if scale > 1:
        a = a.repeat(scale, axis=0).repeat(scale, axis=1)
    return a


def png_data_url(image: np.ndarray) -> str:
    """[0, 1] grayscale (H, W) or uint8 -> 'data:image/png;base64,...'."""
    a = image if np.asarray(image).dtype == np.uint8 else to_uint8(image)
    buf = io.BytesIO()
    Image.fromarray(np.asarray(a)).save(buf, format="PNG", optimize=False, compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def tile(images: np.ndarray, gap: int = 2, gap_value: float = 0.35) -> np.ndarray:
    """(R, C, h, w) -> one (R*(h+gap)-gap, C*(w+gap)-gap) image with grey gutters."""
    rows, cols, h, w = images.shape
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), gap_value, np.float32)
    for r in range(rows):
        for c in range(cols):
            out[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = images[r, c]
    return out
