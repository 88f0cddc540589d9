"""The CapsNet's trace as ONNX graphs, for the page to run itself (onnxruntime-web, in a Web Worker).

    path = onnx_model_path(model)     # Path to the cached stages file, built on first use
    key = model_hash(model)           # 16 hex digits: the page caches the file under this key

What the graphs compute: ``CapsNet.forward`` itself (Conv1 -> PrimaryCaps -> DigitCaps predictions ->
``capsviz.model.routing.dynamic_routing(..., record=True)``), traced from the model's own modules, so training,
inspection (``capsviz.inspect.trace.trace_image``) and the page run the one algorithm; the decoder is left out
(the page has its own, ``capsviz.export.decoder``). The trace is cut into stages that the page runs one after
another and can abandon between two (``capsviz.export.stages``: features, PrimaryCaps' convolution in four
slices of its channels, routing); run in turn, they compute what ``CapsNet.forward`` does (the tests below hold
them to ``trace_image``).

    input   image      (1, 1, S, S) float32 in [0, 1]      S = cfg.image_size (28; 36 for MultiMNIST)
    outputs lengths    (5, 10)      float32  |v_j| after routing iteration 1..5
            couplings  (5, I, 10)   float32  c_ij of iteration 1..5, I = cfg.num_primary (1152; 3200)
            poses      (5, 10, 16)  float32  v_j after iteration 1..5
            primary    (I, 8)       float32  the squashed primary capsules (their lengths: the routing panel)

The routing stage records all ``MAX_ITERATIONS`` = 5 iterations, and a k-iteration trace is its first k rows: in
``dynamic_routing`` iteration k's values are computed before, and independently of, how many iterations follow
(only which iterations let gradients through depends on the count). This holds exactly: the first k rows of a
5-iteration run equal a k-iteration run to the bit (tests/test_onnx_export.py checks it). Measured with
onnxruntime 1.32 (one thread, 2-core EPYC): 13.3 ms for a 3-iteration graph and 13.6 ms for the 5-iteration
one; the convolutions dominate and routing is cheap. Five graphs, one per count, would each carry the full
weights: five downloads for ~0.3 ms. One routing stage it is.

Weights are stored as float16 (each weight initializer with a Cast to float32 in front of it; everything is
computed in float32): 13.8 MB instead of 27.4 MB for the MNIST model (19.3 vs 38.1 MB for MultiMNIST). On 200
MNIST test digits and 1..5 iterations it predicts the same class as ``trace_image`` on all 200, with lengths
within 8e-4, couplings within 2e-4, poses within 3e-4, primary capsules within 1.2e-3 (``precision="fp32"``
agrees to 6e-7); the two-digit model, on 100 MultiMNIST test pairs, gives the same top two on all, lengths
within 7e-4, couplings within 6e-4 (fp32: 1.2e-6). The smallest top-2 length gap among those digits is 0.04,
fifty times the deviation.

Exporter: ``torch.onnx.export(..., dynamo=False, opset_version=17)``, the TorchScript-based path, once per stage
(a second in all): self-contained graphs; it inlines the custom autograd Function ``_Squash`` without a symbolic.
The dynamo path (torch 2.14) also handles ``_Squash`` (same numbers) but needs onnxscript and onnx-ir besides
``onnx``, takes ~10 s, cannot convert its graph down to opset 17 (it stays at 18 with a version-converter
traceback in the log) and writes the weights to a separate ``.data`` file. Only the legacy path's two known
deprecation warnings are silenced. Either path imports the ``onnx`` package, so ``onnx`` is a runtime dependency;
onnxruntime is not (tests only).

Cache: ``$CAPSVIZ_CACHE_DIR``, else ``$XDG_CACHE_HOME/capsviz``, else ``~/.cache/capsviz`` (a temporary folder
when none of those can be written), file ``capsnet-trace-<hash>.stages`` with ``.sha256`` beside it. The key hashes
the weights (every tensor's name, shape and float32 bytes), the config, the graph format and the precision, so
new weights get a new file and the same weights loaded twice share one. Writes are atomic (a temporary file
renamed into place); a cached file whose bytes do not match its ``.sha256`` (truncated, edited, half-copied) is
logged and rebuilt.

Floor 3: torch, onnx and ``capsviz.model`` only; the app serves the file (a checkpoint path is loaded, and
validated, by ``capsviz.training.checkpoint.load_model`` first).
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import logging
import os
import tempfile
import threading
import warnings
import weakref
from pathlib import Path
from typing import Literal

import torch

from capsviz.export.stages import StageGraph, pack, trace_stages
from capsviz.model.capsnet import CapsNet
from capsviz.model.routing import MAX_ITERATIONS

log = logging.getLogger(__name__)

Precision = Literal["fp16", "fp32"]
OPSET = 17
GRAPH_FORMAT = "capsviz-trace-2"  # bump when the stages, their inputs, outputs or contents change
INPUT = "image"
SUFFIX = ".stages"  # not one ONNX graph: capsviz.export.stages' file of them
OUTPUTS = ("lengths", "couplings", "poses", "primary")
CACHE_ENV = "CAPSVIZ_CACHE_DIR"
# The legacy exporter's own notices (torch 2.9+), the only warnings silenced here.
_KNOWN_WARNINGS = (
    r"You are using the legacy TorchScript-based ONNX export",
    r"The feature will be removed\. Please remove usage of this function",
)

_lock = threading.Lock()
_hashes: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> (versions, precision, hash)
_verified: dict[Path, tuple[int, int]] = {}  # cached file -> (size, mtime_ns) already checked in this process


def cache_dir() -> Path:
    """Where built graphs are kept (not created here)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "capsviz"


