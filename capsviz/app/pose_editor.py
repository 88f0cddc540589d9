"""The pose editor: 16 pose sliders of one digit capsule with the decoder running in the page.

    pose = pose_editor(model, trace.image, trace.poses[digit], digit, signature=sig)   # (16,) float32

A Streamlit custom component (``st.components.v2.component``; its html, css and js are the files in
``components/pose_editor/``). The reconstruction follows the sliders while they are dragged: the page runs the
decoder (160 -> 512 -> 1024 -> S*S, S the model's image side) itself in JavaScript on every input event,
redrawing once per animation frame. Python only hears the final pose, as component state, when a slider is
released (or reset), and returns it, so the server-side figures (Figure 4, decode-as-another-class) follow the edit.

Data to the page: one binary payload (``build_payload``): a JSON header (slider specs, identity) and the
model's input (28x28, or 36x36 for two digits) as bytes, plus the decoder weights (float16,
``capsviz.export.decoder``) only until the page reports in its state (``held``) that it holds them. The page
keeps them in a module-level cache keyed by the weights hash for as long as the tab lives;
``st.session_state[HELD_KEY]`` remembers that, so a new drawing, capsule or rerun sends only a few kilobytes.

A new drawing or a new capsule resets the sliders to the capsule's actual values: the component's key is
the drawing ``signature`` plus the capsule, and its identity also covers the slider specs.

Slider specs are data (``DimSpec``), so names and data-derived ranges can be plugged in per dimension;
defaults: "Dimension k", the capsule's value +- ``POSE_SPAN``, step ``POSE_STEP``.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import streamlit as st

from capsviz.app.component_files import declare
from capsviz.export.decoder import DecoderPayload, export_decoder
from capsviz.export.pose_payload import (
    POSE_SPAN,
    POSE_STEP,
    DimSpec,
    build_payload,
    identity,
    pose_from_state,
    slider_specs,
)

COMPONENT_NAME = "capsviz_pose_editor"
HELD_KEY = "_capsviz_pose_editor_held"  # session_state: hash of the decoder weights the page holds


# --- the component ------------------------------------------------------------------------------

_PAYLOADS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def decoder_payload(model) -> DecoderPayload:
    """The model's decoder as a DecoderPayload, exported once per model object (the app's model is a
    cached resource that never changes in place)."""
    if isinstance(model, DecoderPayload):
        return model
    payload = _PAYLOADS.get(model)
    if payload is None:
        payload = _PAYLOADS[model] = export_decoder(model)
    return payload


def _component():
    return declare(COMPONENT_NAME, "pose_editor")


def _note_held(component_key: str) -> None:
    """State callback: the page reported which decoder weights it holds (\"\" for none)."""
    state = st.session_state.get(component_key)
    held = state.get("held") if isinstance(state, Mapping) else None
    st.session_state[HELD_KEY] = held or None


def _ignore() -> None:
    pass


def pose_editor(
    model,
    image: np.ndarray,
    pose: np.ndarray,
    digit: int,
    *,
    signature: str,
    dims: Sequence[DimSpec | Mapping[str, Any] | None] | None = None,
    key: str = "pose_editor",
    span: float = POSE_SPAN,
    step: float = POSE_STEP,
) -> np.ndarray:
    """Show the editor for capsule ``digit`` and return its current pose, (16,) float32.

    model: the CapsNet (or a DecoderPayload); image: the (S, S) input in [0, 1]; pose: the capsule's
    actual 16 numbers (the sliders start there); signature: identifies the drawing (a new one resets the
    sliders, as does a new ``digit``); dims: optional per-dimension DimSpec (label, min, max, median, help).
    Returns the starting pose until the user releases a slider, then the pose the page shows."""
    weights = decoder_payload(model)
    specs = slider_specs(pose, dims, span=span, step=step)
    ident = identity(signature, digit, specs)
    component_key = f"{key}_{signature}_{int(digit)}"
    include = st.session_state.get(HELD_KEY) != weights.hash
    data = build_payload(image, specs, digit, ident, weights, include)
    result = _component()(
        key=component_key,
        data=data,
        on_pose_change=_ignore,
        on_held_change=functools.partial(_note_held, component_key),
    )
    if result.get("held") == weights.hash:
        st.session_state[HELD_KEY] = weights.hash
    return pose_from_state(result.get("pose"), ident, specs)
