import os
from pathlib import Path

import pytest
import torch

from capsviz.data.mnist import ENV_VAR, has_mnist, resolve_data_dir

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

# The README's test command may give a relative data folder; tests that start subprocesses elsewhere need it whole.
if os.environ.get(ENV_VAR):
    os.environ[ENV_VAR] = str(Path(os.environ[ENV_VAR]).expanduser().resolve())


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The MNIST folder the data setting points at; CI points it at ../shared/data."""
    root = resolve_data_dir()
    if not has_mnist(root):
        pytest.fail(f"MNIST not found under {root}: set CAPSVIZ_DATA_DIR to the folder holding MNIST/raw/")
    return root


@pytest.fixture(scope="session")
def mnist_test(data_dir):
    """MNIST's 10,000 test digits: images (N, 28, 28) uint8, labels (N,)."""
    from capsviz.data.mnist import load_mnist

    return load_mnist(train=False, data_dir=data_dir)


# --- the drawing canvas in AppTest (capsviz.app.canvas) ------------------------------------------------------


def canvas_element(at):
    """The drawing canvas component's element in an AppTest run (a page shows one canvas)."""
    from capsviz.app import canvas

    found = [e for e in at.get("bidi_component") if e.proto.component_name == canvas.COMPONENT_NAME]
    assert len(found) == 1, f"{len(found)} drawing canvases on the page"
    return found[0]


def canvas_data(at) -> dict:
    """What Python sent the canvas component on the last run (its JSON data)."""
    import json

    return json.loads(canvas_element(at).proto.json)


def send_drawing(at, payload):
    """Rerun as the page does on pen-up: the canvas's state "drawing" carries ``payload`` (a dict as
    capsviz.data.strokes.to_payload makes, or anything hostile: NaN goes through as JSON's NaN). Returns ``at``."""
    from capsviz.app.timing import send_drawing as send

    return send(at, payload)


def stroke_payload(digit: int = 4, style: int = 0, width: float = 18) -> dict:
    """A scripted drawn digit (capsviz.testsets.drawn_digits) as the canvas's payload."""
    from capsviz.data.strokes import to_payload
    from capsviz.testsets.drawn_digits import drawing_for

    return to_payload(drawing_for(digit, style=style, width=width).as_strokes())
