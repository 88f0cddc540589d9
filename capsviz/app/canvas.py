"""The drawing canvas: a component of the app's own whose data is the strokes, sent on every pen-up.

    drawing = draw_canvas("canvas", pen_width)                       # StrokeDrawing, or None while empty
    drawing = draw_canvas("pair_canvas", w, pens=2, pen=1, colours=INK_COLOURS)

A Streamlit custom component (``st.components.v2.component``; html, css and js in ``components/canvas/``). The
page takes pointer events (mouse, touch, pen) on one <canvas>, inks the new segments once per display frame, and
on pen-up (and on undo, redo, clear) sends the whole stroke list as component state ("drawing", the payload of
capsviz.data.strokes) at once: that state change reruns the script. A stroke in progress sends nothing.

Python keeps its own copy of the drawing in session state (checked by parse_drawing in the state callback), so
the drawing survives the component leaving the page (another input source) and can be set from outside (a
shared link: ``set_drawing``). The page loads Python's copy only when its revision changes. A payload that is
not a drawing leaves a message (``problem``) and a fresh, empty canvas (the component is remounted under a new
key), never a traceback.

The live reading (``live``: capsviz.app.live.canvas_data): the page also runs the CapsNet itself while a stroke
is drawn (at most once per display frame, in a Web Worker) and shows its prediction, the ten capsule lengths and
the routing to the leading capsule under the canvas. ``server`` (capsviz.app.live.server_answer) is the server's
reading of the drawing Python holds: where it differs from the page's for the same drawing, the page shows it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import streamlit as st

from capsviz.app.component_files import declare
from capsviz.data.strokes import (
    CANVAS,
    FORMAT_VERSION,
    MAX_POINTS,
    MAX_STROKES,
    StrokeDrawing,
    StrokeError,
    parse_drawing,
    to_payload,
)

COMPONENT_NAME = "capsviz_canvas"
STATE = "drawing"  # the component's state key: the stroke payload
INK = ("#FFFFFF",)  # the one-digit pen: white on black, like MNIST


def _component():
    return declare(COMPONENT_NAME, "canvas")


# --- Python's copy of the drawing, per canvas ``key`` -----------------------------------------------------


def _k(key: str, part: str) -> str:
    return f"_capsviz_{key}_{part}"


def component_key(key: str) -> str:
    """The component's widget key: a new generation mounts a fresh (empty) component."""
    return f"{key}_{st.session_state.get(_k(key, 'gen'), 0)}"


def current(key: str) -> StrokeDrawing | None:
    """The drawing canvas ``key`` holds (None: empty)."""
    drawing = st.session_state.get(_k(key, "drawing"))
    return drawing if isinstance(drawing, StrokeDrawing) and not drawing.is_empty else None


def problem(key: str) -> str:
    """Why the last drawing sent (or given by a link) was refused, "" if it was not."""
    return str(st.session_state.get(_k(key, "problem")) or "")


def _store(key: str, drawing: StrokeDrawing | None, notes: Sequence[str] = (), why: str = "") -> None:
    st.session_state[_k(key, "drawing")] = drawing if drawing is not None and not drawing.is_empty else None
    st.session_state[_k(key, "notes")] = list(notes)
    st.session_state[_k(key, "problem")] = why


def _bump(key: str, part: str) -> None:
    st.session_state[_k(key, part)] = st.session_state.get(_k(key, part), 0) + 1


def set_drawing(key: str, drawing: StrokeDrawing | None) -> None:
    """Put ``drawing`` on canvas ``key`` (a shared link): the page draws it on its next run."""
    _store(key, drawing)
    _bump(key, "rev")


def refuse(key: str, why: str) -> None:
    """Show ``why`` and an empty canvas (a fresh component: whatever the page held is gone)."""
    _store(key, None, why=why)
    _bump(key, "rev")
    _bump(key, "gen")


def receive(key: str, payload: object) -> StrokeDrawing | None:
    """What the page sent (the component state's "drawing"), checked and kept; a refused payload leaves the
    reason (``problem``) and an empty canvas. Returns the drawing kept (None: empty or refused)."""
    try:
        drawing, notes = parse_drawing(payload)
    except StrokeError as exc:
        refuse(key, str(exc))
        return None
    except (RecursionError, MemoryError, OverflowError, ValueError, TypeError):  # parse_drawing's own guards missed it
        refuse(key, "The canvas sent a drawing that could not be read. Clear the canvas and draw again.")
        return None
    _store(key, drawing, notes)
    return current(key)


def _on_drawing(key: str) -> None:
    """State callback: the page sent a new stroke list (pen-up, undo, redo, clear)."""
    state = st.session_state.get(component_key(key))
    if isinstance(state, Mapping) and STATE in state:
        receive(key, state[STATE])


def _payload(drawing: StrokeDrawing | None) -> dict | None:
    return None if drawing is None else to_payload(drawing)


def draw_canvas(
    key: str,
    pen_width: int,
    *,
    pens: int = 1,
    pen: int = 0,
    colours: Sequence[str] = INK,
    share: bool = True,
    live: Mapping | None = None,
    server: Mapping | None = None,
) -> StrokeDrawing | None:
    """Show canvas ``key`` (its toolbar: undo, redo, clear, copy link) drawing with ``pen`` (0 .. pens-1) at
    ``pen_width`` canvas px, and return the drawing it holds (None while empty). A refused payload's reason is
    shown (st.error), and any change made to an accepted one (points moved onto the edge) as a warning.
    ``live``/``server``: the live reading's data and the server's answer (see the module docstring)."""
    drawing = current(key)
    data = {
        "size": CANVAS,
        "version": FORMAT_VERSION,
        "width": int(pen_width),
        "pen": int(pen),
        "pens": int(pens),
        "colours": list(colours),
        "rev": int(st.session_state.get(_k(key, "rev"), 0)),
        "drawing": _payload(drawing),
        "share": bool(share),
        "max_points": MAX_POINTS,
        "max_strokes": MAX_STROKES,
        "live": dict(live) if live is not None else None,
        "server": dict(server) if server is not None else None,
    }
    _component()(
        key=component_key(key),
        data=data,
        on_drawing_change=functools.partial(_on_drawing, key),
        width="content",
    )
    if why := problem(key):
        st.error(why)
    for note in st.session_state.get(_k(key, "notes")) or ():
        st.warning(note)
    return drawing
