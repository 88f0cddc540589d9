import numpy as np
import pytest
import torch

from capsviz.inspect.trace import perturbation_grid, primary_index, reconstruct, trace_image, unflatten_primary
from capsviz.model.capsnet import CapsNet, CapsNetConfig
from capsviz.model.losses import margin_loss, reconstruction_loss


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return CapsNet().eval()


def test_paper_architecture_shapes_and_parameter_count(model):
    cfg = model.cfg
    assert cfg.num_primary == 1152
    assert model.conv1.weight.shape == (256, 1, 9, 9)
    assert model.primary.conv.weight.shape == (256, 256, 9, 9) and model.primary.conv.stride == (2, 2)
    assert model.digit.weight.shape == (1152, 8, 10, 16)
    linears = [m for m in model.decoder.net if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(160, 512), (512, 1024), (1024, 784)]
    assert sum(p.numel() for p in model.parameters()) == 8_215_568


def test_stage_shapes(model):
    x = torch.rand(3, 1, 28, 28)
    h = torch.relu(model.conv1(x))
    assert h.shape == (3, 256, 20, 20)
    u = model.primary(h)
    assert u.shape == (3, 1152, 8)
    assert (u.norm(dim=-1) < 1).all()
    u_hat = model.digit.predictions(u)
    assert u_hat.shape == (3, 10, 1152, 16)
    out = model(x, record=True)
    assert out.lengths.shape == (3, 10) and out.poses.shape == (3, 10, 16)
    assert out.reconstruction.shape == (3, 28, 28)
    assert ((out.lengths >= 0) & (out.lengths < 1)).all()
    assert out.routing.coupling.shape == (3, 3, 1152, 10)


def test_u_hat_is_W_times_u(model):
    u = torch.randn(2, 1152, 8)
    u_hat = model.digit.predictions(u)
    i, j = 700, 4
    expected = u[:, i] @ model.digit.weight[i, :, j, :]
    assert torch.allclose(u_hat[:, j, i], expected, atol=1e-6)


def test_primary_capsule_numbering_matches_conv_channels(model):
    x = torch.rand(1, 256, 20, 20)
    raw = model.primary.conv(x)  # (1, 256, 6, 6), channel = type * 8 + dim
    u = model.primary(x)
    kind, row, col = 5, 2, 4
    from capsviz.model.routing import squash

    expected = squash(raw[0, kind * 8 : kind * 8 + 8, row, col])
    assert torch.allclose(u[0, primary_index(kind, row, col)], expected, atol=1e-6)
    grid = unflatten_primary(u[0].detach().numpy())
    assert grid.shape == (32, 6, 6, 8)
    assert np.allclose(grid[kind, row, col], expected.detach().numpy(), atol=1e-6)


def test_decoder_mask_selects_one_capsule(model):
    poses = torch.randn(2, 10, 16) * 0.3
    target = torch.tensor([3, 8])
    base = model.decoder(poses, target)
    other = poses.clone()
    other[0, [0, 1, 2, 4, 5, 6, 7, 8, 9]] = torch.randn(9, 16)  # change every capsule but 3
    assert torch.allclose(model.decoder(other, target)[0], base[0])
    other[0, 3] += 0.5
    assert not torch.allclose(model.decoder(other, target)[0], base[0])
    # Decoding "as class 8" uses capsule 8's pose only.
    as8 = model.decoder(poses, torch.tensor([8, 8]))
    assert not torch.allclose(as8[0], base[0])


def test_inference_masks_by_prediction_training_by_label(model):
    x = torch.rand(2, 1, 28, 28)
    out = model(x)
    pred = out.lengths.argmax(1)
    assert torch.allclose(out.reconstruction, model.decoder(out.poses, pred))
    wrong = (pred + 1) % 10
    assert torch.allclose(model(x, target=wrong).reconstruction, model.decoder(out.poses, wrong))


def test_margin_loss_hand_computed():
    lengths = torch.tensor([[0.95, 0.5, 0.05, 0.2, 0, 0, 0, 0, 0, 0.1]])
    # true class 1: (0.9-0.5)^2 = 0.16; absent: 0.5*(0.95-0.1)^2 + 0.5*(0.2-0.1)^2 = 0.36125 + 0.005
    assert margin_loss(lengths, torch.tensor([1])).item() == pytest.approx(0.16 + 0.36125 + 0.005)
    perfect = torch.tensor([[0.95] + [0.05] * 9])
    assert margin_loss(perfect, torch.tensor([0])).item() == 0.0


def test_reconstruction_loss_is_0005_sum_squared():
    images = torch.zeros(2, 1, 28, 28)
    recon = torch.zeros(2, 28, 28)
    recon[0, :10, :10] = 0.5  # 100 pixels x 0.25 = 25 ; image 2 exact
    assert reconstruction_loss(recon, images).item() == pytest.approx(0.0005 * 25 / 2)


