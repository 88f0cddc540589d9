"""The live reading: the canvas runs the CapsNet itself while the pen moves (capsviz/app/components/inpage).

    data = live.canvas_data(model, iterations)     # the canvas component's "live" data: URLs, or why not
    data = live.server_answer(drawing, trace)      # the server's reading of the drawing it holds

One way the page gets what it runs: Streamlit's static file serving (``server.enableStaticServing``, set in
.streamlit/config.toml). At the first run of a server process ``publish`` copies into ``<the main script's
folder>/static/capsviz/`` (git-ignored, made here, so a clean checkout and an installed copy whose
streamlit_app.py sits elsewhere both work) the page's modules (inpage/*.js), the vendored onnxruntime-web
(vendor/onnxruntime-web/) and the exported graph (``capsviz.export.onnx.onnx_model_path``, models/, by weights
hash; older graphs are removed). The page loads them from ``/app/static/capsviz/...``; the worker keeps the graph
and the WASM runtime in the browser's Cache API under the model hash, so a browser downloads them once: not on
a rerun, a new drawing or a second visit. Static files are gzipped by Streamlit (the WASM runtime 14.9 -> 3.9 MB)
and fetched off the script thread; sent as component data instead, the same bytes would travel uncompressed in
the rerun's own message (the measurement: docs/app.md, "Serving its files").

The JS files' URLs carry ``?v=<their content hash>``: the static route sends no Cache-Control, and a browser
must not keep an old module after an update. When static serving is off (a server started without the config)
or the files cannot be written, the canvas is told why and says so once; the server's panels work as before.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from capsviz.app.component_files import COMPONENTS
from capsviz.export.onnx import SUFFIX, model_hash, onnx_model_path

log = logging.getLogger(__name__)

INPAGE_FILES = ("model_client.js", "model_worker.js", "preprocess.js")
VENDOR = "vendor/onnxruntime-web"
VENDOR_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
FOLDER = "capsviz"  # under static/: everything this module writes, and only that (git-ignored)
STATIC_URL = "app/static"  # Streamlit's route for <main script folder>/static/
MODELS_KEPT = 2
OFF_CONFIG = "static file serving is off on this server (server.enableStaticServing)"

_lock = threading.Lock()
_published: dict[tuple[str, str], Published | str] = {}


@dataclass(frozen=True)
class Published:
    """The URLs (root-relative) of what the page loads, and the model's hash."""

    client: str
    worker: str
    preprocess: str
    vendor: str
    model: str
    hash: str

    def as_data(self, iterations: int) -> dict:
        return {
            "client": self.client,
            "worker": self.worker,
            "preprocess": self.preprocess,
            "vendor": self.vendor,
            "model": {"hash": self.hash, "url": self.model},
            "iterations": int(iterations),
        }


def main_script_folder() -> Path | None:
    """The folder of the script `streamlit run` was given (Streamlit serves its static/ subfolder)."""
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    ctx = get_script_run_ctx()
    path = getattr(ctx, "main_script_path", None) if ctx is not None else None
    return Path(path).resolve().parent if path else None


def url_prefix() -> str:
    """Root-relative URL of the app's static route, with the server's base path."""
    base = str(st.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}/{STATIC_URL}" if base else f"/{STATIC_URL}"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _copy(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` atomically, unless ``target`` already has the same bytes."""
    if target.exists() and target.stat().st_size == source.stat().st_size and _digest(target) == _digest(source):
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def publish(model, static_dir: Path, prefix: str = f"/{STATIC_URL}") -> Published:
    """Copy the page's modules, the WASM runtime and ``model``'s graph into ``static_dir/capsviz/`` (files that
    are already there and equal are left alone) and return their URLs under ``prefix``. Raises OSError."""
    root = static_dir / FOLDER
    versions: dict[str, str] = {}
    for name in INPAGE_FILES:
        source = COMPONENTS / "inpage" / name
        _copy(source, root / "inpage" / name)
        versions[name] = _digest(source)[:12]
    for name in VENDOR_FILES:
        _copy(COMPONENTS / VENDOR / name, root / VENDOR / name)
    key = model_hash(model)
    graph = f"capsnet-trace-{key}{SUFFIX}"
    _copy(onnx_model_path(model), root / "models" / graph)
    old = sorted(
        (p for p in (root / "models").glob("capsnet-trace-*") if p.name != graph),  # older formats too
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for stale in old[MODELS_KEPT - 1 :]:
        stale.unlink(missing_ok=True)
    base = f"{prefix}/{FOLDER}"
    return Published(
        client=f"{base}/inpage/model_client.js?v={versions['model_client.js']}",
        worker=f"{base}/inpage/model_worker.js?v={versions['model_worker.js']}",
        preprocess=f"{base}/inpage/preprocess.js?v={versions['preprocess.js']}",
        vendor=f"{base}/{VENDOR}/",
        model=f"{base}/models/{graph}",
        hash=key,
    )


def published(model) -> Published | str:
    """``publish`` for this server, once per process and model: the URLs, or why the page cannot have them."""
    if not st.get_option("server.enableStaticServing"):
        return OFF_CONFIG
    folder = main_script_folder()
    if folder is None:
        return "the app's folder is unknown"
    memo_key = (str(folder), model_hash(model))
    with _lock:
        if memo_key not in _published:
            try:
                _published[memo_key] = publish(model, folder / "static", url_prefix())
            except (OSError, RuntimeError, ValueError) as exc:  # a read-only folder, a failed export
                log.warning("the live reading's files could not be published under %s: %s", folder / "static", exc)
                _published[memo_key] = f"its files could not be written beside the app ({exc.__class__.__name__})"
        return _published[memo_key]


def canvas_data(model, iterations: int) -> dict:
    """The canvas component's ``live`` data: URLs and the routing iterations, or {"off": reason}."""
    got = published(model)
    if isinstance(got, str):
        return {"off": got}
    return got.as_data(iterations)


def fingerprint(payload: Mapping) -> str:
    """A short identity of a stroke payload that the page computes the same way (canvas.js ``fingerprint``):
    strokes, points, and the sums of x, y, widths and pens, as integers."""
    strokes = payload.get("strokes") or []
    points = sx = sy = sw = sp = 0
    for s in strokes:
        p = s["p"]
        points += len(p) // 3
        sx += sum(int(v) for v in p[0::3])
        sy += sum(int(v) for v in p[1::3])
        sw += int(round(float(s["w"])))
        sp += int(s.get("pen", 0))
    return f"{len(strokes)}:{points}:{sx}:{sy}:{sw}:{sp}"


def server_answer(payload: Mapping, prediction: int | None, lengths=None) -> dict:
    """The server's reading of the drawing ``payload`` for the page (None: the server read no digit)."""
    answer: dict = {"fp": fingerprint(payload), "prediction": None if prediction is None else int(prediction)}
    if lengths is not None:
        answer["lengths"] = [round(float(v), 4) for v in lengths]
    return answer
