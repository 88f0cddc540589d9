"""The Streamlit app, driven headless with streamlit.testing.v1.AppTest.

Most tests use a randomly initialised CapsNet saved to a temporary checkpoint (wiring, not accuracy)
and a tiny fake MNIST folder. The accuracy check uses the real checkpoint and test set, and is
skipped where either is missing. Drawings reach the canvas component as its frontend sends them on pen-up:
its state "drawing" holds the stroke payload (capsviz.data.strokes.to_payload; conftest.send_drawing).
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from apptest_canvas import canvas_data, send_drawing
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from capsviz.app import cached, state
from capsviz.app.timing import pose_editor_payload, send_pose
from capsviz.data.mnist import DEFAULT_DATA_DIR, RAW_FILES, has_mnist, resolve_data_dir
from capsviz.data.strokes import CANVAS, PEN_WIDTH, polyline_drawing, to_payload
from capsviz.export.pose_payload import POSE_SPAN
from capsviz.inspect.trace import classify
from capsviz.model.capsnet import MNIST_SIDE, CapsNet
from capsviz.model.routing import MAX_ITERATIONS
from capsviz.training.checkpoint import DEFAULT_DIR, WEIGHTS, load_model, save_weights, write_card

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
TIMEOUT = 60


# --- fixtures ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def random_checkpoint(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(0)
    model = CapsNet()
    with torch.no_grad():  # untrained votes are ~0; scale them so routing has something to agree on
        model.digit.weight.mul_(30.0)
    save_weights(model, folder)
    write_card(
        folder,
        {
            "test_accuracy": 12.34,
            "test_errors": 8766,
            "epochs": 2,
            "routing_iterations": 3,
            "parameters": 8215568,
            "drawn_digit_accuracy": {"accuracy": 56.7, "n": 500},
            "redrawn_mnist_accuracy": {"accuracy": 45.6, "n": 10000},
        },
    )
    return folder


def _write_idx(path: Path, array: np.ndarray) -> None:
    kind = 0x08  # unsigned byte
    header = struct.pack(">HBB", 0, kind, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.fixture(scope="module")
def fake_mnist(tmp_path_factory) -> Path:
    """A 30-image stand-in for MNIST: three of each digit, drawn as simple shapes."""
    root = tmp_path_factory.mktemp("mnist")
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 3)
    images = np.zeros((len(labels), MNIST_SIDE, MNIST_SIDE), np.uint8)
    for k, label in enumerate(labels):
        im = Image.new("L", (MNIST_SIDE, MNIST_SIDE))
        ImageDraw.Draw(im).text((9 + int(rng.integers(-1, 2)), 7), str(label), fill=255)
        images[k] = np.asarray(im)
    for name in RAW_FILES:
        data = images if "images" in name else labels
        _write_idx(raw / name, data)
    return root


def load_fake(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """The fake set's test images as floats in [0, 1] and its labels."""
    from capsviz.data.mnist import load_mnist

    split = load_mnist(train=False, data_dir=root, download=False)
    return split.images.numpy().astype(np.float32) / 255.0, split.labels.numpy()


@pytest.fixture
def env(monkeypatch, random_checkpoint, fake_mnist):
    monkeypatch.setenv("CAPSVIZ_CHECKPOINT", str(random_checkpoint))
    monkeypatch.setenv("CAPSVIZ_DATA_DIR", str(fake_mnist))


def _app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    return at


def _png_url(im: Image.Image) -> str:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _canvas_drawing(lines, width: int = PEN_WIDTH) -> Image.Image:
    """What the canvas sends: CANVAS x CANVAS RGBA, white strokes on black."""
    im = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 255))
    d = ImageDraw.Draw(im)
    for line in lines:
        d.line(line, fill=(255, 255, 255, 255), width=width, joint="curve")
    return im


ONE = [[(140, 40), (140, 240)]]
SEVEN = [[(70, 50), (210, 50), (120, 240)]]


def _draw(at: AppTest, lines=ONE, width: int = PEN_WIDTH) -> AppTest:
    """Strokes along ``lines`` (canvas px polylines) at pen ``width``, sent as the canvas sends them on pen-up."""
    return send_drawing(at, to_payload(polyline_drawing(lines, width)))