def test_trace_last_iteration_equals_forward_pass(model):
    img = np.random.default_rng(0).random((28, 28), dtype=np.float32)
    for r in (1, 3, 5):
        t = trace_image(model, img, iterations=r)
        out = model(torch.from_numpy(img).view(1, 1, 28, 28), iterations=r)
        assert t.num_iterations == r
        assert np.allclose(t.iterations[-1].poses, out.poses[0].detach().numpy(), atol=1e-6)
        assert np.allclose(t.lengths, out.lengths[0].detach().numpy(), atol=1e-6)
        assert t.prediction == int(out.lengths.argmax())
        assert np.allclose(t.iterations[0].coupling, 0.1)
        assert np.allclose(t.iterations[-1].coupling.sum(1), 1, atol=1e-5)
    assert t.primary_poses.shape == (32, 6, 6, 8) and t.primary_lengths.shape == (32, 6, 6)


def test_reconstruct_and_perturbation_grid(model):
    img = np.random.default_rng(1).random((28, 28), dtype=np.float32)
    t = trace_image(model, img)
    r = reconstruct(model, t.poses, t.prediction)
    assert r.shape == (28, 28) and np.allclose(r, t.reconstruction, atol=1e-6)
    grid = perturbation_grid(model, t.poses, digit=2)
    assert grid.shape == (16, 11, 28, 28)
    assert np.allclose(grid[0, 5], reconstruct(model, t.poses, 2), atol=1e-6)  # delta 0 is unchanged
    shifted = t.poses.copy()
    shifted[2, 7] += 0.25
    assert np.allclose(grid[7, 10], reconstruct(model, shifted, 2), atol=1e-6)


def test_inspection_rejects_wrong_shape(model):
    with pytest.raises(ValueError, match="28x28"):
        trace_image(model, np.zeros((32, 32), np.float32))


def test_config_roundtrip():
    cfg = CapsNetConfig(routing_iterations=2)
    assert CapsNetConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("channels_last", [True, False])
def test_gemm_convolution_equals_conv2d_values_and_gradients(channels_last):
    from capsviz.model.strided_conv import conv2d_gemm

    torch.manual_seed(0)
    w = (torch.randn(16, 8, 9, 9) * 0.1).requires_grad_()
    b = torch.randn(16).requires_grad_()
    x = torch.randn(3, 8, 20, 20)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    ref = torch.nn.functional.conv2d(x, w, b, stride=2)
    out = conv2d_gemm(x, w, b, stride=2).permute(0, 3, 1, 2)
    assert out.shape == ref.shape == (3, 16, 6, 6)
    assert torch.allclose(out, ref, atol=1e-4)
    g = torch.randn_like(ref)
    for a, c in zip(torch.autograd.grad(ref, (x, w, b), g), torch.autograd.grad(out, (x, w, b), g), strict=True):
        assert torch.allclose(a, c, atol=1e-3, rtol=1e-4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = conv2d_gemm(x, w, b, stride=2)
    assert low.dtype == torch.bfloat16
    assert torch.allclose(low.float().permute(0, 3, 1, 2), ref, atol=0.1, rtol=0.02)


def test_gemm_conv_relu_equals_conv2d_values_and_gradients():
    from capsviz.model.strided_conv import conv2d_relu_gemm

    torch.manual_seed(0)
    w = (torch.randn(16, 1, 9, 9) * 0.1).requires_grad_()
    b = torch.randn(16).requires_grad_()
    x = torch.rand(3, 1, 28, 28)
    ref = torch.relu(torch.nn.functional.conv2d(x, w, b))
    out = conv2d_relu_gemm(x, w, b)
    assert out.shape == ref.shape == (3, 16, 20, 20)
    assert torch.allclose(out, ref, atol=1e-5)
    g = torch.randn_like(ref)
    for a, c in zip(torch.autograd.grad(ref, (w, b), g), torch.autograd.grad(out, (w, b), g), strict=True):
        assert torch.allclose(a, c, atol=1e-3, rtol=1e-4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = conv2d_relu_gemm(x, w, b)
    assert low.dtype == torch.bfloat16
    assert torch.allclose(low.float(), ref, atol=0.05, rtol=0.02)


def mock_chunk_bytes(n):
    from unittest import mock

    return mock.patch("capsviz.model.capsnet._CHUNK_BYTES", n)


def test_chunked_routing_equals_whole_batch():
    torch.manual_seed(0)
    m = CapsNet().eval()
    u = torch.randn(40, 1152, 8) * 0.2
    whole, _ = m.digit(u, 3, record=True)  # record=True routes the batch in one piece
    with torch.no_grad(), mock_chunk_bytes(1):  # one image per chunk
        chunked, _ = m.digit(u, 3)
    assert torch.allclose(chunked, whole, atol=1e-6)
