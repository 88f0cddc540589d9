"""Two digits: what the model sees, the two longest capsules, and each decoded on its own (the paper's Figure 5)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from capsviz.app import pair_text, state, text
from capsviz.app.pair_inputs import ZOOM, PairInput
from capsviz.app.theme import palette
from capsviz.data.multimnist import SIZE
from capsviz.figures import pairs as pair_figures
from capsviz.figures.style import to_uint8
from capsviz.inspect.pair_trace import PairTrace

IMAGE_PX = SIZE * ZOOM


def seen_empty() -> None:
    st.markdown("**What the model sees**")
    st.image(np.zeros((IMAGE_PX, IMAGE_PX), np.uint8), output_format="PNG", caption="36 × 36 input (empty)")


def seen(pair: PairTrace) -> None:
    st.markdown("**What the model sees**")
    image = to_uint8(pair.trace.image, ZOOM)
    st.image(image, output_format="PNG", caption=pair_text.SEEN_PAIR_CAPTION, width=IMAGE_PX)
    st.metric(
        "Prediction",
        value=pair_text.pair_prediction(pair.digits),
        delta=pair_text.pair_lengths(pair.lengths),
        delta_color="off",
        delta_arrow="off",
        border=True,
        help=pair_text.PAIR_PREDICTION_HELP,
    )


def lengths(pair: PairTrace) -> None:
    st.markdown("**Digit capsule lengths**")
    fig = pair_figures.pair_lengths_figure(pair.trace.lengths, pair.digits, palette=palette())
    st.plotly_chart(fig, key=state.FIG_PAIR_LENGTHS)
    st.caption(text.LENGTHS_CAPTION)


def reconstructions(pair: PairTrace, inp: PairInput) -> None:
    """Input, both reconstructions over it, and each alone, in its capsule's colour."""
    a, b = pair.digits
    shown = pair_figures.painted_layers(inp.layers, ZOOM) if inp.layers is not None else None
    images = [
        shown if shown is not None else to_uint8(pair.trace.image, ZOOM),
        pair_figures.overlay(pair.trace.image, pair.reconstructions, ZOOM),
        pair_figures.tinted(pair.reconstructions[0], pair_figures.CAPSULE_COLOURS[0], ZOOM),
        pair_figures.tinted(pair.reconstructions[1], pair_figures.CAPSULE_COLOURS[1], ZOOM),
    ]
    captions = ["Input", f"Capsules {a} and {b} decoded", f"Capsule {a} alone", f"Capsule {b} alone"]
    for col, image, caption in zip(st.columns(4), images, captions, strict=True):
        col.image(image, caption=caption, output_format="PNG", width=IMAGE_PX)
    st.caption(pair_text.FIGURE5_CAPTION)
