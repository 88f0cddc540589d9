"""Two digits, routing: the playing routing figure for the two predicted capsules, which ink each of them
claims iteration by iteration, and the two-digit model's accuracy by routing iterations (its model card)."""

from __future__ import annotations

import streamlit as st

from capsviz.app import pair_text, state
from capsviz.app.pair_inputs import PairInput
from capsviz.app.panels import routing
from capsviz.app.theme import palette
from capsviz.figures import pairs as pair_figures
from capsviz.inspect.pair_trace import PairTrace, trace_shares
from capsviz.model.capsnet import NUM_CLASSES
from capsviz.model.routing import uniform_coupling


def _stroke_shares(pair: PairTrace, inp: PairInput) -> None:
    st.markdown(f"**{pair_text.STROKE_SHARES_TITLE}**")
    if inp.layers is None:
        st.caption(pair_text.NO_STROKES)
        return
    shares = trace_shares(pair.trace, inp.layers, pair.digits)
    fig = pair_figures.stroke_share_figure(
        shares, pair.digits, inp.names, uniform_coupling(NUM_CLASSES), palette=palette()
    )
    st.plotly_chart(fig, key=state.FIG_STROKE_SHARES)
    st.caption(
        pair_text.STROKE_SHARES_CAPTION + " " + pair_text.stroke_share_summary(inp.names, pair.digits, shares[-1])
    )


def _accuracy_by_iterations(card: dict, iterations: int) -> None:
    st.markdown(f"**{pair_text.ACCURACY_BY_ITERATIONS_TITLE}**")
    by_r = card.get("accuracy_by_routing_iterations")
    if not isinstance(by_r, dict) or not by_r:
        st.caption(pair_text.NO_ACCURACY_BY_ITERATIONS)
        return
    fig = pair_figures.accuracy_by_iterations_figure(by_r, iterations, palette=palette())
    st.plotly_chart(fig, key=state.FIG_ACCURACY_BY_ITERATIONS)
    st.caption(pair_text.ACCURACY_BY_ITERATIONS_CAPTION)


def render(pair: PairTrace, inp: PairInput, sig: str, card: dict, iterations: int) -> None:
    routing.playback(pair.trace, inp.image, sig)  # its digit picker starts on the two longest capsules
    _stroke_shares(pair, inp)
    _accuracy_by_iterations(card, iterations)
    routing.details(pair.trace)
