"""Routing: how the coupling coefficients between primary and digit capsules evolve, iteration by iteration."""

from __future__ import annotations

import numpy as np
import streamlit as st

from capsviz import figures
from capsviz.app import state, text
from capsviz.data import NUM_CLASSES
from capsviz.inspection import CapsuleTrace, flatten_primary, unflatten_primary
from capsviz.routing import uniform_coupling

MAX_SPATIAL_DIGITS = 4
UNIFORM = uniform_coupling(NUM_CLASSES)


def _step_control(trace: CapsuleTrace, weights: np.ndarray) -> int:
    r, pred = trace.num_iterations, trace.prediction
    ctl, info = st.columns([1, 2], vertical_alignment="bottom")
    with ctl:
        step = st.slider("Show routing iteration", 1, r, r, key=state.routing_step_key(r)) if r > 1 else 1
    c_now = trace.iterations[step - 1].coupling
    share = figures.routed_share(c_now, weights, pred)
    with info:
        st.caption(text.routing_step_summary(step, r, float(c_now.min()), float(c_now.max()), share, pred))
    return step


def _by_type(grids: list[np.ndarray], lengths: np.ndarray, step: int, pred: int) -> None:
    by_type_all = [figures.coupling_by_type(g, lengths) for g in grids]
    st.markdown(f"**Coupling by primary type** · iteration {step}")
    span = figures.deviation_span(np.stack(by_type_all), UNIFORM)
    st.plotly_chart(figures.coupling_type_figure(by_type_all[step - 1], pred, span=span), key=state.FIG_TYPES)
    st.caption(text.TYPES_CAPTION)


def _spatial(trace: CapsuleTrace, grids: list[np.ndarray], image: np.ndarray, step: int, sig: str) -> None:
    pred, lengths = trace.prediction, trace.primary_lengths
    rival = figures.rival_of(trace.lengths, pred)
    st.markdown(f"**Where the votes come from** · iteration {step}")
    a, b = st.columns([3, 2], vertical_alignment="bottom")
    digits = a.multiselect(
        "Digit capsules",
        list(range(NUM_CLASSES)),
        default=[pred, rival],
        key=state.spatial_digits_key(sig),
        max_selections=MAX_SPATIAL_DIGITS,
    )
    mode = b.segmented_control(
        "Show",
        state.SPATIAL_MODES,
        default=state.SPATIAL_MODES[0],
        key=state.SPATIAL_MODE,
        required=True,
        help=text.SPATIAL_HELP,
    )
    relative = mode != "routed"
    digits = digits or [pred]
    maps = [figures.coupling_spatial(g, lengths, relative=relative)[0][digits] for g in grids]
    span = figures.deviation_span(np.stack(maps)) if relative else float(np.max(maps)) or 1.0
    spatial, dominant = figures.coupling_spatial(grids[step - 1], lengths, relative=relative)
    fig = figures.coupling_spatial_figure(image, spatial, dominant, digits, trace.lengths, pred, relative, span)
    st.plotly_chart(fig, key=state.FIG_SPATIAL)
    st.caption(text.SPATIAL_CAPTION + (text.SPATIAL_RELATIVE if relative else text.SPATIAL_ROUTED))


def _convergence(trace: CapsuleTrace, weights: np.ndarray, step: int) -> None:
    entropy = [figures.coupling_entropy(s.coupling, weights) for s in trace.iterations]
    lengths = np.stack([s.lengths for s in trace.iterations])
    st.plotly_chart(
        figures.convergence_figure(lengths, np.array(entropy), trace.prediction, step), key=state.FIG_CONVERGENCE
    )
    st.caption(text.CONVERGENCE_CAPTION + text.entropy_note(trace.num_iterations, entropy[0] - entropy[-1]))


def _matrix(trace: CapsuleTrace, step: int) -> None:
    exp = st.expander(text.MATRIX_TITLE, key=state.MATRIX_OPEN, on_change="rerun")
    with exp:
        if exp.open:
            span = max(figures.deviation_span(s.coupling, UNIFORM) for s in trace.iterations)
            coupling = unflatten_primary(trace.iterations[step - 1].coupling)
            fig = figures.coupling_matrix_figure(coupling, trace.primary_lengths, trace.prediction, span=span)
            st.plotly_chart(fig, key=state.FIG_MATRIX)
            st.caption(text.matrix_caption(step))


def render(trace: CapsuleTrace, image: np.ndarray, sig: str) -> None:
    st.caption(text.ROUTING_INTRO)
    weights = flatten_primary(trace.primary_lengths)  # |u_i| in the flat primary order
    step = _step_control(trace, weights)
    grids = [unflatten_primary(s.coupling) for s in trace.iterations]  # each (32, 6, 6, 10)
    left, right = st.columns([2, 3], gap="medium")
    with left:
        _by_type(grids, trace.primary_lengths, step, trace.prediction)
    with right:
        _spatial(trace, grids, image, step, sig)
        _convergence(trace, weights, step)
    _matrix(trace, step)
