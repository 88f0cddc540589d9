"""The drawings the sessions submit: scripted digits (capsviz.testsets.drawn_digits) as the canvas sends them, each
with the answer the app must give (computed here, in worker processes)."""

from __future__ import annotations

import base64
import io
import json
import math
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Submission:
    """One drawing as the canvas sends it, and what the app must answer for it."""

    index: int
    digit: int
    state_json: str  # the canvas component's state: {"drawing": {"raw", "data"}, "backgroundFit"}
    image: bytes  # the 28x28 input the model sees, as the pose editor gets it (export.pose_payload.image_bytes)
    expected: int  # the app's prediction for it (trace_image at the app's routing iterations)


def _fabric_json(drawing) -> dict[str, Any]:
    """A fabric.js-like JSON of the strokes (what the canvas's "raw" holds), so the state is about its real size."""
    objects = []
    for stroke in drawing.strokes:
        path = [["M", *stroke[0]]] + [["L", x, y] for x, y in stroke[1:]]
        objects.append({"type": "path", "stroke": "#FFFFFF", "strokeWidth": drawing.width, "fill": None, "path": path})
    return {"version": "4.4.0", "objects": objects, "background": "#000000"}


def _png_data_url(rgba) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


_WORKER: dict[str, Any] = {}


def _worker_model(model_path: str) -> tuple[Any, int]:
    """The model and the app's routing iterations (the card's, else the model's), loaded once per worker."""
    if "model" not in _WORKER:
        import torch

        from capsviz.training.checkpoint import load_model, read_card

        torch.set_num_threads(1)
        model = load_model(model_path)
        card = read_card(model_path)
        _WORKER["model"] = model
        _WORKER["iterations"] = int(card.get("routing_iterations") or model.cfg.routing_iterations)
    return _WORKER["model"], _WORKER["iterations"]


def make_submission(index: int, seed: int, model_path: str) -> Submission:
    """Drawing ``index`` of the seed's set: digit ``index % 10``, randomly varied, as the canvas would send it."""
    import numpy as np

    from capsviz.data.preprocess import to_mnist
    from capsviz.export.pose_payload import image_bytes
    from capsviz.inspect.trace import trace_image
    from capsviz.testsets.drawn_digits import random_drawing, render

    drawing = random_drawing(index % 10, np.random.default_rng([seed, index]))
    rgba = render(drawing)
    state = {"drawing": {"raw": _fabric_json(drawing), "data": _png_data_url(rgba)}, "backgroundFit": None}
    image = to_mnist(rgba).image
    model, iterations = _worker_model(model_path)
    expected = int(trace_image(model, image, iterations=iterations).prediction)
    return Submission(index, drawing.digit, json.dumps(state), image_bytes(image), expected)


def _submission_chunk(args: tuple[range, int, str]) -> list[Submission]:
    indices, seed, model_path = args
    return [make_submission(i, seed, model_path) for i in indices]


def checkpoint_path() -> str:
    """The checkpoint the served app uses (capsviz.app.cached.checkpoint_path)."""
    from capsviz.training.checkpoint import DEFAULT_DIR

    return os.environ.get("CAPSVIZ_CHECKPOINT") or str(DEFAULT_DIR)


def make_submissions(n: int, seed: int = 0, workers: int = 2) -> list[Submission]:
    """``n`` distinct drawings with their expected answers, made in ``workers`` processes (about 50 ms each)."""
    model_path = checkpoint_path()
    chunk = max(1, math.ceil(n / (4 * workers)))
    jobs = [(range(a, min(a + chunk, n)), seed, model_path) for a in range(0, n, chunk)]
    if workers <= 1 or n < 20:
        subs = [s for job in jobs for s in _submission_chunk(job)]
    else:
        with ProcessPoolExecutor(workers) as pool:
            subs = [s for part in pool.map(_submission_chunk, jobs) for s in part]
    if len({s.state_json for s in subs}) != len(subs):
        raise RuntimeError("two drawings came out the same: pick another seed")
    return subs
