"""The exported trace (capsviz.export.onnx: its stages, capsviz.export.stages) against the server's trace
(capsviz.inspect.trace.trace_image), run stage by stage with onnxruntime in Python as the page's worker runs
them: the MNIST model on 200 test digits, the two-digit model on 100 MultiMNIST test pairs, against trace_image
at 5 iterations for all of them and at 1..4 for the first 40 (a k-iteration trace is the graph's first k rows:
test_k_iterations_are_the_first_k_of_five); the stages file's layout and its refusals; and the on-disk cache
(reuse, rebuild on new weights, rebuild of a damaged file)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

ort = pytest.importorskip("onnxruntime")

from capsviz.data.multimnist import load_test_set  # noqa: E402
from capsviz.export import onnx as export_onnx  # noqa: E402
from capsviz.export.onnx import INPUT, OUTPUTS, model_hash, onnx_model_path  # noqa: E402
from capsviz.export.stages import MAGIC, PRIMARY_PARTS, unpack  # noqa: E402
from capsviz.inspect.pair_trace import top_two  # noqa: E402
from capsviz.inspect.trace import flatten_primary, trace_image  # noqa: E402
from capsviz.model.capsnet import MNIST_SIDE  # noqa: E402
from capsviz.model.routing import MAX_ITERATIONS  # noqa: E402
from capsviz.training.checkpoint import DEFAULT_DIR, load_model  # noqa: E402

DIGITS = 200
PAIRS = 100
SHORT_RUNS = 40  # images also traced at 1..4 iterations (all are traced at 5, which holds iterations 1..5)
# Measured (200 MNIST digits / 100 pairs, 1..5 iterations): fp32 agrees to 4e-7 / 1.2e-6; fp16 weights to
# 8e-4 / 7e-4 on lengths, 2e-4 / 6e-4 on couplings, 3e-4 / 3e-4 on poses, 1.2e-3 / 1.3e-3 on the primary
# capsules, with the same predictions throughout. The bounds leave headroom for other CPUs' kernels.
TOLERANCE = {
    "fp32": {"lengths": 1e-4, "couplings": 1e-4, "poses": 1e-4, "primary": 1e-4},
    "fp16": {"lengths": 3e-3, "couplings": 1e-3, "poses": 1e-3, "primary": 3e-3},
}


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    """Every test's graphs go to one session-wide temporary cache, never the user's."""
    monkeypatch.setenv(export_onnx.CACHE_ENV, str(tmp_path_factory.getbasetemp() / "onnx-cache"))


@pytest.fixture(scope="module")
def mnist_model():
    return load_model(DEFAULT_DIR)


@pytest.fixture(scope="module")
def pair_model():
    return load_model(DEFAULT_DIR / "multimnist")


class _Staged:
    """The stages file run as model_worker.js runs it: each stage's session in turn, outputs fed on by name."""

    def __init__(self, path):
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self.header, graphs = unpack(path.read_bytes())
        self.stages = [(g, ort.InferenceSession(g.graph, options, providers=["CPUExecutionProvider"])) for g in graphs]

    def run(self, _fetches, feeds: dict) -> list[np.ndarray]:
        values = dict(feeds)
        for g, session in self.stages:
            values.update(zip(g.outputs, session.run(list(g.outputs), {n: values[n] for n in g.inputs}), strict=True))
        return [values[name] for name in self.header["outputs"]]


def _session(path):
    return _Staged(path)


def _references(model, images) -> dict[int, list]:
    """trace_image of every image at 5 iterations, and at 1..4 iterations for the first SHORT_RUNS of them."""
    refs = {MAX_ITERATIONS: [trace_image(model, image, iterations=MAX_ITERATIONS) for image in images]}
    for k in range(1, MAX_ITERATIONS):
        refs[k] = [trace_image(model, image, iterations=k) for image in images[:SHORT_RUNS]]
    return refs


def _worst(model, session, images, refs, precision) -> dict[str, float]:
    """Run every image through the graph; against each reference trace (k iterations: the graph's first k rows)
    check the prediction (the top two for the two-digit model) and return the largest deviation of each output."""
    two = model.cfg.image_size != MNIST_SIDE
    worst = dict.fromkeys(OUTPUTS, 0.0)
    for i, image in enumerate(images):
        got = dict(zip(OUTPUTS, session.run(None, {INPUT: image[None, None].astype(np.float32)}), strict=True))
        for k, traces in refs.items():
            if i >= len(traces):
                continue
            ref = traces[i]
            lengths = got["lengths"][k - 1]
            if two:
                assert top_two(lengths) == top_two(ref.lengths), (precision, k, i)
            else:
                assert int(lengths.argmax()) == ref.prediction, (precision, k, i)
            deviation = {
                "lengths": np.abs(got["lengths"][:k] - np.stack([it.lengths for it in ref.iterations])).max(),
                "couplings": np.abs(got["couplings"][:k] - np.stack([it.coupling for it in ref.iterations])).max(),
                "poses": np.abs(got["poses"][:k] - np.stack([it.poses for it in ref.iterations])).max(),
                "primary": np.abs(got["primary"] - flatten_primary(ref.primary_poses)).max(),
            }
            worst = {name: max(worst[name], float(deviation[name])) for name in OUTPUTS}
    return worst


@pytest.fixture(scope="module")
def mnist_case(mnist_model, mnist_test):
    images = mnist_test.images[:DIGITS].float().div(255).numpy()
    return images, _references(mnist_model, images)


