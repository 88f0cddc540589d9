"""capsviz.app.live: what the page's live reading is served from (Streamlit static serving) and the server's answer
it is told. The browser side is tests/e2e/test_live_reading.py."""

from __future__ import annotations

import os

import pytest

from capsviz.app import live
from capsviz.data.strokes import parse_drawing, to_payload


@pytest.fixture
def fake_model(tmp_path, monkeypatch):
    """A stand-in model whose graph is a small file (the export itself is tests/test_onnx_export.py's)."""
    graphs = {}

    def graph_for(key):
        path = tmp_path / "cache" / f"capsnet-trace-{key}.stages"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(f"graph {key}".encode())
        graphs[key] = path
        return path

    monkeypatch.setattr(live, "model_hash", lambda model: model)
    monkeypatch.setattr(live, "onnx_model_path", graph_for)
    return "0123456789abcdef"


def test_publish_copies_what_the_page_loads_and_names_it_by_version(tmp_path, fake_model):
    static = tmp_path / "static"
    got = live.publish(fake_model, static, "/base/app/static")
    root = static / live.FOLDER
    for name in live.INPAGE_FILES:
        assert (root / "inpage" / name).read_bytes() == (live.COMPONENTS / "inpage" / name).read_bytes()
    for name in live.VENDOR_FILES:
        assert (root / live.VENDOR / name).stat().st_size == (live.COMPONENTS / live.VENDOR / name).stat().st_size
    assert (root / "models" / f"capsnet-trace-{fake_model}.stages").read_bytes() == f"graph {fake_model}".encode()
    assert got.model == f"/base/app/static/capsviz/models/capsnet-trace-{fake_model}.stages"
    assert got.client.startswith("/base/app/static/capsviz/inpage/model_client.js?v=")
    assert got.vendor == "/base/app/static/capsviz/vendor/onnxruntime-web/"
    data = got.as_data(4)
    assert data["model"] == {"hash": fake_model, "url": got.model} and data["iterations"] == 4


def test_publish_again_leaves_equal_files_alone_and_replaces_changed_ones(tmp_path, fake_model):
    static = tmp_path / "static"
    live.publish(fake_model, static)
    client = static / live.FOLDER / "inpage" / "model_client.js"
    wasm = static / live.FOLDER / live.VENDOR / "ort-wasm-simd-threaded.wasm"
    os.utime(wasm, (1, 1))
    client.write_text("stale")
    first = live.publish(fake_model, static)
    assert wasm.stat().st_mtime == 1  # the same bytes: not copied again
    assert client.read_bytes() == (live.COMPONENTS / "inpage" / "model_client.js").read_bytes()
    assert first.client == live.publish(fake_model, static).client  # the version follows the content


def test_old_graphs_are_removed(tmp_path, fake_model):
    static = tmp_path / "static"
    for n, key in enumerate(("a" * 16, "b" * 16, "c" * 16)):
        live.publish(key, static)
        os.utime(static / live.FOLDER / "models" / f"capsnet-trace-{key}.stages", (n, n))
    kept = sorted(p.name for p in (static / live.FOLDER / "models").iterdir())
    assert len(kept) == live.MODELS_KEPT and f"capsnet-trace-{'c' * 16}.stages" in kept


def test_without_static_serving_the_page_is_told_why(monkeypatch):
    monkeypatch.setattr(live.st, "get_option", lambda name: False)
    assert live.canvas_data(object(), 3) == {"off": live.OFF_CONFIG}


def test_an_unwritable_folder_gives_a_reason_not_an_error(tmp_path, fake_model, monkeypatch):
    monkeypatch.setattr(live.st, "get_option", lambda name: True if name == "server.enableStaticServing" else "")
    blocked = tmp_path / "app"
    blocked.mkdir()
    (blocked / "static").write_text("a file where the folder should be")
    monkeypatch.setattr(live, "main_script_folder", lambda: blocked)
    monkeypatch.setattr(live, "_published", {})
    data = live.canvas_data(fake_model, 3)
    assert set(data) == {"off"} and "could not be written" in data["off"]


def test_the_fingerprint_is_the_pages_and_survives_parsing():
    payload = {
        "v": 1,
        "size": 280,
        "strokes": [{"w": 18, "pen": 0, "p": [10, 20, 0, 30, 40, 16]}, {"w": 20, "pen": 1, "p": [5, 6, 100]}],
    }
    # canvas.js's fingerprint(): strokes:points:sum x:sum y:sum w:sum pen
    assert live.fingerprint(payload) == "2:3:45:66:38:1"
    assert live.fingerprint(to_payload(parse_drawing(payload)[0])) == live.fingerprint(payload)


def test_the_server_answer():
    payload = {"v": 1, "size": 280, "strokes": [{"w": 18, "pen": 0, "p": [1, 2, 0]}]}
    assert live.server_answer(payload, None) == {"fp": "1:1:1:2:18:0", "prediction": None}
    answer = live.server_answer(payload, 7, [0.1] * 10)
    assert answer["prediction"] == 7 and answer["lengths"] == [0.1] * 10
