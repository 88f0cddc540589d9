"""Every cached computation the page asks for. Arrays are passed as arguments: Streamlit hashes them.

Each cache has a bound (max_entries), so a long-running server does not grow with its visitors.
"""

from __future__ import annotations

import gc
import json
import os

import numpy as np
import streamlit as st
import torch
from plotly.graph_objects import Figure

from capsviz.data.mnist import DataNotFoundError, load_mnist
from capsviz.data.multimnist import MultiMNISTArrays, MultiMNISTSet, load_test_set
from capsviz.data.strokes import parse_drawing, render_layers, render_rgba
from capsviz.figures import atlas as atlas_figures
from capsviz.figures import sweeps
from capsviz.figures.style import palette_for
from capsviz.inspect.attribution import Attribution, attribute
from capsviz.inspect.equivariance import BatchResult, EquivarianceSweep, Transform, run_images, sweep, transform_image
from capsviz.inspect.pair_trace import PairTrace, decode_pair
from capsviz.inspect.pose_atlas import PoseAtlas, atlas_grid, load_atlas
from capsviz.inspect.trace import FIGURE4_DELTAS, CapsuleTrace, classify, perturbation_grid, trace_image
from capsviz.model.capsnet import CapsNet
from capsviz.training.card import listed_mistakes
from capsviz.training.checkpoint import DEFAULT_DIR, CheckpointError, card_mismatch, load_model, read_card

CHECKPOINT_ENV = "CAPSVIZ_CHECKPOINT"
MULTIMNIST_CHECKPOINT_ENV = "CAPSVIZ_MULTIMNIST_CHECKPOINT"  # the two-digit (36x36 MultiMNIST) model
MULTIMNIST_DIR = DEFAULT_DIR / "multimnist"
MISTAKE_CHUNK = 500  # test images classified per cached step while the mistakes list is built


def checkpoint_path() -> str:
    return os.environ.get(CHECKPOINT_ENV) or str(DEFAULT_DIR)


def pair_checkpoint_path() -> str:
    return os.environ.get(MULTIMNIST_CHECKPOINT_ENV) or str(MULTIMNIST_DIR)


# One intra-op thread per rerun: sessions already run in parallel, and on a busy 2-core server two torch
# threads per rerun stall each other (see the README's Reliability section for the measurement).
APP_TORCH_THREADS = 1


@st.cache_resource(show_spinner="Loading the CapsNet…")
def model(path: str) -> CapsNet:
    torch.set_num_threads(APP_TORCH_THREADS)
    loaded = load_model(path)
    gc.collect()
    gc.freeze()  # the long-lived objects (torch, plotly, streamlit) leave every later collection's walk
    return loaded


@st.cache_data(show_spinner=False, max_entries=4)
def card(path: str) -> tuple[dict, str]:
    """The model card beside the weights, and what is wrong with it ("" if nothing). A card that cannot be
    read or that disagrees with its weights comes back empty: its numbers would describe another model."""
    try:
        found = read_card(path)
    except CheckpointError as exc:
        return {}, str(exc)
    problem = card_mismatch(found, model(path)) if found else ""
    return ({}, problem) if problem else (found, "")


@st.cache_data(max_entries=32, show_spinner=False)
def rendered(payload_json: str) -> np.ndarray:
    """A drawing's strokes (capsviz.data.strokes.to_payload, as compact JSON) inked by the one renderer: (280, 280,
    4) RGBA, white on black. Keyed by the strokes, so a rerun that is not a pen-up (a tab, a slider) does not ink
    them again. JSON text, not the payload dict: hashing one string is ~0.1 ms, the dict's lists 2-5 ms."""
    return render_rgba(parse_drawing(json.loads(payload_json))[0])


@st.cache_data(max_entries=32, show_spinner=False)
def rendered_layers(payload_json: str) -> np.ndarray:
    """Each pen's ink of a drawing (compact JSON, as ``rendered``), (2, 280, 280) float32 coverage in [0, 1]: the
    two-digit page's layers."""
    return render_layers(parse_drawing(json.loads(payload_json))[0]).astype(np.float32) / 255.0


@st.cache_data(max_entries=128, show_spinner=False)
def trace(image: np.ndarray, iterations: int, model_path: str) -> CapsuleTrace:
    """The full trace of one 28x28 input at the given routing iterations."""
    return trace_image(model(model_path), image, iterations=iterations)


@st.cache_resource(show_spinner="Loading the MNIST test set…", max_entries=2)
def test_set(data_dir: str) -> tuple[np.ndarray, np.ndarray] | str:
    """(images uint8 (N, 28, 28), labels (N,)), or the reason it is unavailable."""
    try:
        split = load_mnist(train=False, data_dir=data_dir)
    except DataNotFoundError as exc:
        return str(exc)
    return split.images.numpy(), split.labels.numpy()


