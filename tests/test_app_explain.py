"""The attribution view (capsviz.app.panels.explain), driven headless with AppTest on a random checkpoint.

The page here renders the panel alone (the main page wires it into a tab); the fixtures are test_app's."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from test_app import TIMEOUT, _canvas_drawing, _no_exception, env, fake_mnist, random_checkpoint  # noqa: F401

from capsviz.app import explain_text as et
from capsviz.app import state

pytestmark = pytest.mark.usefixtures("env")  # test_app's random checkpoint and fake MNIST


def _page() -> None:
    """A page with the attribution view of one input: a drawn 1 (with its source drawing), or a synthetic 7."""
    import numpy as np
    import streamlit as st

    from capsviz.app import cached
    from capsviz.app.panels import explain
    from capsviz.data.preprocess import to_mnist

    path = cached.checkpoint_path()
    source = st.session_state.get("source")
    if source is not None:
        pre = to_mnist(source)
        image = pre.image
    else:
        pre, image = None, np.zeros((28, 28), np.float32)
        image[6, 8:21] = 1.0
        for k in range(16):
            image[7 + k, 19 - k // 2 : 21 - k // 2] = 1.0
    trace = cached.trace(image, 3, path)
    st.markdown(f"prediction {trace.prediction}")
    explain.render(trace, image, path, "test", source=source, pre=pre)


def _chart(at: AppTest, key: str) -> dict:
    (chart,) = [c for c in at.get("plotly_chart") if c.proto.id.endswith(f"-{key}")]
    return json.loads(chart.proto.spec)


def _array(value) -> np.ndarray:
    """A plotly array from a figure's JSON: a list, or plotly 6's typed array {"dtype", "bdata", "shape"}."""
    if isinstance(value, dict):
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        return flat.reshape([int(n) for n in str(value["shape"]).split(",")]).astype(float)
    return np.asarray(value, dtype=float)


def _titles(at: AppTest) -> list[str]:
    return [a["text"] for a in _chart(at, state.FIG_ATTRIBUTION)["layout"]["annotations"]]


def _picker(at: AppTest, label: str):
    (w,) = [w for w in at.get("button_group") if w.label == label]
    return w


def test_the_attribution_view_appears_and_follows_the_picked_capsule():
    at = AppTest.from_function(_page, default_timeout=TIMEOUT)
    at.run()
    _no_exception(at)
    picker = _picker(at, et.CAPSULE_PICKER)
    pred = int(picker.value)
    assert any(t.startswith(f"Ink for capsule {pred}") for t in _titles(at))
    assert any("map sums to" in c.value for c in at.caption)
    assert _chart(at, state.FIG_EXPLAIN_ROUTING)["data"]  # the routing relation is drawn
    other = (pred + 1) % 10
    picker.set_value(other).run()
    _no_exception(at)
    assert any(t.startswith(f"Ink for capsule {other}") for t in _titles(at))


def test_the_contrast_view_explains_one_capsule_against_another():
    at = AppTest.from_function(_page, default_timeout=TIMEOUT)
    at.run()
    (toggle,) = [t for t in at.toggle if t.label == et.CONTRAST_TOGGLE]
    toggle.set_value(True).run()
    _no_exception(at)
    target = int(_picker(at, et.CAPSULE_PICKER).value)
    versus = int(_picker(at, et.VERSUS_PICKER).value)
    assert versus != target
    assert f"What makes it a {target} rather than a {versus}" in _titles(at)
    picked = next(d for d in range(10) if d not in (target, versus))
    _picker(at, et.VERSUS_PICKER).set_value(picked).run()
    assert f"What makes it a {target} rather than a {picked}" in _titles(at)
    toggle = [t for t in at.toggle if t.label == et.CONTRAST_TOGGLE][0]
    toggle.set_value(False).run()
    assert len(_titles(at)) == 1


def test_the_map_is_drawn_on_the_users_drawing_too():
    at = AppTest.from_function(_page, default_timeout=TIMEOUT)
    drawing = np.asarray(_canvas_drawing([[(140, 40), (150, 240)]]))
    at.session_state["source"] = drawing
    at.run()
    _no_exception(at)
    spec = _chart(at, state.FIG_ATTRIBUTION_SOURCE)
    z = _array(spec["data"][1]["z"])
    assert z.shape == drawing.shape[:2]  # on the drawing's own pixel grid
    assert np.abs(z).max() > 0
