"""Training on a few hundred real MNIST images: the loss falls, resume is exact, writes are atomic."""

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from capsviz.model import precision
from capsviz.training import checkpoint as ckpt
from capsviz.training.train import main as train_main

pytestmark = pytest.mark.slow
SMALL = ["--limit-train", "300", "--limit-test", "200", "--batch-size", "50", "--no-progress", "--augment", "paper"]
# 4 steps of 10 images per epoch: for tests about stopping, failing and resuming, not learning.
TINY = ["--limit-train", "40", "--limit-test", "20", "--batch-size", "10", "--no-progress", "--augment", "paper"]
STEPS_PER_EPOCH = 4


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
    assert str(data_dir) not in json.dumps(card) and str(tmp_path) not in json.dumps(card)  # no local paths
    assert card["training"]["precision"] == precision.resolve("auto", torch.device("cpu"))  # bf16 where native
    assert card["training"]["wall_time_s"] > 0
    ckpt.load_model(tmp_path)  # the weights file the app would load is valid


@pytest.mark.parametrize(
    ("native", "asked", "runs"), [(True, "auto", "bf16"), (False, "auto", "fp32"), (False, "bf16", "bf16")]
)
def test_auto_precision_is_bf16_only_where_it_is_native(monkeypatch, native, asked, runs):
    """On an AVX2-only CPU bf16 is emulated (a step many times slower than fp32): auto trains fp32 there;
    an explicit --precision is kept."""
    monkeypatch.setattr(precision, "native_bf16", lambda device: native)
    assert precision.resolve(asked, torch.device("cpu")) == runs


def test_an_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="precision must be one of"):
        precision.resolve("fp16", torch.device("cpu"))


def test_the_card_records_no_path_of_the_training_machine(monkeypatch):
    from capsviz.training.provenance import portable_command

    argv = ["--data-dir", "/home/me/mnist", "--out=/tmp/run", "--epochs", "3", "--init-from", "/x/ckpt", "--seed", "1"]
    assert portable_command(argv) == (
        "python -m capsviz.train --data-dir DATA_DIR --out=OUT_DIR --epochs 3 --init-from CHECKPOINT --seed 1"
    )


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
    from capsviz.model.capsnet import CapsNet

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


def test_redrawn_twins_are_swapped_in_and_recorded(tmp_path, data_dir, capsys, monkeypatch):
    import numpy as np

    from capsviz.data.mnist import load_mnist
    from capsviz.training import train

    trainset = load_mnist(train=True, data_dir=data_dir)
    bank = tmp_path / "bank.npz"
    np.savez(bank, images=255 - trainset.images.numpy(), labels=trainset.labels.numpy())  # any twin will do here
    swapped, seen = [], []

    def spy(x, twins, p, g):
        out = real_swap_in(x, twins, p, g)
        took_twin = (out == twins).flatten(1).all(1)
        assert torch.equal(took_twin, ~(out == x).flatten(1).all(1))  # each image is itself or its twin
        swapped.append(int(took_twin.sum()))
        seen.append(len(x))
        return out

    real_swap_in = train.swap_in
    monkeypatch.setattr(train, "swap_in", spy)
    assert _train(tmp_path / "run", data_dir, "--epochs", "1", "--redrawn", str(bank), "--redrawn-p", "0.3") == 0
    info = json.loads((tmp_path / "run" / ckpt.CARD).read_text())["training"]
    assert info["redrawn"] == "bank.npz" and info["redrawn_p"] == 0.3  # the name: no path from this machine
    assert seen == [50] * 6  # every batch went through the swap
    assert 50 <= sum(swapped) <= 130  # about 30% of 300 (binomial: 90 +- 8)

    bad = tmp_path / "bad.npz"
    np.savez(bad, images=trainset.images.numpy()[:10], labels=trainset.labels.numpy()[:10])
    for path in (bad, tmp_path / "missing.npz"):
        capsys.readouterr()
        assert _train(tmp_path / "run2", data_dir, "--redrawn", str(path)) == 2
        err = capsys.readouterr().err
        assert "--make-bank" in err and "Traceback" not in err


# --- interrupts as they really happen: signals at random moments, then --resume ------------------

# fp32 on one thread: an interrupted-and-resumed run must equal an uninterrupted one bit for bit.
EXACT = [*TINY, "--epochs", "2", "--precision", "fp32", "--threads", "1"]
# (signals, moment): "random" is a seeded delay after training starts; "write" waits until a
# checkpoint write is under way (slowed down by the test hook); a second signal there aborts it,
# so the next process finds that write still to do.
MOMENTS = [
    ([signal.SIGINT], "random"),
    ([signal.SIGINT, signal.SIGINT], "write"),
    ([signal.SIGTERM], "write"),
    ([signal.SIGTERM], "random"),
]


def _spawn(out, data_dir, log, *extra, pause_s=None):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if pause_s:
        env[ckpt.PAUSE_ENV] = str(pause_s)
    cmd = [
        sys.executable,
        "-m",
        "capsviz.train",
        "--data-dir",
        str(data_dir),
        "--out",
        str(out),
        *EXACT,
        *extra,
    ]
    return subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)


