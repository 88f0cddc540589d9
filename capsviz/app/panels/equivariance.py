"""Equivariance (beyond the paper): transform the input and watch the predicted capsule's pose follow."""

from __future__ import annotations

import numpy as np
import streamlit as st

from capsviz.app import cached, state, text
from capsviz.app.theme import palette
from capsviz.figures.style import to_uint8
from capsviz.figures.sweeps import sweep_figure
from capsviz.inspect.equivariance import LABELS, LIMITS, STEPS, Transform

ZOOM = 4


def _transform_sliders() -> Transform:
    identity = Transform()
    values = {}
    for kind, key in state.EQ_SLIDERS.items():
        lo, hi = LIMITS[kind]
        values[kind] = st.slider(
            text.SLIDER_LABELS[kind], lo, hi, getattr(identity, kind), step=STEPS[kind], format="%g", key=key
        )
    st.button("Reset transform", on_click=state.reset_transform, icon=":material/restart_alt:")
    return Transform(**{k: round(float(v), 4) for k, v in values.items()})


def _kind_picker() -> str:
    kind = st.segmented_control(
        "Sweep",
        list(text.TRANSFORM_NAMES),
        format_func=text.TRANSFORM_NAMES.__getitem__,
        default="angle",
        key=state.EQ_KIND,
        required=True,
    )
    return kind or "angle"


@st.fragment
def render(image: np.ndarray, pred: int, iterations: int, model_path: str) -> None:
    """Sliders move one transformed copy; the sweep runs 13-19 copies in one batch. The sliders step on the
    sweep's grid, so the current copy is one of the sweep's and moving the swept slider runs no model at all."""
    st.caption(text.equivariance_intro(pred))
    controls, view, chart = st.columns([1.1, 1.1, 2.6], gap="medium")
    with controls:
        t = _transform_sliders()
    with chart:
        kind = _kind_picker()
    # The swept parameter's own value does not change the sweep: key the cache without it.
    base = t.with_value(kind, getattr(Transform(), kind))
    sw = cached.equivariance_sweep(image, kind, base, pred, iterations, model_path)
    current = getattr(t, kind)
    hit = np.flatnonzero(np.isclose(sw.values, current, atol=1e-6))
    if hit.size:
        i = int(hit[0])
        moved, lengths, new_pred, recon = sw.images[i], sw.lengths[i], int(sw.predictions[i]), sw.reconstructions[i]
    else:
        moved, res = cached.transformed(image, t, pred, iterations, model_path)
        lengths, new_pred, recon = res.lengths[0], int(res.predictions[0]), res.reconstructions[0]
    with view:
        st.metric(
            "After transform",
            str(new_pred),
            delta=f"length of {pred}: {lengths[pred]:.2f}",
            delta_color="off",
            delta_arrow="off",
            border=True,
        )
        a, b = st.columns(2)
        a.image(to_uint8(moved, ZOOM), output_format="PNG", caption="Transformed", width="stretch")
        b.image(to_uint8(recon, ZOOM), output_format="PNG", caption=f"Decoded from {pred}", width="stretch")
    with chart:
        fig = sweep_figure(
            sw.values, sw.poses, sw.lengths, sw.predictions, pred, current, LABELS[kind], palette=palette()
        )
        st.plotly_chart(fig, key=state.FIG_SWEEP)
        st.caption(text.sweep_caption(len(sw.values), kind, *LIMITS[kind]))
