"""The pose editor's Python side: the decoder payload, the slider specs, what is sent on the first and later
reruns, and the state it takes back. The browser side is in tests/e2e/test_pose_editor_browser.py."""

from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.proto.WidgetStates_pb2 import WidgetStates
from streamlit.testing.v1 import AppTest

from capsviz.app.pose_editor import HELD_KEY
from capsviz.export.decoder import decode_reference, export_decoder, pack_decoder, unpack_decoder
from capsviz.export.pose_payload import (
    POSE_SPAN,
    DimSpec,
    build_payload,
    identity,
    parse_payload,
    pose_from_state,
    slider_specs,
)
from capsviz.inspect.trace import reconstruct
from capsviz.training.checkpoint import DEFAULT_DIR, load_model


@pytest.fixture(scope="module")
def model():
    return load_model(DEFAULT_DIR)


@pytest.fixture(scope="module")
def payload(model):
    return export_decoder(model)


def _tiny_weights(seed: int = 0):
    rng = np.random.default_rng(seed)
    return pack_decoder(
        rng.normal(size=(8, 160)), rng.normal(size=8), rng.normal(size=(6, 8)), rng.normal(size=6),
        rng.normal(size=(784, 6)), rng.normal(size=784), digit_dim=16,
    )  # fmt: skip


# --- decoder export -------------------------------------------------------------------------


def test_decoder_blob_is_float16_input_major_and_round_trips(model, payload):
    net = model.decoder.net
    assert payload.nbytes == 24 + 4 * (512 + 1024 + 784) + 2 * (160 * 512 + 512 * 1024 + 1024 * 784)
    assert payload.hash == export_decoder(model).hash and len(payload.hash) == 16
    arrays = unpack_decoder(payload.blob)
    assert (arrays.num_classes, arrays.digit_dim) == (10, 16)
    np.testing.assert_array_equal(arrays.b3, net[4].bias.detach().numpy())  # biases stay float32
    w2 = net[2].weight.detach().numpy()
    np.testing.assert_array_equal(arrays.w2t, w2.T.astype(np.float16).astype(np.float32))
    with pytest.raises(ValueError, match="magic"):
        unpack_decoder(b"XXXX" + payload.blob[4:])
    with pytest.raises(ValueError, match="bytes"):
        unpack_decoder(payload.blob[:-2])


def test_float16_decoder_matches_the_model_within_a_fraction_of_a_grey_level(model, payload):
    rng = np.random.default_rng(0)
    poses = rng.normal(0.0, 0.12, size=(10, 16)).astype(np.float32)
    worst = 0.0
    for digit in (0, 3, 7, 9):
        for _ in range(3):
            p = poses.copy()
            p[digit] += rng.uniform(-POSE_SPAN, POSE_SPAN, 16).astype(np.float32)
            ref = reconstruct(model, p, digit)
            worst = max(worst, float(np.abs(decode_reference(payload, p[digit], digit) - ref).max()))
    assert worst < 0.5 / 255, worst * 255


# --- slider specs -----------------------------------------------------------------------------


def test_default_specs_are_the_capsule_value_plus_minus_the_span():
    pose = np.linspace(-0.4, 0.4, 16)
    specs = slider_specs(pose)
    assert [s["label"] for s in specs] == [f"Dimension {k}" for k in range(1, 17)]
    for s, v in zip(specs, pose, strict=True):
        assert s["value"] == v and s["step"] == 0.01 and s["median"] is None and s["help"]
        assert s["min"] == pytest.approx(v - POSE_SPAN) and s["max"] == pytest.approx(v + POSE_SPAN)
    json.dumps(specs)  # JSON-ready


def test_specs_take_names_ranges_medians_and_help_as_data():
    pose = np.full(16, 0.1)
    dims = [None] * 16
    dims[0] = DimSpec(label="stroke width", min=-0.5, max=0.5, median=0.02, help="thicker to the right")
    dims[1] = {"label": "slant", "min": 0.2, "max": 0.9}  # a mapping works too; the range widens to the value
    specs = slider_specs(pose, dims)
    assert specs[0] == {
        "label": "stroke width", "min": -0.5, "max": 0.5, "value": 0.1, "median": 0.02,
        "help": "thicker to the right", "step": 0.01,
    }  # fmt: skip
    assert (specs[1]["label"], specs[1]["min"], specs[1]["max"]) == ("slant", 0.1, 0.9)
    assert specs[2]["label"] == "Dimension 3"
    with pytest.raises(ValueError):
        slider_specs(pose, dims[:3])


# --- payload and state ------------------------------------------------------------------------


def test_payload_carries_weights_only_when_asked():
    w = _tiny_weights()
    image = np.linspace(0, 1, 784, dtype=np.float32).reshape(28, 28)
    specs = slider_specs(np.zeros(16))
    ident = identity("sig", 4, specs)
    full = build_payload(image, specs, 4, ident, w, include_weights=True)
    light = build_payload(image, specs, 4, ident, w, include_weights=False)
    header, img, blob = parse_payload(full)
    assert blob == w.blob and header["weights_hash"] == w.hash
    assert (header["id"], header["digit"], header["dims"]) == (ident, 4, specs)
    assert np.array_equal(np.frombuffer(img, np.uint8), (image.reshape(-1) * 255).round().astype(np.uint8))
    base = len(full) - header["weights"]["length"] - header["weights"]["offset"]
    assert base % 8 == 0 and header["weights"]["offset"] % 8 == 0  # typed arrays need aligned offsets
    header2, img2, blob2 = parse_payload(light)
    assert blob2 is None and header2["weights"] is None and img2 == img
    assert len(light) < 4_000 and 0 < len(full) - len(light) - w.nbytes < 64  # the weights section and padding


