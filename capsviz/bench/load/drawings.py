"""The drawings the sessions submit: scripted digits (capsviz.testsets.drawn_digits) as the canvas sends them (its
state "drawing": the stroke payload, capsviz.data.strokes.to_payload), each with the answer the app must give:
the strokes inked as the app inks them (render_rgba, then to_mnist) and traced (computed here, in worker processes)."""

from __future__ import annotations

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
    state_json: str  # the canvas component's state: {"drawing": the stroke payload (capsviz.data.strokes)}
    image: bytes  # the 28x28 input the model sees, as the pose editor gets it (export.pose_payload.image_bytes)
    expected: int  # the app's prediction for it (trace_image at the app's routing iterations)


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
    from capsviz.data.strokes import parse_drawing, render_rgba, to_payload
    from capsviz.export.pose_payload import image_bytes
    from capsviz.inspect.trace import trace_image
    from capsviz.testsets.drawn_digits import random_drawing

    drawing = random_drawing(index % 10, np.random.default_rng([seed, index]))
    payload = to_payload(drawing.as_strokes())
    state = {"drawing": payload}  # capsviz.app.canvas.STATE
    # What the server does with it: parse_drawing (the state callback), render_rgba (cached.rendered), to_mnist.
    image = to_mnist(render_rgba(parse_drawing(payload)[0])).image
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
