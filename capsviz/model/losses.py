"""Margin loss and reconstruction loss (Sabour et al. 2017, eq. 4 and section 4.1).

Single digits (MNIST): ``capsule_loss(lengths, reconstruction, images, target)`` with target (B,).
Several digits per image (MultiMNIST, section 6): ``multi_digit_loss(lengths, reconstructions,
digits, labels)`` with labels (B, K): every labelled class is present (a multi-hot margin target),
and each digit is decoded from its own capsule and compared with its own image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

M_PLUS = 0.9
M_MINUS = 0.1
LAMBDA = 0.5
RECONSTRUCTION_WEIGHT = 0.0005


def multi_hot(labels: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """labels (B, K) int -> (B, num_classes) float, 1 where a class is among the image's labels."""
    return F.one_hot(labels, num_classes).amax(dim=1).float()


def margin_loss_multi_hot(lengths: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """lengths (B, 10), present (B, 10) with T_k = 1 for every class in the image, else 0 ->
    mean over the batch of sum_k T_k max(0, m+ - |v_k|)^2 + lambda (1 - T_k) max(0, |v_k| - m-)^2."""
    t = present.float()
    lengths = lengths.float()
    present_term = t * F.relu(M_PLUS - lengths) ** 2
    absent_term = LAMBDA * (1.0 - t) * F.relu(lengths - M_MINUS) ** 2
    return (present_term + absent_term).sum(dim=1).mean()


def margin_loss(lengths: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """lengths (B, 10), target (B,) -> mean over the batch of sum_k L_k."""
    return margin_loss_multi_hot(lengths, F.one_hot(target, lengths.shape[1]))


def reconstruction_loss(reconstruction: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """0.0005 x sum of squared pixel errors, averaged over the batch.

    Any shapes with the same number of elements per image: (B, S, S) against (B, 1, S, S), or
    (B, K, S, S) against (B, K, S, S), where the sum runs over all K reconstructions."""
    err = (reconstruction.float().flatten(1) - images.float().flatten(1)) ** 2
    return RECONSTRUCTION_WEIGHT * err.sum(dim=1).mean()


def capsule_loss(
    lengths: torch.Tensor, reconstruction: torch.Tensor, images: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    return margin_loss(lengths, target) + reconstruction_loss(reconstruction, images)


def multi_digit_loss(
    lengths: torch.Tensor, reconstructions: torch.Tensor, digits: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """MultiMNIST's loss (Sabour et al. 2017, section 6).

    lengths (B, 10); labels (B, K) the K digits' classes (all different); reconstructions
    (B, K, S, S), digit k decoded from capsule labels[:, k] alone (``model(x, target=labels)``);
    digits (B, K, S, S) each digit's own (shifted) image. Margin loss with every labelled class
    present, plus 0.0005 x the squared error summed over the K reconstructions.
    """
    if reconstructions.shape != digits.shape or reconstructions.shape[:2] != labels.shape:
        raise ValueError(
            f"reconstructions {tuple(reconstructions.shape)}, digits {tuple(digits.shape)} and labels "
            f"{tuple(labels.shape)} must agree as (B, K, S, S), (B, K, S, S), (B, K)"
        )
    present = multi_hot(labels, lengths.shape[1])
    return margin_loss_multi_hot(lengths, present) + reconstruction_loss(reconstructions, digits)
