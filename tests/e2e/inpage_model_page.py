"""A test-only page for tests/e2e/test_inpage_model.py: the shipped CapsNet run in the page (onnxruntime-web in a
Web Worker, capsviz/app/components/inpage/) on a few MNIST test digits, beside the server's own classes.

Served with Streamlit's static file serving (server.enableStaticServing): the test copies this file into a folder
whose ``static/`` holds ``inpage/`` and ``vendor/`` (copies of capsviz/app/components/...); the page puts the
exported graph (capsviz.export.onnx, cached by weights hash) at ``static/models/``. URLs: ``/app/static/...``.
``?broken=1`` points the page at a model URL that does not exist (the client must report "unavailable").
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, os.environ.get("CAPSVIZ_REPO_ROOT", str(Path(__file__).resolve().parents[2])))

import streamlit as st  # noqa: E402

from capsviz.data.mnist import load_mnist  # noqa: E402
from capsviz.export.onnx import model_hash, onnx_model_path  # noqa: E402
from capsviz.inspect.trace import trace_image  # noqa: E402
from capsviz.training.checkpoint import DEFAULT_DIR, load_model  # noqa: E402

DIGITS = 6
ITERATIONS = 3
RUNS = 25
STATIC = Path(__file__).resolve().parent / "static"

st.set_page_config(page_title="In-page model")


@st.cache_resource
def served_model() -> tuple[object, str, str]:
    """The model, its hash, and the graph's URL under the static folder (copied there once)."""
    model = load_model(DEFAULT_DIR)
    key = model_hash(model)
    name = f"capsnet-trace-{key}.stages"
    target = STATIC / "models" / name
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(onnx_model_path(model), target.with_suffix(".tmp"))
        os.replace(target.with_suffix(".tmp"), target)
    return model, key, f"/app/static/models/{name}"


@st.cache_resource
def digits():
    return load_mnist(train=False).images[:DIGITS].float().div(255).numpy()


@st.cache_resource
def component():
    js = (Path(__file__).resolve().parent / "inpage_model_page.js").read_text()
    return st.components.v2.component("capsviz_inpage_probe", html="<div></div>", js=js)


model, key, url = served_model()
images = digits()
server = [trace_image(model, image, iterations=ITERATIONS).prediction for image in images]
st.code(json.dumps({"server": server, "hash": key}), language=None)
runs = st.session_state.setdefault("runs", 0)
if st.button("Run again"):
    st.session_state.runs = runs = runs + 1
broken = st.query_params.get("broken") == "1"
data = {
    "run_id": runs,
    "client_url": "/app/static/inpage/model_client.js",
    "vendor_url": "/app/static/vendor/onnxruntime-web/",
    "model": {"hash": "missing" if broken else key, "url": "/app/static/models/missing.stages" if broken else url},
    "images": [image.reshape(-1).tolist() for image in images],
    "iterations": ITERATIONS,
    "runs": RUNS,
}
component()(key="inpage", data=data)