def _wait_until(ready, proc, timeout=120.0):
    """Poll until ready() (True) or the process has exited (False)."""
    deadline = time.time() + timeout
    while not ready():
        if proc.poll() is not None:
            return False
        assert time.time() < deadline, "the training process hung"
        time.sleep(0.01)
    return True


def _temp_files(out):
    return sorted(p.name for p in out.glob(".*.tmp"))


def _metrics_without_timing(out):
    return [{k: v for k, v in row.items() if k not in ("images_per_s", "wall_time_s")} for row in _history(out)]


def _run_and_interrupt(out, data_dir, log, resume, signals, moment, delay):
    """One invocation: start it, send the signals at the moment, return (exit status, output)."""
    proc = _spawn(out, data_dir, log, *(["--resume"] if resume else []), pause_s=0.3 if moment == "write" else None)
    started = _wait_until(lambda: "Training" in log.read_text() or "Resuming" in log.read_text(), proc)
    if started and moment == "random":
        time.sleep(delay)
    elif started and moment == "write":
        started = _wait_until(lambda: bool(_temp_files(out)), proc)
    for sig in signals if started and proc.poll() is None else []:
        proc.send_signal(sig)
        time.sleep(0.15)
    return proc.wait(timeout=120), log.read_text()


def test_signals_at_random_moments_then_resume_equal_an_uninterrupted_run(tmp_path, data_dir):
    straight, cut = tmp_path / "straight", tmp_path / "cut"
    reference = _spawn(straight, data_dir, tmp_path / "straight.log")  # alongside: 2 single-thread runs
    rng = random.Random(7)
    outcomes = []
    for i, (signals, moment) in enumerate([*MOMENTS, ([], "none"), ([], "none")]):
        log = tmp_path / f"cut{i}.log"
        rc, text = _run_and_interrupt(cut, data_dir, log, i > 0, signals, moment, rng.uniform(0.0, 1.5))
        outcomes.append((moment, len(signals), rc))
        assert rc in (0, 130), text
        assert "Traceback" not in text and _temp_files(cut) == [], text
        ckpt.read_train_state(cut / ckpt.TRAIN_STATE)  # whatever happened, the state is whole
        if rc == 130:
            assert ("Aborted" if len(signals) == 2 else "Interrupted: state saved") in text, text
        if rc == 0 and not signals:
            break
    assert outcomes[1:3] == [("write", 2, 130), ("write", 1, 130)], outcomes  # writes really were hit
    assert outcomes[-1][2] == 0 and sum(rc == 130 for *_, rc in outcomes) >= 3, outcomes
    assert reference.wait(timeout=120) == 0, (tmp_path / "straight.log").read_text()

    a, b = load_file(straight / ckpt.WEIGHTS), load_file(cut / ckpt.WEIGHTS)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # No batch applied twice or skipped: Adam counted exactly epochs x steps per epoch.
    steps = {int(load_file(out / ckpt.TRAIN_STATE)["optim.0.step"]) for out in (straight, cut)}
    assert steps == {2 * STEPS_PER_EPOCH}
    assert _metrics_without_timing(cut) == _metrics_without_timing(straight)  # same losses: none counted twice
    assert (
        ckpt.read_card(cut)["accuracy_by_routing_iterations"]
        == ckpt.read_card(straight)["accuracy_by_routing_iterations"]
    )