@st.cache_resource(show_spinner=False, max_entries=64)
def _predict_chunk(model_path: str, data_dir: str, start: int) -> np.ndarray:
    """The model's predictions for test images start .. start + MISTAKE_CHUNK."""
    test = test_set(data_dir)
    assert not isinstance(test, str), test  # callers reach here only with the test set loaded
    images, _ = test
    return classify(model(model_path), images[start : start + MISTAKE_CHUNK].astype(np.float32) / 255.0)


def mistakes(model_path: str, data_dir: str, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Misclassified test indices and their predictions: from the model card when it lists them, else one
    batched pass over the test set, cached per chunk for the server's life (with a progress bar)."""
    listed = listed_mistakes(card(model_path)[0], len(labels))
    if listed is not None:
        return listed
    starts = range(0, len(labels), MISTAKE_CHUNK)
    bar = st.progress(0.0, text="Finding the model's mistakes on the test set (once per server)…")
    preds = []
    for k, start in enumerate(starts):
        preds.append(_predict_chunk(model_path, data_dir, start))
        done = min(start + MISTAKE_CHUNK, len(labels))
        bar.progress((k + 1) / len(starts), text=f"Finding the model's mistakes: {done:,} of {len(labels):,}…")
    bar.empty()
    pred = np.concatenate(preds)
    wrong = np.flatnonzero(pred != labels)
    return wrong, pred[wrong]


@st.cache_data(max_entries=64, show_spinner=False)
def perturbation_figure(poses: np.ndarray, digit: int, model_path: str, theme: str = "light") -> Figure:
    """The paper's Figure 4 for this pose, in the colours of ``theme`` (capsviz.app.theme.theme_type)."""
    grid = perturbation_grid(model(model_path), poses, digit, FIGURE4_DELTAS)
    return sweeps.perturbation_figure(grid, FIGURE4_DELTAS, digit, palette=palette_for(theme))


@st.cache_data(max_entries=64, show_spinner=False)
def equivariance_sweep(
    image: np.ndarray, kind: str, base: Transform, digit: int, iterations: int, model_path: str
) -> EquivarianceSweep:
    return sweep(model(model_path), image, kind, digit=digit, iterations=iterations, base=base)


@st.cache_data(max_entries=64, show_spinner=False)
def transformed(
    image: np.ndarray, t: Transform, digit: int, iterations: int, model_path: str
) -> tuple[np.ndarray, BatchResult]:
    moved = transform_image(image, t)
    return moved, run_images(model(model_path), moved[None], digit=digit, iterations=iterations)


# --- two digits -------------------------------------------------------------------------------------


@st.cache_data(max_entries=64, show_spinner=False)
def pair_trace(image: np.ndarray, iterations: int, model_path: str) -> PairTrace:
    """The 36x36 input's trace, read as its two longest capsules, each decoded on its own."""
    return decode_pair(model(model_path), trace(image, iterations, model_path))


@st.cache_resource(show_spinner="Composing the MultiMNIST test pairs…", max_entries=2)
def pair_test_set(data_dir: str) -> MultiMNISTSet | str:
    """The seeded MultiMNIST test pairs (composed on demand, a few MB held), or why they are unavailable."""
    try:
        return load_test_set(data_dir)
    except DataNotFoundError as exc:
        return str(exc)


@st.cache_data(max_entries=32, show_spinner=False)
def test_pair(data_dir: str, index: int) -> MultiMNISTArrays:
    """Test pair ``index``: its image, labels and each digit's own image."""
    test = pair_test_set(data_dir)
    assert not isinstance(test, str), test  # callers reach here only with the test set loaded
    return test.numpy(slice(index, index + 1))


@st.cache_data(max_entries=64, show_spinner="Attributing…")
def attribution(image: np.ndarray, target: int, versus: int | None, iterations: int, model_path: str) -> Attribution:
    """One attribution map (Integrated Gradients), cached per input, capsule pair and routing iterations."""
    return attribute(model(model_path), image, target, versus=versus, iterations=iterations)


@st.cache_resource(show_spinner=False, max_entries=4)
def pose_atlas(path: str) -> PoseAtlas | None:
    """The measured names and ranges of the pose dimensions beside the checkpoint (None: not measured)."""
    return load_atlas(path)


@st.cache_data(max_entries=16, show_spinner=False)
def atlas_figure(model_path: str, digit: int, theme: str = "light") -> Figure | None:
    """The measured Figure 4 of one class (None where the atlas has no such class), in the colours of
    ``theme``."""
    atlas = pose_atlas(model_path)
    if atlas is None or digit not in atlas.classes:
        return None
    entry = atlas.classes[digit]
    grid = atlas_grid(model(model_path), entry)
    return atlas_figures.atlas_figure(grid, [d.label for d in entry.dims], digit, palette=palette_for(theme))