@pytest.fixture(scope="module")
def pair_case(pair_model, data_dir):
    images = load_test_set(data_dir, n=PAIRS).numpy().images
    return images, _references(pair_model, images)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_mnist_graph_matches_trace_image(mnist_model, mnist_case, precision):
    images, refs = mnist_case
    worst = _worst(mnist_model, _session(onnx_model_path(mnist_model, precision)), images, refs, precision)
    print(f"\nMNIST {precision}: worst deviation over {DIGITS} digits x 1..5 iterations: {worst}")
    assert all(worst[name] <= TOLERANCE[precision][name] for name in OUTPUTS), worst


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_two_digit_graph_matches_trace_image(pair_model, pair_case, precision):
    images, refs = pair_case
    worst = _worst(pair_model, _session(onnx_model_path(pair_model, precision)), images, refs, precision)
    print(f"\nMultiMNIST {precision}: worst deviation over {PAIRS} pairs x 1..5 iterations: {worst}")
    assert all(worst[name] <= TOLERANCE[precision][name] for name in OUTPUTS), worst


def test_stages_chain_and_fp16_weights(mnist_model):
    import onnx

    header, graphs = unpack(onnx_model_path(mnist_model).read_bytes())
    assert header["hash"] == model_hash(mnist_model) and header["iterations"] == MAX_ITERATIONS
    assert header["input"] == INPUT and header["outputs"] == list(OUTPUTS)
    assert [g.name for g in graphs] == ["features", *(f"primary{k}" for k in range(PRIMARY_PARTS)), "routing"]
    known = {INPUT}
    for g in graphs:  # each stage reads only what earlier stages made, and its graph says the same names
        proto = onnx.load_from_string(g.graph)
        assert set(g.inputs) <= known, g.name
        assert [i.name for i in proto.graph.input] == list(g.inputs)
        assert [o.name for o in proto.graph.output] == list(g.outputs)
        weights = [i for i in proto.graph.initializer if len(i.dims) >= 2]
        assert all(i.data_type == onnx.TensorProto.FLOAT16 for i in weights), g.name
        known |= set(g.outputs)
    assert set(OUTPUTS) <= known


@pytest.mark.parametrize("damage", ["foreign", "short", "header", "cut"])
def test_a_damaged_stages_file_is_refused_with_a_reason(mnist_model, damage):
    good = onnx_model_path(mnist_model).read_bytes()
    bad = {
        "foreign": b"not a stages file at all",
        "short": MAGIC + b"\x01",
        "header": MAGIC + (5).to_bytes(4, "little") + b"{oops",
        "cut": good[: len(good) // 2],
    }[damage]
    with pytest.raises(ValueError):
        unpack(bad)


def test_k_iterations_are_the_first_k_of_five(mnist_model, mnist_test):
    """Why one 5-iteration graph serves 1..5: iteration k does not depend on how many follow, to the bit."""
    x = mnist_test.images[:20].float().div(255).unsqueeze(1)
    with torch.no_grad():
        five = mnist_model(x, iterations=MAX_ITERATIONS, record=True, reconstruct=False).routing
        for k in range(1, MAX_ITERATIONS):
            run = mnist_model(x, iterations=k, record=True, reconstruct=False).routing
            for name in ("lengths", "coupling", "poses", "logits"):
                assert torch.equal(getattr(run, name), getattr(five, name)[:k]), (k, name)


def test_cache_is_reused_and_rebuilt_for_new_weights(mnist_model, monkeypatch, tmp_path):
    monkeypatch.setenv(export_onnx.CACHE_ENV, str(tmp_path))
    exports = []
    real = export_onnx.export_bytes
    monkeypatch.setattr(export_onnx, "export_bytes", lambda *a, **k: exports.append(1) or real(*a, **k))
    first = onnx_model_path(mnist_model)
    assert first.parent == tmp_path and len(exports) == 1
    assert onnx_model_path(mnist_model) == first and len(exports) == 1
    export_onnx._verified.clear()  # as a new process would: the file is checked against its digest, not re-exported
    assert onnx_model_path(mnist_model) == first and len(exports) == 1

    changed = load_model(DEFAULT_DIR)
    with torch.no_grad():
        changed.digit.weight[0, 0, 0, 0] += 0.5
    assert model_hash(changed) != model_hash(mnist_model)
    second = onnx_model_path(changed)
    assert second != first and second.is_file() and len(exports) == 2

    with torch.no_grad():  # an in-place edit of the same object is seen too
        changed.digit.weight[0, 0, 0, 0] -= 0.25
    third = onnx_model_path(changed)
    assert third not in (first, second) and len(exports) == 3


@pytest.mark.parametrize("damage", ["truncate", "garbage", "no digest"])
def test_a_damaged_cached_file_is_rebuilt_quietly(mnist_model, monkeypatch, tmp_path, caplog, damage):
    monkeypatch.setenv(export_onnx.CACHE_ENV, str(tmp_path))
    path = onnx_model_path(mnist_model)
    good = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not an onnx model")
    else:
        path.with_suffix(".sha256").unlink()
    export_onnx._verified.clear()
    with caplog.at_level(logging.WARNING, logger=export_onnx.__name__):
        again = onnx_model_path(mnist_model)
    assert again == path and path.read_bytes() == good
    assert all(record.exc_info is None for record in caplog.records)
    _session(path)  # and onnxruntime loads it


def test_unwritable_cache_falls_back_to_a_temporary_folder(mnist_model, monkeypatch, tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv(export_onnx.CACHE_ENV, str(blocker / "cache"))
    monkeypatch.setattr(export_onnx.tempfile, "gettempdir", lambda: str(tmp_path))
    with caplog.at_level(logging.WARNING, logger=export_onnx.__name__):
        path = onnx_model_path(mnist_model)
    assert path.parent.parent == tmp_path and path.is_file()
    assert "cannot be written" in caplog.text