def _versions(model: CapsNet) -> tuple[int, ...]:
    """In-place writes to a tensor bump its version: a changed model is hashed afresh."""
    return tuple(t._version for t in model.state_dict().values())


def model_hash(model: CapsNet, precision: Precision = "fp16") -> str:
    """16 hex digits of the SHA-256 of the weights, config, graph format and precision (memoised per model
    object until one of its tensors is written in place)."""
    versions = _versions(model)
    memo = _hashes.get(model)
    if memo is not None and memo[:2] == (versions, precision):
        return memo[2]
    digest = hashlib.sha256()
    head = {"format": GRAPH_FORMAT, "opset": OPSET, "precision": precision, "config": model.cfg.to_dict()}
    digest.update(json.dumps(head, sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        data = tensor.detach().to("cpu", torch.float32).contiguous()
        digest.update(f"\n{name}{tuple(data.shape)}\n".encode())
        digest.update(data.numpy().tobytes())
    key = digest.hexdigest()[:16]
    _hashes[model] = (versions, precision, key)
    return key


def export_bytes(model: CapsNet, precision: Precision = "fp16") -> bytes:
    """The stages file (see the module docstring and ``capsviz.export.stages``), traced from a float32 CPU copy
    of ``model``."""
    key = model_hash(model, precision)  # memoised on ``model``; the copy below would hash the weights again
    copied = copy.deepcopy(model).float().cpu().eval()
    graphs = []
    for spec, module, example in trace_stages(copied, MAX_ITERATIONS, INPUT, OUTPUTS):
        buffer = io.BytesIO()
        with torch.no_grad(), warnings.catch_warnings():
            for message in _KNOWN_WARNINGS:
                warnings.filterwarnings("ignore", message=message, category=DeprecationWarning)
            torch.onnx.export(
                module,
                example,
                buffer,  # type: ignore[arg-type]  # typed as a path; the TorchScript exporter takes a file object
                dynamo=False,
                opset_version=OPSET,
                input_names=list(spec.inputs),
                output_names=list(spec.outputs),
            )
        graph = _finish(buffer.getvalue(), precision, {"capsviz_stage": spec.name})
        graphs.append(StageGraph(spec.name, spec.inputs, spec.outputs, graph))
    header = {
        "format": GRAPH_FORMAT,
        "hash": key,
        "precision": precision,
        "iterations": MAX_ITERATIONS,
        "config": model.cfg.to_dict(),
        "input": INPUT,
        "outputs": list(OUTPUTS),
    }
    return pack(header, graphs)


def _finish(raw: bytes, precision: Precision, meta: dict[str, str]) -> bytes:
    """Store the weights as float16 behind Casts (for "fp16") and label the graph."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    proto = onnx.load_from_string(raw)
    graph = proto.graph
    if precision == "fp16":
        casts, initializers = [], []
        for init in graph.initializer:
            if init.data_type == TensorProto.FLOAT and len(init.dims) >= 2:  # weights; biases stay float32
                half = numpy_helper.to_array(init).astype("float16")
                initializers.append(numpy_helper.from_array(half, f"{init.name}__fp16"))
                casts.append(helper.make_node("Cast", [f"{init.name}__fp16"], [init.name], to=TensorProto.FLOAT))
            else:
                initializers.append(init)
        del graph.initializer[:]
        graph.initializer.extend(initializers)
        nodes = casts + list(graph.node)
        del graph.node[:]
        graph.node.extend(nodes)
    helper.set_model_props(proto, {**meta, "capsviz_format": GRAPH_FORMAT, "capsviz_precision": precision})
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _is_intact(path: Path) -> bool:
    """The file matches the digest written beside it (checked once per process while unchanged)."""
    try:
        stat = path.stat()
        expected = path.with_suffix(".sha256").read_text().split()[0]
    except (OSError, IndexError):
        return False
    if _verified.get(path) == (stat.st_size, stat.st_mtime_ns):
        return True
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != expected:
        log.warning("cached ONNX model %s does not match its digest (corrupt or truncated): rebuilding it", path)
        return False
    _verified[path] = (stat.st_size, stat.st_mtime_ns)
    return True


def _writable_cache() -> Path:
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK):
            return folder
    except OSError:
        pass
    fallback = Path(tempfile.gettempdir()) / f"capsviz-cache-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
    log.warning("cache folder %s cannot be written; using %s (set %s to choose one)", folder, fallback, CACHE_ENV)
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


def onnx_model_path(model: CapsNet, precision: Precision = "fp16") -> Path:
    """The cached graph for ``model``, exported (about a second) on first use and rebuilt if damaged."""
    key = model_hash(model, precision)
    with _lock:
        path = _writable_cache() / f"capsnet-trace-{key}{SUFFIX}"
        if _is_intact(path):
            return path
        data = export_bytes(model, precision)
        _atomic_write(path, data)
        _atomic_write(path.with_suffix(".sha256"), f"{hashlib.sha256(data).hexdigest()}  {path.name}\n".encode())
        stat = path.stat()
        _verified[path] = (stat.st_size, stat.st_mtime_ns)
        log.info("exported %s (%d bytes, %s weights)", path, stat.st_size, precision)
        return path
