"""Every session-state and widget key, the tab labels and the reset callbacks, declared in one place.

Tests and the benchmark import these names instead of retyping strings.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from capsviz.inspect.equivariance import Transform

# --- sidebar and input ---------------------------------------------------------------------------
MODEL_MODE = "model_mode"
MODEL_MODES = ("One digit", "Two overlapping digits")
ONE_DIGIT, TWO_DIGITS = MODEL_MODES
SOURCE = "source"
SOURCES = ("Draw", "MNIST test set", "Upload")
DRAW, GALLERY, UPLOAD = SOURCES
ITERATIONS = "iterations"
PEN_WIDTH = "stroke_width"
CANVAS = "canvas"  # the drawing canvas's key (capsviz.app.canvas: its component key and its drawing)
UPLOAD_KEY = "upload"
GALLERY_MODE = "gallery_mode"
GALLERY_MODES = ("By index", "By class", "Random", "Misclassified")
BY_INDEX, BY_CLASS, RANDOM, MISCLASSIFIED = GALLERY_MODES
GALLERY_INDEX = "gallery_index"
GALLERY_CLASS = "gallery_class"
CLASS_PICK = "class_pick"
RANDOM_PICK = "random_pick"
MISTAKE_PICK = "mistake_pick"

# --- two digits: their own widgets, so switching models never hands one mode's values to the other ----
PAIR_INK = "pair_ink"
PAIR_INKS = ("First digit", "Second digit")  # the canvas's two pens, in capsviz.data.preprocess_pair.INK_COLOURS
PAIR_PEN_WIDTH = "pair_stroke_width"
PAIR_CANVAS = "pair_canvas"
PAIR_UPLOAD_KEY = "pair_upload"
PAIR_INDEX = "pair_index"

# --- tabs (a tab's label is its session-state value) -------------------------------------------------
TAB = "tab"
POSE_TAB = ":material/tune: Pose dimensions"
ROUTING_TAB = ":material/hub: Routing"
EQUIVARIANCE_TAB = ":material/rotate_90_degrees_ccw: Equivariance"
EXPLAIN_TAB = ":material/ads_click: Which ink"
TABS = (POSE_TAB, ROUTING_TAB, EXPLAIN_TAB, EQUIVARIANCE_TAB)
PAIR_TAB = "pair_tab"
RECONSTRUCTION_TAB = ":material/layers: Reconstructions and pose"
PAIR_TABS = (RECONSTRUCTION_TAB, ROUTING_TAB)

# --- pose panel -------------------------------------------------------------------------------------
FIG4_OPEN = "fig4_open"
ATLAS_OPEN = "atlas_open"
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
FIG_ATLAS = "fig_atlas"
FIG_SWEEP = "fig_sweep"
FIG_ATTRIBUTION = "fig_attribution"
FIG_EXPLAIN_ROUTING = "fig_explain_routing"
FIG_ATTRIBUTION_SOURCE = "fig_attribution_source"
FIG_PAIR_LENGTHS = "fig_pair_lengths"
FIG_STROKE_SHARES = "fig_stroke_shares"
FIG_ACCURACY_BY_ITERATIONS = "fig_accuracy_by_iterations"


# --- key builders: a key that names its input resets the widget when the input changes ----------------------


def decode_key(sig: str) -> str:
    return f"decode_{sig}"


def explain_capsule_key(sig: str) -> str:
    return f"explain_capsule_{sig}"


def explain_versus_key(sig: str) -> str:
    return f"explain_versus_{sig}"


def spatial_digits_key(sig: str) -> str:
    return f"spatial_{sig}"


# --- callbacks -------------------------------------------------------------------------------------------


def reset_transform() -> None:
    identity = Transform()
    for kind, key in EQ_SLIDERS.items():
        st.session_state[key] = getattr(identity, kind)


def pick(key: str, choices: np.ndarray) -> None:
    st.session_state[key] = int(np.random.default_rng().choice(choices))
