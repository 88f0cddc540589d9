"""Pose dimensions: steer the 16 numbers of any digit capsule and watch the decoder redraw the digit."""

from __future__ import annotations

import numpy as np
import streamlit as st

from capsviz import figures
from capsviz.app import cached, state, text
from capsviz.app.panels.prediction import ZOOM
from capsviz.inspection import CapsuleTrace, reconstruct

POSE_SPAN = 0.3  # pose sliders run over the capsule's value +- this


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


def _sliders(start: np.ndarray, sig: str, digit: int) -> np.ndarray:
    values = np.empty(len(start))
    cols = st.columns(4)
    for d in range(len(start)):
        with cols[d % 4]:
            values[d] = st.slider(
                state.POSE_SLIDER_LABEL.format(d + 1),
                float(round(start[d] - POSE_SPAN, 2)),
                float(round(start[d] + POSE_SPAN, 2)),
                float(start[d]),
                step=0.01,
                format="%.2f",
                key=state.pose_key(sig, digit, d),
            )
    return values


def _figure4(poses: np.ndarray, digit: int, model_path: str) -> None:
    exp = st.expander(
        "Figure 4 of the paper: each dimension from −0.25 to +0.25", key=state.FIG4_OPEN, on_change="rerun"
    )
    with exp:
        if exp.open:
            st.plotly_chart(cached.perturbation_figure(poses, digit, model_path), key=state.FIG_PERTURBATION)
            st.caption(text.FIG4_CAPTION)


@st.fragment
def render(trace: CapsuleTrace, sig: str, model_path: str) -> None:
    """Only this fragment reruns when a pose slider moves: one decoder pass, no routing."""
    pred = trace.prediction
    controls, images = st.columns([3, 2], gap="large")
    with controls:
        digit = _capsule_picker(trace, sig)
        actual = trace.poses[digit].astype(np.float64)
        start = np.round(actual, 2)
        values = _sliders(start, sig, digit)
        st.button("Reset pose", on_click=state.reset_pose, icon=":material/restart_alt:")
    poses = trace.poses.astype(np.float32).copy()
    poses[digit] = (actual + (values - start)).astype(np.float32)
    recon = reconstruct(cached.model(model_path), poses, digit)
    with images:
        a, b = st.columns(2, gap="small")
        a.image(figures.to_uint8(trace.image, ZOOM), output_format="PNG", caption="Input", width="stretch")
        b.image(figures.to_uint8(recon, ZOOM), output_format="PNG", caption="Reconstruction", width="stretch")
        edited = float(np.linalg.norm(poses[digit]))
        st.caption(
            f"Decoding capsule **{digit}**{' (the prediction)' if digit == pred else ''}; "
            f"its length is {float(trace.lengths[digit]):.2f} (edited pose: {edited:.2f})."
        )
        st.caption(text.POSE_EXPLAINED)
    _figure4(poses, digit, model_path)
