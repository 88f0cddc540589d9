"""What the app asks of the model: one image in, a typed trace of everything inside out.

    trace = trace_image(model, image28, iterations=3)     # CapsuleTrace
    recon = reconstruct(model, trace.poses, digit=8)      # (28, 28): decode any pose as any class

Both run under torch.inference_mode() in fp32, on the routing function training uses
(capsviz.model.routing.dynamic_routing with record=True).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from capsviz.model.capsnet import MNIST_SIDE, CapsNet

# The paper's Figure 4: each pose dimension shifted by -0.25 ... +0.25 in steps of 0.05.
FIGURE4_DELTAS = np.round(np.arange(-0.25, 0.2501, 0.05), 2)


@dataclass(frozen=True)
class RoutingIteration:
    """One routing iteration for one image. Primary capsule index i = (row * 6 + col) * 32 + type."""

    logits: np.ndarray  # (1152, 10) b_ij this iteration started from
    coupling: np.ndarray  # (1152, 10) c_ij = softmax_j(b_ij); rows sum to 1
    poses: np.ndarray  # (10, 16) digit capsules v_j after this iteration
    lengths: np.ndarray  # (10,) |v_j|


@dataclass(frozen=True)
class CapsuleTrace:
    image: np.ndarray  # (28, 28) float32 in [0, 1], what the model saw
    lengths: np.ndarray  # (10,) final digit-capsule lengths
    prediction: int  # argmax of lengths
    poses: np.ndarray  # (10, 16) final digit capsules
    primary_poses: np.ndarray  # (32, 6, 6, 8) primary capsules [type, row, col, dim]
    primary_lengths: np.ndarray  # (32, 6, 6)
    iterations: tuple[RoutingIteration, ...]
    reconstruction: np.ndarray  # (28, 28) decoded from the predicted capsule

    @property
    def num_iterations(self) -> int:
        return len(self.iterations)


def primary_index(kind: int, row: int, col: int, grid: int = 6, types: int = 32) -> int:
    """Flat primary-capsule index of (type, row, col)."""
    return (row * grid + col) * types + kind


def unflatten_primary(values: np.ndarray, grid: int = 6, types: int = 32) -> np.ndarray:
    """(1152, ...) per-capsule values -> (32, 6, 6, ...) indexed [type, row, col]."""
    v = np.asarray(values)
    return np.moveaxis(v.reshape(grid, grid, types, *v.shape[1:]), 2, 0)


def flatten_primary(values: np.ndarray) -> np.ndarray:
    """(32, 6, 6, ...) indexed [type, row, col] -> (1152, ...) in the flat primary order; undoes
    unflatten_primary."""
    v = np.moveaxis(np.asarray(values), 0, 2)
    return v.reshape(-1, *v.shape[3:])


def _as_batch(image: np.ndarray | torch.Tensor, device: torch.device, size: int = MNIST_SIDE) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(image, dtype=np.float32), device=device)
    if x.shape[-2:] != (size, size):
        raise ValueError(f"expected a {size}x{size} image, got shape {tuple(x.shape)}")
    return x.reshape(1, 1, size, size)


@torch.inference_mode()
def trace_image(model: CapsNet, image: np.ndarray, iterations: int | None = None) -> CapsuleTrace:
    """Run one 28x28 image (values in [0, 1]) and record every routing iteration. (A model with
    another cfg.image_size, e.g. MultiMNIST's 36, takes images of that size; the trace's grids and
    counts follow its config: 10x10 and 3200 primary capsules there.)"""
    device = next(model.parameters()).device
    x = _as_batch(image, device, model.cfg.image_size)
    out = model(x, iterations=iterations, record=True)
    rec = out.routing
    assert rec is not None
    cfg = model.cfg
    steps = tuple(
        RoutingIteration(
            logits=rec.logits[r, 0].cpu().numpy(),
            coupling=rec.coupling[r, 0].cpu().numpy(),
            poses=rec.poses[r, 0].cpu().numpy(),
            lengths=rec.lengths[r, 0].cpu().numpy(),
        )
        for r in range(rec.logits.shape[0])
    )
    primary = out.primary[0].float().cpu().numpy()  # (1152, 8)
    primary_poses = unflatten_primary(primary, cfg.primary_grid, cfg.primary_types)
    lengths = out.lengths[0].cpu().numpy()
    return CapsuleTrace(
        image=x[0, 0].cpu().numpy(),
        lengths=lengths,
        prediction=int(lengths.argmax()),
        poses=out.poses[0].cpu().numpy(),
        primary_poses=primary_poses,
        primary_lengths=np.linalg.norm(primary_poses, axis=-1),
        iterations=steps,
        reconstruction=out.reconstruction[0].cpu().numpy(),
    )


@torch.inference_mode()
def reconstruct(model: CapsNet, poses: np.ndarray, digit: int) -> np.ndarray:
    """Decode (10, 16) poses — or a stack (N, 10, 16) — keeping only capsule ``digit``.
    Returns (28, 28) or (N, 28, 28) in [0, 1]."""
    device = next(model.parameters()).device
    p = torch.as_tensor(np.asarray(poses, dtype=np.float32), device=device)
    single = p.dim() == 2
    p = p.reshape(-1, model.cfg.num_classes, model.cfg.digit_dim)
    target = torch.full((p.shape[0],), int(digit), dtype=torch.long, device=device)
    out = model.decoder(p, target).cpu().numpy()
    return out[0] if single else out


def perturbation_grid(model: CapsNet, poses: np.ndarray, digit: int, deltas: np.ndarray | None = None) -> np.ndarray:
    """The paper's Figure 4: for each of the 16 dimensions of capsule ``digit``, reconstructions
    with that dimension shifted by each delta (default -0.25 ... 0.25 in steps of 0.05).
    Returns (16, len(deltas), 28, 28), decoded in one batch."""
    if deltas is None:
        deltas = FIGURE4_DELTAS
    dims = poses.shape[-1]
    batch = np.repeat(np.asarray(poses, np.float32)[None, None], dims, 0).repeat(len(deltas), 1)
    for d in range(dims):
        batch[d, :, digit, d] += deltas
    recon = reconstruct(model, batch.reshape(-1, *poses.shape), digit)
    return recon.reshape(dims, len(deltas), *recon.shape[-2:])


@torch.inference_mode()
def classify(model: CapsNet, images: np.ndarray, batch_size: int = 100) -> np.ndarray:
    """Predicted class (N,) for images (N, H, W) in [0, 1], batched, without reconstructions."""
    device = next(model.parameters()).device
    preds = []
    for i in range(0, len(images), batch_size):
        x = torch.as_tensor(np.asarray(images[i : i + batch_size], np.float32), device=device).unsqueeze(1)
        preds.append(model(x, reconstruct=False).lengths.argmax(1).cpu().numpy())
    return np.concatenate(preds) if preds else np.zeros(0, np.int64)