def _metric(at: AppTest, label: str = "Prediction"):
    found = [m for m in at.metric if m.label == label]
    return found[0] if found else None


def _image_urls(at: AppTest, caption: str) -> list[str]:
    return [url for el in at.image for url, cap in zip(el.value, el.captions, strict=True) if cap == caption]


def _chart(at: AppTest, key: str) -> dict:
    (chart,) = [c for c in at.get("plotly_chart") if c.proto.id.endswith(f"-{key}")]
    return json.loads(chart.proto.spec)


def _no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


# --- drawing -------------------------------------------------------------------------------------------


def test_empty_canvas_shows_the_prompt(env):
    at = _app()
    _no_exception(at)
    assert any("Draw a digit" in i.value for i in at.info)
    assert _metric(at) is None
    assert not at.error


def test_drawing_is_classified_and_clear_empties_the_canvas(env):
    at = _draw(_app())
    _no_exception(at)
    m = _metric(at)
    assert m is not None and m.value in [str(d) for d in range(10)]
    assert m.proto.delta.startswith("length ")
    assert not any("Draw a digit" in i.value for i in at.info)
    assert _pose_editor(at)[1]["digit"] == int(m.value)
    assert not [b for b in at.button if b.label == "Clear"]  # the canvas's toolbar has its own
    send_drawing(at, {"v": 1, "size": CANVAS, "strokes": []})  # the canvas's Clear (or undoing every stroke)
    _no_exception(at)
    assert canvas_data(at)["drawing"] is None
    assert any("Draw a digit" in i.value for i in at.info)
    assert _metric(at) is None


def test_a_dot_is_too_small_and_warns(env):
    at = _draw(_app(), lines=[[(140, 140), (141, 140)]], width=8)  # a click with the thinnest pen
    _no_exception(at)
    assert at.warning and "too small" in at.warning[0].value
    assert _metric(at) is None


# --- pose ------------------------------------------------------------------------------------------------


def _pose_editor(at: AppTest):
    element_id, header, image = pose_editor_payload(at)
    return element_id, header, image


def _edited_length(at: AppTest) -> float:
    (cap,) = [c.value for c in at.caption if "edited pose:" in c.value]
    return float(cap.split("edited pose: ")[1].split(")")[0])


def test_pose_editor_gets_the_capsule_and_its_edit_comes_back(env):
    at = _draw(_app())
    _no_exception(at)
    _, header, image = _pose_editor(at)
    assert header["digit"] == int(_metric(at).value)  # the prediction's capsule first
    assert [d["label"] for d in header["dims"]] == [f"Dimension {k}" for k in range(1, 17)]
    for d in header["dims"]:
        # no atlas beside this checkpoint: plain sliders over the value +- POSE_SPAN, on a 0.01 grid
        assert d["value"] - POSE_SPAN - 0.01 <= d["min"] <= d["value"] - POSE_SPAN
        assert d["value"] + POSE_SPAN <= d["max"] <= d["value"] + POSE_SPAN + 0.01
    assert len(image) == MNIST_SIDE * MNIST_SIDE and max(image) > 200  # the input the model saw, as bytes
    start = np.array([d["value"] for d in header["dims"]])
    assert _edited_length(at) == pytest.approx(np.linalg.norm(start), abs=0.006)
    moved = start.copy()
    moved[0] += 0.25
    send_pose(at, moved.tolist())
    _no_exception(at)
    assert _edited_length(at) == pytest.approx(np.linalg.norm(moved), abs=0.006)


def test_decoding_another_capsule_sends_its_pose_and_figure4_follows_the_edit(env):
    at = _draw(_app())
    pred = int(_metric(at).value)
    _, header, _ = _pose_editor(at)
    (picker,) = [w for w in at.get("button_group") if w.label == "Decode digit capsule"]
    assert picker.value == pred
    other = (pred + 1) % 10
    picker.set_value(other).run()
    _no_exception(at)
    assert any(f"Decoding capsule **{other}**" in c.value for c in at.caption)
    _, switched, _ = _pose_editor(at)
    assert switched["digit"] == other and switched["id"] != header["id"]
    assert [d["value"] for d in switched["dims"]] != [d["value"] for d in header["dims"]]
    at.session_state[state.FIG4_OPEN] = True
    at.run()
    grid_before = _chart(at, state.FIG_PERTURBATION)["data"][0]
    moved = [d["value"] for d in switched["dims"]]
    moved[1] -= POSE_SPAN
    send_pose(at, moved)  # Figure 4 is drawn from the edited pose of capsule `other`
    _no_exception(at)
    assert _chart(at, state.FIG_PERTURBATION)["data"][0] != grid_before


