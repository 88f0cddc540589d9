"""Beyond the paper: transform the input and watch the digit capsule's pose follow.

    img = transform_image(image28, Transform(angle=20, scale=1.1))
    sw = sweep(model, image28, "angle", digit=3)       # EquivarianceSweep: 19 rotations, one batch

A capsule is meant to be *equivariant*: when the digit rotates, its pose vector should change
smoothly while its length (the evidence for the class) stays put. The sweep runs every
transformed copy through the model in one batched forward pass.

Transformations are about the image centre (13.5, 13.5), bilinear (order 1), zero outside:
``angle`` in degrees counter-clockwise as seen on screen, ``scale`` > 1 enlarges, ``shift_x``
moves right and ``shift_y`` moves down, in pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from scipy import ndimage

from capsviz.model.capsnet import MNIST_SIDE, CapsNet

LIMITS = {"angle": (-45.0, 45.0), "scale": (0.7, 1.3), "shift_x": (-4.0, 4.0), "shift_y": (-4.0, 4.0)}
LABELS = {
    "angle": "rotation (degrees, counter-clockwise)",
    "scale": "scale factor",
    "shift_x": "horizontal shift (pixels, + is right)",
    "shift_y": "vertical shift (pixels, + is down)",
}


# The sweep's grid, and the app's slider steps, so that the current copy is always one of the sweep's.
STEPS = {"angle": 5.0, "scale": 0.05, "shift_x": 0.5, "shift_y": 0.5}


def default_values(kind: str) -> np.ndarray:
    """The sweep's grid for each kind: LIMITS in STEPS (5° steps, 0.05 scale steps, half-pixel shifts)."""
    if kind not in LIMITS:
        raise ValueError(f"unknown transformation {kind!r}; expected one of {sorted(LIMITS)}")
    (lo, hi), step = LIMITS[kind], STEPS[kind]
    return np.round(np.linspace(lo, hi, round((hi - lo) / step) + 1), 4)


@dataclass(frozen=True)
class Transform:
    angle: float = 0.0  # degrees, counter-clockwise on screen
    scale: float = 1.0
    shift_x: float = 0.0  # pixels, + right
    shift_y: float = 0.0  # pixels, + down

    def with_value(self, kind: str, value: float) -> Transform:
        if kind not in LIMITS:
            raise ValueError(f"unknown transformation {kind!r}; expected one of {sorted(LIMITS)}")
        return replace(self, **{kind: float(value)})

    @property
    def is_identity(self) -> bool:
        return self.angle == 0 and self.scale == 1 and self.shift_x == 0 and self.shift_y == 0


def transform_image(image: np.ndarray, t: Transform = Transform()) -> np.ndarray:
    """Rotate, scale, then shift a 2-D image about its centre. Returns float32, same shape."""
    a = np.asarray(image, dtype=np.float32)
    if t.is_identity:
        return a.copy()
    if t.scale <= 0:
        raise ValueError(f"scale must be positive, got {t.scale}")
    theta = np.deg2rad(t.angle)
    cos, sin = np.cos(theta), np.sin(theta)
    # Forward map on (row, col) offsets from the centre: a counter-clockwise turn on screen
    # (rows point down) is row' = cos*row - sin*col, col' = sin*row + cos*col, then scale, shift.
    forward = t.scale * np.array([[cos, -sin], [sin, cos]])
    inverse = np.linalg.inv(forward)
    centre = (np.array(a.shape, dtype=np.float64) - 1.0) / 2.0
    shift = np.array([t.shift_y, t.shift_x])
    # affine_transform samples input[inverse @ out + offset]; out = forward @ (in - c) + c + shift.
    offset = centre - inverse @ (centre + shift)
    out = ndimage.affine_transform(a, inverse, offset=offset, order=1, mode="grid-constant", cval=0.0)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class BatchResult:
    lengths: np.ndarray  # (N, 10)
    predictions: np.ndarray  # (N,)
    poses: np.ndarray  # (N, 10, 16) all digit capsules
    reconstructions: np.ndarray  # (N, 28, 28) decoded from capsule `digit` (or the prediction)


@torch.inference_mode()
def run_images(
    model: CapsNet, images: np.ndarray, digit: int | None = None, iterations: int | None = None
) -> BatchResult:
    """One batched forward pass over (N, 28, 28) images in [0, 1]. Reconstructions decode capsule
    ``digit`` for every image (None: each image's own prediction)."""
    device = next(model.parameters()).device
    x = torch.as_tensor(np.asarray(images, dtype=np.float32), device=device).reshape(-1, 1, MNIST_SIDE, MNIST_SIDE)
    target = None if digit is None else torch.full((x.shape[0],), int(digit), dtype=torch.long, device=device)
    out = model(x, target=target, iterations=iterations, reconstruct=True)
    lengths = out.lengths.float().cpu().numpy()
    return BatchResult(
        lengths=lengths,
        predictions=lengths.argmax(axis=1),
        poses=out.poses.float().cpu().numpy(),
        reconstructions=out.reconstruction.float().cpu().numpy(),
    )


@dataclass(frozen=True)
class EquivarianceSweep:
    kind: str  # "angle", "scale", "shift_x" or "shift_y"
    values: np.ndarray  # (N,) the swept parameter
    digit: int  # the capsule whose pose is tracked and decoded
    images: np.ndarray  # (N, 28, 28) transformed inputs
    predictions: np.ndarray  # (N,)
    lengths: np.ndarray  # (N, 10)
    poses: np.ndarray  # (N, 16) pose of capsule `digit`
    reconstructions: np.ndarray  # (N, 28, 28) decoded from capsule `digit`


def sweep(
    model: CapsNet,
    image: np.ndarray,
    kind: str,
    values: np.ndarray | None = None,
    digit: int | None = None,
    iterations: int | None = None,
    base: Transform = Transform(),
) -> EquivarianceSweep:
    """Transform ``image`` by each value of ``kind`` (the other parameters held at ``base``), run
    all copies in one batch and track capsule ``digit`` (default: the prediction for ``base``)."""
    vals = default_values(kind) if values is None else np.asarray(values, dtype=np.float64)
    images = np.stack([transform_image(image, base.with_value(kind, v)) for v in vals])
    if digit is None:
        digit = int(run_images(model, transform_image(image, base)[None], iterations=iterations).predictions[0])
    res = run_images(model, images, digit=digit, iterations=iterations)
    return EquivarianceSweep(
        kind=kind,
        values=vals,
        digit=int(digit),
        images=images,
        predictions=res.predictions,
        lengths=res.lengths,
        poses=res.poses[:, digit],
        reconstructions=res.reconstructions,
    )
