"""The sidebar: the model (one digit or two), input source, routing iterations, and what the model card says."""

from __future__ import annotations

import streamlit as st

from capsviz.app import pair_text, state, text
from capsviz.model.routing import MAX_ITERATIONS
from capsviz.training.card import summary_rows


def mode() -> str:
    """The model switch, first in the sidebar: it stays there when the chosen model cannot be loaded."""
    with st.sidebar:
        st.markdown(f"### :material/bubble_chart: {text.TITLE}")
        return st.radio("Model", state.MODEL_MODES, key=state.MODEL_MODE, help=pair_text.MODEL_HELP)


def render(card: dict, trained_iterations: int, pair: bool = False, card_problem: str = "") -> tuple[str, int]:
    """Returns (input source, routing iterations at inference). ``pair``: the two-digit model's sources;
    ``card_problem``: why the model card is not shown."""
    names = pair_text.PAIR_SOURCE_NAMES if pair else {}
    with st.sidebar:
        source = st.radio(
            "Input", state.SOURCES, key=state.SOURCE, horizontal=True, format_func=lambda s: names.get(s, s)
        )
        iterations = st.slider(
            "Routing iterations",
            1,
            MAX_ITERATIONS,
            max(1, min(MAX_ITERATIONS, trained_iterations)),
            key=state.ITERATIONS,
            help=text.iterations_help(trained_iterations),
        )
        st.divider()
        st.markdown("#### About")
        st.caption(text.ABOUT)
        if card_problem:
            st.warning(text.card_not_shown(card_problem))
        elif card:
            rows = summary_rows(card, trained_iterations)
            st.markdown("\n".join(["| Model card | |", "|---|---|", *[f"| {a} | {b} |" for a, b in rows]]))
        else:
            st.caption(text.NO_CARD)
    return source, iterations