def test_a_pose_slider_reruns_only_the_decoder(env, monkeypatch):
    """The promise behind the live pose panel: a pose edit routes nothing; the server decodes only Figure 4."""
    import capsviz.model.capsnet

    calls = {"trace": 0, "routing": 0, "decoder": 0}

    def counting(name, fn):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(cached, "trace_image", counting("trace", cached.trace_image))
    monkeypatch.setattr(
        capsviz.model.capsnet, "dynamic_routing", counting("routing", capsviz.model.capsnet.dynamic_routing)
    )
    monkeypatch.setattr(
        capsviz.model.capsnet.Decoder, "forward", counting("decoder", capsviz.model.capsnet.Decoder.forward)
    )
    cached.trace.clear()  # another test may have traced the same drawing in this process
    at = _draw(_app())
    assert calls["trace"] == 1 and calls["routing"] == 1  # the new drawing is traced once
    for name in calls:
        calls[name] = 0
    _, header, _ = _pose_editor(at)
    send_pose(at, [d["value"] + 0.1 for d in header["dims"]])
    _no_exception(at)
    assert calls == {"trace": 0, "routing": 0, "decoder": 0}  # the page decodes; the server does nothing
    at.session_state[state.FIG4_OPEN] = True
    at.run()
    calls["decoder"] = 0
    send_pose(at, [d["value"] - 0.1 for d in header["dims"]])
    assert calls == {"trace": 0, "routing": 0, "decoder": 1}  # Figure 4: one batched decode of the edited pose


def test_figure4_expander_shows_the_perturbation_grid(env):
    at = _draw(_app())
    at.session_state[state.FIG4_OPEN] = True
    at.run()
    _no_exception(at)
    spec = _chart(at, state.FIG_PERTURBATION)
    assert spec["data"][0]["type"] == "image"
    assert [t for t in spec["layout"]["yaxis"]["ticktext"]] == [f"dim {k}" for k in range(1, 17)]


# --- routing -----------------------------------------------------------------------------------------------


def _arr(value) -> np.ndarray:
    """A plotly JSON array: a plain list, or plotly 6's typed array {"dtype", "bdata", "shape"}."""
    if isinstance(value, dict) and "bdata" in value:
        a = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        return a.reshape([int(n) for n in str(shape).split(",")]) if shape else a
    return np.asarray(value, dtype=float)


def _coupling_z(spec: dict) -> np.ndarray:
    """The coupling-by-type heatmap (the routing figure's first trace) of a figure or a frame."""
    return _arr(spec["data"][0]["z"])


def _routing(at: AppTest) -> dict:
    return _chart(at, state.FIG_ROUTING)


UNIFORM = 1 / 10  # c_ij before any agreement


def test_routing_iterations_change_the_figures(env):
    at = _draw(_app())
    at.session_state[state.TAB] = state.ROUTING_TAB
    at.run()
    _no_exception(at)
    assert at.slider(key=state.ITERATIONS).value == 3  # the model card's value
    lengths3, conv3, fig3 = _chart(at, state.FIG_LENGTHS), _chart(at, state.FIG_CONVERGENCE), _routing(at)
    assert [f["name"] for f in fig3["frames"]] == ["1", "2", "3"]
    assert [s["label"] for s in fig3["layout"]["sliders"][0]["steps"]] == ["1", "2", "3"]
    assert fig3["layout"]["sliders"][0]["active"] == 2  # the final iteration is shown first
    assert not np.allclose(_coupling_z(fig3), UNIFORM)  # after two rounds of agreement, no longer uniform

    at.slider(key=state.ITERATIONS).set_value(1).run()
    _no_exception(at)
    lengths1, conv1, fig1 = _chart(at, state.FIG_LENGTHS), _chart(at, state.FIG_CONVERGENCE), _routing(at)
    np.testing.assert_allclose(_coupling_z(fig1), UNIFORM, atol=1e-6)  # one iteration: uniform coupling
    assert [f["name"] for f in fig1["frames"]] == ["1"]
    assert not np.allclose(_arr(lengths1["data"][0]["y"]), _arr(lengths3["data"][0]["y"]))
    assert len(_arr(conv1["data"][0]["x"])) == 1 and len(_arr(conv3["data"][0]["x"])) == 3


