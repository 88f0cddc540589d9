"""The app's two-digit mode, driven headless with AppTest: the model switch, drawing with two pens, the
MultiMNIST test-pair gallery, upload, the reconstruction and routing tabs, and a missing two-digit checkpoint.

A randomly initialised 36x36 CapsNet (capsviz.data.multimnist.MULTIMNIST_CONFIG) stands in for the trained one
(wiring, not accuracy), beside test_app's random 28x28 checkpoint and fake MNIST folder.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from apptest_canvas import canvas_data, send_drawing
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest
from test_app import (  # noqa: F401  (test_app's fixtures, found by name)
    _app,
    _arr,
    _chart,
    _image_urls,
    _metric,
    _no_exception,
    _png_url,
    env,
    fake_mnist,
    random_checkpoint,
)

from capsviz.app import cached, pair_text, state
from capsviz.app.timing import pose_editor_payload, send_pose
from capsviz.data.multimnist import MULTIMNIST_CONFIG, SIZE, load_test_set
from capsviz.data.preprocess_pair import INK_COLOURS
from capsviz.data.strokes import Stroke, StrokeDrawing, to_payload
from capsviz.model.capsnet import CapsNet
from capsviz.testsets.drawn_digits import drawing_for
from capsviz.testsets.drawn_pairs import pair_strokes
from capsviz.training.checkpoint import save_weights, write_card

PAIR_CARD = {
    "test_accuracy": 23.45,
    "test_errors": 7655,
    "epochs": 1,
    "routing_iterations": 3,
    "accuracy_by_routing_iterations": {"1": 20.1, "2": 22.2, "3": 23.45, "4": 23.0, "5": 22.9},
}


@pytest.fixture(scope="module")
def random_pair_checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pair_ckpt")
    torch.manual_seed(1)
    model = CapsNet(MULTIMNIST_CONFIG)
    with torch.no_grad():  # untrained votes are ~0; scale them so routing has something to agree on
        model.digit.weight.mul_(30.0)
    save_weights(model, folder)
    write_card(folder, PAIR_CARD)
    return folder


@pytest.fixture
def pair_env(request, monkeypatch, random_pair_checkpoint):
    request.getfixturevalue("env")
    monkeypatch.setenv(cached.MULTIMNIST_CHECKPOINT_ENV, str(random_pair_checkpoint))


def _two_digits(at: AppTest | None = None) -> AppTest:
    at = at or _app()
    at.radio(key=state.MODEL_MODE).set_value(state.TWO_DIGITS).run()
    return at


def _pair_canvas(first: int = 3, second: int = 7, offset: int = 36) -> StrokeDrawing:
    """The canvas's strokes: ``first`` with the first pen, ``second`` over it with the second, offset."""
    a = drawing_for(first, centre=(140 - offset / 2, 140), height=190, width=18)
    b = drawing_for(second, centre=(140 + offset / 2, 140), height=190, width=18)
    return pair_strokes(a, b)


def _draw_pair(at: AppTest, drawing: StrokeDrawing) -> AppTest:
    """Send ``drawing`` as the canvas does on pen-up."""
    return send_drawing(at, to_payload(drawing))


def _predicted(at: AppTest) -> tuple[int, int]:
    m = _metric(at)
    assert m is not None
    a, b = m.value.split(" and ")
    return int(a), int(b)


def _card_rows(at: AppTest) -> dict[str, str]:
    table = " ".join(m.value for m in at.sidebar.markdown)
    return dict(
        tuple(cell.strip() for cell in line.strip("| ").split("|"))
        for line in table.split("\n")
        if line.startswith("|") and not line.startswith("|---")
    )


# --- the switch ----------------------------------------------------------------------------------------------


def test_the_model_switch_turns_two_digit_mode_on_and_off(pair_env):
    at = _app()
    assert at.radio(key=state.MODEL_MODE).value == state.ONE_DIGIT
    assert _card_rows(at)["Test accuracy"] == "12.34 %"  # the MNIST card
    _two_digits(at)
    _no_exception(at)
    assert any("Draw two different digits" in i.value for i in at.info)
    assert "MultiMNIST test pairs" in at.radio(key=state.SOURCE).options
    rows = _card_rows(at)  # the sidebar now shows the two-digit model's card
    assert rows["Test accuracy"] == "23.45 %" and rows["Accuracy by iterations"].startswith("1: 20.1, 2: 22.2")
    at.radio(key=state.MODEL_MODE).set_value(state.ONE_DIGIT).run()
    _no_exception(at)
    assert any("Draw a digit" in i.value for i in at.info)


# --- drawing with two pens ----------------------------------------------------------------------------------------


