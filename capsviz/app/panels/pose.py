"""Pose dimensions: steer the 16 numbers of any digit capsule and watch the decoder redraw the digit.

The sliders and the decoder live in the page (capsviz.app.pose_editor): the reconstruction follows a slider
while it is dragged. Python hears the pose when a slider is released, and redraws Figure 4 from it.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from capsviz.app import cached, state, text
from capsviz.app.pose_editor import pose_editor
from capsviz.app.theme import theme_type
from capsviz.inspect.pose_sliders import slider_specs
from capsviz.inspect.trace import CapsuleTrace


def _capsule_picker(trace: CapsuleTrace, sig: str) -> int:
    digit = st.segmented_control(
        "Decode digit capsule",
        list(range(len(trace.lengths))),
        default=trace.prediction,
        key=state.decode_key(sig),
        required=True,
        help=text.DECODE_HELP,
    )
    return trace.prediction if digit is None else int(digit)


def _figure4(poses: np.ndarray, digit: int, model_path: str) -> None:
    exp = st.expander(text.FIG4_TITLE, key=state.FIG4_OPEN, on_change="rerun")
    with exp:
        if exp.open:
            fig = cached.perturbation_figure(poses, digit, model_path, theme_type())
            st.plotly_chart(fig, key=state.FIG_PERTURBATION)
            st.caption(text.FIG4_CAPTION)


def _which(digit: int, predicted: tuple[int, ...]) -> str:
    if len(predicted) > 1:
        return f" (one of the {len(predicted)} predicted)" if digit in predicted else ""
    return " (the prediction)" if digit in predicted else ""


def _atlas(digit: int, model_path: str) -> None:
    exp = st.expander(text.ATLAS_TITLE, key=state.ATLAS_OPEN, on_change="rerun")
    with exp:
        if exp.open:
            fig = cached.atlas_figure(model_path, digit, theme_type())
            if fig is None:
                st.info(text.NO_ATLAS)
                return
            st.plotly_chart(fig, key=state.FIG_ATLAS)
            st.caption(text.ATLAS_CAPTION)


@st.fragment
def render(trace: CapsuleTrace, sig: str, model_path: str, predicted: tuple[int, ...] = ()) -> None:
    """Only this fragment reruns when a slider is released: no routing, at most Figure 4's decodes.
    ``predicted``: the capsules the page reads as its answer (default the longest; two for a pair)."""
    predicted = predicted or (trace.prediction,)
    digit = _capsule_picker(trace, sig)
    atlas = cached.pose_atlas(model_path)
    dims = slider_specs(atlas, digit, trace.poses[digit])  # measured names and ranges, where there are some
    model = cached.model(model_path)
    pose = pose_editor(model, trace.image, trace.poses[digit], digit, signature=sig, dims=dims, key=state.POSE_EDITOR)
    poses = trace.poses.astype(np.float32).copy()
    poses[digit] = pose
    st.caption(
        f"Decoding capsule **{digit}**{_which(digit, predicted)}; its length is "
        f"{float(trace.lengths[digit]):.2f} (edited pose: {float(np.linalg.norm(pose)):.2f}). " + text.POSE_EXPLAINED
    )
    _figure4(poses, digit, model_path)
    _atlas(digit, model_path)
