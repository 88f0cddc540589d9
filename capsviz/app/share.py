"""The page's URL carries what it shows, so a link opens the same drawing, prediction and tab elsewhere.

    ?src=draw&tab=routing&it=3&d=<the drawing>          one digit
    ?mode=pair&src=draw&tab=recon&it=3&d=<the drawing>  two digits (the two pens' strokes)

``apply()`` reads the URL once per session, before any widget exists, and sets the widgets' session state from
it (model, input source, routing iterations, tab) and the canvas's drawing (capsviz.data.stroke_url). ``write()``
puts the current values back after each run's input is read: a pen-up reruns the script, so the URL follows
every stroke. A value the page does not know is ignored; a drawing that cannot be read leaves a message on the
canvas and an empty canvas, never a traceback.

Tabs: st.tabs (1.67) takes its selected tab from session state when the script sets it before the tabs are
made, so the URL's tab is selected on opening. Its own ``bind="query-params"`` is not used: it writes the raw
label (markdown icon codes) into the URL.
"""

from __future__ import annotations

from collections.abc import Mapping

import streamlit as st

from capsviz.app import canvas, state
from capsviz.data.stroke_url import BAD, decode_drawing, encode_drawing
from capsviz.data.strokes import StrokeError
from capsviz.model.routing import MAX_ITERATIONS

APPLIED = "_capsviz_url_applied"
DRAWING, SOURCE, TAB, ITERATIONS, MODE = "d", "src", "tab", "it", "mode"
PAIR_MODE = "pair"
SOURCE_NAMES = {state.DRAW: "draw", state.GALLERY: "mnist", state.UPLOAD: "upload"}
TAB_NAMES = {
    state.POSE_TAB: "pose",
    state.ROUTING_TAB: "routing",
    state.EXPLAIN_TAB: "ink",
    state.EQUIVARIANCE_TAB: "equivariance",
}
PAIR_TAB_NAMES = {state.RECONSTRUCTION_TAB: "recon", state.ROUTING_TAB: "routing"}
EMPTY_AFTER = "The canvas is empty: draw a digit."  # after the reason a link's drawing was refused


def _names(pair: bool) -> tuple[str, str, dict[str, str]]:
    """(the tab widget's key, the canvas's key, tab label -> URL name) for the page in this mode."""
    if pair:
        return state.PAIR_TAB, state.PAIR_CANVAS, PAIR_TAB_NAMES
    return state.TAB, state.CANVAS, TAB_NAMES


def _first(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    return value if isinstance(value, str) else None


def apply_params(params: Mapping[str, str]) -> None:
    """Set the widgets' session state and the canvas's drawing from URL parameters (name -> first value)."""
    pair = _first(params, MODE) == PAIR_MODE
    st.session_state[state.MODEL_MODE] = state.TWO_DIGITS if pair else state.ONE_DIGIT
    tab_key, canvas_key, tabs = _names(pair)
    sources = {v: k for k, v in SOURCE_NAMES.items()}
    if (src := _first(params, SOURCE)) in sources:
        st.session_state[state.SOURCE] = sources[src]
    labels = {v: k for k, v in tabs.items()}
    if (tab := _first(params, TAB)) in labels:
        st.session_state[tab_key] = labels[tab]
    it = _first(params, ITERATIONS) or ""
    if it.isdigit() and 1 <= int(it) <= MAX_ITERATIONS:
        st.session_state[state.ITERATIONS] = int(it)
    text = _first(params, DRAWING)
    if text is None:
        return
    try:
        drawing = decode_drawing(text)  # refuses a long, damaged or hostile text with a user-facing StrokeError
    except StrokeError as exc:
        canvas.refuse(canvas_key, f"{exc} {EMPTY_AFTER}")
        return
    except (ValueError, TypeError, OverflowError, MemoryError, RecursionError) as exc:  # decoder guards missed it
        canvas.refuse(canvas_key, f"{BAD}: {type(exc).__name__}. {EMPTY_AFTER}")
        return
    canvas.set_drawing(canvas_key, drawing)


def apply() -> None:
    """Once per session, before any widget: what the URL says (st.query_params)."""
    if st.session_state.get(APPLIED):
        return
    st.session_state[APPLIED] = True
    params = st.query_params
    if params:
        apply_params({name: params.get(name) or "" for name in params})


def params_for(pair: bool, source: str, iterations: int) -> dict[str, str]:
    """The URL parameters for what the page shows now."""
    tab_key, canvas_key, tabs = _names(pair)
    out: dict[str, str] = {}
    if pair:
        out[MODE] = PAIR_MODE
    out[SOURCE] = SOURCE_NAMES.get(source, "draw")
    tab = st.session_state.get(tab_key)
    if tab in tabs:
        out[TAB] = tabs[tab]
    out[ITERATIONS] = str(int(iterations))
    drawing = canvas.current(canvas_key)
    if source == state.DRAW and drawing is not None:
        try:
            out[DRAWING] = encode_drawing(drawing)
        except StrokeError:  # more than a link can carry: the link opens the page without it
            pass
    return out


def write(pair: bool, source: str, iterations: int) -> None:
    """Put what the page shows into its URL (only when that changed: each write is a message to the page)."""
    wanted = params_for(pair, source, iterations)
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)
