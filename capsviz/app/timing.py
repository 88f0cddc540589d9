"""Server time of the app's reruns, measured with Streamlit's AppTest in this process (used by
``python -m capsviz.bench --app``). AppTest reruns the whole script where a browser session reruns only
a fragment, so the slider figure is an upper bound."""

from __future__ import annotations

import base64
import io
import logging
import time
from pathlib import Path

import numpy as np
from PIL import Image
from streamlit.testing.v1 import AppTest

from capsviz.app import state
from capsviz.drawn_digits import render, variants

APP = Path(__file__).resolve().parent.parent.parent / "streamlit_app.py"


def _png_url(rgba: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _percentile(xs: list[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(xs), q)), 1)


class _Session:
    """One AppTest session fed the scripted drawings, one new drawing per call."""

    def __init__(self, drawings: int):
        # AppTest runs the script in this thread: streamlit warns on every cached call that there is no
        # browser session, which would bury the table.
        logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").setLevel(logging.ERROR)
        self.at = AppTest.from_file(str(APP), default_timeout=120)
        self.at.run()
        self.pool = iter(variants(seed=123, n_per_digit=3 * drawings + 1))

    def rerun_ms(self) -> float:
        t0 = time.perf_counter()
        self.at.run()
        return 1000 * (time.perf_counter() - t0)

    def draw_next_ms(self) -> float:
        drawing = {"raw": {"objects": []}, "data": _png_url(render(next(self.pool)))}
        self.at.session_state[f"{state.CANVAS_PREFIX}0"] = {"drawing": drawing, "backgroundFit": None}
        return self.rerun_ms()


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
    for k in range(slider_moves + 1):
        (dim,) = [w for w in s.at.slider if w.label == state.POSE_SLIDER_LABEL.format(1)]
        dim.set_value(round(dim.min + (dim.max - dim.min) * (k % 5) / 5, 2))
        ms = s.rerun_ms()
        if k:
            slider_ms.append(ms)
    pose = stroke_ms[state.POSE_TAB]
    return {
        "app_new_drawing_ms_p50": _percentile(pose, 50),
        "app_new_drawing_ms_p95": _percentile(pose, 95),
        "app_new_drawing_routing_tab_ms_p50": _percentile(stroke_ms[state.ROUTING_TAB], 50),
        "app_new_drawing_equivariance_tab_ms_p50": _percentile(stroke_ms[state.EQUIVARIANCE_TAB], 50),
        "app_pose_slider_ms_p50": _percentile(slider_ms, 50),
    }
