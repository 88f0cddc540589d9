"""The training program under torchrun: two CPU processes (gloo) for a few steps, each on its own half of the
training images."""

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from capsviz.training import checkpoint as ckpt

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parent.parent
LIMIT_TRAIN, BATCH, WORLD = 400, 50, 2

# Runs capsviz.training.train unchanged, but keeps every image the model was trained on (its forward pass in training
# mode) in seen-rank<RANK>.npy. With --augment none the images are MNIST's pixels / 255, so the test can tell
# which training images each process saw without relying on how train.py picks them.
RECORDER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path

    import numpy as np
    import torch

    from capsviz.model.capsnet import CapsNet

    seen = []
    forward = CapsNet.forward

    def recording_forward(self, images, *args, **kwargs):
        if self.training:
            seen.append((images.detach().float().cpu() * 255).round().to(torch.uint8).reshape(-1, 28, 28).numpy())
        return forward(self, images, *args, **kwargs)

    CapsNet.forward = recording_forward

    from capsviz.training.train import main

    try:
        code = main(sys.argv[1:])
    finally:
        out = Path(os.environ["RECORD_DIR"]) / f"seen-rank{os.environ['RANK']}.npy"
        np.save(out, np.concatenate(seen) if seen else np.zeros((0, 28, 28), np.uint8))
    sys.exit(code)
    """
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_ddp_training(tmp_path, data_dir):
    from capsviz.data.mnist import load_mnist

    out, record = tmp_path / "run", tmp_path / "seen"
    record.mkdir()
    recorder = tmp_path / "record_train.py"
    recorder.write_text(RECORDER)
    cmd = [
        sys.executable, "-m", "torch.distributed.run",
        "--nproc-per-node", str(WORLD), "--master-port", str(_free_port()),
        str(recorder),
        "--data-dir", str(data_dir), "--out", str(out),
        "--epochs", "1", "--limit-train", str(LIMIT_TRAIN), "--limit-test", "100", "--batch-size", str(BATCH),
        "--augment", "none", "--threads", "1", "--no-progress", "--device", "cpu",
    ]  # fmt: skip
    env = {**os.environ, "RECORD_DIR": str(record), "PYTHONPATH": str(REPO_ROOT)}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=REPO_ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert r.stdout.count("epoch 1: test accuracy") == 1  # only rank 0 reports and writes
    rows = [json.loads(line) for line in (out / ckpt.METRICS).read_text().splitlines()]
    assert len(rows) == 1
    card = ckpt.read_card(out)
    assert card["training"]["hardware"]["processes"] == WORLD
    ckpt.load_model(out)
    assert sorted(p.name for p in out.iterdir()) == sorted([ckpt.WEIGHTS, ckpt.CARD, ckpt.TRAIN_STATE, ckpt.METRICS])

    # Which training images each process trained on: match the recorded pixels to MNIST's first 400.
    train = load_mnist(train=True, data_dir=data_dir).images[:LIMIT_TRAIN].numpy()
    index = {img.tobytes(): i for i, img in enumerate(train)}
    assert len(index) == LIMIT_TRAIN  # no two of them alike, so the pixels name the image
    shards = []
    for rank in range(WORLD):
        seen = np.load(record / f"seen-rank{rank}.npy")
        assert len(seen) == LIMIT_TRAIN // WORLD, rank  # 400 images / 2 processes: 4 steps of 50 each
        ids = [index.get(img.tobytes(), -1) for img in seen]
        assert -1 not in ids, f"rank {rank} trained on an image outside the first {LIMIT_TRAIN}"
        assert len(set(ids)) == len(ids), f"rank {rank} saw an image twice in one epoch"
        shards.append(set(ids))
    assert not shards[0] & shards[1], f"both processes trained on {sorted(shards[0] & shards[1])[:10]}"
    assert shards[0] | shards[1] == set(range(LIMIT_TRAIN))  # together: every training image, once
