"""Routing: how the coupling coefficients between primary and digit capsules evolve, iteration by iteration.

The main figure carries one frame per iteration with its own slider and Play button: plotly steps and plays
it in the browser, so watching routing unfold never reruns the server.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from capsviz.app import state, text
from capsviz.app.theme import palette
from capsviz.figures.lengths import rival_of
from capsviz.figures.playback import routing_playback_figure, with_playback
from capsviz.figures.routing import (
    convergence_figure,
    coupling_by_type,
    coupling_entropy,
    coupling_matrix_figure,
    coupling_spatial,
    deviation_span,
    routed_share,
)
from capsviz.inspect.trace import CapsuleTrace, flatten_primary, unflatten_primary
from capsviz.model.capsnet import NUM_CLASSES
from capsviz.model.routing import uniform_coupling

MAX_SPATIAL_DIGITS = 4
UNIFORM = uniform_coupling(NUM_CLASSES)


def _digit_controls(trace: CapsuleTrace, sig: str) -> tuple[list[int], bool]:
    pred = trace.prediction
    rival = rival_of(trace.lengths, pred)
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
    return digits or [pred], mode != "routed"


def _grid(trace: CapsuleTrace) -> tuple[int, int]:
    """(types, grid side) of the trace's primary capsules: (32, 6) for MNIST, (32, 10) for 36x36 pairs."""
    types, grid, _ = trace.primary_lengths.shape
    return types, grid


def playback_figure(trace: CapsuleTrace, image: np.ndarray, digits: list[int], relative: bool):
    """One frame per routing iteration: coupling by type, and where the votes for ``digits`` come from."""
    lengths, pred = trace.primary_lengths, trace.prediction
    weights = flatten_primary(lengths)
    grids = [unflatten_primary(s.coupling, _grid(trace)[1], _grid(trace)[0]) for s in trace.iterations]
    by_type = [coupling_by_type(g, lengths) for g in grids]
    spatial = [coupling_spatial(g, lengths, relative=relative) for g in grids]
    shown = np.stack([m[digits] for m, _ in spatial])
    type_span = deviation_span(np.stack(by_type), UNIFORM)
    spatial_span = deviation_span(shown) if relative else float(shown.max()) or 1.0
    titles = []
    for k, step in enumerate(trace.iterations):
        c = step.coupling
        share = routed_share(c, weights, pred)
        titles.append(
            text.routing_step_summary(k + 1, trace.num_iterations, float(c.min()), float(c.max()), share, pred)
        )
    return routing_playback_figure(
        image, by_type, spatial, digits, pred, relative, type_span, spatial_span, titles, palette=palette()
    )


def _convergence(trace: CapsuleTrace) -> None:
    weights = flatten_primary(trace.primary_lengths)
    entropy = [coupling_entropy(s.coupling, weights) for s in trace.iterations]
    lengths = np.stack([s.lengths for s in trace.iterations])
    fig = convergence_figure(lengths, np.array(entropy), trace.prediction, palette=palette())
    st.plotly_chart(fig, key=state.FIG_CONVERGENCE)
    st.caption(text.CONVERGENCE_CAPTION + text.entropy_note(trace.num_iterations, entropy[0] - entropy[-1]))


def _matrix(trace: CapsuleTrace) -> None:
    types, grid = _grid(trace)
    exp = st.expander(text.matrix_title(types * grid * grid), key=state.MATRIX_OPEN, on_change="rerun")
    with exp:
        if exp.open:
            span = max(deviation_span(s.coupling, UNIFORM) for s in trace.iterations)
            colours = palette()
            steps = [
                coupling_matrix_figure(
                    unflatten_primary(s.coupling, grid, types),
                    trace.primary_lengths,
                    trace.prediction,
                    span=span,
                    palette=colours,
                )
                for s in trace.iterations
            ]
            fig = with_playback(steps, [str(k + 1) for k in range(trace.num_iterations)], palette=colours)
            st.plotly_chart(fig, key=state.FIG_MATRIX)
            st.caption(text.MATRIX_CAPTION)


def playback(trace: CapsuleTrace, image: np.ndarray, sig: str) -> None:
    """The intro, the digit controls and the routing figure that plays in the page."""
    types, grid = _grid(trace)
    st.caption(text.routing_intro(types, grid))
    digits, relative = _digit_controls(trace, sig)
    st.plotly_chart(playback_figure(trace, image, digits, relative), key=state.FIG_ROUTING)
    st.caption(text.playback_caption(types, grid) + (text.SPATIAL_RELATIVE if relative else text.SPATIAL_ROUTED))


def details(trace: CapsuleTrace) -> None:
    """How lengths and coupling entropy evolve, and the full coupling matrix (in an expander)."""
    _convergence(trace)
    _matrix(trace)


def render(trace: CapsuleTrace, image: np.ndarray, sig: str) -> None:
    playback(trace, image, sig)
    details(trace)