def test_every_routing_iteration_count_changes_the_trace(env):
    at = _draw(_app())
    slider = at.slider(key=state.ITERATIONS)
    assert (slider.min, slider.max) == (1, MAX_ITERATIONS)
    seen = []
    for r in range(1, MAX_ITERATIONS + 1):
        at.slider(key=state.ITERATIONS).set_value(r).run()
        _no_exception(at)
        lengths = _arr(_chart(at, state.FIG_LENGTHS)["data"][0]["y"])
        assert all(not np.allclose(lengths, other) for other in seen), f"r={r} gives an earlier trace"
        seen.append(lengths)


def test_routing_playback_has_one_frame_per_iteration_and_a_play_button(env):
    at = _draw(_app())
    at.session_state[state.TAB] = state.ROUTING_TAB
    at.run()
    fig = _routing(at)
    frames = fig["frames"]
    np.testing.assert_allclose(_coupling_z(frames[0]), UNIFORM, atol=1e-6)  # iteration 1 routes uniformly
    np.testing.assert_allclose(_coupling_z(frames[-1]), _coupling_z(fig))  # the figure shows the last frame
    assert not np.allclose(_coupling_z(frames[1]), _coupling_z(frames[2]))  # each iteration moves the couplings
    titles = [f["layout"]["title"]["text"] for f in frames]
    assert [t.split(" routes")[0] for t in titles] == [f"Iteration {k} of 3" for k in (1, 2, 3)]
    (menu,) = fig["layout"]["updatemenus"]
    play = next(b for b in menu["buttons"] if "Play" in b["label"])
    assert play["method"] == "animate" and play["args"][0] == ["1", "2", "3"]  # every iteration, in order
    assert 300 <= play["args"][1]["frame"]["duration"] <= 700  # about 2 frames per second


def test_routing_panel_spatial_map_and_full_matrix(env):
    at = _draw(_app())
    at.session_state[state.TAB] = state.ROUTING_TAB
    at.session_state[state.MATRIX_OPEN] = True
    at.run()
    _no_exception(at)
    overlays = [t for t in _routing(at)["data"] if t.get("name", "").startswith("digit")]
    assert len(overlays) == 2  # the prediction and its rival by default
    assert "strongest type" in overlays[0]["text"][0][0]
    matrix = _chart(at, state.FIG_MATRIX)
    assert _arr(matrix["data"][1]["z"]).shape == (1152, 10) and matrix["data"][1]["y"][0].startswith("type ")
    assert len(matrix["frames"]) == 3


# --- equivariance ------------------------------------------------------------------------------------------


def test_equivariance_panel_transforms_and_sweeps(env):
    at = _draw(_app())
    at.session_state[state.TAB] = state.EQUIVARIANCE_TAB
    at.run()
    _no_exception(at)
    assert _metric(at, "After transform") is not None
    sweep = _chart(at, state.FIG_SWEEP)
    assert len([t for t in sweep["data"] if t.get("name", "").startswith("dim ")]) == 16
    (before,) = _image_urls(at, "Transformed")
    at.slider(key=state.EQ_SLIDERS["angle"]).set_value(30).run()
    _no_exception(at)
    assert _image_urls(at, "Transformed") != [before]
    marker = [s for s in _chart(at, state.FIG_SWEEP)["layout"]["shapes"] if s.get("x0") == 30]
    assert marker
    (reset,) = [b for b in at.button if b.label == "Reset transform"]
    reset.click().run()
    assert at.slider(key=state.EQ_SLIDERS["angle"]).value == 0


# --- upload --------------------------------------------------------------------------------------------------


def _upload(at: AppTest, name: str, data: bytes, mime: str = "image/png") -> AppTest:
    at.radio(key=state.SOURCE).set_value(state.UPLOAD).run()
    at.file_uploader(key=state.UPLOAD_KEY).set_value((name, data, mime)).run()
    return at


