"""The three ways in for two digits: draw with two pens, pick a MultiMNIST test pair, upload a picture. Each
returns a PairInput (the 36x36 image the model sees and, where known, which ink is which digit), or None
(with a message on the page saying why)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from capsviz.app import cached, canvas, pair_text, state, text
from capsviz.app.inputs import uploaded_bytes
from capsviz.data.mnist import ENV_VAR, resolve_data_dir
from capsviz.data.preprocess import EmptyDrawingError, PreprocessError, TooSmallError
from capsviz.data.preprocess_pair import INK_COLOURS, InkLayers, to_pair_frame
from capsviz.data.strokes import PEN_RANGE, PEN_WIDTH, payload_json
from capsviz.data.uploads import load_upload
from capsviz.figures import pairs as pair_figures

ZOOM = 4  # 36 x 4 = 144 px


@dataclass(frozen=True)
class PairInput:
    """What the two-digit page reads.

    image: (36, 36) float32 in [0, 1], what the model sees. layers: (2, 36, 36) each digit's own ink in that
    frame (a pen colour, or a test pair's digit), None for an upload. names: the layers' names. labels: a test
    pair's two classes."""

    image: np.ndarray
    layers: np.ndarray | None = None
    names: tuple[str, str] = pair_text.PAIR_INK_NAMES
    labels: tuple[int, int] | None = None


def _pen() -> int:
    """The pen picker: which digit the next strokes belong to (0 amber, 1 blue)."""
    ink = st.segmented_control(
        "Pen",
        state.PAIR_INKS,
        format_func=lambda name: pair_text.PAIR_INK_LABELS[state.PAIR_INKS.index(name)],
        default=state.PAIR_INKS[0],
        key=state.PAIR_INK,
        required=True,
        help=pair_text.PAIR_INK_HELP,
    )
    return state.PAIR_INKS.index(ink or state.PAIR_INKS[0])


def draw() -> PairInput | None:
    st.markdown("**Your drawing**")
    canvas_slot = st.container()  # the canvas sits above the pen controls that set it
    pen = _pen()
    width = st.slider("Pen width", *PEN_RANGE, PEN_WIDTH, key=state.PAIR_PEN_WIDTH)
    with canvas_slot:
        drawing = canvas.draw_canvas(state.PAIR_CANVAS, width, pens=len(INK_COLOURS), pen=pen, colours=INK_COLOURS)
    if drawing is None:
        if not canvas.problem(state.PAIR_CANVAS):
            st.info(pair_text.PAIR_DRAW_PROMPT)
        return None
    try:
        # each pen's strokes inked on a layer of their own: no colours to unmix, ink under a crossing kept
        pre = to_pair_frame(InkLayers(cached.rendered_layers(payload_json(drawing))))
    except EmptyDrawingError:
        st.info(pair_text.PAIR_DRAW_PROMPT)
        return None
    except TooSmallError as exc:
        st.warning(str(exc))
        return None
    except PreprocessError as exc:
        st.error(str(exc))
        return None
    if pre.layers is None:
        st.caption(pair_text.PAIR_ONE_INK)
    return PairInput(image=pre.image, layers=pre.layers)


def gallery() -> PairInput | None:
    data_dir = str(resolve_data_dir())
    test = cached.pair_test_set(data_dir)
    if isinstance(test, str):
        st.info(text.gallery_unavailable(ENV_VAR, test))
        return None
    a, b = st.columns([3, 2], vertical_alignment="bottom")
    index = int(a.number_input("Test pair", 0, len(test) - 1, 0, step=1, key=state.PAIR_INDEX))
    b.button("🎲 Random pair", on_click=state.pick, args=(state.PAIR_INDEX, np.arange(len(test))))
    pair = cached.test_pair(data_dir, index)
    labels = (int(pair.labels[0, 0]), int(pair.labels[0, 1]))
    st.markdown(pair_text.pair_labels(index, labels))
    st.image(
        pair_figures.painted_layers(pair.digits[0], ZOOM),
        caption=pair_text.pair_gallery_caption(labels),
        output_format="PNG",
    )
    return PairInput(
        image=pair.images[0], layers=pair.digits[0], names=pair_text.pair_digit_names(labels), labels=labels
    )


def upload() -> PairInput | None:
    data = uploaded_bytes(
        pair_text.PAIR_UPLOAD_LABEL, state.PAIR_UPLOAD_KEY, pair_text.PAIR_UPLOAD_HINT, pair_text.PAIR_UPLOAD_PROMPT
    )
    if data is None:
        return None
    try:
        return PairInput(image=to_pair_frame(load_upload(data)).image)
    except PreprocessError as exc:
        st.error(str(exc))
        return None


def input_from(source: str) -> PairInput | None:
    """The chosen source's two-digit input, or None."""
    if source == state.GALLERY:
        return gallery()
    if source == state.UPLOAD:
        return upload()
    return draw()
