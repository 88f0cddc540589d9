"""Batched training augmentation on (B, 1, 28, 28) tensors, driven by an explicit generator.

``paper``: random integer shifts of up to 2 px with zero padding (Sabour et al. 2017).
``canvas``: additionally small rotations, scalings and stroke-thickness changes, because digits
drawn on the app's canvas are more slanted and have other stroke widths than MNIST's even after
preprocessing; applied before the shift.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MODES = ("none", "paper", "canvas")
DESCRIPTIONS = {
    "none": "none",
    "paper": "±2 px shifts",
    "canvas": "±2 px shifts, ±12° rotation, 0.9–1.1 scale, thinner/thicker strokes",
}


def _uniform(n: int, lo: float, hi: float, g: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g)


def random_shift(x: torch.Tensor, max_shift: int, g: torch.Generator) -> torch.Tensor:
    """Shift each image by an integer (dy, dx) in [-max_shift, max_shift], zero padded."""
    if max_shift == 0:
        return x
    b, _, h, w = x.shape
    p = max_shift
    xp = F.pad(x, (p, p, p, p))
    dy = torch.randint(0, 2 * p + 1, (b,), generator=g)
    dx = torch.randint(0, 2 * p + 1, (b,), generator=g)
    rows = (torch.arange(h)[None, :] + dy[:, None])[:, :, None]  # (B, H, 1)
    cols = (torch.arange(w)[None, :] + dx[:, None])[:, None, :]  # (B, 1, W)
    bidx = torch.arange(b)[:, None, None]
    return xp[bidx, 0, rows, cols].unsqueeze(1)


def random_affine(
    x: torch.Tensor, g: torch.Generator, max_degrees: float = 12.0, scale: tuple[float, float] = (0.9, 1.1)
) -> torch.Tensor:
    """Rotate about the image centre and scale, bilinear, zero fill."""
    b = x.shape[0]
    theta = torch.deg2rad(_uniform(b, -max_degrees, max_degrees, g))
    s = _uniform(b, *scale, g)
    cos, sin = torch.cos(theta) / s, torch.sin(theta) / s  # the grid maps output -> input
    mat = torch.zeros(b, 2, 3)
    mat[:, 0, 0], mat[:, 0, 1], mat[:, 1, 0], mat[:, 1, 1] = cos, -sin, sin, cos
    grid = F.affine_grid(mat, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_thickness(x: torch.Tensor, g: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """With probability p, blend each image towards its 3x3 dilation (thicker) or erosion
    (thinner) by a random amount: the canvas's stroke widths vary more than MNIST's pen."""
    b = x.shape[0]
    dilated = F.max_pool2d(x, 3, stride=1, padding=1)
    eroded = -F.max_pool2d(-x, 3, stride=1, padding=1)
    amount = _uniform(b, -0.6, 0.8, g) * (torch.rand(b, generator=g) < p)
    a = amount.view(b, 1, 1, 1)
    thick = x + a.clamp(min=0) * (dilated - x)
    return thick + (-a).clamp(min=0) * (eroded - x)


def augment(x: torch.Tensor, mode: str, g: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    if mode not in MODES:
        raise ValueError(f"augmentation must be one of {MODES}, got {mode!r}")
    if mode == "none":
        return x
    if mode == "canvas":
        x = random_thickness(random_affine(x, g), g)
    return random_shift(x, max_shift, g)