def test_drawing_in_two_colours_gives_two_digits_and_two_reconstructions(pair_env):
    at = _draw_pair(_two_digits(), _pair_canvas())
    _no_exception(at)
    assert not at.warning and not at.error
    assert not any(pair_text.PAIR_ONE_INK in c.value for c in at.caption)  # the two pens were told apart
    a, b = _predicted(at)
    lengths = _arr(_chart(at, state.FIG_PAIR_LENGTHS)["data"][0]["y"])
    assert a != b and {a, b} == set(np.argsort(-lengths)[:2].tolist())  # the two longest capsules
    assert _metric(at).proto.delta == f"lengths {lengths[a]:.2f} and {lengths[b]:.2f}"
    for caption in (f"Capsule {a} alone", f"Capsule {b} alone", f"Capsules {a} and {b} decoded"):
        assert len(_image_urls(at, caption)) == 1, caption
    assert _image_urls(at, f"Capsule {a} alone") != _image_urls(at, f"Capsule {b} alone")
    _, header, image = pose_editor_payload(at)  # the pose editor gets the 36x36 input and the longest capsule
    assert header["digit"] == a and len(image) == SIZE * SIZE
    assert header["image"]["width"] == SIZE and max(image) > 200


def test_one_pen_is_read_whole_and_clear_empties_the_canvas(pair_env):
    both = _pair_canvas()
    first_pen_only = both.with_strokes(Stroke(s.points, s.width, 0) for s in both.strokes)
    at = _draw_pair(_two_digits(), first_pen_only)
    _no_exception(at)
    assert any(pair_text.PAIR_ONE_INK in c.value for c in at.caption)
    assert _metric(at) is not None
    data = canvas_data(at)
    assert data["pens"] == 2 and data["colours"] == list(INK_COLOURS) and data["pen"] == 0
    at.button_group(key=state.PAIR_INK).set_value(state.PAIR_INKS[1]).run()  # the pen picker: the next strokes' pen
    assert canvas_data(at)["pen"] == 1 and canvas_data(at)["drawing"] == to_payload(first_pen_only)
    assert not [b for b in at.button if b.label == "Clear"]  # the canvas's toolbar has its own
    _draw_pair(at, StrokeDrawing())  # the canvas's Clear
    _no_exception(at)
    assert canvas_data(at)["drawing"] is None
    assert _metric(at) is None and any("Draw two different digits" in i.value for i in at.info)


def test_the_pose_editor_and_figure4_work_for_the_second_capsule(pair_env):
    at = _draw_pair(_two_digits(), _pair_canvas())
    a, b = _predicted(at)
    (picker,) = [w for w in at.get("button_group") if w.label == "Decode digit capsule"]
    picker.set_value(b).run()
    _no_exception(at)
    assert any(f"Decoding capsule **{b}** (one of the 2 predicted)" in c.value for c in at.caption)
    _, header, _ = pose_editor_payload(at)
    assert header["digit"] == b
    at.session_state[state.FIG4_OPEN] = True
    at.run()
    before = _chart(at, state.FIG_PERTURBATION)["data"][0]
    moved = [d["value"] for d in header["dims"]]
    moved[0] += 0.3
    send_pose(at, moved)
    _no_exception(at)
    assert _chart(at, state.FIG_PERTURBATION)["data"][0] != before  # Figure 4 follows the edited pose of b


# --- routing --------------------------------------------------------------------------------------------------------


def test_routing_tab_shows_the_two_digits_on_the_10x10_grid_and_each_inks_share(pair_env):
    at = _draw_pair(_two_digits(), _pair_canvas())
    a, b = _predicted(at)
    at.session_state[state.PAIR_TAB] = state.ROUTING_TAB
    at.session_state[state.MATRIX_OPEN] = True
    at.run()
    _no_exception(at)
    fig = _chart(at, state.FIG_ROUTING)
    overlays = [t for t in fig["data"] if t.get("name", "").startswith("digit")]
    assert [t["name"] for t in overlays] == [f"digit {a}", f"digit {b}"]
    assert _arr(overlays[0]["z"]).shape == (10, 10)  # the 36x36 model's primary grid
    assert [f["name"] for f in fig["frames"]] == ["1", "2", "3"]
    shares = _chart(at, state.FIG_STROKE_SHARES)
    lines = [t for t in shares["data"] if t["name"].startswith("capsule")]
    assert [t["name"] for t in lines] == [f"capsule {a}", f"capsule {b}"] * 2  # two inks x two capsules
    for t in lines:
        y = _arr(t["y"])
        assert len(y) == 3 and y[0] == pytest.approx(10.0, abs=1e-4)  # iteration 1 routes uniformly (in percent)
    assert [a["text"] for a in shares["layout"]["annotations"]] == list(pair_text.PAIR_INK_NAMES)
    accuracy = _chart(at, state.FIG_ACCURACY_BY_ITERATIONS)
    assert list(accuracy["data"][0]["x"]) == ["1", "2", "3", "4", "5"]
    assert _arr(accuracy["data"][0]["y"]).tolist() == [20.1, 22.2, 23.45, 23.0, 22.9]
    assert _arr(_chart(at, state.FIG_MATRIX)["data"][1]["z"]).shape == (3200, 10)
    at.slider(key=state.ITERATIONS).set_value(1).run()
    _no_exception(at)
    colours = _chart(at, state.FIG_ACCURACY_BY_ITERATIONS)["data"][0]["marker"]["color"]
    assert colours[0] != colours[2]  # the iteration count in use is highlighted


