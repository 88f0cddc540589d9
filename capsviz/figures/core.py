"""Every chart in the app, as pure functions: numpy arrays in, plotly figures out.

No streamlit and no model calls: the app passes arrays from capsviz.inspect.trace / capsviz.inspect.equivariance.
Per-primary-capsule arrays come in grid form, indexed [type, row, col] (32, 6, 6, ...), as
capsviz.inspect.trace.unflatten_primary returns them; this module never touches the flat index.

Colours: one accent for the predicted (or chosen) class, one for its top rival, muted grey for
the rest, and one white-to-orange scale for every coupling heatmap.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly.subplots import make_subplots

from capsviz.model.losses import M_MINUS, M_PLUS
from capsviz.model.routing import uniform_coupling

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
RF = 17  # a primary capsule sees a 17x17 input patch (9x9 conv, then 9x9 stride 2)


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


def class_colours(n: int, highlight: int | None, rival: int | None = None) -> list[str]:
    return [ACCENT if j == highlight else RIVAL if j == rival else MUTED for j in range(n)]


def rival_of(lengths: np.ndarray, prediction: int) -> int:
    """The longest capsule other than the prediction."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    return int(order[1] if order[0] == prediction else order[0])


def _hline(
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


def _vline(x: float, axis: str = "", dash: str = "dot", colour: str = INK, width: float = 1.0) -> tuple[dict, None]:
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


def _add_lines(fig: go.Figure, lines: list[tuple[dict, dict | None]]) -> None:
    for shape, label in lines:
        fig.add_shape(shape)
        if label:
            fig.add_annotation(label)


# --- images ------------------------------------------------------------------------------


def _outline_column(fig: go.Figure, column: int, xref: str, width: float) -> None:
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


# --- classification ----------------------------------------------------------------------


def lengths_figure(lengths: np.ndarray, prediction: int | None = None, height: int = 280) -> go.Figure:
    """Bar chart of the 10 digit-capsule lengths |v_j|, the prediction in the accent colour, its
    rival in blue, dashed lines at the margin-loss targets m+ = 0.9 and m- = 0.1."""
    lengths = np.asarray(lengths, dtype=float)
    if prediction is None:
        prediction = int(lengths.argmax())
    rival = rival_of(lengths, prediction)
    digits = [str(j) for j in range(len(lengths))]
    fig = go.Figure(
        go.Bar(
            x=digits,
            y=lengths,
            marker_color=class_colours(len(lengths), prediction, rival),
            text=[f"{v:.2f}" for v in lengths],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="digit capsule %{x}<br>length |v| = %{y:.3f}<extra></extra>",
            name="length",
        )
    )
    _add_lines(fig, [_hline(M_PLUS, text="m+", outside=True), _hline(M_MINUS, text="m−", outside=True)])
    fig.update_yaxes(range=[0, 1.08], title_text="capsule length |v|", gridcolor=GRID, tickvals=[0, 0.25, 0.5, 0.75, 1])
    fig.update_xaxes(title_text="digit capsule", type="category")
    return apply_layout(fig, height, showlegend=False, bargap=0.25, margin=dict(l=10, r=34, t=24, b=10))


# --- routing -----------------------------------------------------------------------------


def coupling_by_type(coupling: np.ndarray, primary_lengths: np.ndarray) -> np.ndarray:
    """coupling (32, 6, 6, 10) c_ij in grid form, primary_lengths (32, 6, 6) -> (32, 10): for each
    primary type, its 36 capsules' couplings averaged with their lengths |u_i| as weights."""
    w = np.asarray(primary_lengths, dtype=np.float64)[..., None]
    total = w.sum(axis=(1, 2))
    mean = (np.asarray(coupling) * w).sum(axis=(1, 2)) / np.maximum(total, 1e-12)
    return np.where(total > 1e-12, mean, np.asarray(coupling).mean(axis=(1, 2)))


def coupling_spatial(
    coupling: np.ndarray, primary_lengths: np.ndarray, relative: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """-> (10, 6, 6) sum over the 32 types of c_ij * |u_i| (how much of each grid position's
    activation is routed to digit j), and (10, 6, 6) the type contributing most there.

    relative: use c_ij - 1/J instead of c_ij, i.e. the activation routed to j beyond what uniform
    routing would send (negative: routed away from j)."""
    c = np.asarray(coupling, dtype=np.float64)
    if relative:
        c = c - uniform_coupling(c.shape[-1])
    contrib = c * np.asarray(primary_lengths)[..., None]  # (32, 6, 6, 10)
    strongest = np.abs(contrib).argmax(axis=0) if relative else contrib.argmax(axis=0)
    return np.moveaxis(contrib.sum(axis=0), -1, 0), np.moveaxis(strongest, -1, 0)


def deviation_span(values: np.ndarray, centre: float = 0.0, floor: float = 1e-3) -> float:
    """Half-width of a colour scale centred on ``centre`` that fits every value (at least ``floor``)."""
    v = np.asarray(values, dtype=np.float64)
    return max(float(np.abs(v - centre).max()) if v.size else 0.0, floor)


def coupling_entropy(coupling: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Mean entropy in bits of the coupling distributions c_i. over the digit capsules, weighted by
    ``weights`` (the primary capsule lengths |u_i|) when given. Uniform coupling gives log2(10)."""
    c = np.asarray(coupling, dtype=np.float64).reshape(-1, np.shape(coupling)[-1])
    h = -(c * np.log2(np.clip(c, 1e-12, 1.0))).sum(axis=1)
    if weights is None:
        return float(h.mean())
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    return float((h * w).sum() / w.sum()) if w.sum() > 0 else float(h.mean())


def routed_share(coupling: np.ndarray, weights: np.ndarray, digit: int) -> float:
    """The share of all primary activation routed to ``digit``: sum_i c_ij |u_i| / sum_i |u_i|, for
    coupling (I, J) and weights |u_i| (I,). Uniform routing gives 1/J."""
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    return float((np.asarray(coupling)[:, digit] * w).sum() / max(w.sum(), 1e-12))


def coupling_type_figure(
    by_type: np.ndarray, prediction: int, span: float | None = None, height: int = 460
) -> go.Figure:
    """Heatmap of (32 types x 10 digits) activation-weighted mean coupling, on a diverging scale
    centred on uniform routing 1/J and reaching +-``span`` (default: this map's largest deviation;
    pass the largest over all iterations to compare iterations)."""
    fig = go.Figure(type_heatmap(by_type, span))
    style_type_axes(fig, prediction, by_type.shape[1])
    return apply_layout(fig, height)


def type_heatmap(by_type: np.ndarray, span: float | None = None, **kw) -> go.Heatmap:
    """The (32 types x 10 digits) mean-coupling heatmap trace, centred on uniform routing."""
    types, digits = by_type.shape
    uniform = uniform_coupling(digits)
    span = deviation_span(by_type, uniform) if span is None else span
    settings = dict(
        z=by_type,
        x=[str(j) for j in range(digits)],
        y=[f"type {t}" for t in range(types)],
        colorscale=COUPLING_SCALE,
        zmin=uniform - span,
        zmax=uniform + span,
        colorbar=dict(title=dict(text="c", side="top"), thickness=10, len=0.9),
        hovertemplate="primary %{y} (all its positions)<br>→ digit %{x}<br>mean c = %{z:.3f}<extra></extra>",
        xgap=1,
        ygap=1,
        name="coupling by type",
    )
    return go.Heatmap(**{**settings, **kw})


def style_type_axes(fig: go.Figure, prediction: int, digits: int, row: int | None = None, col: int | None = None):
    xref = "x" if not col or col == 1 else f"x{col}"
    _outline_column(fig, prediction, xref=xref, width=3)
    fig.update_yaxes(autorange="reversed", tickfont_size=10, title_text="primary capsule type", row=row, col=col)
    fig.update_xaxes(
        type="category",
        side="top",
        title_text="digit capsule",
        tickmode="array",
        tickvals=[str(j) for j in range(digits)],
        row=row,
        col=col,
    )


def _spatial_titles(digits: list[int], lengths: np.ndarray | None, prediction: int | None) -> list[str]:
    titles = []
    for j in digits:
        tag = " (prediction)" if j == prediction else ""
        length = f"<br>|v| = {lengths[j]:.2f}" if lengths is not None else ""
        titles.append(f"digit {j}{tag}{length}")
    return titles


def _spatial_hover(dominant_type: np.ndarray) -> list[list[str]]:
    """Hover text of each primary grid position: the input patch it sees and its strongest type."""
    grid = dominant_type.shape[-1]
    return [
        [
            f"primary position row {r}, col {c} (sees rows {2 * r}–{2 * r + RF - 1}, cols {2 * c}–{2 * c + RF - 1})"
            f"<br>strongest type: {int(dominant_type[r, c])}"
            for c in range(grid)
        ]
        for r in range(grid)
    ]


def spatial_traces(
    image: np.ndarray,
    spatial: np.ndarray,
    dominant_type: np.ndarray,
    digits: Sequence[int],
    relative: bool = False,
    span: float | None = None,
) -> list[tuple[go.Heatmap, go.Heatmap]]:
    """For each digit: the input in grey and the 6x6 routed-activation map stretched over it, all on one
    colour scale (see coupling_spatial_figure); the last digit's overlay carries the colour bar."""
    digits = list(digits)
    shown = np.stack([spatial[j] for j in digits]) if digits else np.zeros(1)
    if span is None:
        span = deviation_span(shown) if relative else (float(shown.max()) or 1.0)
    grid = spatial.shape[-1]
    what = f"Σ (c − 1/{spatial.shape[0]})·|u|" if relative else "Σ c·|u|"
    centres = (np.arange(grid) + 0.5) * image.shape[0] / grid - 0.5  # cell centres in input pixels
    out = []
    for k, j in enumerate(digits):
        gray = go.Heatmap(z=image, colorscale=GRAY_SCALE, zmin=0, zmax=1, showscale=False, hoverinfo="skip")
        overlay = go.Heatmap(
            z=spatial[j],
            x=centres,
            y=centres,
            text=_spatial_hover(dominant_type[j]),
            colorscale=DIVERGING_OVERLAY if relative else OVERLAY_SCALE,
            zmin=-span if relative else 0.0,
            zmax=span,
            showscale=k == len(digits) - 1,
            colorbar=dict(title=dict(text=what, side="top"), thickness=10),
            hovertemplate="%{text}<br>routed to digit " + str(j) + f": {what} = " + "%{z:.4f}<extra></extra>",
            name=f"digit {j}",
        )
        out.append((gray, overlay))
    return out


def coupling_spatial_figure(
    image: np.ndarray,
    spatial: np.ndarray,
    dominant_type: np.ndarray,
    digits: Sequence[int],
    lengths: np.ndarray | None = None,
    prediction: int | None = None,
    relative: bool = False,
    span: float | None = None,
    height: int = 300,
) -> go.Figure:
    """One panel per digit in ``digits``: the 28x28 input in grey with the 6x6 map of
    sum_type c_ij |u_i| (from coupling_spatial) laid over it, all panels on one colour scale:
    0..``span`` in orange, or, when ``relative`` (maps of sum_type (c_ij - 1/J) |u_i|), -span..span
    from blue through transparent to orange. ``span`` defaults to the largest value shown.

    The 6x6 grid is stretched over the image; each cell really sees a 17x17 patch (rows and
    columns 2r..2r+16), which the hover text says."""
    digits = list(digits)
    n = max(1, len(digits))
    fig = make_subplots(
        rows=1, cols=n, subplot_titles=_spatial_titles(digits, lengths, prediction), horizontal_spacing=0.03
    )
    for k, traces in enumerate(spatial_traces(image, spatial, dominant_type, digits, relative, span)):
        for trace in traces:
            fig.add_trace(trace, row=1, col=k + 1)
    for k, j in enumerate(digits):
        fig.layout.annotations[k].font = dict(color=ACCENT if j == prediction else INK, size=13)
    fig.update_xaxes(visible=False, range=[-0.5, image.shape[1] - 0.5], constrain="domain")
    fig.update_yaxes(visible=False, range=[image.shape[0] - 0.5, -0.5], constrain="domain")
    for k in range(n):
        fig.update_yaxes(scaleanchor=f"x{k + 1 if k else ''}", scaleratio=1, row=1, col=k + 1)
    return apply_layout(fig, height, margin=dict(l=10, r=10, t=56, b=10))


def coupling_matrix_figure(
    coupling: np.ndarray, primary_lengths: np.ndarray, prediction: int, span: float | None = None, height: int = 640
) -> go.Figure:
    """All 1152 x 10 coupling coefficients, rows sorted by primary activation |u_i| (most active at
    the top), with |u_i| itself as a narrow strip on the left. Row labels name the capsule. Same
    diverging scale as coupling_type_figure, centred on 1/J, +-``span``."""
    types, grid, _, digits = coupling.shape
    t, r, c = np.meshgrid(np.arange(types), np.arange(grid), np.arange(grid), indexing="ij")
    flat_c = coupling.reshape(-1, digits)
    flat_u = np.asarray(primary_lengths).reshape(-1)
    order = np.argsort(-flat_u, kind="stable")
    uniform = uniform_coupling(digits)
    span = deviation_span(flat_c, uniform) if span is None else span
    labels = [f"type {t.flat[i]}, row {r.flat[i]}, col {c.flat[i]} (|u| = {flat_u[i]:.2f})" for i in order]
    fig = make_subplots(rows=1, cols=2, column_widths=[0.08, 0.92], shared_yaxes=True, horizontal_spacing=0.01)
    fig.add_trace(
        go.Heatmap(
            z=flat_u[order][:, None],
            x=["|u|"],
            y=labels,
            colorscale="Greys",
            zmin=0,
            zmax=1,
            showscale=False,
            hovertemplate="%{y}<extra>activation</extra>",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Heatmap(
            z=flat_c[order],
            x=[str(j) for j in range(digits)],
            y=labels,
            colorscale=COUPLING_SCALE,
            zmin=uniform - span,
            zmax=uniform + span,
            colorbar=dict(title=dict(text="c", side="top"), thickness=10),
            hovertemplate="primary capsule %{y}<br>→ digit %{x}: c = %{z:.3f}<extra></extra>",
        ),
        row=1,
        col=2,
    )
    _outline_column(fig, prediction, xref="x2", width=2)
    fig.update_yaxes(
        showticklabels=False, autorange="reversed", title_text="primary capsules, most active first", row=1, col=1
    )
    fig.update_xaxes(
        type="category",
        side="top",
        row=1,
        col=2,
        title_text="digit capsule",
        tickmode="array",
        tickvals=[str(j) for j in range(digits)],
    )
    fig.update_xaxes(side="top", row=1, col=1)
    return apply_layout(fig, height)


def convergence_figure(
    lengths: np.ndarray, entropy: np.ndarray, prediction: int, current: int | None = None, height: int = 280
) -> go.Figure:
    """Left: every digit capsule's length after each routing iteration (prediction highlighted).
    Right: activation-weighted mean coupling entropy (bits) each iteration used."""
    lengths = np.asarray(lengths, dtype=float)
    iters = np.arange(1, lengths.shape[0] + 1)
    rival = rival_of(lengths[-1], prediction)
    fig = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.12,
        subplot_titles=("capsule lengths", "coupling entropy (bits)"),
    )
    for j in sorted(range(lengths.shape[1]), key=lambda j: (j == prediction, j == rival)):
        hot = j in (prediction, rival)
        fig.add_trace(
            go.Scatter(
                x=iters,
                y=lengths[:, j],
                mode="lines+markers" if hot else "lines",
                name=f"digit {j}",
                line=dict(color=class_colours(10, prediction, rival)[j], width=3 if hot else 1.5),
                hovertemplate=f"digit {j}<br>iteration %{{x}}: |v| = %{{y:.3f}}<extra></extra>",
                showlegend=hot,
            ),
            row=1,
            col=1,
        )
    fig.add_trace(
        go.Scatter(
            x=iters,
            y=entropy,
            mode="lines+markers+text",
            text=[f"{h:.3f}" for h in np.asarray(entropy, dtype=float)],
            textposition="bottom center",
            textfont=dict(size=10),
            name="entropy",
            line=dict(color=INK, width=2),
            hovertemplate="iteration %{x}: H = %{y:.3f} bits<extra></extra>",
            showlegend=False,
        ),
        row=1,
        col=2,
    )
    lines = [
        _hline(float(np.log2(lengths.shape[1])), axis="2", dash="dot", colour="#94A3B8", text="uniform", right=True)
    ]
    if current is not None:
        lines += [_vline(current, axis=a, colour=ACCENT, dash="solid") for a in ("", "2")]
    _add_lines(fig, lines)
    fig.update_xaxes(tickmode="array", tickvals=iters, title_text="routing iteration", gridcolor=GRID)
    fig.update_yaxes(range=[0, 1.02], row=1, col=1, gridcolor=GRID)
    fig.update_yaxes(range=[0, np.log2(lengths.shape[1]) * 1.08], row=1, col=2, gridcolor=GRID)
    fig.update_annotations(font_size=12)
    return apply_layout(fig, height, legend=dict(orientation="h", y=-0.35, x=0))


# --- poses -------------------------------------------------------------------------------


def perturbation_figure(
    grid: np.ndarray, deltas: Sequence[float] | np.ndarray, digit: int, height: int = 740
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
    return apply_layout(fig, height, margin=dict(l=10, r=10, t=64, b=10))


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


def _length_traces(values: np.ndarray, lengths: np.ndarray, predictions: np.ndarray, digit: int) -> list[go.Scatter]:
    """Every capsule's length along the sweep (``digit`` on top, in the accent colour), and the predicted
    class written above each point (in the rival colour where it is not ``digit``)."""
    traces = [
        go.Scatter(
            x=values,
            y=lengths[:, j],
            mode="lines",
            name=f"|v{j}|",
            showlegend=False,
            line=dict(color=ACCENT if j == digit else MUTED, width=3 if j == digit else 1.2),
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
            textfont=dict(color=[RIVAL if bad else ACCENT for bad in wrong], size=12),
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
    for trace in _length_traces(values, lengths, predictions, digit):
        fig.add_trace(trace, row=2, col=1)
    if current is not None:
        _add_lines(fig, [_vline(float(current), axis=a, width=1.5) for a in ("", "2")])
    fig.update_yaxes(range=[0, 1.2], tickvals=[0, 0.5, 1], row=2, col=1, gridcolor=GRID)
    fig.update_yaxes(gridcolor=GRID, row=1, col=1)
    fig.update_xaxes(gridcolor=GRID)
    fig.update_xaxes(title_text=x_title, row=2, col=1)
    fig.update_annotations(font_size=12)
    return apply_layout(fig, height, legend=dict(font_size=11, tracegroupgap=0), hovermode="x unified")
