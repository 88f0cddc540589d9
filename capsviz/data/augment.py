"""Batched training augmentation on (B, 1, 28, 28) tensors, driven by an explicit generator.

``paper``: random integer shifts of up to 2 px with zero padding (Sabour et al. 2017).
``canvas``: additionally small rotations, scalings and stroke-thickness changes, because digits
drawn on the app's canvas are more slanted and have other stroke widths than MNIST's even after
preprocessing; applied before the shift.
``pen``: ``canvas`` plus elastic distortion (Simard et al. 2003: other writers' hands) and, on
half the 1s, a flag at the top (and sometimes a base): much of the world writes 1 that way, and
MNIST's 1s, written in the US, are almost all plain bars, so a model trained on them alone reads a
flagged 1 as a 7. Needs the labels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MODES = ("none", "paper", "canvas", "pen")
DESCRIPTIONS = {
    "none": "none",
    "paper": "±2 px shifts",
    "canvas": "±2 px shifts, ±12° rotation, 0.9–1.1 scale, thinner/thicker strokes",
    "pen": "±2 px shifts, ±12° rotation, 0.9–1.1 scale, thinner/thicker strokes, elastic distortion, "
    "a flag on half the 1s",
}
NEEDS_LABELS = ("pen",)


def _rand(shape, g: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """Uniform [0, 1) numbers drawn from the CPU generator ``g`` (so a run's augmentation is the
    same on any device), placed on ``like``'s device."""
    return torch.rand(shape, generator=g).to(device=like.device, dtype=like.dtype)