def test_bad_upload_shows_the_error_and_the_page_keeps_working(env):
    at = _upload(_app(), "digit.png", b"this is not an image at all")
    _no_exception(at)
    assert at.error and "not an image" in at.error[0].value
    assert _metric(at) is None
    at.radio(key=state.SOURCE).set_value(state.DRAW).run()  # still alive
    _no_exception(at)
    assert any("Draw a digit" in i.value for i in at.info)


def test_good_upload_dark_on_light_is_classified(env):
    im = Image.new("L", (200, 300), 235)
    ImageDraw.Draw(im).line([(100, 40), (100, 260)], fill=20, width=16)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    at = _upload(_app(), "one.png", buf.getvalue())
    _no_exception(at)
    assert not at.error
    assert _metric(at) is not None


# --- gallery -------------------------------------------------------------------------------------------------


def test_gallery_modes(env, fake_mnist, random_checkpoint):
    at = _app()
    at.radio(key=state.SOURCE).set_value(state.GALLERY).run()
    _no_exception(at)
    assert _metric(at) is not None
    assert any("true label **0**" in m.value for m in at.markdown)  # index 0 of the fake set is a 0
    at.number_input(key=state.GALLERY_INDEX).set_value(29).run()
    assert any("true label **9**" in m.value for m in at.markdown)
    at.selectbox(key=state.GALLERY_MODE).set_value(state.BY_CLASS).run()
    at.selectbox(key=state.GALLERY_CLASS).set_value(4).run()
    _no_exception(at)
    assert any("true label **4**" in m.value for m in at.markdown)
    at.selectbox(key=state.GALLERY_MODE).set_value(state.RANDOM).run()
    _no_exception(at)
    assert _metric(at) is not None
    at.selectbox(key=state.GALLERY_MODE).set_value(state.MISCLASSIFIED).run()
    _no_exception(at)
    # The random checkpoint's card lists no errors: the app classifies the fake set itself. Count them here.
    images, labels = load_fake(fake_mnist)
    wrong = int((classify(load_model(random_checkpoint), images) != labels).sum())
    assert 0 < wrong < len(labels)  # the fixture implies a list of mistakes, not "every digit right"
    assert any(f"{wrong} of {len(labels)} test digits are misclassified" in c.value for c in at.caption)
    assert len(at.selectbox(key=state.MISTAKE_PICK).options) == wrong


def test_misclassified_list_comes_from_the_model_card_when_it_has_one(env, monkeypatch, tmp_path, random_checkpoint):
    shutil.copy(random_checkpoint / WEIGHTS, tmp_path / WEIGHTS)
    write_card(
        tmp_path,
        {"routing_iterations": 3, "test_misclassified": [{"index": 7, "predicted": 4}, {"index": 4, "predicted": 0}]},
    )
    monkeypatch.setenv("CAPSVIZ_CHECKPOINT", str(tmp_path))
    at = _app()
    at.radio(key=state.SOURCE).set_value(state.GALLERY).run()
    at.selectbox(key=state.GALLERY_MODE).set_value(state.MISCLASSIFIED).run()
    _no_exception(at)
    picker = at.selectbox(key=state.MISTAKE_PICK)
    assert picker.options == ["#4: true 1, predicted 0", "#7: true 2, predicted 4"]
    assert any("2 of 30 test digits" in c.value for c in at.caption)
    assert any("true label **1**" in m.value for m in at.markdown)


def test_gallery_without_data_names_the_setting(env, monkeypatch, tmp_path):
    monkeypatch.setenv("CAPSVIZ_DATA_DIR", str(tmp_path))
    at = _app()
    at.radio(key=state.SOURCE).set_value(state.GALLERY).run()
    _no_exception(at)
    assert any("CAPSVIZ_DATA_DIR" in i.value for i in at.info)
    assert _metric(at) is None


# --- checkpoint and sidebar ----------------------------------------------------------------------------------------


def test_sidebar_shows_the_model_card(env):
    at = _app()
    table = " ".join(m.value for m in at.sidebar.markdown)
    rows = dict(
        tuple(cell.strip() for cell in line.strip("| ").split("|"))
        for line in table.split("\n")
        if line.startswith("|") and not line.startswith("|---")
    )
    assert rows["Test accuracy"] == "12.34 %" and rows["Epochs"] == "2"
    assert rows["Routing iterations (trained)"] == "3"
    assert rows["Scripted drawings"] == "56.70 % of 500" and rows["MNIST redrawn"] == "45.60 % of 10,000"


