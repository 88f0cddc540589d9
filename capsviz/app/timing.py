"""Server time of the app's reruns, measured with Streamlit's AppTest in this process (used by
``python -m capsviz.bench --app``). AppTest reruns the whole script where a browser session reruns only
a fragment, so the slider figure is an upper bound."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
from streamlit.proto.WidgetStates_pb2 import WidgetStates
from streamlit.testing.v1 import AppTest

from capsviz.app import canvas, pose_editor, state
from capsviz.data.strokes import to_payload
from capsviz.export.pose_payload import parse_payload
from capsviz.testsets.drawn_digits import variants

APP = Path(__file__).resolve().parent.parent.parent / "streamlit_app.py"


def _percentile(xs: list[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(xs), q)), 1)


def pose_editor_payload(at: AppTest) -> tuple[str, dict, bytes]:
    """The in-page pose editor in an AppTest run: (element id, payload header, the 28x28 input bytes)."""
    (el,) = [e for e in at.get("bidi_component") if e.proto.component_name == pose_editor.COMPONENT_NAME]
    header, image, _ = parse_payload(el.proto.bytes)
    return el.proto.id, header, image


def _send_state(at: AppTest, element_id: str, value: dict) -> AppTest:
    """Rerun as the page does when a component sets its state to ``value``."""
    ws = WidgetStates()
    ws.widgets.extend(w for w in at._tree.get_widget_states().widgets if w.id != element_id)
    w = ws.widgets.add()
    w.id = element_id
    w.json_value = json.dumps(value)
    at._run(ws)  # AppTest's own path for widget states (private; the public API has no component setter)
    return at


def send_pose(at: AppTest, values: list[float]) -> AppTest:
    """Rerun as the page does when a pose slider is released: the editor's state carries the new pose."""
    element_id, header, _ = pose_editor_payload(at)
    return _send_state(at, element_id, {"held": header["weights_hash"], "pose": {"id": header["id"], "values": values}})


def send_drawing(at: AppTest, payload: object) -> AppTest:
    """Rerun as the page does on pen-up: the canvas's state carries the strokes (capsviz.data.strokes payload)."""
    (el,) = [e for e in at.get("bidi_component") if e.proto.component_name == canvas.COMPONENT_NAME]
    return _send_state(at, el.proto.id, {canvas.STATE: payload})


class _Session:
    """One AppTest session fed the scripted drawings, one new drawing per call."""

    def __init__(self, drawings: int):
        # AppTest runs the script in this thread: streamlit warns on every cached call that there is no
        # browser session, which would bury the table.
        # A filter, not a level: Streamlit sets its loggers' levels again when AppTest loads its config.
        logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(
            lambda record: "missing ScriptRunContext" not in record.getMessage()
        )
        self.at = AppTest.from_file(str(APP), default_timeout=120)
        self.at.run()
        self.pool = iter(variants(seed=123, n_per_digit=3 * drawings + 1))

    def rerun_ms(self) -> float:
        t0 = time.perf_counter()
        self.at.run()
        return 1000 * (time.perf_counter() - t0)

    def draw_next_ms(self) -> float:
        payload = to_payload(next(self.pool).as_strokes())
        t0 = time.perf_counter()
        send_drawing(self.at, payload)
        return 1000 * (time.perf_counter() - t0)


def app_timings(drawings: int = 8, slider_moves: int = 8) -> dict[str, float]:
    """A new drawing (nothing cached for it) with each tab open, and a pose-slider move, in ms."""
    s = _Session(drawings)
    s.draw_next_ms()  # warms up the page's own caches; the tabs exist once there is a drawing
    stroke_ms: dict[str, list[float]] = {}
    for label in reversed(state.TABS):  # the pose tab last: the slider timings below need it open
        s.at.session_state[state.TAB] = label
        s.at.run()  # opens the tab (and warms its caches) on the current drawing
        stroke_ms[label] = [s.draw_next_ms() for _ in range(drawings)]
    slider_ms = []
    _, header, _ = pose_editor_payload(s.at)
    start = [d["value"] for d in header["dims"]]
    for k in range(slider_moves):
        t0 = time.perf_counter()
        send_pose(s.at, [v + 0.05 * (k % 5 - 2) for v in start])
        slider_ms.append(1000 * (time.perf_counter() - t0))
    pose = stroke_ms[state.POSE_TAB]
    return {
        "app_new_drawing_ms_p50": _percentile(pose, 50),
        "app_new_drawing_ms_p95": _percentile(pose, 95),
        "app_new_drawing_routing_tab_ms_p50": _percentile(stroke_ms[state.ROUTING_TAB], 50),
        "app_new_drawing_equivariance_tab_ms_p50": _percentile(stroke_ms[state.EQUIVARIANCE_TAB], 50),
        "app_pose_slider_ms_p50": _percentile(slider_ms, 50),
    }
