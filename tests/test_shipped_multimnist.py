"""The shipped two-digit (MultiMNIST) checkpoint: its card's numbers re-measured on a CI-sized subset of the
seeded test pairs, in fp32, must agree pair for pair."""

from __future__ import annotations

import pytest

from capsviz.data.multimnist import MULTIMNIST_CONFIG, evaluate_pairs, load_test_set
from capsviz.model.routing import MAX_ITERATIONS
from capsviz.training.checkpoint import load_model, read_card

SUBSET = 600  # pairs re-measured in CI (the card covers all 10,000)
TWO_DIGIT_DIR = "checkpoints/multimnist"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shipped():
    model = load_model(TWO_DIGIT_DIR)
    return model, read_card(TWO_DIGIT_DIR)


def test_the_two_digit_checkpoint_is_a_multimnist_capsnet(shipped):
    model, card = shipped
    assert model.cfg.image_size == MULTIMNIST_CONFIG.image_size and model.cfg.num_primary == 3200
    assert card["training"]["task"] == "multimnist" and card["data"]["test_pairs"] == 10_000
    assert card["eval_precision"] == "fp32"
    assert sorted(card["accuracy_by_routing_iterations"], key=int) == [str(r) for r in range(1, MAX_ITERATIONS + 1)]
    assert card["test_errors"] == len(card["test_misclassified"])
    assert card["test_accuracy"] == pytest.approx(100 * (1 - card["test_errors"] / 10_000), abs=0.005)


def test_accuracy_on_a_subset_agrees_with_the_card_pair_for_pair(shipped, data_dir):
    model, card = shipped
    pairs = load_test_set(data_dir=data_dir, n=SUBSET)
    ev = evaluate_pairs(model, pairs, precision="fp32")
    listed = sorted(m["index"] for m in card["test_misclassified"] if m["index"] < SUBSET)
    assert sorted(m["index"] for m in ev.misclassified) == listed
    for mine in ev.misclassified:
        theirs = next(m for m in card["test_misclassified"] if m["index"] == mine["index"])
        assert sorted(mine["predicted"]) == sorted(theirs["predicted"]) and mine["labels"] == theirs["labels"]
