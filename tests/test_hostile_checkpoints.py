"""Hostile and broken checkpoints, pointed at by CAPSVIZ_CHECKPOINT: each gets a clear message from the
loader and the app, never a traceback, and none is read in full before it is refused."""

from __future__ import annotations

import json
import os
import struct
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from streamlit.testing.v1 import AppTest

from capsviz.model.capsnet import CapsNet, CapsNetConfig
from capsviz.training.checkpoint import (
    CARD,
    WEIGHTS,
    CheckpointError,
    card_mismatch,
    load_model,
    save_weights,
    write_card,
)

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")


def _small_model() -> CapsNet:
    torch.manual_seed(0)
    return CapsNet()


def _raw_header(path: Path, header: dict, data: bytes = b"") -> None:
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data)


def huge_shapes(folder: Path) -> None:
    """A header that claims a 10^6 x 10^6 tensor (4 TB) over 16 bytes of data."""
    _raw_header(folder / WEIGHTS, {"conv1.weight": {"dtype": "F32", "shape": [10**6, 10**6], "data_offsets": [0, 16]}},
                b"\0" * 16)  # fmt: skip


def huge_config(folder: Path) -> None:
    """Metadata describing a model with a billion channels, over ordinary tensors."""
    state = {k: v.float() for k, v in _small_model().state_dict().items()}
    config = json.dumps(CapsNetConfig(conv1_channels=10**9).to_dict())
    save_file(state, str(folder / WEIGHTS), metadata={"config": config})


def integer_weights(folder: Path) -> None:
    state = {k: torch.zeros(v.shape, dtype=torch.int32) for k, v in _small_model().state_dict().items()}
    save_file(state, str(folder / WEIGHTS), metadata={"config": json.dumps(CapsNetConfig().to_dict())})


def nan_weights(folder: Path) -> None:
    model = _small_model()
    with torch.no_grad():
        model.decoder.net[0].weight[0, 0] = float("nan")
        model.conv1.bias[3] = float("inf")
    save_weights(model, folder)


def gigantic_file(folder: Path) -> None:
    """A sparse 3 GiB file: refused by its size before a byte of it is read."""
    with open(folder / WEIGHTS, "wb") as f:
        f.truncate(3 * 2**30)


def unreadable(folder: Path) -> None:
    save_weights(_small_model(), folder)
    os.chmod(folder / WEIGHTS, 0)


BROKEN = {
    "huge shapes": (huge_shapes, "corrupt or truncated"),
    "huge config": (huge_config, "does not fit the CapsNet"),
    "integer weights": (integer_weights, "non-float weights"),
    "NaN and inf weights": (nan_weights, "NaN or inf"),
    "3 GiB file": (gigantic_file, "GiB"),
    "no read permission": (unreadable, "permission denied"),
}


@pytest.fixture
def as_unprivileged(monkeypatch):
    """Root reads anything: make os.access answer as an ordinary user would for files mode 000."""
    real = os.access

    def access(path, mode, *a, **k):
        if Path(path).exists() and Path(path).stat().st_mode & 0o777 == 0:
            return False
        return real(path, mode, *a, **k)

    monkeypatch.setattr(os, "access", access)


@pytest.mark.parametrize("name", list(BROKEN))
def test_a_broken_checkpoint_is_refused_with_a_message(name, tmp_path, as_unprivileged):
    make, words = BROKEN[name]
    make(tmp_path)
    t0 = time.perf_counter()
    with pytest.raises(CheckpointError) as err:
        load_model(tmp_path)
    assert words in str(err.value) and str(tmp_path) in str(err.value)
    assert time.perf_counter() - t0 < 30  # refused from the header or the size, not after reading it all


@pytest.mark.parametrize("name", ["huge shapes", "NaN and inf weights", "no read permission"])
def test_the_app_shows_the_message_and_no_traceback(name, tmp_path, monkeypatch, as_unprivileged):
    make, words = BROKEN[name]
    make(tmp_path)
    monkeypatch.setenv("CAPSVIZ_CHECKPOINT", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.error and words in at.error[0].value


def test_a_card_that_disagrees_with_its_weights_is_flagged(tmp_path, monkeypatch):
    model = _small_model()
    save_weights(model, tmp_path)
    card = {"architecture": CapsNetConfig(primary_types=16).to_dict(), "parameters": 123, "test_accuracy": 99.9}
    write_card(tmp_path, card)
    problem = card_mismatch(card, model)
    assert "architecture" in problem and "123" in problem
    assert card_mismatch({"architecture": model.cfg.to_dict(), "parameters": 8215568}, model) == ""
    monkeypatch.setenv("CAPSVIZ_CHECKPOINT", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert any("does not match" in w.value for w in at.sidebar.warning)
    assert "99.9" not in " ".join(m.value for m in at.sidebar.markdown)  # its numbers are not shown as the model's
    assert (tmp_path / CARD).is_file()
