"""The sidebar: input source, routing iterations, and what the model card says about the model."""

from __future__ import annotations

import streamlit as st

from capsviz.app import state, text
from capsviz.card import summary_rows
from capsviz.routing import MAX_ITERATIONS


def render(card: dict, trained_iterations: int) -> tuple[str, int]:
    """Returns (input source, routing iterations at inference)."""
    with st.sidebar:
        st.markdown(f"### :material/bubble_chart: {text.TITLE}")
        source = st.radio("Input", state.SOURCES, key=state.SOURCE, horizontal=True)
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
        if card:
            rows = summary_rows(card, trained_iterations)
            st.markdown("\n".join(["| Model card | |", "|---|---|", *[f"| {a} | {b} |" for a, b in rows]]))
        else:
            st.caption(text.NO_CARD)
    return source, iterations
