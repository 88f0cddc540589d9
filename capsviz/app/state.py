"""Every session-state and widget key, the tab labels and the reset callbacks, declared in one place.

Tests and the benchmark import these names instead of retyping strings.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from capsviz.equivariance import Transform

# --- sidebar and input ---------------------------------------------------------------------------
SOURCE = "source"
SOURCES = ("Draw", "MNIST test set", "Upload")
DRAW, GALLERY, UPLOAD = SOURCES
ITERATIONS = "iterations"
PEN_WIDTH = "stroke_width"
CANVAS_GEN = "canvas_gen"
CANVAS_PREFIX = "canvas_"
UPLOAD_KEY = "upload"
GALLERY_MODE = "gallery_mode"
GALLERY_MODES = ("By index", "By class", "Random", "Misclassified")
BY_INDEX, BY_CLASS, RANDOM, MISCLASSIFIED = GALLERY_MODES
GALLERY_INDEX = "gallery_index"
GALLERY_CLASS = "gallery_class"
CLASS_PICK = "class_pick"
RANDOM_PICK = "random_pick"
MISTAKE_PICK = "mistake_pick"

# --- tabs (a tab's label is its session-state value) -------------------------------------------------
TAB = "tab"
POSE_TAB = ":material/tune: Pose dimensions"
ROUTING_TAB = ":material/hub: Routing"
EQUIVARIANCE_TAB = ":material/rotate_90_degrees_ccw: Equivariance"
TABS = (POSE_TAB, ROUTING_TAB, EQUIVARIANCE_TAB)

# --- pose panel -------------------------------------------------------------------------------------
FIG4_OPEN = "fig4_open"
POSE_EDITOR = "pose_editor"  # the in-page pose editor's key prefix

# --- routing panel ------------------------------------------------------------------------------------
SPATIAL_MODE = "spatial_mode"
SPATIAL_MODES = ("vs uniform", "routed")
MATRIX_OPEN = "matrix_open"

# --- equivariance panel ---------------------------------------------------------------------------------
EQ_KIND = "eq_kind"
EQ_SLIDERS = {"angle": "eq_angle", "scale": "eq_scale", "shift_x": "eq_shift_x", "shift_y": "eq_shift_y"}

# --- charts (plotly_chart keys) ----------------------------------------------------------------------------
FIG_LENGTHS = "fig_lengths"
FIG_ROUTING = "fig_routing"
FIG_CONVERGENCE = "fig_convergence"
FIG_MATRIX = "fig_matrix"
FIG_PERTURBATION = "fig_perturbation"
FIG_SWEEP = "fig_sweep"


# --- key builders: a key that names its input resets the widget when the input changes ----------------------


def canvas_key() -> str:
    return f"{CANVAS_PREFIX}{st.session_state.get(CANVAS_GEN, 0)}"


def decode_key(sig: str) -> str:
    return f"decode_{sig}"


def spatial_digits_key(sig: str) -> str:
    return f"spatial_{sig}"


# --- callbacks -------------------------------------------------------------------------------------------


def clear_canvas() -> None:
    st.session_state[CANVAS_GEN] = st.session_state.get(CANVAS_GEN, 0) + 1


def reset_transform() -> None:
    identity = Transform()
    for kind, key in EQ_SLIDERS.items():
        st.session_state[key] = getattr(identity, kind)


def pick(key: str, choices: np.ndarray) -> None:
    st.session_state[key] = int(np.random.default_rng().choice(choices))
