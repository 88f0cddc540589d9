"""The checkpoint the app ships with: its accuracy on the full MNIST test set, recomputed here twice (once with
capsviz.training.evaluate, the code that wrote the card, and once by a second path that shares no code with capsviz),
and its model card (what the README's results table is rendered from)."""

import inspect
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from capsviz.data.mnist import data_checksums, load_mnist
from capsviz.training import checkpoint as ckpt
from capsviz.training.evaluate import evaluate

pytestmark = pytest.mark.slow
# The bar the shipped model must clear (issue "Train and ship the paper-grade checkpoint").
ACCURACY_FLOOR = 99.6
README = Path(__file__).resolve().parent.parent / "README.md"
AUGMENTATION = README.parent / "docs" / "augmentation.md"  # the augmentation comparison table
ROUTING_ITERATIONS = (1, 2, 3, 4, 5)


@pytest.fixture(scope="module")
def card():
    return ckpt.read_card(ckpt.DEFAULT_DIR)


@pytest.fixture(scope="module")
def measured(data_dir):
    model = ckpt.load_model(ckpt.DEFAULT_DIR)
    return evaluate(model, load_mnist(train=False, data_dir=data_dir))


def test_accuracy_on_the_full_test_set_matches_the_card(measured, card):
    assert abs(measured.accuracy - card["test_accuracy"]) <= 0.05
    assert measured.errors == card["test_errors"]
    assert measured.per_class == pytest.approx(card["per_class_accuracy"], abs=0.05)
    assert [m["index"] for m in measured.misclassified] == [m["index"] for m in card["test_misclassified"]]


def test_accuracy_clears_the_bar(measured):
    assert measured.accuracy >= ACCURACY_FLOOR


# --- a second measurement that shares nothing with capsviz -----------------------------------------------------


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (MNIST's format): 2 zero bytes, a type byte (0x08: unsigned byte), the number of
    dimensions, each dimension as a big-endian uint32, then the data in C order."""
    raw = path.read_bytes()
    assert raw[:2] == b"\0\0" and raw[2] == 0x08, f"{path}: not an unsigned-byte IDX file"
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * k : 8 + 4 * k], "big") for k in range(ndim)]
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    assert data.size == int(np.prod(dims)), f"{path}: {data.size} bytes of data for dimensions {dims}"
    return data.reshape(dims)


def _squash(s: torch.Tensor) -> torch.Tensor:
    """v = |s|^2 / (1 + |s|^2) * s / |s| (Sabour et al. eq. 1)."""
    n2 = (s * s).sum(-1, keepdim=True)
    return n2 / (1 + n2) * s / n2.sqrt().clamp_min(1e-12)


@torch.inference_mode()
def _lengths_per_iteration(x: torch.Tensor, w: dict[str, torch.Tensor], iterations: int) -> torch.Tensor:
    """The CapsNet forward pass written from the paper and the weight file alone, in fp32: digit-capsule lengths
    (iterations, B, 10) after each routing iteration -- after iteration r they are those of an r-iteration
    network, since iterations 1..r are the same whatever comes after them."""
    h = F.relu(F.conv2d(x, w["conv1.weight"], w["conv1.bias"]))  # (B, 256, 20, 20)
    p = F.conv2d(h, w["primary.conv.weight"], w["primary.conv.bias"], stride=2)  # (B, 256, 6, 6)
    b = x.shape[0]
    # channel = type * 8 + dim; the weight file numbers primary capsules i = (row * 6 + col) * 32 + type
    u = _squash(p.view(b, 32, 8, 6, 6).permute(0, 3, 4, 1, 2).reshape(b, 1152, 8))
    u_hat = torch.einsum("bik,ikjd->bjid", u, w["digit.weight"])  # u_hat_j|i = W_ij u_i: (B, 10, 1152, 16)
    logits = torch.zeros(b, 1152, 10)
    lengths = []
    for _ in range(iterations):  # Procedure 1
        c = torch.softmax(logits, dim=2)
        v = _squash(torch.einsum("bij,bjid->bjd", c, u_hat))
        lengths.append(v.norm(dim=-1))
        logits = logits + torch.einsum("bjid,bjd->bij", u_hat, v)
    return torch.stack(lengths)


@pytest.fixture(scope="module")
def independent(data_dir):
    """Predictions (5, 10000) for r = 1..5 and the labels, from the raw IDX files and the raw weight file."""
    from safetensors.numpy import load_file

    raw = Path(data_dir) / "MNIST" / "raw"
    images, labels = read_idx(raw / "t10k-images-idx3-ubyte"), read_idx(raw / "t10k-labels-idx1-ubyte")
    assert images.shape == (10_000, 28, 28) and labels.shape == (10_000,)
    w = {k: torch.from_numpy(v.copy()) for k, v in load_file(ckpt.DEFAULT_DIR / ckpt.WEIGHTS).items()}
    preds = []
    for start in range(0, len(images), 250):
        x = torch.from_numpy(images[start : start + 250].astype(np.float32) / 255)[:, None]
        preds.append(_lengths_per_iteration(x, w, max(ROUTING_ITERATIONS)).argmax(-1))
    return torch.cat(preds, 1).numpy(), labels.astype(np.int64)


def test_independent_measurement_agrees_with_the_card(independent, card):
    """At the trained 3 iterations: the same errors, image by image, as the card (measured margins between the
    two longest capsules: 0.0009 at the least, far above fp32 round-off, so this does not flicker)."""
    preds, labels = independent
    pred = preds[card["routing_iterations"] - 1]
    wrong = np.flatnonzero(pred != labels)
    assert len(wrong) == card["test_errors"]
    assert wrong.tolist() == [m["index"] for m in card["test_misclassified"]]
    assert pred[wrong].tolist() == [m["predicted"] for m in card["test_misclassified"]]
    assert labels[wrong].tolist() == [m["label"] for m in card["test_misclassified"]]
    assert round(100 * float((pred == labels).mean()), 2) == card["test_accuracy"]
    per_class = [round(100 * float((pred[labels == d] == d).mean()), 2) for d in range(10)]
    assert per_class == card["per_class_accuracy"]


def test_accuracy_by_routing_iterations_matches_the_card(independent, card):
    """Each value of the card's r = 1..5 sweep, recomputed, to the card's two decimals (that is, to the image)."""
    preds, labels = independent
    measured = {str(r): round(100 * float((preds[r - 1] == labels).mean()), 2) for r in ROUTING_ITERATIONS}
    assert measured == card["accuracy_by_routing_iterations"]


# --- the card and the README -------------------------------------------------------------------------------------


def test_card_records_how_it_was_trained(card, data_dir):
    t = card["training"]
    for key in ("command", "epochs", "wall_time_s", "hardware", "precision", "seed", "lr", "lr_decay", "augment"):
        assert key in t, key
    assert t["command"].startswith("python -m capsviz.train")
    assert card["routing_iterations"] == 3 and card["architecture"]["digit_dim"] == 16
    assert set(card["accuracy_by_routing_iterations"]) == {"1", "2", "3", "4", "5"}
    assert card["data"]["sha256"] == data_checksums(data_dir)  # trained on exactly these files
    log = (ckpt.DEFAULT_DIR / ckpt.METRICS).read_text().splitlines()
    assert len(log) == card["epochs"]


def _numbers(cell: str) -> list[float]:
    return [float(n.replace(",", "")) for n in re.findall(r"\d[\d,]*(?:\.\d+)?", cell)]


def _results_rows() -> dict[str, str]:
    """The README's results table (between its markers): first cell -> the capsviz column (the last cell)."""
    text = README.read_text()
    block = text.split("<!-- results:start -->", 1)[1].split("<!-- results:end -->", 1)[0]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in block.strip().splitlines()]
    return {row[0]: row[-1] for row in rows[2:]}


