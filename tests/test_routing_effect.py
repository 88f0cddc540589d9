"""capsviz.inspect.routing_effect: how much routing moves the couplings, over images."""

import numpy as np
import pytest
import torch

from capsviz.inspect.routing_effect import measure
from capsviz.model.capsnet import CapsNet


@pytest.fixture(scope="module")
def agreeing_model() -> CapsNet:
    torch.manual_seed(0)
    model = CapsNet().eval()
    with torch.no_grad():  # untrained votes are ~0: scale them so that routing has something to agree on
        model.digit.weight.mul_(300.0)
    return model


def test_first_iteration_is_uniform_and_routing_concentrates(agreeing_model):
    images = np.random.default_rng(0).random((6, 28, 28)).astype(np.float32)
    effect = measure(agreeing_model, images, np.arange(6), batch_size=4)
    assert effect.images == 6 and effect.iterations == 3
    assert effect.entropy_first_bits == pytest.approx(np.log2(10), abs=1e-3)  # c_ij = 1/10 before agreement
    assert effect.share_first == pytest.approx(0.1, abs=1e-4)
    assert effect.entropy_drop_bits > 0.01  # agreement makes the couplings less uniform
    assert effect.entropy_last_bits == pytest.approx(effect.entropy_first_bits - effect.entropy_drop_bits, abs=2e-4)


def test_two_labels_per_image_count_both_capsules(agreeing_model):
    images = np.random.default_rng(1).random((3, 28, 28)).astype(np.float32)
    effect = measure(agreeing_model, images, np.array([[1, 2], [3, 4], [5, 6]]))
    assert effect.share_first == pytest.approx(0.2, abs=1e-4)  # two of ten capsules, uniformly