@pytest.mark.parametrize("name", [ckpt.CARD, ckpt.METRICS])
def test_a_half_written_card_or_metrics_file_never_replaces_a_good_one(tmp_path, monkeypatch, name):
    def write(content):
        if name == ckpt.CARD:
            ckpt.write_card(tmp_path, content)
        else:
            ckpt.atomic_write_text(tmp_path / ckpt.METRICS, "".join(json.dumps(r) + "\n" for r in content))

    write([{"epoch": 1, "test_accuracy": 12.5}] if name == ckpt.METRICS else {"epochs": 1})
    good = (tmp_path / name).read_bytes()

    def dies_halfway(path, text):
        with open(path, "w") as f:
            f.write(text[: len(text) // 2])  # the process "dies" after writing part of the file
        raise KeyboardInterrupt

    monkeypatch.setattr(ckpt, "_write_text", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        write([{"epoch": 1}, {"epoch": 2, "test_accuracy": 50.0}] if name == ckpt.METRICS else {"epochs": 2, "x": 1})
    assert (tmp_path / name).read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temp file left behind
    if name == ckpt.CARD:
        assert ckpt.read_card(tmp_path) == {"epochs": 1}
    else:
        assert _history(tmp_path) == [{"epoch": 1, "test_accuracy": 12.5}]


def test_files_written_together_are_all_replaced_or_none(tmp_path, monkeypatch):
    ckpt.atomic_write_text(tmp_path / "a", "old a")
    ckpt.atomic_write_text(tmp_path / "b", "old b")
    real = ckpt._write_text
    monkeypatch.setattr(ckpt, "_write_text", lambda path, text: real(path, text) if text != "new b" else 1 / 0)
    with pytest.raises(ZeroDivisionError), ckpt.write_together():
        ckpt.atomic_write_text(tmp_path / "a", "new a")
        ckpt.atomic_write_text(tmp_path / "b", "new b")
    assert (tmp_path / "a").read_text() == "old a" and sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]
    monkeypatch.setattr(ckpt, "_write_text", real)
    with ckpt.write_together():
        ckpt.atomic_write_text(tmp_path / "a", "new a")
        ckpt.atomic_write_text(tmp_path / "b", "new b")
        assert (tmp_path / "a").read_text() == "old a"  # not before the block ends
    assert (tmp_path / "a").read_text() == "new a" and (tmp_path / "b").read_text() == "new b"


# --- failures: a full disk, a diverging loss, a state from elsewhere -----------------------------


def _tiny(out, data_dir, *extra):
    return train_main(["--data-dir", str(data_dir), "--out", str(out), *TINY, *extra])


def _files(out):
    return {p.name: p.read_bytes() for p in out.iterdir()}


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _safetensors_enospc(*args, **kwargs):  # how safetensors itself reports a full disk
    raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")


def test_a_full_disk_keeps_the_previous_checkpoint_and_says_so(tmp_path, data_dir, monkeypatch, capsys):
    assert _tiny(tmp_path, data_dir, "--epochs", "1") == 0
    before = _files(tmp_path)
    # The card fails after the weights were written: those must not replace the old ones either.
    for target, failure in (("_write_text", _enospc), ("save_file", _safetensors_enospc)):
        with monkeypatch.context() as m:
            m.setattr(ckpt, target, failure)
            capsys.readouterr()
            assert _tiny(tmp_path, data_dir, "--epochs", "2", "--resume") == 1
        err = capsys.readouterr().err
        assert "disk full" in err and "No space left on device" in err, err
        assert "--resume" in err and "Traceback" not in err
        assert _files(tmp_path) == before  # every file as it was, no temp file left
    ckpt.load_model(tmp_path)


def test_a_nan_loss_stops_naming_epoch_and_batch_and_keeps_the_last_good_checkpoint(
    tmp_path, data_dir, monkeypatch, capsys
):
    from capsviz.training import train

    calls, real = [], train.capsule_loss

    def nan_at_step_6(*args, **kwargs):  # epoch 2, batch 2
        calls.append(1)
        loss = real(*args, **kwargs)
        return loss * float("nan") if len(calls) == STEPS_PER_EPOCH + 2 else loss

    monkeypatch.setattr(train, "capsule_loss", nan_at_step_6)
    assert _tiny(tmp_path, data_dir, "--epochs", "3") == 1
    err = capsys.readouterr().err
    assert "loss became nan at epoch 2, batch 2 of 4" in err and "Traceback" not in err, err
    assert ckpt.read_card(tmp_path)["epochs"] == 1 and len(_history(tmp_path)) == 1
    _, meta = ckpt.read_train_state(tmp_path / ckpt.TRAIN_STATE)
    assert (meta["progress"]["epoch"], meta["progress"]["batch"]) == (1, 0)
    model = ckpt.load_model(tmp_path)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert "NaN or inf" in train.__doc__  # the --help text tells what happens


def _rewrite_state(path, edit):
    tensors = load_file(path)
    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["meta"])
    edit(tensors, meta)
    save_file(tensors, str(path), metadata={"meta": json.dumps(meta)})


def test_resume_refuses_a_state_that_is_not_a_capsviz_state(tmp_path, data_dir, capsys):
    state = tmp_path / ckpt.TRAIN_STATE
    for content, says in (
        ({"metadata": None}, "not a capsviz training state"),
        ({"metadata": {"meta": json.dumps({"epoch": 3})}}, "not a capsviz training state"),
        (b"not a safetensors file", "corrupt or truncated"),
    ):
        if isinstance(content, bytes):
            state.write_bytes(content)
        else:
            save_file({"weights": torch.zeros(3)}, str(state), **content)
        capsys.readouterr()
        assert _tiny(tmp_path, data_dir, "--resume") == 2
        err = capsys.readouterr().err
        assert says in err and str(state) in err and "Traceback" not in err, err


def test_resume_refuses_a_state_made_for_another_model(tmp_path, data_dir, capsys):
    assert _tiny(tmp_path, data_dir, "--max-steps", "1") == 0
    state = tmp_path / ckpt.TRAIN_STATE

    def other_architecture(tensors, meta):
        meta["config"]["digit_dim"] = 8

    def older_state_that_does_not_fit(tensors, meta):  # no config saved: the tensor shapes decide
        del meta["config"]
        tensors["model.digit.weight"] = torch.zeros(1152, 10, 8, 8)

    for edit, says in (
        (other_architecture, "digit_dim 8 there, 16 here"),
        (older_state_that_does_not_fit, "wrong shapes"),
    ):
        _rewrite_state(state, edit)
        capsys.readouterr()
        assert _tiny(tmp_path, data_dir, "--resume") == 2
        err = capsys.readouterr().err
        assert "made for another model" in err and says in err and "Traceback" not in err, err
