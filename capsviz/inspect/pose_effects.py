"""How each pose dimension is measured and named: statistics of a reconstruction (``image_stats``), the ink
displacement a change implies (``displacement``), where the change sits (``change_regions``), the perturbation
of one class's capsule (``measure``) and the naming rules (``name_dimension``). The method, its thresholds and
the shipped result are described in capsviz.inspect.pose_atlas.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from capsviz.model.capsnet import CapsNet

PERCENTILES = (1.0, 50.0, 99.0)
N_NAMING = 200  # digits per class that name the dimensions (even positions among the class's test digits)
N_HELDOUT = 200  # digits per class held out to check the names (odd positions)
# A dimension is named when its dominant effect moves the ink by at least MIN_SHIFT_PX on average
# (median over digits), is DOMINANCE times the runner-up, and is the largest effect, in the same direction,
# for at least CONSISTENCY of the digits.
MIN_SHIFT_PX = 0.5
DOMINANCE = 1.3
CONSISTENCY = 0.7
REGION_SHARE = 0.7  # a change is "in the top" when this share of it lies above the centroid
LOOP_INK = 0.3  # a reconstruction pixel this bright is ink, for finding loops
LOOP_SHARE = 0.4  # ... "in the loop" when this share lies inside or on the digit's loops
MIXED = "mixed"
WEAK = "little effect"

STATS = ("mass", "thickness", "width", "height", "slant", "x", "y")
UNITS = {"mass": "", "thickness": "px", "width": "px", "height": "px", "slant": "°", "x": "px", "y": "px"}
CANDIDATES = ("thickness", "width", "height", "slant", "x", "y")  # what a dimension can be named after
REGIONS = ("top", "bottom", "left", "right", "loop")
NAMES = {"thickness": "stroke thickness", "width": "width", "height": "height", "slant": "slant"}
MOVES = {"x": ("moves right", "moves left"), "y": ("moves down", "moves up")}  # (stat grows, shrinks)


# --- statistics of a reconstruction -----------------------------------------------------------------


def _moments(images: np.ndarray) -> tuple[np.ndarray, ...]:
    """images (N, H, W) -> mass, cy, cx, var_y, var_x, cov_xy (each (N,)), pixel-index coordinates."""
    n, h, w = images.shape
    mass = images.sum(axis=(1, 2)) + 1e-8
    ys, xs = np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64)
    py, px = images.sum(axis=2) / mass[:, None], images.sum(axis=1) / mass[:, None]
    cy, cx = py @ ys, px @ xs
    var_y = py @ ys**2 - cy**2
    var_x = px @ xs**2 - cx**2
    cov = np.einsum("nhw,h,w->n", images, ys, xs) / mass - cy * cx
    return mass, cy, cx, var_y, var_x, cov


def _total_variation(images: np.ndarray) -> np.ndarray:
    """Length of the ink's outline, (N,): sum of the gradient magnitude (a stroke's two edges)."""
    gy = np.diff(images, axis=1, append=0.0)
    gx = np.diff(images, axis=2, append=0.0)
    return np.sqrt(gy**2 + gx**2).sum(axis=(1, 2)) + 1e-8


def image_stats(images: np.ndarray) -> np.ndarray:
    """(N, H, W) images in [0, 1] -> (N, len(STATS)) statistics, columns in STATS order.

    mass: total ink. thickness: the width w of the bar with the same mass wL and outline length 2(w + L) (for
    long strokes, 2 mass / outline). width, height: sqrt(12) x the standard deviation of the ink along x (after
    removing the slant) and y, the extent of an even bar with that spread. slant: the shear x = k (y_up) that the second
    moments fit, in degrees, positive leaning right. x, y: the centroid (y grows downwards)."""
    a = np.asarray(images, np.float64)
    mass, cy, cx, var_y, var_x, cov = _moments(a)
    var_y = np.maximum(var_y, 1e-6)
    shear = -cov / var_y  # rows grow downwards: a right lean has x falling as the row grows
    deskewed = np.maximum(var_x - cov**2 / var_y, 1e-6)
    quarter = _total_variation(a) / 4  # a w x L bar: outline 2(w + L), mass wL, so w = P/4 - sqrt(P^2/16 - mass)
    thickness = quarter - np.sqrt(np.maximum(quarter**2 - mass, 0.0))
    slant = np.degrees(np.arctan(shear))
    return np.stack([mass, thickness, np.sqrt(12 * deskewed), np.sqrt(12 * var_y), slant, cx, cy], axis=1)


def _col(stat: str) -> int:
    return STATS.index(stat)


def displacement(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Statistics before and after (N, len(STATS)) -> (N, len(CANDIDATES)) signed mean ink displacement in px
    each change implies: thickness dt moves each edge dt/2; a width or height change dW moves the ink by dW/4
    on average (an even bar scaled about its centre); a shear dk moves it by dk * height/4; a centroid
    shift moves all of it."""
    d = after - before
    height = before[:, _col("height")]
    shear = np.tan(np.radians(after[:, _col("slant")])) - np.tan(np.radians(before[:, _col("slant")]))
    out = {
        "thickness": d[:, _col("thickness")] / 2,
        "width": d[:, _col("width")] / 4,
        "height": d[:, _col("height")] / 4,
        "slant": shear * height / 4,
        "x": d[:, _col("x")],
        "y": d[:, _col("y")],
    }
    return np.stack([out[k] for k in CANDIDATES], axis=1)