def test_readme_results_show_the_cards_values(card):
    """The numbers the README's results table shows for the checkpoint are the card's."""
    rows = _results_rows()
    error_pct, errors, total = _numbers(rows["MNIST test error (%)"])
    assert error_pct == pytest.approx(100 - card["test_accuracy"], abs=1e-9)
    assert (errors, total) == (card["test_errors"], card["data"]["test_images"])
    assert _numbers(rows["Routing iterations"]) == [card["routing_iterations"]]
    assert _numbers(rows["Epochs"]) == [card["epochs"]]
    minutes = _numbers(rows["Training time, hardware"])[0]
    assert minutes == pytest.approx(card["training"]["wall_time_s"] / 60, abs=0.05)
    hardware = card["training"]["hardware"]
    assert card["training"]["precision"] in rows["Training time, hardware"]
    assert hardware.get("gpu", hardware.get("cpu")) in rows["Training time, hardware"]
    if card["training"]["augment"] in ("canvas", "pen"):
        # the ranges it states are the ones the augmentation code draws from (tests/test_augment.py measures them)
        from capsviz.data.augment import augment, random_affine

        shift = inspect.signature(augment).parameters["max_shift"].default
        affine = inspect.signature(random_affine).parameters
        lo, hi = affine["scale"].default
        assert _numbers(rows["Augmentation"])[:4] == [shift, affine["max_degrees"].default, lo, hi]
    cells = rows["Accuracy by routing iterations at inference"]
    sweep = {r: float(acc) for r, acc in re.findall(r"r\s*=\s*(\d)\D+?(\d+(?:\.\d+)?)", cells)}
    assert sweep == card["accuracy_by_routing_iterations"]
    drawn = _numbers(rows["Scripted canvas drawings, accuracy"])
    assert drawn == [card["drawn_digit_accuracy"]["accuracy"], card["drawn_digit_accuracy"]["n"]]
    redrawn = _numbers(rows["MNIST test digits redrawn with the canvas pen, accuracy"])
    assert redrawn == [card["redrawn_mnist_accuracy"]["accuracy"], card["redrawn_mnist_accuracy"]["n"]]


def test_readme_augmentation_table_shows_the_shipped_runs_values(card):
    """The hand-written augmentation table's row for the shipped run (docs/augmentation.md): MNIST, scripted
    drawings (500, seed 0) and redrawn MNIST accuracies are the card's."""
    (row,) = [line for line in AUGMENTATION.read_text().splitlines() if line.startswith("|") and "(**shipped**" in line]
    cells = [c.strip() for c in row.strip().strip("|").split("|")]
    assert f"seed {card['training']['seed']}" in cells[0] and card["training"]["augment"] in cells[0]
    mnist, drawn_500, _, _, redrawn = (_numbers(c)[0] for c in cells[1:6])
    assert mnist == card["test_accuracy"]
    assert drawn_500 == card["drawn_digit_accuracy"]["accuracy"] and card["drawn_digit_accuracy"]["n"] == 500
    assert redrawn == card["redrawn_mnist_accuracy"]["accuracy"]
