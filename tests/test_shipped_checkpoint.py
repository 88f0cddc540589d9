"""The checkpoint the app ships with: its accuracy on the full MNIST test set, recomputed here,
and its model card (what the README's results table is rendered from)."""

from pathlib import Path

import pytest

from capsviz import checkpoint as ckpt
from capsviz.data import data_checksums, load_mnist
from capsviz.evaluate import evaluate
from capsviz.readme_table import render_results_table

pytestmark = pytest.mark.slow
# The bar the shipped model must clear (issue "Train and ship the paper-grade checkpoint").
ACCURACY_FLOOR = 99.6
README = Path(__file__).resolve().parent.parent / "README.md"


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


def test_readme_results_are_rendered_from_the_card(card):
    assert render_results_table(card) in README.read_text()
