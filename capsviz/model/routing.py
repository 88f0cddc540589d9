"""Squash and dynamic routing by agreement (Sabour et al. 2017, Procedure 1).

There is exactly one routing implementation: training calls it with ``record=False``;
inspection calls it with ``record=True`` and gets every iteration back.

Layout: predictions ``u_hat`` are ``(B, J, I, D)`` = (batch, digit capsules, primary capsules,
pose dims). With J leading, both the weighted sum ``s_j = sum_i c_ij u_hat_j|i`` and the agreement
``u_hat_j|i . v_j`` are batched matrix products over (B, J): no broadcast temporaries of the size
of ``u_hat`` are made, which keeps the loop cheap on a CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

EPS = 1e-8
MAX_ITERATIONS = 5  # inference-time routing iterations offered by the app and measured by evaluation


def uniform_coupling(num_digits: int) -> float:
    """c_ij before any agreement (b_ij = 0): an even split over the J digit capsules."""
    return 1.0 / num_digits


def squash(s: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """v = |s|^2 / (1 + |s|^2) * s / |s|, always computed and returned in fp32.

    Safe for zero vectors (v = 0), huge vectors (|v| -> 1, never inf/NaN, even where |s|^2
    overflows) and bf16 inputs. |v| < 1 always: the factor is capped at 1 - 1e-6, where fp32
    would otherwise round it to exactly 1.
    """
    return _Squash.apply(s, dim)


class _Squash(torch.autograd.Function):
    """squash with a closed-form backward: a handful of elementwise passes where autograd through
    the forward's dozen ops took ~15 ms per step for the 100 x 1152 primary capsules on CPU."""

    @staticmethod
    def forward(ctx, s, dim):
        s32 = s.float()
        # Rescale by the largest component first so |s|^2 cannot overflow; v depends on s only
        # through the direction t/|t| and the length |s| = m |t|.
        m = s32.abs().amax(dim=dim, keepdim=True).clamp_min(torch.finfo(torch.float32).tiny)
        t = s32 / m
        t_norm = torch.linalg.vector_norm(t, dim=dim, keepdim=True)
        n = m * t_norm
        sq = n**2
        factor = (sq / (1.0 + sq)).nan_to_num(nan=1.0).clamp(max=1.0 - 1e-6)  # inf/inf -> 1
        unit = t / t_norm.clamp_min(EPS)
        ctx.save_for_backward(unit, n)
        ctx.dim, ctx.dtype = dim, s.dtype
        return unit * factor

    @staticmethod
    def backward(ctx, grad):
        # v = f(n) * unit with n = |s|, f(n) = n^2 / (1 + n^2), unit = s / n:
        # dL/ds = f/n * (g - unit (unit . g)) + f'(n) * unit (unit . g).
        unit, n = ctx.saved_tensors
        f_over_n = 1.0 / (n + 1.0 / n)  # n / (1 + n^2), written to give 0 at n = 0 and n = inf
        df = 2.0 * f_over_n / (1.0 + n * n)  # f'(n) = 2n / (1 + n^2)^2
        along = (unit * grad).sum(dim=ctx.dim, keepdim=True)
        out = grad * f_over_n + unit * ((df - f_over_n) * along)
        return out.to(ctx.dtype), None


@dataclass
class RoutingRecord:
    """Every routing iteration of a batch (tensors indexed [iteration, batch, ...]).

    logits:   (R, B, I, J) the routing logits b_ij the iteration started from (c = softmax_j b).
    coupling: (R, B, I, J) coupling coefficients c_ij; they sum to 1 over J.
    poses:    (R, B, J, D) digit capsule outputs v_j after the iteration.
    lengths:  (R, B, J)    |v_j|.
    """

    logits: torch.Tensor
    coupling: torch.Tensor
    poses: torch.Tensor
    lengths: torch.Tensor


def dynamic_routing(
    u_hat: torch.Tensor, iterations: int = 3, record: bool = False, stop_gradient: bool = True
) -> tuple[torch.Tensor, RoutingRecord | None]:
    """Route primary-capsule predictions to digit capsules.

    Args:
        u_hat: (B, J, I, D) predictions u_hat_j|i = W_ij u_i.
        iterations: r >= 1. b_ij starts at 0, so r=1 is uniform coupling (c_ij = 1/J).
        record: also return a :class:`RoutingRecord` of every iteration.
        stop_gradient: as in training, let gradients into ``u_hat`` through the last iteration only; False
            (attribution) differentiates through the couplings of every iteration too. The values are the same.

    Returns:
        v: (B, J, D) digit capsules, in fp32.
        record or None.

    As in the official implementation, only the last iteration lets gradients into ``u_hat``;
    earlier iterations (and hence the logits b and couplings c) see a detached copy.
    """
    if iterations < 1:
        raise ValueError(f"routing needs at least 1 iteration, got {iterations}")
    batch, num_digit, num_primary, _ = u_hat.shape
    u_stopped = u_hat.detach() if stop_gradient else u_hat
    # Logits live in fp32: they accumulate agreements over iterations.
    b = u_hat.new_zeros((batch, num_digit, num_primary), dtype=torch.float32)
    steps: list[tuple[torch.Tensor, ...]] = []
    for it in range(iterations):
        c = torch.softmax(b, dim=1)  # over digit capsules J
        u = u_hat if it == iterations - 1 else u_stopped
        # s_j = sum_i c_ij u_hat_j|i : (B, J, 1, I) @ (B, J, I, D) -> (B, J, D)
        s = torch.matmul(c.unsqueeze(2).to(u.dtype), u).squeeze(2)
        v = squash(s)
        if record:
            steps.append((b, c, v.detach(), v.detach().norm(dim=-1)))
        if it < iterations - 1:
            # agreement a_ij = u_hat_j|i . v_j : (B, J, I, D) @ (B, J, D, 1) -> (B, J, I)
            v_agree = v.detach() if stop_gradient else v
            agreement = torch.matmul(u_stopped, v_agree.unsqueeze(-1).to(u.dtype)).squeeze(-1)
            b = b + agreement.float()
    if not record:
        return v, None
    logits, coupling, poses, lengths = (torch.stack(t) for t in zip(*steps, strict=True))
    rec = RoutingRecord(
        logits=logits.transpose(2, 3).detach(),  # (R, B, I, J): primary-major, as the paper writes b_ij
        coupling=coupling.transpose(2, 3).detach(),
        poses=poses,
        lengths=lengths,
    )
    return v, rec