def test_identity_changes_with_drawing_capsule_and_specs():
    specs = slider_specs(np.zeros(16))
    a = identity("sig", 3, specs)
    assert a == identity("sig", 3, slider_specs(np.zeros(16)))
    assert len({a, identity("sig2", 3, specs), identity("sig", 4, specs), identity("sig", 3, specs[::-1])}) == 4


def test_pose_from_state_takes_only_its_own_well_formed_pose():
    specs = slider_specs(np.linspace(-0.2, 0.2, 16))
    start = np.array([s["value"] for s in specs], np.float32)
    moved = (start + 0.05).tolist()
    np.testing.assert_allclose(pose_from_state({"id": "me", "values": moved}, "me", specs), moved, rtol=1e-6)
    for bad in (None, {}, {"id": "other", "values": moved}, {"id": "me", "values": moved[:3]},
                {"id": "me", "values": ["x"] * 16}, {"id": "me", "values": [float("nan")] * 16}):  # fmt: skip
        np.testing.assert_array_equal(pose_from_state(bad, "me", specs), start)
    far = pose_from_state({"id": "me", "values": [9.0] * 16}, "me", specs)  # clipped to the slider range
    np.testing.assert_allclose(far, [s["max"] + 0.02 for s in specs], rtol=1e-6)


# --- the component in a script run -----------------------------------------------------------


def _script():
    import numpy as np
    import streamlit as st

    from capsviz.app.pose_editor import pose_editor
    from capsviz.export.decoder import pack_decoder

    rng = np.random.default_rng(0)
    w = pack_decoder(
        rng.normal(size=(8, 160)), rng.normal(size=8), rng.normal(size=(6, 8)), rng.normal(size=6),
        rng.normal(size=(784, 6)), rng.normal(size=784), digit_dim=16,
    )  # fmt: skip
    sig = st.session_state.get("sig", "drawing-a")
    pose = pose_editor(w, np.zeros((28, 28)), np.linspace(-0.3, 0.3, 16), 3, signature=sig)
    st.json(pose.tolist())


def _component(at: AppTest):
    (el,) = [e for e in at.main.children.values() if getattr(e, "type", "") == "bidi_component"]
    return el.proto


def _rerun_with_state(at: AppTest, component_id: str, state: dict) -> None:
    ws = WidgetStates()
    w = ws.widgets.add()
    w.id = component_id
    w.json_value = json.dumps(state)
    at._run(ws)  # what the browser does when the component calls setStateValue


def test_weights_go_once_per_session_and_the_pose_comes_back():
    at = AppTest.from_function(_script)
    at.run()
    assert not at.exception
    proto = _component(at)
    assert proto.component_name == "capsviz_pose_editor" and "export default function" in proto.js_content
    assert ".pe-range" in proto.css_content and "pe-recon" in proto.html_content
    header, _, blob = parse_payload(proto.bytes)
    assert blob is not None, "the first drawing of a session carries the decoder"
    start = json.loads(at.json[0].proto.body)
    np.testing.assert_allclose(start, np.linspace(-0.3, 0.3, 16), atol=1e-7)

    at.run()  # a rerun before the page has answered: still sent
    assert parse_payload(_component(at).bytes)[2] is not None

    _rerun_with_state(at, proto.id, {"held": header["weights_hash"]})
    assert at.session_state[HELD_KEY] == header["weights_hash"]
    light = _component(at).bytes
    assert parse_payload(light)[2] is None and len(light) < 4_000

    moved = [d["value"] + 0.1 for d in header["dims"]]
    _rerun_with_state(at, proto.id, {"held": header["weights_hash"], "pose": {"id": header["id"], "values": moved}})
    np.testing.assert_allclose(json.loads(at.json[0].proto.body), moved, atol=1e-6)

    at.session_state["sig"] = "drawing-b"  # a new drawing: a fresh component, sliders at the start, no weights
    at.run()
    new = _component(at)
    assert new.id != proto.id and parse_payload(new.bytes)[2] is None
    np.testing.assert_allclose(json.loads(at.json[0].proto.body), start, atol=1e-7)

    _rerun_with_state(at, new.id, {"held": ""})  # the page lost them (Python thought it held them): resend
    assert at.session_state[HELD_KEY] is None
    assert parse_payload(_component(at).bytes)[2] is not None


def test_bench_lateness_pairs_each_input_with_the_first_frame_that_drew_it():
    from capsviz.bench.browser.measure import lateness

    inputs = [{"t": 0.0, "seq": 1}, {"t": 5.0, "seq": 2}, {"t": 9.0, "seq": 3}, {"t": 30.0, "seq": 4}]
    frames = [{"t": 16.0, "seq": 3}, {"t": 33.0, "seq": 4}]  # one frame drew inputs 1-3 (coalesced)
    assert lateness(inputs, frames) == [16.0, 11.0, 7.0, 3.0]
    assert lateness(inputs, frames[:1])[-1] == float("inf")  # never drawn
