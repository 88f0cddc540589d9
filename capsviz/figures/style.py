"""The figures' shared look: the colours and colour scales (one accent for the predicted or chosen class, one
for its top rival, muted grey for the rest, one diverging scale for every coupling heatmap), the font and layout,
reference lines drawn as plain layout dicts, and the image helpers (uint8, PNG data URLs, tiles).

The colours that must read against the page (text, grid, reference lines, the rival and the other classes, the
coupling scale, hover labels) come in a ``Palette``, one for a light page (``LIGHT``, every builder's default: the
tests and the README figures) and one for a dark page (``DARK``); the app passes the viewer's (``palette_for``).
Backgrounds stay transparent, so the page's colour shows.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from PIL import Image

Scale = list[list]  # a plotly colour scale: [[position 0..1, colour], ...]

ACCENT = "#F97316"  # predicted / chosen class: the brand's orange, on either page


@dataclass(frozen=True)
class Palette:
    """The colours of the figures on one kind of page. ``background`` is the page the colours were chosen for
    (.streamlit/config.toml's [theme.light] / [theme.dark] backgroundColor); the figures never paint it."""

    name: str  # "light" or "dark", as st.context.theme.type says
    background: str
    ink: str  # text, axis titles, strong lines
    muted: str  # tick labels, secondary text, reference lines with a label (contrast >= 4.5 on the background)
    faint: str  # unlabelled reference lines
    grid: str
    panel: str  # a surface a little off the page: the pose atlas's page, buttons, the playback slider
    rival: str  # the prediction's runner-up class
    other: str  # every other class
    hover: str  # hover labels' background
    coupling_scale: Scale  # below uniform routing (blue) .. uniform (the middle) .. above (orange)

    @property
    def strip_scale(self) -> Scale:
        """A grey scale from the page's colour (0) to the ink's (1): activations drawn as a strip."""
        return [[0.0, self.background], [1.0, self.ink]]


# Coupling is shown against uniform routing (c = 1/10): the middle = uniform, orange = more, blue = less; on a
# light page the middle is white and a strong deviation dark, on a dark page the middle is dark and it is bright.
LIGHT = Palette(
    name="light",
    background="#FFFFFF",
    ink="#0F172A",
    muted="#5F6B7F",
    faint="#94A3B8",
    grid="#E2E8F0",
    panel="#F0F0F0",
    rival="#2563EB",
    other="#CBD5E1",
    hover="#FFFFFF",
    coupling_scale=[[0.0, "#1D4ED8"], [0.25, "#93C5FD"], [0.5, "#FFFFFF"], [0.75, "#FDBA74"], [1.0, "#C2410C"]],
)
DARK = Palette(
    name="dark",
    background="#0F172A",
    ink="#F1F5F9",
    muted="#94A3B8",
    faint="#64748B",
    grid="#334155",
    panel="#1E293B",
    rival="#60A5FA",
    other="#475569",
    hover="#1E293B",
    coupling_scale=[[0.0, "#93C5FD"], [0.25, "#2563EB"], [0.5, "#1E293B"], [0.75, "#EA580C"], [1.0, "#FDBA74"]],
)
PALETTES = {p.name: p for p in (LIGHT, DARK)}


def palette_for(theme: str | None) -> Palette:
    """The palette of a theme type ("light", "dark"; None or anything else: light)."""
    return PALETTES.get(theme or "", LIGHT)


# The light palette's colours under their old names (the tests and scripts that draw on a light page).
RIVAL = LIGHT.rival
MUTED = LIGHT.other
INK = LIGHT.ink
GRID = LIGHT.grid
COUPLING_SCALE = LIGHT.coupling_scale
# Over the input image (white ink on black, as MNIST, on either page): transparent where nothing is routed.
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
FONT_FAMILY = "Inter, system-ui, -apple-system, Segoe UI, sans-serif"
FONT = dict(family=FONT_FAMILY, size=13, color=INK)


def relative_luminance(colour: str) -> float:
    """WCAG 2 relative luminance of a '#RRGGBB' colour."""
    h = colour.lstrip("#")
    channels = [int(h[k : k + 2], 16) / 255.0 for k in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two '#RRGGBB' colours, 1 .. 21 (text wants >= 4.5)."""
    hi, lo = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def layout_settings(height: int, palette: Palette = LIGHT, **kw) -> dict:
    """The layout every figure shares (size, margins, the font, transparent backgrounds, the palette's text
    colours), with ``kw`` deep-merged over it, as a plain dict."""
    settings = dict(
        height=height,
        margin=dict(l=10, r=10, t=36, b=10),
        font=dict(FONT, color=palette.ink),
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        hoverlabel=dict(bgcolor=palette.hover, bordercolor=palette.grid, font=dict(size=12, color=palette.ink)),
        legend=dict(font=dict(color=palette.ink)),
    )
    return _merged(settings, kw)


def axis_colours(palette: Palette = LIGHT) -> dict:
    """Each axis's colours, set on the axis itself: Streamlit's chart theme writes its own into the template's
    axes, and its light tick labels are too faint (a contrast under 4.5) for small text."""
    return dict(tickfont=dict(color=palette.muted), title=dict(font=dict(color=palette.ink)), gridcolor=palette.grid)


def apply_layout(fig: go.Figure, height: int, palette: Palette = LIGHT, **kw) -> go.Figure:
    """``layout_settings`` and ``axis_colours`` applied to a figure (on every axis it has)."""
    fig.update_layout(layout_settings(height, palette, **kw))
    fig.update_xaxes(**axis_colours(palette))
    fig.update_yaxes(**axis_colours(palette))
    return fig


def unvalidated_figure(data: list[dict], layout: dict) -> go.Figure:
    """A figure from plain trace and layout dicts, skipping plotly's validation: validating the lengths chart
    cost 20 ms of every drawing's rerun (31 ms on the busy benchmark machine) against 1 ms. Only for figures
    on that path, and each one's test checks that plotly's validated build gives the same JSON."""
    return go.Figure(dict(data=data, layout=layout), _validate=False)


def _merged(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def hline(
    y: float,
    axis: str = "",
    dash: str = "dash",
    colour: str = LIGHT.muted,
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
