"""The model card's readers and renderings: the app's summary, the mistakes list, and the two READMEs that
must say what model_card.json says."""

from __future__ import annotations

import json

import numpy as np
import pytest

from capsviz.training.card import CHECKPOINT_README, listed_mistakes, render_checkpoint_readme, render_results_table
from capsviz.training.checkpoint import CARD, DEFAULT_DIR, read_card


def test_listed_mistakes_are_sorted_and_checked_against_the_test_set():
    card = {"test_misclassified": [{"index": 7, "predicted": 4}, {"index": 4, "predicted": 0}]}
    idx, pred = listed_mistakes(card, n=10)
    assert idx.tolist() == [4, 7] and pred.tolist() == [0, 4]
    assert listed_mistakes(card, n=5) is None  # index 7 does not exist in a 5-image set
    assert listed_mistakes({"test_misclassified": [{"index": "x"}]}, n=10) is None
    assert listed_mistakes({}, n=10) is None


@pytest.mark.parametrize("folder", [DEFAULT_DIR, DEFAULT_DIR / "multimnist"], ids=["one digit", "two digits"])
def test_checkpoint_readme_is_generated_from_the_card(folder):
    """Each checkpoint's README.md (the Hugging Face card) must be exactly what its card renders to."""
    card = read_card(folder)
    assert card, f"no model card in {folder}"
    assert (folder / CHECKPOINT_README).read_text() == render_checkpoint_readme(card), (
        f"{folder / CHECKPOINT_README} is stale: run python scripts/make_readme_figures.py --tables-only"
    )


def _front_matter(text: str) -> dict[str, str]:
    head = text.split("---\n")[1]
    return {line.split(":", 1)[0]: line.split(":", 1)[1].strip() for line in head.splitlines() if ":" in line}


def test_checkpoint_readme_header_carries_the_measured_accuracy():
    card = json.loads((DEFAULT_DIR / CARD).read_text())
    text = render_checkpoint_readme(card)
    meta = _front_matter(text)
    assert meta["datasets"] == "[mnist]" and meta["metrics"] == "[accuracy]" and "license" in meta
    assert f"value: {card['test_accuracy']}," in text
    errors = round(10_000 * (100 - card["test_accuracy"]) / 100)
    assert errors == card["test_errors"]
    assert f"({card['test_errors']} of 10,000)" in render_results_table(card)


def test_the_card_stores_no_path_from_the_training_machine():
    card = read_card(DEFAULT_DIR)
    text = json.dumps(card)
    assert "data_dir" not in card.get("data", {})
    assert "/tmp/" not in text and "/home/" not in text and "/work/" not in text


@pytest.mark.parametrize("accuracy", [99.61, 12.5])
def test_results_table_error_follows_the_accuracy(accuracy):
    card = {"test_accuracy": accuracy, "test_errors": 3, "routing_iterations": 3, "epochs": 1}
    row = next(line for line in render_results_table(card).splitlines() if line.startswith("| MNIST test error"))
    assert f"**{100 - accuracy:.2f}**" in row
    assert np.isclose(float(row.split("**")[1]), 100 - accuracy)
