"""A tiny page for the pose editor's browser tests and benchmark: the shipped checkpoint on fixed drawn digits.

    streamlit run tests/e2e/pose_editor_page.py

"Input digit" picks one of ten scripted drawings (capsviz.testsets.drawn_digits, preprocessed like a canvas drawing);
"Decode capsule" picks the capsule (default: the prediction). The pose the editor returns is printed as JSON
in the element keyed "pose_out" so a test can read what reached Python. ``?named=1`` gives the sliders the pose
atlas's names and ranges, as the app does.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import streamlit as st  # noqa: E402

from capsviz.app.pose_editor import pose_editor  # noqa: E402
from capsviz.inspect.pose_atlas import load_atlas  # noqa: E402
from capsviz.inspect.pose_sliders import slider_specs  # noqa: E402
from capsviz.inspect.trace import trace_image  # noqa: E402
from capsviz.testsets.drawn_digits import drawing_for, preprocess_all  # noqa: E402
from capsviz.training.checkpoint import DEFAULT_DIR, load_model  # noqa: E402

st.set_page_config(page_title="Pose editor", layout="wide")


@st.cache_resource
def model():
    return load_model(os.environ.get("CAPSVIZ_CHECKPOINT") or DEFAULT_DIR)


@st.cache_resource
def drawn_inputs() -> np.ndarray:
    images, ok = preprocess_all([drawing_for(d) for d in range(10)])
    assert ok.all()
    return images


@st.fragment
def editor(image: np.ndarray, sig: str) -> None:
    trace = trace_image(model(), image)
    capsule = st.segmented_control(
        "Decode capsule", list(range(10)), default=trace.prediction, key=f"capsule_{sig}", required=True
    )
    capsule = trace.prediction if capsule is None else int(capsule)
    named = st.query_params.get("named") == "1"
    dims = slider_specs(load_atlas(DEFAULT_DIR), capsule, trace.poses[capsule]) if named else None
    pose = pose_editor(model(), trace.image, trace.poses[capsule], capsule, signature=sig, dims=dims)
    out = {"sig": sig, "capsule": capsule, "pose": [round(float(v), 5) for v in pose]}
    st.code(json.dumps(out), language=None)


st.title("Pose editor")
drawn = st.segmented_control("Input digit", list(range(10)), default=3, key="drawn", required=True)
image = drawn_inputs()[3 if drawn is None else int(drawn)]
editor(image, hashlib.sha256(image.tobytes()).hexdigest()[:12])
