import math

import pytest
import torch

from capsviz.model.routing import dynamic_routing, squash


def test_squash_formula_and_direction():
    s = torch.tensor([[3.0, 4.0], [0.3, 0.4]])
    v = squash(s)
    for row, n in zip(v, (5.0, 0.5), strict=True):
        assert row.norm().item() == pytest.approx(n * n / (1 + n * n), rel=1e-5)
    assert torch.allclose(v[0] / v[0].norm(), torch.tensor([0.6, 0.8]), atol=1e-6)


def test_squash_zero_vector_is_zero_with_finite_gradient():
    s = torch.zeros(3, 8, requires_grad=True)
    v = squash(s)
    assert torch.equal(v, torch.zeros(3, 8))
    v.sum().backward()
    assert torch.isfinite(s.grad).all()


@pytest.mark.parametrize("scale", [1e-3, 0.3, 1.0, 3.0, 30.0])
@pytest.mark.parametrize("dim", [-1, 1])
def test_squash_gradient_matches_the_formula_differentiated(scale, dim):
    """squash's hand-written backward against autograd through v = |s|^2 / (1 + |s|^2) * s / |s| in fp64."""
    s = (torch.randn(6, 8, 5, dtype=torch.float64) * scale).requires_grad_()
    g = torch.randn(6, 8, 5, dtype=torch.float64)
    n = s.norm(dim=dim, keepdim=True)
    (n**2 / (1 + n**2) * s / n * g).sum().backward()
    want = s.grad.clone()
    s32 = s.detach().float().requires_grad_()
    (squash(s32, dim=dim) * g.float()).sum().backward()
    assert torch.allclose(s32.grad.double(), want, rtol=1e-4, atol=1e-6 * float(want.abs().max()))


@pytest.mark.parametrize("scale", [1e3, 1e19, 1e30, 1e37])
def test_squash_huge_vectors_stay_below_one(scale):
    s = torch.randn(64, 16) * scale
    lengths = squash(s).norm(dim=-1)
    assert torch.isfinite(lengths).all()
    assert (lengths < 1).all() and (lengths > 0.999).all()


def test_squash_bf16_input_gives_fp32_lengths_in_unit_interval():
    s = (torch.randn(1000, 16) * torch.logspace(-3, 3, 1000)[:, None]).bfloat16()
    v = squash(s)
    assert v.dtype == torch.float32
    n = v.norm(dim=-1)
    assert ((n >= 0) & (n < 1)).all()
    expected = squash(s.float())
    assert torch.allclose(v, expected, atol=1e-6)


def _u_hat(b=4, j=10, i=1152, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, j, i, d, generator=g) * 0.05


def test_coupling_coefficients_sum_to_one_over_digit_capsules():
    _, rec = dynamic_routing(_u_hat(), iterations=4, record=True)
    assert rec.coupling.shape == (4, 4, 1152, 10)
    assert torch.allclose(rec.coupling.sum(-1), torch.ones(4, 4, 1152), atol=1e-5)
    assert (rec.coupling >= 0).all()


def test_record_shapes_and_first_logits_zero():
    v, rec = dynamic_routing(_u_hat(), iterations=3, record=True)
    assert v.shape == (4, 10, 16)
    assert rec.logits.shape == (3, 4, 1152, 10)
    assert rec.poses.shape == (3, 4, 10, 16) and rec.lengths.shape == (3, 4, 10)
    assert torch.count_nonzero(rec.logits[0]) == 0
    assert torch.equal(rec.poses[-1], v)


def _squash_by_formula(s: torch.Tensor) -> torch.Tensor:
    """v = |s|^2 / (1 + |s|^2) * s / |s| written out in fp64, independent of capsviz.model.routing.squash."""
    s = s.double()
    n2 = (s * s).sum(-1, keepdim=True)
    return n2 / (1 + n2) * s / n2.sqrt()


@pytest.mark.parametrize("num_digit", [10, 4])
def test_one_iteration_is_uniform_coupling(num_digit):
    """r = 1: b_ij = 0, so c_ij = 1/J for every i, j and v_j = squash(sum_i u_hat_j|i / J)."""
    u = _u_hat(j=num_digit)
    v, rec = dynamic_routing(u, iterations=1, record=True)
    want = _squash_by_formula(u.double().sum(dim=2) / num_digit)
    assert v.shape == want.shape == (4, num_digit, 16)
    assert (
        v.double() - want
    ).abs().max() < 2e-6  # fp32 against fp64: measured 4e-7; a mean over i or no 1/J: off by 0.3
    assert torch.allclose(rec.coupling, torch.full_like(rec.coupling, 1 / num_digit))


def test_routing_matches_procedure_1_written_out():
    """Sabour et al. Procedure 1, written naively with einsum, gives the same v."""
    u = _u_hat(b=2, seed=3)
    b = torch.zeros(2, 1152, 10)
    for r in range(3):
        c = torch.softmax(b, dim=2)
        s = torch.einsum("bij,bjid->bjd", c, u)
        v = squash(s)
        if r < 2:
            b = b + torch.einsum("bjid,bjd->bij", u, v)
    ours, _ = dynamic_routing(u, iterations=3)
    assert torch.allclose(ours, v, atol=1e-5)


def test_gradient_flows_only_through_last_iteration():
    u = _u_hat(b=1).requires_grad_(True)
    v, _ = dynamic_routing(u, iterations=3)
    v.norm(dim=-1).sum().backward()
    assert u.grad is not None and torch.isfinite(u.grad).all()
    # With c fixed (no gradient through the routing logits), dL/du_hat_j|i = c_ij * dL/ds_j:
    # the gradient is the same direction for every i of a given j, scaled by c_ij.
    g = u.grad[0, 0]
    ratios = g / g[0:1]
    assert torch.allclose(ratios, ratios[:, :1].expand_as(ratios), rtol=1e-3, atol=1e-6)


def test_routing_rejects_zero_iterations():
    with pytest.raises(ValueError, match="at least 1"):
        dynamic_routing(_u_hat(b=1), iterations=0)


def test_more_iterations_sharpen_coupling():
    """Routing by agreement concentrates coupling: entropy falls over iterations."""
    u = _u_hat(b=2)
    u[:, 3] += 0.05  # every primary capsule agrees on digit 3
    _, rec = dynamic_routing(u, iterations=3, record=True)
    ent = -(rec.coupling * rec.coupling.clamp_min(1e-12).log()).sum(-1).mean(dim=(1, 2))
    assert ent[0].item() == pytest.approx(math.log(10), rel=1e-5)
    assert ent[2] < ent[1] < ent[0]
