"""The top row: what the model sees, the prediction, and the ten digit-capsule lengths."""

from __future__ import annotations

import numpy as np
import streamlit as st

from capsviz.app import cached, state, text
from capsviz.app.inputs import Reading
from capsviz.app.theme import palette
from capsviz.figures.lengths import lengths_figure, rival_of
from capsviz.figures.style import to_uint8
from capsviz.inspect.trace import CapsuleTrace
from capsviz.model.capsnet import MNIST_SIDE

ZOOM = 6  # 28 x 6 = 168 px, nearest-neighbour
IMAGE_PX = MNIST_SIDE * ZOOM
AMBIGUOUS_LENGTH = 0.5  # a runner-up this long is worth pointing out


def seen_empty() -> None:
    st.markdown("**What the model sees**")
    st.image(np.zeros((IMAGE_PX, IMAGE_PX), np.uint8), output_format="PNG", caption="28 × 28 input (empty)")


def seen(trace: CapsuleTrace) -> None:
    st.markdown("**What the model sees**")
    image = to_uint8(trace.image, ZOOM)
    st.image(image, output_format="PNG", caption="28 × 28 input, centred like MNIST", width=IMAGE_PX)
    pred = trace.prediction
    st.metric(
        "Prediction",
        value=str(pred),
        delta=f"length {float(trace.lengths[pred]):.2f}",
        delta_color="off",
        delta_arrow="off",
        border=True,
        help=text.PREDICTION_HELP,
    )
    rival = rival_of(trace.lengths, pred)
    if trace.lengths[rival] > AMBIGUOUS_LENGTH:
        st.caption(f"Ambiguous: capsule {rival} is long too ({trace.lengths[rival]:.2f}).")


class SeenColumn:
    """ "What the model sees" and the Prediction, written once per run into ``column``: by the canvas just before
    its component (inputs.draw's ``before_canvas``), so the Prediction leaves the server ahead of the canvas's
    ~48 KB message and is drawn before the browser has worked through it; for other inputs, after them."""

    def __init__(self, column, iterations: int, model_path: str):
        self.column = column
        self.iterations = iterations
        self.model_path = model_path
        self.done = False
        self.trace: CapsuleTrace | None = None

    def show(self, reading: Reading | None) -> CapsuleTrace | None:
        """Write the column (the first call only) and return the reading's trace (cached), or None."""
        if not self.done:
            self.done = True
            if reading is not None:
                self.trace = cached.trace(reading.image, self.iterations, self.model_path)
            with self.column:
                if self.trace is None:
                    seen_empty()
                else:
                    seen(self.trace)
        return self.trace


def lengths(trace: CapsuleTrace) -> None:
    st.markdown("**Digit capsule lengths**")
    st.plotly_chart(lengths_figure(trace.lengths, trace.prediction, palette=palette()), key=state.FIG_LENGTHS)
    st.caption(text.LENGTHS_CAPTION)
