"""Bad input gets a clear message: missing data, missing or corrupt checkpoints."""

import subprocess
import sys

import pytest
import torch
from safetensors.torch import save_file

from capsviz.data.mnist import DataNotFoundError, load_mnist
from capsviz.model.capsnet import CapsNet
from capsviz.training import checkpoint as ckpt


def test_missing_data_folder_names_files_and_setting(tmp_path, monkeypatch):
    # Offline: make torchvision's download fail fast instead of reaching for the network.
    monkeypatch.setattr("torchvision.datasets.MNIST.download", lambda self: (_ for _ in ()).throw(OSError("offline")))
    with pytest.raises(DataNotFoundError) as err:
        load_mnist(train=False, data_dir=tmp_path / "nowhere")
    msg = str(err.value)
    assert "t10k-images-idx3-ubyte" in msg and "CAPSVIZ_DATA_DIR" in msg and "--data-dir" in msg


def test_train_cli_without_data_exits_with_message_not_traceback(tmp_path):
    code = (
        "import sys, torchvision.datasets as d;"
        "d.MNIST.download = lambda self: (_ for _ in ()).throw(OSError('offline'));"
        "from capsviz.training.train import main; sys.exit(main(sys.argv[1:]))"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, "--data-dir", str(tmp_path), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and "MNIST not found" in r.stderr


def test_missing_checkpoint_says_how_to_train(tmp_path):
    with pytest.raises(ckpt.CheckpointError, match="python -m capsviz.train"):
        ckpt.load_model(tmp_path)


def test_truncated_checkpoint(tmp_path):
    ckpt.save_weights(CapsNet(), tmp_path)
    path = tmp_path / ckpt.WEIGHTS
    path.write_bytes(path.read_bytes()[:5_000_000])
    with pytest.raises(ckpt.CheckpointError, match="corrupt or truncated.*python -m capsviz.train"):
        ckpt.load_model(tmp_path)


def test_garbage_checkpoint(tmp_path):
    (tmp_path / ckpt.WEIGHTS).write_bytes(b"not a safetensors file at all")
    with pytest.raises(ckpt.CheckpointError, match="corrupt or truncated"):
        ckpt.load_model(tmp_path)


def test_wrong_shaped_weights(tmp_path):
    state = {k: v.clone() for k, v in CapsNet().state_dict().items()}
    state["digit.weight"] = torch.zeros(1152, 8, 10, 8)
    save_file(state, str(tmp_path / ckpt.WEIGHTS))
    with pytest.raises(ckpt.CheckpointError, match=r"wrong shapes.*digit\.weight"):
        ckpt.load_model(tmp_path)


def test_missing_tensor(tmp_path):
    state = {k: v.clone() for k, v in CapsNet().state_dict().items() if k != "decoder.net.4.bias"}
    save_file(state, str(tmp_path / ckpt.WEIGHTS))
    with pytest.raises(ckpt.CheckpointError, match=r"missing \['decoder\.net\.4\.bias'\]"):
        ckpt.load_model(tmp_path)


def test_evaluate_cli_reports_missing_checkpoint(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "capsviz.evaluate", "--checkpoint", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "No checkpoint" in r.stderr and "Traceback" not in r.stderr


def test_train_init_from_missing_checkpoint_is_a_message(tmp_path, data_dir, capsys):
    from capsviz.training.train import main

    rc = main(["--data-dir", str(data_dir), "--out", str(tmp_path / "o"), "--init-from", str(tmp_path / "none")])
    assert rc == 2
    assert "No checkpoint" in capsys.readouterr().err


@pytest.mark.parametrize("make_bank", [False, True])
def test_redrawn_mnist_cli_without_data_exits_with_message_not_traceback(tmp_path, make_bank):
    code = (
        "import sys, torchvision.datasets as d;"
        "d.MNIST.download = lambda self: (_ for _ in ()).throw(OSError('offline'));"
        "from capsviz.testsets.redrawn_mnist import main; sys.exit(main(sys.argv[1:]))"
    )
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "--data-dir",
            str(tmp_path),
            *(["--make-bank", str(tmp_path / "bank.npz")] * make_bank),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and "MNIST not found" in r.stderr
    assert not (tmp_path / "bank.npz").exists()


def test_redrawn_mnist_cli_without_checkpoint_says_how_to_train(tmp_path, capsys):
    from capsviz.testsets.redrawn_mnist import main

    assert main(["--checkpoint", str(tmp_path / "nowhere"), "--limit", "10"]) == 2
    assert "python -m capsviz.train" in capsys.readouterr().err


def test_every_cli_turns_a_user_error_into_a_message_and_status_2(capsys):
    from capsviz.training.cli import UserInputError, exit_on_user_error

    for exc in (
        DataNotFoundError("MNIST not found in /x; set CAPSVIZ_DATA_DIR"),
        ckpt.CheckpointError("No checkpoint at /x"),
        UserInputError("cannot read bank.npz"),
    ):

        @exit_on_user_error
        def main(argv=None, exc=exc):
            raise exc

        assert main([]) == 2
        assert capsys.readouterr().err == f"error: {exc}\n"

    @exit_on_user_error
    def buggy(argv=None):
        raise ValueError("a bug, not the user's doing")

    with pytest.raises(ValueError, match="a bug"):  # anything else keeps its traceback
        buggy([])


def test_drawn_digits_cli_without_checkpoint_says_how_to_train(tmp_path, capsys):
    from capsviz.testsets.drawn_digits import main

    assert main(["--checkpoint", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: No checkpoint") and "python -m capsviz.train" in err


def test_evaluate_cli_without_data_names_the_setting(tmp_path, monkeypatch, capsys):
    from capsviz.training.evaluate import main

    monkeypatch.setattr("torchvision.datasets.MNIST.download", lambda self: (_ for _ in ()).throw(OSError("offline")))
    assert main(["--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: MNIST not found") and "CAPSVIZ_DATA_DIR" in err and "Traceback" not in err
