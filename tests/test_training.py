"""Training on a few hundred real MNIST images: the loss falls, resume is exact, writes are atomic."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from capsviz import checkpoint as ckpt
from capsviz.train import main as train_main

pytestmark = pytest.mark.slow
SMALL = ["--limit-train", "300", "--limit-test", "200", "--batch-size", "50", "--no-progress", "--augment", "paper"]


def _train(out, data_dir, *extra):
    return train_main(["--data-dir", str(data_dir), "--out", str(out), *SMALL, *extra])


def _start_long_run(out, data_dir, **popen):
    """A 50-epoch run in a child process, for tests that interrupt it."""
    cmd = [
        sys.executable,
        "-m",
        "capsviz.train",
        "--data-dir",
        str(data_dir),
        "--out",
        str(out),
        *SMALL,
        "--epochs",
        "50",
    ]
    return subprocess.Popen(cmd, **popen)


def _history(out):
    return [json.loads(line) for line in (out / ckpt.METRICS).read_text().splitlines()]


def test_tiny_training_lowers_the_loss(tmp_path, data_dir):
    assert _train(tmp_path, data_dir, "--epochs", "3", "--lr", "2e-3") == 0
    hist = _history(tmp_path)
    assert [h["epoch"] for h in hist] == [1, 2, 3]
    assert hist[-1]["train_loss"] < 0.75 * hist[0]["train_loss"]
    card = ckpt.read_card(tmp_path)
    assert card["epochs"] == 3 and len(card["per_class_accuracy"]) == 10
    assert set(card["accuracy_by_routing_iterations"]) == {"1", "2", "3", "4", "5"}
    assert card["data"]["sha256"]["t10k-images-idx3-ubyte"].startswith("0fa7898d")
    assert card["training"]["precision"] == "bf16" and card["training"]["wall_time_s"] > 0
    ckpt.load_model(tmp_path)  # the weights file the app would load is valid


def test_resume_continues_from_the_right_epoch_with_identical_state(tmp_path, data_dir):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert _train(straight, data_dir, "--epochs", "2") == 0
    assert _train(resumed, data_dir, "--epochs", "1") == 0
    assert _history(resumed)[-1]["epoch"] == 1
    assert _train(resumed, data_dir, "--epochs", "2", "--resume") == 0
    assert [h["epoch"] for h in _history(resumed)] == [1, 2]
    a, b = load_file(straight / ckpt.WEIGHTS), load_file(resumed / ckpt.WEIGHTS)
    assert all(torch.equal(a[k], b[k]) for k in a)
    sa, sb = load_file(straight / ckpt.TRAIN_STATE), load_file(resumed / ckpt.TRAIN_STATE)
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_interrupt_mid_epoch_then_resume_is_exact(tmp_path, data_dir):
    """--max-steps stops like Ctrl-C (state saved mid-epoch); resume carries on from that batch."""
    straight, cut = tmp_path / "straight", tmp_path / "cut"
    assert _train(straight, data_dir, "--epochs", "1") == 0
    assert _train(cut, data_dir, "--epochs", "1", "--max-steps", "2") == 0
    assert not (cut / ckpt.WEIGHTS).exists()  # no epoch finished: nothing for the app yet
    assert _train(cut, data_dir, "--epochs", "1", "--resume") == 0
    a, b = load_file(straight / ckpt.WEIGHTS), load_file(cut / ckpt.WEIGHTS)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_sigint_saves_state_and_exits_cleanly(tmp_path, data_dir):
    proc = _start_long_run(tmp_path, data_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while not (tmp_path / ckpt.WEIGHTS).exists() and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    assert "Traceback" not in out and "Continue with --resume" in out
    load_file(tmp_path / ckpt.TRAIN_STATE)


def test_a_half_written_checkpoint_never_replaces_a_good_one(tmp_path, monkeypatch):
    from capsviz.model import CapsNet

    model = CapsNet()
    ckpt.save_weights(model, tmp_path)
    good = (tmp_path / ckpt.WEIGHTS).read_bytes()

    def dies_halfway(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"\x00" * 1000)  # the process "dies" after writing part of the file
        raise KeyboardInterrupt

    monkeypatch.setattr(ckpt, "save_file", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_weights(CapsNet(), tmp_path)
    assert (tmp_path / ckpt.WEIGHTS).read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == [ckpt.WEIGHTS]  # no temp file left behind
    ckpt.load_model(tmp_path)


def test_sigkill_during_training_leaves_the_previous_checkpoint_loadable(tmp_path, data_dir):
    proc = _start_long_run(tmp_path, data_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (tmp_path / ckpt.TRAIN_STATE).exists() and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(1.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    ckpt.load_model(tmp_path)
    assert _train(tmp_path, data_dir, "--epochs", "2", "--resume") == 0  # resumes from what survived


def test_redrawn_twins_are_swapped_in_and_recorded(tmp_path, data_dir, capsys):
    import numpy as np

    from capsviz.data import load_mnist

    train = load_mnist(train=True, data_dir=data_dir)
    bank = tmp_path / "bank.npz"
    np.savez(bank, images=255 - train.images.numpy(), labels=train.labels.numpy())  # any twin will do here
    assert _train(tmp_path / "run", data_dir, "--epochs", "1", "--redrawn", str(bank), "--redrawn-p", "0.3") == 0
    info = json.loads((tmp_path / "run" / ckpt.CARD).read_text())["training"]
    assert info["redrawn"] == str(bank) and info["redrawn_p"] == 0.3

    bad = tmp_path / "bad.npz"
    np.savez(bad, images=train.images.numpy()[:10], labels=train.labels.numpy()[:10])
    for path in (bad, tmp_path / "missing.npz"):
        capsys.readouterr()
        assert _train(tmp_path / "run2", data_dir, "--redrawn", str(path)) == 2
        err = capsys.readouterr().err
        assert "--make-bank" in err and "Traceback" not in err
