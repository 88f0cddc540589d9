"""MultiMNIST: pair generation, the 36x36 model, weight transfer from MNIST, losses and metric."""

import copy
from unittest import mock

import numpy as np
import pytest
import torch

from capsviz.data.mnist import MNISTSplit
from capsviz.data.multimnist import (
    MAX_SHIFT,
    MULTIMNIST_CONFIG,
    SIZE,
    TEST_PAIRS,
    TEST_SEED,
    MultiMNIST,
    centre_pad,
    centred_split,
    evaluate_pairs,
    make_test_set,
    multimnist_train_step,
    pairs_right,
    place_digits,
)
from capsviz.model.capsnet import CapsNet, CapsNetConfig
from capsviz.model.losses import (
    margin_loss,
    margin_loss_multi_hot,
    multi_digit_loss,
    multi_hot,
    reconstruction_loss,
)
from capsviz.training.evaluate import evaluate
from capsviz.training.transfer import init_from_mnist


def synthetic_split(n: int = 200, seed: int = 0) -> MNISTSplit:
    """Random uint8 'digits' whose ink reaches all four edges of the 28x28 frame (so any pixel lost
    or moved by a shift shows), with labels 0..9 in unequal numbers."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(1, 256, (n, 28, 28), generator=g, dtype=torch.uint8)
    images[torch.rand(n, 28, 28, generator=g) < 0.5] = 0
    images[:, 0, :] = images[:, -1, :] = images[:, :, 0] = images[:, :, -1] = 200
    labels = torch.arange(n) % 10
    labels[: n // 4] = 3  # class 3 over-represented
    return MNISTSplit(images=images, labels=labels)


@pytest.fixture(scope="module")
def source() -> MultiMNIST:
    return MultiMNIST(synthetic_split())


@pytest.fixture(scope="module")
def mnist_model() -> CapsNet:
    torch.manual_seed(0)
    return CapsNet().eval()


@pytest.fixture(scope="module")
def model36(mnist_model) -> CapsNet:
    return init_from_mnist(mnist_model).eval()


# --- data --------------------------------------------------------------------------------------


def test_batch_shapes_types_and_composite(source):
    b = source.random_batch(64, torch.Generator().manual_seed(1))
    assert len(b) == 64
    assert b.images.shape == (64, 1, SIZE, SIZE) == (64, 1, 36, 36) and b.images.dtype == torch.float32
    assert b.digits.shape == (64, 2, 36, 36) and b.digits.dtype == torch.float32
    assert b.labels.shape == (64, 2) and b.labels.dtype == torch.int64
    assert b.indices.shape == (64, 2) and b.shifts.shape == (64, 2, 2)
    assert torch.equal(b.images[:, 0], (b.digits[:, 0] + b.digits[:, 1]).clamp(0, 1))
    assert (b.images > 1).sum() == 0 and (b.digits.sum(1) > 1).any()  # overlaps were clipped
    assert torch.equal(b.labels, source.split.labels[b.indices])
    a = b.numpy()
    assert a.images.shape == (64, 36, 36) and a.digits.shape == (64, 2, 36, 36) and a.labels.shape == (64, 2)
    assert b.to("cpu").images.is_contiguous(memory_format=torch.channels_last)


def test_each_digit_is_its_mnist_digit_shifted_within_4px(source):
    b = source.random_batch(300, torch.Generator().manual_seed(2))
    assert int(b.shifts.abs().max()) <= MAX_SHIFT
    assert set(b.shifts.flatten().tolist()) == set(range(-4, 5))  # every shift is used
    for i in range(len(b)):
        for k in range(2):
            dy, dx = b.shifts[i, k].tolist()
            own = b.digits[i, k]
            digit = source.split.images[b.indices[i, k]].float() / 255
            top, left = 4 + dy, 4 + dx
            assert torch.equal(own[top : top + 28, left : left + 28], digit)
            assert (own > 0).sum() == (digit > 0).sum()  # nothing outside that window, nothing cut off


def test_place_digits_centre_and_bounds():
    d = torch.ones(1, 28, 28)
    assert torch.equal(place_digits(d, torch.zeros(1, 2, dtype=torch.long)), centre_pad(d))
    corner = place_digits(d, torch.tensor([[-4, 4]]))[0]
    assert corner[:28, 8:].all() and corner.sum() == 28 * 28
    with pytest.raises(ValueError):
        place_digits(d, torch.tensor([[5, 0]]))


def test_partner_is_of_another_class_and_uniform_over_them(source):
    first = torch.full((5000,), 60)  # always the same first digit, of class 0
    assert source.split.labels[60] == 0
    b = source.sample(first, torch.Generator().manual_seed(3))
    assert (b.labels[:, 0] != b.labels[:, 1]).all()
    # Uniform over the digits of other classes: class 3 (65 digits) about 4x as often as class 1 (15).
    counts = torch.bincount(b.labels[:, 1], minlength=10)
    assert counts[0] == 0 and (counts[1:] > 0).all()
    assert 3.0 < counts[3] / counts[1] < 5.5
    rand = source.random_batch(2000, torch.Generator().manual_seed(4))
    assert (rand.labels[:, 0] != rand.labels[:, 1]).all()


def test_seeded_reproducibility(source):
    a = source.random_batch(32, torch.Generator().manual_seed(5))
    b = source.random_batch(32, torch.Generator().manual_seed(5))
    c = source.random_batch(32, torch.Generator().manual_seed(6))
    assert torch.equal(a.images, b.images) and torch.equal(a.indices, b.indices) and torch.equal(a.shifts, b.shifts)
    assert not torch.equal(a.indices, c.indices)
    g = torch.Generator().manual_seed(7)
    state = g.get_state()
    first = source.sample(torch.arange(10), g)
    g.set_state(state)  # what a resumed run does
    assert torch.equal(source.sample(torch.arange(10), g).images, first.images)


def test_test_set_deterministic_prefix_and_synthetic(source):
    split = source.split
    a, b = make_test_set(split, 500), make_test_set(split, 500)
    assert torch.equal(a.indices, b.indices) and torch.equal(a.shifts, b.shifts)
    assert torch.equal(a.indices[:, 0], torch.arange(500) % len(split))
    short = make_test_set(split, 50)
    assert torch.equal(short.indices, a.indices[:50]) and torch.equal(short.shifts, a.shifts[:50])
    assert not torch.equal(make_test_set(split, 500, seed=1).indices, a.indices)
    batch = a.batch(slice(10, 20))
    assert torch.equal(batch.images, source.pairs(a.indices[10:20], a.shifts[10:20]).images)
    assert np.array_equal(a.numpy(slice(10, 20)).images, batch.images[:, 0].numpy())


def test_real_mnist_test_set(mnist_test):
    ts = make_test_set(mnist_test)
    assert len(ts) == TEST_PAIRS == 10_000 and ts.seed == TEST_SEED
    lab = ts.labels
    assert (lab[:, 0] != lab[:, 1]).all()
    assert torch.equal(ts.indices[:, 0], torch.arange(10_000))  # every test digit once, first
    # The fixed set: these values change only if the recipe (or the seed) does.
    assert ts.indices[:3, 1].tolist() == [6612, 9611, 6088]
    assert ts.shifts[0].tolist() == [[1, -3], [3, 0]]
    b = ts.batch(torch.tensor([0, 9999]))
    assert torch.equal(b.images[:, 0], (b.digits.sum(1)).clamp(max=1))
    assert torch.equal(ts.indices, make_test_set(mnist_test).indices)


def test_centre_pad_numpy_and_torch():
    x = np.random.default_rng(0).random((3, 28, 28), dtype=np.float32)
    p = centre_pad(x)
    assert isinstance(p, np.ndarray) and p.shape == (3, 36, 36)
    assert np.array_equal(p[:, 4:32, 4:32], x) and p.sum() == pytest.approx(x.sum())
    assert torch.equal(centre_pad(torch.from_numpy(x)), torch.from_numpy(p))
    split = centred_split(synthetic_split(20))
    assert split.images.shape == (20, 36, 36) and split.batch(torch.arange(2))[0].shape == (2, 1, 36, 36)


# --- model ---------------------------------------------------------------------------------------


def test_multimnist_config_and_forward():
    cfg = MULTIMNIST_CONFIG
    assert (cfg.image_size, cfg.primary_grid, cfg.num_primary) == (36, 10, 3200)
    assert CapsNetConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="primary_grid"):
        CapsNetConfig(image_size=36)  # the grid does not follow from the image size by itself
    torch.manual_seed(0)
    m = CapsNet(cfg).eval()
    x = torch.rand(2, 1, 36, 36)
    out = m(x, record=True)
    assert out.lengths.shape == (2, 10) and out.primary.shape == (2, 3200, 8)
    assert out.reconstruction.shape == (2, 36, 36) and out.routing.coupling.shape == (3, 2, 3200, 10)
    two = m(x, target=torch.tensor([[1, 7], [0, 3]]))
    assert two.reconstruction.shape == (2, 2, 36, 36)
    # Each of the two is decoded from its own capsule alone: the same as decoding it by itself.
    assert torch.allclose(two.reconstruction[:, 1], m.decoder(out.poses, torch.tensor([7, 3])), atol=1e-6)


def test_cpu_training_path_equals_inference_path_at_36():
    """Training on CPU goes through strided_conv's GEMM convolutions and routes in chunks; at 36x36
    (28x28 -> 10x10 PrimaryCaps) it must compute what the plain convolutions compute."""
    torch.manual_seed(0)
    m = CapsNet(MULTIMNIST_CONFIG)
    x = torch.rand(3, 1, 36, 36).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        ref = m(x, target=torch.zeros(3, dtype=torch.long))
    with mock.patch("capsviz.model.capsnet._CHUNK_BYTES", 1):  # one image per routing chunk
        out = m(x, target=torch.zeros(3, dtype=torch.long))
    assert out.lengths.requires_grad
    assert torch.allclose(out.lengths, ref.lengths, atol=1e-5)
    assert torch.allclose(out.reconstruction, ref.reconstruction, atol=1e-5)


# --- transfer ----------------------------------------------------------------------------------


def test_transfer_shapes_and_copied_weights(mnist_model, model36):
    old, new = mnist_model.state_dict(), model36.state_dict()
    assert new["digit.weight"].shape == (3200, 8, 10, 16)
    assert new["decoder.net.4.weight"].shape == (36 * 36, 1024)
    for k in ("conv1.weight", "conv1.bias", "primary.conv.weight", "primary.conv.bias"):
        assert torch.equal(new[k], old[k])
    for k in ("decoder.net.0.weight", "decoder.net.0.bias", "decoder.net.2.weight", "decoder.net.2.bias"):
        assert torch.equal(new[k], old[k])
    w_old, w_new = old["digit.weight"], new["digit.weight"]
    for t, r, c in [(0, 0, 0), (5, 2, 4), (31, 5, 5)]:  # MNIST (r, c) is 36x36 (r + 2, c + 2)
        assert torch.equal(w_new[((r + 2) * 10 + c + 2) * 32 + t], w_old[(r * 6 + c) * 32 + t])
    assert (w_new.view(10, 10, -1)[[0, 1, 8, 9]] == 0).all() and (w_new.view(10, 10, -1)[:, [0, 1, 8, 9]] == 0).all()
    dec = new["decoder.net.4.weight"].view(36, 36, 1024)
    assert torch.equal(dec[4:32, 4:32], old["decoder.net.4.weight"].view(28, 28, 1024))
    nearest = init_from_mnist(mnist_model, border="nearest").digit.weight.detach().view(10, 10, 32, 8, 10, 16)
    assert torch.equal(nearest[0, 9], w_old.view(6, 6, 32, 8, 10, 16)[0, 5])


def test_transfer_preserves_the_mnist_model_on_centred_digits(mnist_model, model36):
    x = torch.rand(2, 1, 28, 28) * (torch.rand(2, 1, 28, 28) < 0.3)
    with torch.no_grad():
        a = mnist_model(x)
        b = model36(centre_pad(x))
    assert torch.allclose(a.lengths, b.lengths, atol=1e-5)
    assert torch.allclose(a.poses, b.poses, atol=1e-5)
    assert torch.allclose(b.reconstruction[:, 4:32, 4:32], a.reconstruction, atol=1e-5)


def test_transfer_rejects_other_architectures(mnist_model):
    with pytest.raises(ValueError, match="multiple of 4"):
        init_from_mnist(mnist_model, CapsNetConfig(image_size=30, primary_grid=7))
    with pytest.raises(ValueError, match="digit_dim"):
        init_from_mnist(mnist_model, CapsNetConfig(image_size=36, primary_grid=10, digit_dim=8))


# --- losses and metric ---------------------------------------------------------------------------


def test_multi_hot_margin_loss():
    labels = torch.tensor([[2, 7]])
    t = multi_hot(labels)
    assert t.tolist() == [[0, 0, 1, 0, 0, 0, 0, 1, 0, 0]]
    lengths = torch.full((1, 10), 0.05)
    lengths[0, 2], lengths[0, 7], lengths[0, 4] = 0.95, 0.5, 0.3
    # Present: only 7 falls short (0.9 - 0.5)^2; absent: only 4 is over 0.1, 0.5 (0.3 - 0.1)^2.
    assert margin_loss_multi_hot(lengths, t).item() == pytest.approx(0.4**2 + 0.5 * 0.2**2)
    y = torch.tensor([3, 0])
    l2 = torch.rand(2, 10)
    assert torch.equal(margin_loss(l2, y), margin_loss_multi_hot(l2, multi_hot(y[:, None])))


def test_multi_digit_loss_decodes_each_digit_against_its_own_image():
    lengths = torch.rand(3, 10)
    labels = torch.tensor([[0, 1], [2, 3], [9, 4]])
    recon, digits = torch.rand(3, 2, 36, 36), torch.rand(3, 2, 36, 36)
    loss = multi_digit_loss(lengths, recon, digits, labels)
    sse = ((recon - digits) ** 2).sum(dim=(1, 2, 3)).mean()
    expected = margin_loss_multi_hot(lengths, multi_hot(labels)) + 0.0005 * sse
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    # The sum over both digits is the sum of the two single-digit reconstruction losses.
    per_digit = sum(reconstruction_loss(recon[:, k], digits[:, k]) for k in range(2))
    assert reconstruction_loss(recon, digits).item() == pytest.approx(per_digit.item(), rel=1e-5)
    with pytest.raises(ValueError):
        multi_digit_loss(lengths, recon[:, :1], digits, labels)


def test_pairs_right():
    lengths = torch.tensor([[0.9, 0.8, 0.1] + [0.0] * 7, [0.9, 0.1, 0.8] + [0.0] * 7, [0.2, 0.9, 0.85] + [0.0] * 7])
    labels = torch.tensor([[1, 0], [0, 1], [2, 1]])
    assert pairs_right(lengths, labels).tolist() == [True, False, True]


def test_evaluate_pairs_and_train_step(source, model36):
    ts = make_test_set(source.split, 6)
    ev = evaluate_pairs(model36, ts, batch_size=4, sweep=(1, 3))
    assert 0 <= ev.accuracy <= 100 and ev.errors == len(ev.misclassified) and set(ev.by_iterations) == {"1", "3"}
    with torch.no_grad():
        ref = model36(ts.batch(slice(None)).images)
    assert ev.accuracy == pytest.approx(100 * pairs_right(ref.lengths, ts.labels).float().mean().item())
    assert ev.by_iterations["3"] == round(ev.accuracy, 2)
    # Single-digit MNIST accuracy of the same model goes through capsviz.training.evaluate on centred digits.
    assert evaluate(model36, centred_split(MNISTSplit(source.split.images[:4], source.split.labels[:4]))).loss > 0

    model = copy.deepcopy(model36).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    batch = source.random_batch(4, torch.Generator().manual_seed(8)).to("cpu")
    before = model.digit.weight.detach().clone()
    loss, right = multimnist_train_step(model, opt, batch, "bf16")
    assert np.isfinite(loss) and 0 <= right <= 4
    assert not torch.equal(before, model.digit.weight)


def test_trace_image_at_36(model36):
    from capsviz.inspect.trace import perturbation_grid, trace_image

    image = centre_pad(np.random.default_rng(0).random((28, 28), dtype=np.float32))
    t = trace_image(model36, image)
    assert t.image.shape == (36, 36) and t.reconstruction.shape == (36, 36)
    assert t.primary_poses.shape == (32, 10, 10, 8) and t.iterations[0].coupling.shape == (3200, 10)
    assert perturbation_grid(model36, t.poses, t.prediction, deltas=np.array([0.0])).shape == (16, 1, 36, 36)
    with pytest.raises(ValueError, match="36x36"):
        trace_image(model36, np.zeros((28, 28), np.float32))


def test_micro_batched_step_has_the_whole_batch_gradient(source, model36):
    batch = source.random_batch(5, torch.Generator().manual_seed(9)).to("cpu")
    grads, losses = [], []
    for micro in (5, 2):
        model = copy.deepcopy(model36).train()
        loss, right = multimnist_train_step(model, torch.optim.SGD(model.parameters(), lr=0.0), batch, "fp32", micro)
        grads.append([p.grad.clone() for p in model.parameters()])
        losses.append(loss)
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    for a, b in zip(*grads, strict=True):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-4)


@pytest.mark.slow
def test_train_task_multimnist_starts_from_mnist_weights_and_writes_a_pair_card(tmp_path, data_dir):
    """`python -m capsviz.train --task multimnist`: a 36x36 model from the shipped MNIST weights, short
    epochs, both-digits-right accuracy by routing iterations and single-digit accuracy in the card."""
    from capsviz.training.checkpoint import load_model, read_card
    from capsviz.training.train import main

    out = tmp_path / "mm"
    argv = ["--task", "multimnist", "--out", str(out), "--data-dir", str(data_dir), "--epochs", "1"]
    argv += ["--epoch-images", "200", "--limit-test", "40", "--threads", "1", "--no-progress", "--lr", "1e-4"]
    assert main(argv) == 0
    card = read_card(out)
    assert card["architecture"]["image_size"] == 36 and card["architecture"]["primary_grid"] == 10
    assert card["training"]["task"] == "multimnist" and card["training"]["init_from"] == "checkpoints"
    assert card["data"]["test_pairs"] == 40 and card["epochs"] == 1
    assert sorted(card["accuracy_by_routing_iterations"]) == ["1", "2", "3", "4", "5"]
    assert 0 <= card["mnist_accuracy"] <= 100 and card["mnist_accuracy"] > 90  # the transfer keeps MNIST
    assert card["test_errors"] == len(card["test_misclassified"]) == round(40 * (100 - card["test_accuracy"]) / 100)
    assert load_model(out).cfg.image_size == 36