def test_missing_checkpoint_is_an_error_not_a_traceback(monkeypatch, tmp_path):
    monkeypatch.setenv("CAPSVIZ_CHECKPOINT", str(tmp_path / "nowhere"))
    at = _app()
    _no_exception(at)
    assert at.error and "No checkpoint" in at.error[0].value
    assert _metric(at) is None and not at.slider


def test_corrupt_checkpoint_is_an_error_not_a_traceback(monkeypatch, tmp_path):
    (tmp_path / WEIGHTS).write_bytes(b"\x00" * 100)
    monkeypatch.setenv("CAPSVIZ_CHECKPOINT", str(tmp_path))
    at = _app()
    _no_exception(at)
    assert at.error and "corrupt" in at.error[0].value


# --- the trained model ---------------------------------------------------------------------------------------------


TRAINED = (DEFAULT_DIR / WEIGHTS).is_file()


@pytest.mark.skipif(not TRAINED, reason="no trained checkpoint in checkpoints/")
def test_trained_model_reads_easy_test_digits(monkeypatch):
    data = resolve_data_dir() if has_mnist(resolve_data_dir()) else DEFAULT_DATA_DIR
    if not has_mnist(data):
        pytest.skip("MNIST test set not available")
    monkeypatch.delenv("CAPSVIZ_CHECKPOINT", raising=False)
    monkeypatch.setenv("CAPSVIZ_DATA_DIR", str(data))
    at = _app()
    at.radio(key=state.SOURCE).set_value(state.GALLERY).run()
    for index, label in [(0, 7), (1, 2), (2, 1), (3, 0), (4, 4)]:
        at.number_input(key=state.GALLERY_INDEX).set_value(index).run()
        _no_exception(at)
        assert _metric(at).value == str(label)


@pytest.mark.skipif(not TRAINED, reason="no trained checkpoint in checkpoints/")
def test_trained_model_reads_drawn_digits(monkeypatch):
    monkeypatch.delenv("CAPSVIZ_CHECKPOINT", raising=False)
    at = _app()
    assert _metric(_draw(at, ONE)).value == "1"
    assert _metric(_draw(at, SEVEN)).value == "7"


def test_which_ink_tab_maps_the_drawing_and_the_input(env):
    at = _draw(_app())
    at.session_state[state.TAB] = state.EXPLAIN_TAB
    at.run()
    _no_exception(at)
    assert _chart(at, state.FIG_ATTRIBUTION)["data"]  # the map over the 28x28 input
    source = _chart(at, state.FIG_ATTRIBUTION_SOURCE)  # and drawn back onto the drawing itself
    assert source["data"]


@pytest.mark.skipif(not TRAINED, reason="no trained checkpoint in checkpoints/")
def test_shipped_model_has_named_pose_sliders_and_the_atlas(monkeypatch):
    """With the shipped checkpoint (and its pose_atlas.json) the editor's sliders carry measured names and
    data ranges, and the pose tab shows the measured Figure 4."""
    from capsviz.inspect.pose_atlas import load_atlas

    monkeypatch.delenv("CAPSVIZ_CHECKPOINT", raising=False)
    at = _draw(_app(), SEVEN)
    _no_exception(at)
    _, header, _ = _pose_editor(at)
    atlas = load_atlas(DEFAULT_DIR)
    entry = atlas.classes[header["digit"]]
    assert [d["label"] for d in header["dims"]] == [d.label for d in entry.dims]
    named = [d for d in header["dims"] if "·" in d["label"] and "Dimension" not in d["label"]]
    assert named and all(d["help"] for d in named)  # each slider's tooltip says what it measured
    for d, measured in zip(header["dims"], entry.dims, strict=True):
        assert d["min"] <= min(measured.p1, d["value"]) + 0.01 and d["max"] >= max(measured.p99, d["value"]) - 0.01
        assert d["median"] == pytest.approx(measured.p50)
    at.session_state[state.ATLAS_OPEN] = True
    at.run()
    _no_exception(at)
    assert _chart(at, state.FIG_ATLAS)["data"]
