"""The page's fixed-width top row and the signature that names one input (widget keys derive from it)."""

from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st

from capsviz.app.panels.prediction import IMAGE_PX
from capsviz.data.strokes import CANVAS

INPUT_COLUMN_PX = CANVAS + 16
SEEN_COLUMN_PX = IMAGE_PX + 24


def top_row():
    """(input, what the model sees, lengths) containers. The input and the 28x28 view have fixed widths: the
    canvas must never be clipped by a narrow column (strokes on a hidden part would be lost). The lengths
    chart takes the rest, or wraps below on a narrow window."""
    row = st.container(horizontal=True, gap="medium")
    with row:
        return (
            st.container(width=INPUT_COLUMN_PX),
            st.container(width=SEEN_COLUMN_PX),
            st.container(width="stretch"),
        )


def signature(image: np.ndarray, iterations: int) -> str:
    """A short name for this input at these routing iterations: widgets keyed on it reset for a new drawing."""
    return f"{hashlib.md5(np.ascontiguousarray(image, np.float32).tobytes()).hexdigest()[:12]}_{iterations}"
