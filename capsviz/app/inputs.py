"""The three ways in: draw on the canvas, pick an MNIST test digit, upload a picture. Each returns the 28x28
image the model sees, or None (with a message on the page saying why)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import streamlit as st

from capsviz.app import cached, canvas, live, state, text
from capsviz.data.mnist import ENV_VAR, resolve_data_dir
from capsviz.data.preprocess import (
    EmptyDrawingError,
    Preprocessed,
    PreprocessError,
    TooSmallError,
    to_mnist,
)
from capsviz.data.strokes import PEN_RANGE, PEN_WIDTH, StrokeDrawing, payload_json, to_payload
from capsviz.data.uploads import check_marks, load_upload

UPLOAD_TYPES = ["png", "jpg", "jpeg"]
BLANK_UPLOAD = (
    "No digit found: the picture is blank (one even tone, no ink standing out from the background). "
    "Upload a picture of one digit."
)
FILLED_CANVAS = "The canvas is all ink: there is no digit shape left to read. Clear it and draw a digit."


@dataclass(frozen=True)
class Reading:
    """What an input gives the page: the 28x28 image the model sees and, for a drawing or an upload, the
    picture it came from and how it was cropped and scaled (to draw maps back onto it)."""

    image: np.ndarray
    source: np.ndarray | None = None
    pre: Preprocessed | None = None


def read_upload(data: bytes) -> tuple[np.ndarray, list[str]]:
    """Uploaded file bytes -> the 28x28 model input and warnings for the user (an animated file's first frame
    was read, more than one mark). Raises PreprocessError (user-facing message); a blank picture raises
    EmptyDrawingError."""
    reading, notes = _read_upload(data)
    return reading.image, notes


def _read_upload(data: bytes) -> tuple[Reading, list[str]]:
    notes: list[str] = []
    pixels = load_upload(data, notes=notes)
    notes += check_marks(pixels)
    pre = to_mnist(pixels)
    return Reading(pre.image, pixels, pre), notes


def draw(
    model_path: str | None = None,
    iterations: int | None = None,
    before_canvas: Callable[[Reading | None], object] | None = None,
) -> Reading | None:
    """The canvas and its reading. With ``model_path`` and ``iterations`` the canvas also reads the drawing live
    in the page (capsviz.app.live) and is told the server's answer for the drawing it holds. ``before_canvas``
    is called with the reading before the canvas component is written: the component's message is the rerun's
    largest (~48 KB), and what is written first reaches the page first."""
    st.markdown("**Your drawing**")
    canvas_slot = st.container()  # the canvas sits above the pen control that sets it
    width = st.slider("Pen width", *PEN_RANGE, PEN_WIDTH, key=state.PEN_WIDTH)
    drawing = canvas.current(state.CANVAS)  # the state callback has already taken the page's newest strokes
    reading = read_drawing(drawing) if drawing is not None else None
    live_data = server = None
    if model_path is not None and iterations is not None:
        live_data = live.canvas_data(cached.model(model_path), iterations)
        if drawing is not None and "off" not in live_data:
            trace = cached.trace(reading.image, iterations, model_path) if reading is not None else None
            server = live.server_answer(
                to_payload(drawing),
                trace.prediction if trace is not None else None,
                trace.lengths if trace is not None else None,
            )
    if before_canvas is not None:
        before_canvas(reading)
    with canvas_slot:
        drawing = canvas.draw_canvas(state.CANVAS, width, live=live_data, server=server)
    if drawing is None:
        if not canvas.problem(state.CANVAS):
            st.info(text.DRAW_PROMPT)
        return None
    return reading


def read_drawing(drawing: StrokeDrawing) -> Reading | None:
    """The strokes, inked by the one renderer, as the model's input (with the picture they make); None with a
    message on the page for a dot, a canvas painted over or anything to_mnist cannot read."""
    rgba = cached.rendered(payload_json(drawing))
    try:
        pre = to_mnist(rgba)
        top, left, bottom, right = pre.ink_box
        pen = max(s.width for s in drawing.strokes)
        if max(bottom - top, right - left) < 2 * pen:  # a click: a disc one pen wide reads as a blob
            raise TooSmallError(
                f"The drawing is too small to read ({bottom - top}x{right - left} px, a dot about one pen wide): "
                "draw the digit bigger, filling most of the box."
            )
        return Reading(pre.image, rgba, pre)
    except EmptyDrawingError:
        if _mostly_ink(rgba):
            st.warning(FILLED_CANVAS)
        else:
            st.info(text.DRAW_PROMPT)
    except TooSmallError as exc:
        st.warning(str(exc))
    except PreprocessError as exc:
        st.error(str(exc))
    return None


def _mostly_ink(rgba: np.ndarray) -> bool:
    """A canvas painted over: most of it white (the canvas's ink), so to_mnist took it for paper."""
    a = np.asarray(rgba)
    return a.ndim == 3 and float((a[..., :3].mean(axis=-1) > 127).mean()) > 0.5


def _pick_by_class(labels: np.ndarray) -> int:
    c1, c2 = st.columns([1, 1], vertical_alignment="bottom")
    digit = c1.selectbox("Digit", range(10), key=state.GALLERY_CLASS)
    members = np.flatnonzero(labels == digit)
    c2.button(f"🎲 Another {digit}", on_click=state.pick, args=(state.CLASS_PICK, members))
    if st.session_state.get(state.CLASS_PICK) not in set(members.tolist()):
        st.session_state[state.CLASS_PICK] = int(members[0])
    return st.session_state[state.CLASS_PICK]


def _pick_random(n: int) -> int:
    st.button("🎲 Random test digit", on_click=state.pick, args=(state.RANDOM_PICK, np.arange(n)))
    return st.session_state.setdefault(state.RANDOM_PICK, int(np.random.default_rng().integers(n)))


def _pick_mistake(model_path: str, data_dir: str, labels: np.ndarray) -> int | None:
    wrong, wrong_pred = cached.mistakes(model_path, data_dir, labels)
    if len(wrong) == 0:
        st.success("The model gets every test digit right.")
        return None
    names: dict[int, str] = {
        int(i): f"#{i}: true {labels[i]}, predicted {p}" for i, p in zip(wrong, wrong_pred, strict=True)
    }
    iterations = cached.model(model_path).cfg.routing_iterations
    st.caption(
        f"{len(wrong)} of {len(labels):,} test digits are misclassified "
        f"({100 * (1 - len(wrong) / len(labels)):.2f} % accuracy, {iterations} routing iterations)."
    )
    return st.selectbox("Mistake", list(names), format_func=names.__getitem__, key=state.MISTAKE_PICK)


def gallery(model_path: str) -> np.ndarray | None:
    data_dir = str(resolve_data_dir())
    test = cached.test_set(data_dir)
    if isinstance(test, str):
        st.info(text.gallery_unavailable(ENV_VAR, test))
        return None
    images, labels = test
    mode = st.selectbox("Pick a test image", state.GALLERY_MODES, key=state.GALLERY_MODE)
    index: int | None
    if mode == state.BY_CLASS:
        index = _pick_by_class(labels)
    elif mode == state.RANDOM:
        index = _pick_random(len(labels))
    elif mode == state.MISCLASSIFIED:
        index = _pick_mistake(model_path, data_dir, labels)
        if index is None:
            return None
    else:
        index = st.number_input("Test image index", 0, len(labels) - 1, 0, step=1, key=state.GALLERY_INDEX)
    index = int(index)
    st.markdown(f"Test image **#{index}** · true label **{labels[index]}**")
    return (images[index] / 255.0).astype(np.float32)


def uploaded_bytes(label: str, key: str, hint: str, prompt: str) -> bytes | None:
    """The file uploader with its hint; the file's bytes, or None (with the prompt) before there is one."""
    up = st.file_uploader(label, type=UPLOAD_TYPES, key=key)
    st.caption(hint)
    if up is None:
        st.info(prompt)
        return None
    return up.getvalue()


def upload() -> Reading | None:
    data = uploaded_bytes(text.UPLOAD_LABEL, state.UPLOAD_KEY, text.UPLOAD_HINT, text.UPLOAD_PROMPT)
    if data is None:
        return None
    try:
        reading, notes = _read_upload(data)
    except EmptyDrawingError:
        st.error(BLANK_UPLOAD)
        return None
    except PreprocessError as exc:
        st.error(str(exc))
        return None
    for note in notes:
        st.warning(note)
    return reading


def image_from(
    source: str,
    model_path: str,
    iterations: int | None = None,
    before_canvas: Callable[[Reading | None], object] | None = None,
) -> Reading | None:
    """The chosen source's reading (the 28x28 image, and the picture it came from), or None. ``iterations``: the
    sidebar's routing iterations, for the canvas's live reading; ``before_canvas``: see ``draw``."""
    if source == state.GALLERY:
        image = gallery(model_path)
        return None if image is None else Reading(image)
    if source == state.UPLOAD:
        return upload()
    return draw(model_path, iterations, before_canvas)