def _uniform(n: int, lo: float, hi: float, g: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    return lo + (hi - lo) * _rand(n, g, like)


def random_shift(x: torch.Tensor, max_shift: int, g: torch.Generator) -> torch.Tensor:
    """Shift each image by an integer (dy, dx) in [-max_shift, max_shift], zero padded."""
    if max_shift == 0:
        return x
    b, _, h, w = x.shape
    p = max_shift
    xp = F.pad(x, (p, p, p, p))
    dy = torch.randint(0, 2 * p + 1, (b,), generator=g).to(x.device)
    dx = torch.randint(0, 2 * p + 1, (b,), generator=g).to(x.device)
    ar_h, ar_w = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    rows = (ar_h[None, :] + dy[:, None])[:, :, None]  # (B, H, 1)
    cols = (ar_w[None, :] + dx[:, None])[:, None, :]  # (B, 1, W)
    bidx = torch.arange(b, device=x.device)[:, None, None]
    return xp[bidx, 0, rows, cols].unsqueeze(1)


def random_affine(
    x: torch.Tensor, g: torch.Generator, max_degrees: float = 12.0, scale: tuple[float, float] = (0.9, 1.1)
) -> torch.Tensor:
    """Rotate about the image centre and scale, bilinear, zero fill."""
    b = x.shape[0]
    theta = torch.deg2rad(_uniform(b, -max_degrees, max_degrees, g, x))
    s = _uniform(b, *scale, g, x)
    cos, sin = torch.cos(theta) / s, torch.sin(theta) / s  # the grid maps output -> input
    zero = torch.zeros_like(cos)
    mat = torch.stack([cos, -sin, zero, sin, cos, zero], 1).view(b, 2, 3)
    grid = F.affine_grid(mat, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_thickness(x: torch.Tensor, g: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """With probability p, blend each image towards its 3x3 dilation (thicker) or erosion
    (thinner) by a random amount: the canvas's stroke widths vary more than MNIST's pen."""
    b = x.shape[0]
    dilated = F.max_pool2d(x, 3, stride=1, padding=1)
    eroded = -F.max_pool2d(-x, 3, stride=1, padding=1)
    amount = _uniform(b, -0.6, 0.8, g, x) * (_rand(b, g, x) < p)
    a = amount.view(b, 1, 1, 1)
    thick = x + a.clamp(min=0) * (dilated - x)
    return thick + (-a).clamp(min=0) * (eroded - x)


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    r = int(3 * sigma)
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=x.dtype, device=x.device) / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def random_elastic(x: torch.Tensor, g: torch.Generator, alpha: float = 8.0, sigma: float = 4.0) -> torch.Tensor:
    """Elastic distortion (Simard et al. 2003): a random displacement field, smoothed by a Gaussian
    of ``sigma`` px and scaled to at most ``alpha`` px at its largest, warps each image."""
    b, _, h, w = x.shape
    field = _gaussian_blur(_rand((b, 2, h, w), g, x) * 2 - 1, sigma)
    field = field / field.abs().amax(dim=(1, 2, 3), keepdim=True).clamp(min=1e-6)
    strength = _uniform(b, 0.0, alpha, g, x).view(b, 1, 1, 1)
    to_grid = 2 / torch.tensor([w, h], dtype=x.dtype, device=x.device).view(1, 2, 1, 1)  # px -> [-1, 1] units
    offset = (field * strength * to_grid).permute(0, 2, 3, 1)
    eye = torch.eye(2, 3, dtype=x.dtype, device=x.device).expand(b, 2, 3)
    base = F.affine_grid(eye, list(x.shape), align_corners=False)
    return F.grid_sample(x, base + offset, mode="bilinear", padding_mode="zeros", align_corners=False)


def _segment_ink(h: int, w: int, p0: torch.Tensor, p1: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    """Anti-aliased ink (B, H, W) of a round-capped segment from p0 to p1 ((B, 2) as x, y in
    pixel coordinates) of the given widths (B,)."""
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=p0.dtype, device=p0.device),
        torch.arange(w, dtype=p0.dtype, device=p0.device),
        indexing="ij",
    )
    pix = torch.stack([xs, ys], -1).view(1, h, w, 2)
    a, d = p0.view(-1, 1, 1, 2), (p1 - p0).view(-1, 1, 1, 2)
    t = (((pix - a) * d).sum(-1) / (d * d).sum(-1).clamp(min=1e-6)).clamp(0, 1)
    dist = (pix - (a + t.unsqueeze(-1) * d)).norm(dim=-1)
    return (width.view(-1, 1, 1) / 2 + 0.5 - dist).clamp(0, 1)


def _roll_each(img: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """torch.roll of each image (N, H, W) by its own integer (dy, dx)."""
    n, h, w = img.shape
    rows = (torch.arange(h, device=img.device)[None, :] - dy[:, None]) % h
    cols = (torch.arange(w, device=img.device)[None, :] - dx[:, None]) % w
    return img[torch.arange(n, device=img.device)[:, None, None], rows[:, :, None], cols[:, None, :]]


def add_flags(
    x: torch.Tensor, y: torch.Tensor, g: torch.Generator, p: float = 0.5, base_p: float = 0.3
) -> torch.Tensor:
    """Give a random half (``p``) of the 1s in the batch a flag: a short stroke from the top of the
    bar down to the left, 20-42% of the digit's height long, 25-60° below horizontal, as wide as
    the bar; some (``base_p``) also get a base. Then re-centre by centre of mass, as MNIST does."""
    b, _, h, w = x.shape
    pick = (y.to(x.device) == 1) & (_rand(b, g, x) < p)
    n = int(pick.sum())
    if n == 0:
        return x
    img = x[pick, 0]  # (n, H, W)
    rows = (img > 0.3).any(2)
    r = torch.arange(h, dtype=x.dtype, device=x.device)
    c = torch.arange(w, dtype=x.dtype, device=x.device)
    top = torch.where(rows, r, torch.full_like(r, h)).amin(1)  # first and last inked rows
    bottom = torch.where(rows, r, torch.full_like(r, -1)).amax(1).clamp(min=top)

    def ink_x(row: torch.Tensor) -> torch.Tensor:  # x of the ink's middle in rows row..row+1
        band = ((r.view(1, h) >= row.view(n, 1)) & (r.view(1, h) <= row.view(n, 1) + 1)).to(x.dtype)
        m = (img * band.unsqueeze(2)).sum(1)  # (n, W)
        return (m * c).sum(1) / m.sum(1).clamp(min=1e-6)

    height = bottom - top + 1
    bar_width = (img.sum((1, 2)) / height).clamp(1.5, 4.0)  # ink per row: the bar's width
    length = height * _uniform(n, 0.2, 0.42, g, x)
    angle = torch.deg2rad(_uniform(n, 25.0, 60.0, g, x))
    p0 = torch.stack([ink_x(top), top + 0.5 * bar_width], 1)
    p1 = p0 + torch.stack([-length * torch.cos(angle), length * torch.sin(angle)], 1)
    ink = _segment_ink(h, w, p0, p1, bar_width)
    half = height * _uniform(n, 0.15, 0.3, g, x)
    xb, yb = ink_x((bottom - 1).clamp(min=0)), bottom - 0.5 * bar_width
    base = _segment_ink(h, w, torch.stack([xb - half, yb], 1), torch.stack([xb + half, yb], 1), bar_width)
    with_base = (_rand(n, g, x) < base_p).view(n, 1, 1)
    img = torch.maximum(img, torch.where(with_base, torch.maximum(ink, base), ink))
    mass = img.sum((1, 2)).clamp(min=1e-6)
    cy = (img.sum(2) * r).sum(1) / mass
    cx = (img.sum(1) * c).sum(1) / mass
    img = _roll_each(img, ((h - 1) / 2 - cy).round().long(), ((w - 1) / 2 - cx).round().long())
    out = x.clone()
    out[pick, 0] = img
    return out


def swap_in(x: torch.Tensor, twins: torch.Tensor, p: float, g: torch.Generator) -> torch.Tensor:
    """Replace each image of x (B, 1, H, W) by its twin (same shape) with probability p."""
    if p <= 0:
        return x
    swap = (_rand(x.shape[0], g, x) < p).view(-1, 1, 1, 1)
    return torch.where(swap, twins.to(x.device), x)


def augment(
    x: torch.Tensor, mode: str, g: torch.Generator, max_shift: int = 2, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """Augment a batch x (B, 1, 28, 28) in [0, 1], on x's device, with randomness from the CPU
    generator g; ``labels`` (B,) are needed by the modes in NEEDS_LABELS."""
    if mode not in MODES:
        raise ValueError(f"augmentation must be one of {MODES}, got {mode!r}")
    if mode == "none":
        return x
    if mode == "pen":
        if labels is None:
            raise ValueError("augmentation 'pen' needs the labels")
        x = random_elastic(add_flags(x, labels, g), g)
    if mode in ("canvas", "pen"):
        x = random_thickness(random_affine(x, g), g)
    return random_shift(x, max_shift, g)