def _loop_regions(base: np.ndarray) -> np.ndarray:
    """(N, H, W) reconstructions -> (N, H, W) bool: the digit's loops, grown by a pixel so their inner edge
    counts. A loop pixel is background with ink above, below, left and right of it: a reconstructed loop
    often has a faint gap that a hole fill would leak through."""
    ink = base > LOOP_INK
    up, left = np.maximum.accumulate(ink, axis=1), np.maximum.accumulate(ink, axis=2)
    down = np.maximum.accumulate(ink[:, ::-1], axis=1)[:, ::-1]
    right = np.maximum.accumulate(ink[:, :, ::-1], axis=2)[:, :, ::-1]
    holes = up & down & left & right & ~ink
    return ndimage.binary_dilation(holes, structure=np.ones((1, 3, 3), bool))


def change_regions(base: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Where the change |high - low| lies, as shares (N, len(REGIONS)): top/bottom/left/right of the base
    reconstruction's centroid, and on its loops."""
    diff = np.abs(np.asarray(high, np.float64) - low)
    total = diff.sum(axis=(1, 2)) + 1e-8
    _, cy, cx, *_ = _moments(np.asarray(base, np.float64))
    h, w = base.shape[1:]
    top = np.arange(h)[None, :, None] < cy[:, None, None]
    left = np.arange(w)[None, None, :] < cx[:, None, None]
    top_share = (diff * top).sum(axis=(1, 2)) / total
    left_share = (diff * left).sum(axis=(1, 2)) / total
    loop_share = (diff * _loop_regions(base)).sum(axis=(1, 2)) / total
    return np.stack([top_share, 1 - top_share, left_share, 1 - left_share, loop_share], axis=1)


# --- measuring ---------------------------------------------------------------------------------------


@torch.inference_mode()
def class_poses(model: CapsNet, images: np.ndarray, labels: np.ndarray, digit: int, batch: int = 250) -> np.ndarray:
    """Capsule ``digit``'s pose (n, 16) for every test image labelled ``digit``; images (N, 28, 28) uint8 or
    floats in [0, 1]."""
    chosen = np.asarray(images)[np.asarray(labels) == digit]
    scale = 255.0 if chosen.dtype == np.uint8 else 1.0
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(chosen), batch):
        x = torch.as_tensor(chosen[i : i + batch].astype(np.float32) / scale, device=device).unsqueeze(1)
        out.append(model(x, reconstruct=False).poses[:, digit].float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.cfg.digit_dim), np.float32)


def split_sample(n: int, n_naming: int = N_NAMING, n_heldout: int = N_HELDOUT) -> tuple[np.ndarray, np.ndarray]:
    """Positions (in a class's test digits) that name the dimensions, and the held-out ones: even and odd."""
    return np.arange(0, n, 2)[:n_naming], np.arange(1, n, 2)[:n_heldout]


@dataclass(frozen=True)
class Measurement:
    """Moving each dimension of one class's capsule from ``low`` to ``high`` on n digits.

    shifts: (16, n, len(CANDIDATES)) signed ink displacement per candidate effect, px.
    changes: (16, n, len(STATS)) signed change of each statistic, in its unit.
    where: (16, n, len(REGIONS)) share of the change in each region."""

    shifts: np.ndarray
    changes: np.ndarray
    where: np.ndarray


def decode_poses(model: CapsNet, poses: np.ndarray, digit: int) -> np.ndarray:
    """(N, 16) poses of capsule ``digit`` -> (N, 28, 28); the decoder masks every other capsule anyway."""
    full = np.zeros((len(poses), model.cfg.num_classes, poses.shape[1]), np.float32)
    full[:, digit] = poses
    with torch.inference_mode():
        p = torch.as_tensor(full, device=next(model.parameters()).device)
        target = torch.full((len(poses),), digit, dtype=torch.long, device=p.device)
        return model.decoder(p, target).float().cpu().numpy()