# --- gallery and upload ------------------------------------------------------------------------------------------


def test_gallery_shows_multimnist_test_pairs_with_their_labels(pair_env, request):
    at = _two_digits()
    at.radio(key=state.SOURCE).set_value(state.GALLERY).run()
    _no_exception(at)
    labels = load_test_set(request.getfixturevalue("fake_mnist"), n=8).labels.numpy()
    for index in (0, 7):
        at.number_input(key=state.PAIR_INDEX).set_value(index).run()
        _no_exception(at)
        first, second = labels[index]
        assert any(f"Test pair **#{index}** · labels **{first}** and **{second}**" in m.value for m in at.markdown)
        assert any(f"{first} in amber, {second} in blue" in cap for el in at.image for cap in el.captions)
        assert _metric(at) is not None
    at.session_state[state.PAIR_TAB] = state.ROUTING_TAB
    at.run()
    shares = _chart(at, state.FIG_STROKE_SHARES)  # each digit's own image is its "ink"
    assert [a["text"] for a in shares["layout"]["annotations"]] == list(pair_text.pair_digit_names(tuple(labels[7])))
    (random,) = [b for b in at.button if "Random pair" in b.label]
    random.click().run()
    _no_exception(at)
    assert _metric(at) is not None


def test_pair_gallery_without_data_names_the_setting(pair_env, monkeypatch, tmp_path):
    monkeypatch.setenv("CAPSVIZ_DATA_DIR", str(tmp_path))
    at = _two_digits()
    at.radio(key=state.SOURCE).set_value(state.GALLERY).run()
    _no_exception(at)
    assert any("CAPSVIZ_DATA_DIR" in i.value for i in at.info)
    assert _metric(at) is None


def test_upload_of_two_digits_is_read_and_has_no_strokes_to_split(pair_env):
    im = Image.new("L", (300, 260), 240)
    d = ImageDraw.Draw(im)
    d.line([(120, 40), (120, 220)], fill=15, width=16)
    d.ellipse((110, 40, 220, 220), outline=15, width=16)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    at = _two_digits()
    at.radio(key=state.SOURCE).set_value(state.UPLOAD).run()
    at.file_uploader(key=state.PAIR_UPLOAD_KEY).set_value(("pair.png", buf.getvalue(), "image/png")).run()
    _no_exception(at)
    assert not at.error
    a, b = _predicted(at)
    assert a != b
    at.session_state[state.PAIR_TAB] = state.ROUTING_TAB
    at.run()
    assert any(pair_text.NO_STROKES in c.value for c in at.caption)
    at.file_uploader(key=state.PAIR_UPLOAD_KEY).set_value(("x.png", b"not an image", "image/png")).run()
    _no_exception(at)
    assert at.error and "not an image" in at.error[0].value


# --- a missing or wrong two-digit checkpoint -----------------------------------------------------------------------


@pytest.mark.usefixtures("env")
def test_missing_two_digit_checkpoint_shows_a_message_and_one_digit_mode_keeps_working(monkeypatch, tmp_path):
    monkeypatch.setenv(cached.MULTIMNIST_CHECKPOINT_ENV, str(tmp_path / "nowhere"))
    at = _two_digits()
    _no_exception(at)
    assert at.error and cached.MULTIMNIST_CHECKPOINT_ENV in at.error[0].value
    assert "two-digit model is not available" in at.error[0].value and "No checkpoint" in at.error[0].value
    assert _metric(at) is None and at.radio(key=state.MODEL_MODE).value == state.TWO_DIGITS
    at.radio(key=state.MODEL_MODE).set_value(state.ONE_DIGIT).run()
    _no_exception(at)
    assert not at.error and any("Draw a digit" in i.value for i in at.info)


@pytest.mark.usefixtures("env")
def test_a_28x28_checkpoint_is_not_taken_for_the_two_digit_model(monkeypatch, request):
    monkeypatch.setenv(cached.MULTIMNIST_CHECKPOINT_ENV, str(request.getfixturevalue("random_checkpoint")))
    at = _two_digits()
    _no_exception(at)
    assert at.error and "36×36" in at.error[0].value


def test_the_default_two_digit_checkpoint_lives_beside_the_mnist_one(monkeypatch):
    monkeypatch.delenv(cached.MULTIMNIST_CHECKPOINT_ENV, raising=False)
    assert cached.pair_checkpoint_path() == str(cached.MULTIMNIST_DIR)
    assert cached.MULTIMNIST_DIR.name == "multimnist" and cached.MULTIMNIST_DIR.parent == cached.DEFAULT_DIR
