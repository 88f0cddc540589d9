"""The training program under torchrun: two CPU processes (gloo) for a few steps."""

import json
import subprocess
import sys

import pytest

from capsviz import checkpoint as ckpt

pytestmark = pytest.mark.slow


def test_two_process_ddp_training(tmp_path, data_dir):
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-port",
        "29533",
        "-m",
        "capsviz.train",
        "--data-dir",
        str(data_dir),
        "--out",
        str(tmp_path),
        "--epochs",
        "1",
        "--limit-train",
        "400",
        "--limit-test",
        "100",
        "--batch-size",
        "50",
        "--threads",
        "1",
        "--no-progress",
        "--device",
        "cpu",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert r.stdout.count("epoch 1: test accuracy") == 1  # only rank 0 reports and writes
    rows = [json.loads(line) for line in (tmp_path / ckpt.METRICS).read_text().splitlines()]
    assert len(rows) == 1
    card = ckpt.read_card(tmp_path)
    assert card["training"]["hardware"]["processes"] == 2
    ckpt.load_model(tmp_path)
    # 400 images / 2 processes / 50 per step: each process took 4 steps of distinct images.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [ckpt.WEIGHTS, ckpt.CARD, ckpt.TRAIN_STATE, ckpt.METRICS]
    )
