"""The routing figures and their small statistics: coupling coefficients c_ij by primary type, over the
input and all 1152 of them, and how lengths and coupling entropy converge over the routing iterations.

Per-primary-capsule arrays come in grid form, indexed [type, row, col] (32, 6, 6, ...), as
capsviz.inspect.trace.unflatten_primary returns them; this module never touches the flat index.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from capsviz.figures.lengths import class_colours, rival_of
from capsviz.figures.style import (
    ACCENT,
    DIVERGING_OVERLAY,
    GRAY_SCALE,
    LIGHT,
    OVERLAY_SCALE,
    Palette,
    add_lines,
    apply_layout,
    hline,
    outline_column,
    vline,
)
from capsviz.model.routing import uniform_coupling

RF = 17  # a primary capsule sees a 17x17 input patch (9x9 conv, then 9x9 stride 2)


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
    by_type: np.ndarray, prediction: int, span: float | None = None, height: int = 460, palette: Palette = LIGHT
) -> go.Figure:
    """Heatmap of (32 types x 10 digits) activation-weighted mean coupling, on a diverging scale
    centred on uniform routing 1/J and reaching +-``span`` (default: this map's largest deviation;
    pass the largest over all iterations to compare iterations)."""
    fig = go.Figure(type_heatmap(by_type, span, palette))
    style_type_axes(fig, prediction, by_type.shape[1])
    return apply_layout(fig, height, palette)


def type_heatmap(by_type: np.ndarray, span: float | None = None, palette: Palette = LIGHT, **kw) -> go.Heatmap:
    """The (32 types x 10 digits) mean-coupling heatmap trace, centred on uniform routing."""
    types, digits = by_type.shape
    uniform = uniform_coupling(digits)
    span = deviation_span(by_type, uniform) if span is None else span
    settings = dict(
        z=by_type,
        x=[str(j) for j in range(digits)],
        y=[f"type {t}" for t in range(types)],
        colorscale=palette.coupling_scale,
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
    outline_column(fig, prediction, xref=xref, width=3)
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
    palette: Palette = LIGHT,
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
        fig.layout.annotations[k].font = dict(color=ACCENT if j == prediction else palette.ink, size=13)
    fig.update_xaxes(visible=False, range=[-0.5, image.shape[1] - 0.5], constrain="domain")
    fig.update_yaxes(visible=False, range=[image.shape[0] - 0.5, -0.5], constrain="domain")
    for k in range(n):
        fig.update_yaxes(scaleanchor=f"x{k + 1 if k else ''}", scaleratio=1, row=1, col=k + 1)
    return apply_layout(fig, height, palette, margin=dict(l=10, r=10, t=56, b=10))


def _rows_by_activation(
    coupling: np.ndarray, primary_lengths: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """The matrix's rows, most active primary capsule first: (couplings (N, J), |u| (N,), the order, row labels)."""
    types, grid, _, digits = coupling.shape
    t, r, c = np.meshgrid(np.arange(types), np.arange(grid), np.arange(grid), indexing="ij")
    flat_c = coupling.reshape(-1, digits)
    flat_u = np.asarray(primary_lengths).reshape(-1)
    order = np.argsort(-flat_u, kind="stable")
    labels = [f"type {t.flat[i]}, row {r.flat[i]}, col {c.flat[i]} (|u| = {flat_u[i]:.2f})" for i in order]
    return flat_c, flat_u, order, labels


def coupling_matrix_figure(
    coupling: np.ndarray,
    primary_lengths: np.ndarray,
    prediction: int,
    span: float | None = None,
    height: int = 640,
    palette: Palette = LIGHT,
) -> go.Figure:
    """All 1152 x 10 coupling coefficients, rows sorted by primary activation |u_i| (most active at
    the top), with |u_i| itself as a narrow strip on the left. Row labels name the capsule. Same
    diverging scale as coupling_type_figure, centred on 1/J, +-``span``."""
    digits = coupling.shape[-1]
    flat_c, flat_u, order, labels = _rows_by_activation(coupling, primary_lengths)
    uniform = uniform_coupling(digits)
    span = deviation_span(flat_c, uniform) if span is None else span
    fig = make_subplots(rows=1, cols=2, column_widths=[0.08, 0.92], shared_yaxes=True, horizontal_spacing=0.01)
    fig.add_trace(
        go.Heatmap(
            z=flat_u[order][:, None],
            x=["|u|"],
            y=labels,
            colorscale=palette.strip_scale,
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
            colorscale=palette.coupling_scale,
            zmin=uniform - span,
            zmax=uniform + span,
            colorbar=dict(title=dict(text="c", side="top"), thickness=10),
            hovertemplate="primary capsule %{y}<br>→ digit %{x}: c = %{z:.3f}<extra></extra>",
        ),
        row=1,
        col=2,
    )
    outline_column(fig, prediction, xref="x2", width=2)
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
    return apply_layout(fig, height, palette)


def convergence_figure(
    lengths: np.ndarray,
    entropy: np.ndarray,
    prediction: int,
    current: int | None = None,
    height: int = 280,
    palette: Palette = LIGHT,
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
                line=dict(color=class_colours(10, prediction, rival, palette)[j], width=3 if hot else 1.5),
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
            line=dict(color=palette.ink, width=2),
            hovertemplate="iteration %{x}: H = %{y:.3f} bits<extra></extra>",
            showlegend=False,
        ),
        row=1,
        col=2,
    )
    uniform = float(np.log2(lengths.shape[1]))
    lines = [hline(uniform, axis="2", dash="dot", colour=palette.muted, text="uniform", right=True)]
    if current is not None:
        lines += [vline(current, axis=a, colour=ACCENT, dash="solid") for a in ("", "2")]
    add_lines(fig, lines)
    fig.update_xaxes(tickmode="array", tickvals=iters, title_text="routing iteration")
    fig.update_yaxes(range=[0, 1.02], row=1, col=1)
    fig.update_yaxes(range=[0, uniform * 1.08], row=1, col=2)
    fig.update_annotations(font_size=12)
    return apply_layout(fig, height, palette, legend=dict(orientation="h", y=-0.35, x=0))