def measure(model: CapsNet, digit: int, poses: np.ndarray, low: np.ndarray, high: np.ndarray) -> Measurement:
    """poses (n, 16) of capsule ``digit``; low, high (16,) the values each dimension is set to in turn."""
    n, dims = poses.shape
    base = decode_poses(model, poses, digit)
    moved = np.repeat(poses[None, None], 2, 0).repeat(dims, 1)  # (2, 16, n, 16)
    for d in range(dims):
        moved[0, d, :, d], moved[1, d, :, d] = low[d], high[d]
    recon = decode_poses(model, moved.reshape(-1, dims), digit).reshape(2, dims, n, *base.shape[1:])
    shifts, changes, where = [], [], []
    for d in range(dims):
        lo, hi = image_stats(recon[0, d]), image_stats(recon[1, d])
        shifts.append(displacement(lo, hi))
        changes.append(hi - lo)
        where.append(change_regions(base, recon[0, d], recon[1, d]))
    return Measurement(np.stack(shifts), np.stack(changes), np.stack(where))


# --- naming --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DimEffect:
    """What one pose dimension does, measured on a sample of digits (see capsviz.inspect.pose_atlas).

    effect: the dominant statistic (one of CANDIDATES), None when nothing dominates ("mixed").
    largest: the candidate with the largest median displacement, named or not.
    sign: +1 when that statistic grows as the dimension goes from its 1st to its 99th percentile.
    shift_px: median ink displacement of the dominant effect, signed. change: median change of its
    statistic in its own unit (UNITS). consistency: share of digits for which it is the largest effect, in
    the same direction. dominance: |its median displacement| over the runner-up's. where: median share of
    the change per region. shifts: median displacement of every candidate."""

    name: str
    named: bool
    effect: str | None
    largest: str
    sign: int
    shift_px: float
    change: float
    consistency: float
    dominance: float
    where: dict[str, float]
    shifts: dict[str, float]


def dominant(shifts: np.ndarray) -> tuple[int, float, float, np.ndarray]:
    """shifts (n, K) -> (index of the dominant candidate, dominance, consistency, medians (K,))."""
    med = np.median(shifts, axis=0)
    order = np.argsort(-np.abs(med), kind="stable")
    k = int(order[0])
    dominance = float(abs(med[k]) / max(abs(med[order[1]]), 1e-9))
    per_digit = np.argmax(np.abs(shifts), axis=1)
    same_sign = np.sign(shifts[np.arange(len(shifts)), per_digit]) == np.sign(med[k])
    consistency = float(np.mean((per_digit == k) & same_sign))
    return k, dominance, consistency, med


def _region(where: dict[str, float]) -> str | None:
    for a, b in (("top", "bottom"), ("left", "right")):
        if where[a] >= REGION_SHARE:
            return a
        if where[b] >= REGION_SHARE:
            return b
    return "loop" if where["loop"] >= LOOP_SHARE else None


def _move_name(stat: str, sign: int, change: dict[str, float], region: str | None) -> str:
    """'moves left', or 'top part moves left' when the change sits in the top, or 'bottom end moves down'
    when the centroid shift comes with a height change that only one end explains."""
    verb = MOVES[stat][0 if sign > 0 else 1]
    if stat == "x" and region in ("top", "bottom"):
        return f"{region} part {verb}"
    if stat == "y":  # the top edge moves by dy - dH/2, the bottom edge by dy + dH/2
        top, bottom = change["y"] - change["height"] / 2, change["y"] + change["height"] / 2
        if abs(bottom) >= 2 * abs(top):
            return f"bottom end {verb}"
        if abs(top) >= 2 * abs(bottom):
            return f"top end {verb}"
    return verb


def _name(stat: str, sign: int, change: dict[str, float], where: dict[str, float]) -> str:
    region = _region(where)
    if stat in MOVES:
        return _move_name(stat, sign, change, region)
    return NAMES[stat] + (f" ({region})" if region else "")


def name_dimension(m: Measurement, dim: int) -> DimEffect:
    """Name dimension ``dim`` from its measurement on the naming digits; "mixed" or "little effect" when no
    effect is big, dominant and consistent enough."""
    k, dominance, consistency, med = dominant(m.shifts[dim])
    stat = CANDIDATES[k]
    change = dict(zip(STATS, np.median(m.changes[dim], axis=0).tolist(), strict=True))
    where = dict(zip(REGIONS, np.median(m.where[dim], axis=0).tolist(), strict=True))
    big, clear = bool(abs(med[k]) >= MIN_SHIFT_PX), bool(dominance >= DOMINANCE and consistency >= CONSISTENCY)
    sign = 1 if med[k] > 0 else -1
    name = _name(stat, sign, change, where) if big and clear else (MIXED if big else WEAK)
    return DimEffect(
        name=name,
        named=big and clear,
        effect=stat if big and clear else None,
        largest=stat,
        sign=sign,
        shift_px=float(med[k]),
        change=change[stat],
        consistency=consistency,
        dominance=dominance,
        where=where,
        shifts=dict(zip(CANDIDATES, med.tolist(), strict=True)),
    )
