"""Margin loss and reconstruction loss (Sabour et al. 2017, eq. 4 and section 4.1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

M_PLUS = 0.9
M_MINUS = 0.1
LAMBDA = 0.5
RECONSTRUCTION_WEIGHT = 0.0005


def margin_loss(lengths: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """lengths (B, 10), target (B,) -> mean over the batch of sum_k L_k."""
    t = F.one_hot(target, lengths.shape[1]).float()
    lengths = lengths.float()
    present = t * F.relu(M_PLUS - lengths) ** 2
    absent = LAMBDA * (1.0 - t) * F.relu(lengths - M_MINUS) ** 2
    return (present + absent).sum(dim=1).mean()


def reconstruction_loss(reconstruction: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """0.0005 x sum of squared pixel errors, averaged over the batch."""
    err = (reconstruction.float().flatten(1) - images.float().flatten(1)) ** 2
    return RECONSTRUCTION_WEIGHT * err.sum(dim=1).mean()


def capsule_loss(
    lengths: torch.Tensor, reconstruction: torch.Tensor, images: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    return margin_loss(lengths, target) + reconstruction_loss(reconstruction, images)
