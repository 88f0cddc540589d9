"""Named pose dimensions, measured: what each of the 16 dimensions of each digit capsule does to the drawing.

    python -m capsviz.pose_atlas --checkpoint checkpoints/ [--figure docs/pose_atlas.png]

For every class c and dimension d, over MNIST test digits of class c: set dimension d of capsule c to its
1st and to its 99th percentile over the test set (the other 15 stay the digit's own), decode both, and
measure how interpretable statistics of the reconstruction change (``image_stats``): stroke thickness,
width, height, slant (second moments), centroid x and y; and where the change sits (top, bottom, left,
right half around the centroid, inside the loop). Every change is put in one unit, the mean displacement
of the ink in pixels it implies (``displacement``), so "the strokes thicken by 0.6 px" and "the slant
moves the top 2 px right" compare. The dimension is named by its dominant effect when it moves the ink by
MIN_SHIFT_PX or more (median over digits), DOMINANCE times the runner-up, and is the largest effect, in the
same direction, for CONSISTENCY of the digits; else "mixed" ("little effect" below MIN_SHIFT_PX). A centroid
shift is named by the part that moves ("top part moves left", "bottom end moves up") where the change sits
there or one end explains it. Names come from the measurement only. Ink mass is measured and recorded but
names nothing: thickness carries it.

The shipped checkpoint: 80 of 160 dimensions named (18 "slant", 13 "moves left", 10 "moves right", 8 "bottom end
moves up", 5 "width", 3 "stroke thickness", ...), 53 mixed, 27 with little effect; every name holds on the
held-out digits.

Digits of each class are split in two (even and odd positions): the first half names, the second is
held out for the check that the names hold (tests/test_pose_atlas.py).

The result is ``pose_atlas.json`` beside the checkpoint, summarised in the model card under
``pose_atlas``; ``slider_specs`` turns it into the app's pose-slider specs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import ndimage

from capsviz.export.pose_payload import POSE_SPAN
from capsviz.model.capsnet import CapsNet
from capsviz.training.checkpoint import read_card, weights_path, write_card

ATLAS_FILE = "pose_atlas.json"
CARD_KEY = "pose_atlas"
VERSION = 1
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
FIGURE_WIDTH = 1000  # px, docs/pose_atlas.png (at scale 2)
SLIDER_MARGIN = 0.05  # a slider reaches at least the capsule's value +- this
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


def _decode(model: CapsNet, poses: np.ndarray, digit: int) -> np.ndarray:
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
    base = _decode(model, poses, digit)
    moved = np.repeat(poses[None, None], 2, 0).repeat(dims, 1)  # (2, 16, n, 16)
    for d in range(dims):
        moved[0, d, :, d], moved[1, d, :, d] = low[d], high[d]
    recon = _decode(model, moved.reshape(-1, dims), digit).reshape(2, dims, n, *base.shape[1:])
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
    """What one pose dimension does, measured on a sample of digits (see the module docstring).

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


# --- the atlas -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DimAtlas:
    """One (class, dimension): its observed distribution over the class's test digits and its effect."""

    digit: int
    dim: int  # 0-based
    p1: float
    p50: float
    p99: float
    effect: DimEffect

    @property
    def label(self) -> str:
        """The slider label, e.g. "7 · slant" (1-based dimension number)."""
        return f"{self.dim + 1} · {self.effect.name}"


@dataclass(frozen=True)
class ClassAtlas:
    digit: int
    n: int  # test digits of this class
    reference_index: int  # MNIST test index of the digit whose pose is nearest the class's median pose
    reference_pose: np.ndarray  # (16,) that digit's capsule pose, which the atlas figure perturbs
    dims: tuple[DimAtlas, ...]


@dataclass(frozen=True)
class PoseAtlas:
    classes: dict[int, ClassAtlas]
    checkpoint_sha256: str
    method: dict[str, Any] = field(default_factory=dict)

    def dim(self, digit: int, dim: int) -> DimAtlas:
        return self.classes[digit].dims[dim]

    @property
    def named(self) -> int:
        return sum(d.effect.named for c in self.classes.values() for d in c.dims)

    @property
    def total(self) -> int:
        return sum(len(c.dims) for c in self.classes.values())


def method() -> dict[str, Any]:
    """Every constant the names depend on, recorded in the JSON."""
    return dict(
        percentiles=list(PERCENTILES),
        n_naming=N_NAMING,
        n_heldout=N_HELDOUT,
        naming_digits="even positions among the class's test digits, in test-set order",
        min_shift_px=MIN_SHIFT_PX,
        dominance=DOMINANCE,
        consistency=CONSISTENCY,
        region_share=REGION_SHARE,
        loop_share=LOOP_SHARE,
        candidates=list(CANDIDATES),
        units={k: UNITS[k] for k in STATS},
        regions=list(REGIONS),
    )


def file_sha256(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def build_class(model: CapsNet, digit: int, images: np.ndarray, labels: np.ndarray) -> ClassAtlas:
    """Measure and name the 16 dimensions of capsule ``digit`` on the MNIST test digits of that class."""
    poses = class_poses(model, images, labels, digit)
    p1, p50, p99 = np.percentile(poses, PERCENTILES, axis=0)
    naming, _ = split_sample(len(poses))
    m = measure(model, digit, poses[naming], p1, p99)
    ref = int(np.argmin(np.linalg.norm(poses - p50, axis=1)))
    dims = tuple(
        DimAtlas(digit, d, float(p1[d]), float(p50[d]), float(p99[d]), name_dimension(m, d))
        for d in range(poses.shape[1])
    )
    index = int(np.flatnonzero(np.asarray(labels) == digit)[ref])
    return ClassAtlas(digit, len(poses), index, poses[ref].astype(np.float32), dims)


def build_atlas(
    model: CapsNet, images: np.ndarray, labels: np.ndarray, checkpoint_sha256: str, classes: list[int] | None = None
) -> PoseAtlas:
    """images (N, 28, 28), labels (N,): the MNIST test set. ``classes`` defaults to all."""
    chosen = range(model.cfg.num_classes) if classes is None else classes
    return PoseAtlas({c: build_class(model, c, images, labels) for c in chosen}, checkpoint_sha256, method())


def heldout_measurement(model: CapsNet, entry: ClassAtlas, images: np.ndarray, labels: np.ndarray) -> Measurement:
    """The same perturbation on the digits the naming did not use (odd positions); only those are run."""
    members = np.asarray(images)[np.asarray(labels) == entry.digit]
    _, heldout = split_sample(len(members))
    poses = class_poses(model, members[heldout], np.full(len(heldout), entry.digit), entry.digit)
    low = np.array([d.p1 for d in entry.dims])
    high = np.array([d.p99 for d in entry.dims])
    return measure(model, entry.digit, poses, low, high)


# --- JSON ----------------------------------------------------------------------------------------------


def _round(x: Any, nd: int = 4) -> Any:
    if isinstance(x, float):
        return round(x, nd)
    if isinstance(x, dict):
        return {k: _round(v, nd) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_round(v, nd) for v in x]
    return x


def to_json(atlas: PoseAtlas) -> dict[str, Any]:
    classes = {}
    for c, entry in sorted(atlas.classes.items()):
        dims = [dict(dim=d.dim + 1, p1=d.p1, p50=d.p50, p99=d.p99, **asdict(d.effect)) for d in entry.dims]
        classes[str(c)] = dict(
            n=entry.n,
            reference=dict(index=entry.reference_index, pose=entry.reference_pose.astype(float).tolist()),
            dims=dims,
        )
    out = dict(
        version=VERSION,
        checkpoint_sha256=atlas.checkpoint_sha256,
        named=atlas.named,
        total=atlas.total,
        method=atlas.method,
        classes=classes,
    )
    return _round(out)


def from_json(data: dict[str, Any]) -> PoseAtlas:
    classes = {}
    for key, entry in data["classes"].items():
        c = int(key)
        dims = []
        for d in entry["dims"]:
            fields = {k: v for k, v in d.items() if k not in ("dim", "p1", "p50", "p99")}
            dims.append(DimAtlas(c, d["dim"] - 1, d["p1"], d["p50"], d["p99"], DimEffect(**fields)))
        ref = entry["reference"]
        classes[c] = ClassAtlas(c, entry["n"], ref["index"], np.asarray(ref["pose"], np.float32), tuple(dims))
    return PoseAtlas(classes, data["checkpoint_sha256"], data.get("method", {}))


def atlas_path(checkpoint: str | os.PathLike) -> Path:
    """pose_atlas.json beside the checkpoint's weights."""
    return weights_path(checkpoint).parent / ATLAS_FILE


def load_atlas(checkpoint: str | os.PathLike) -> PoseAtlas | None:
    """The checkpoint's atlas, or None when it has none (or an unreadable one)."""
    path = atlas_path(checkpoint)
    try:
        return from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_atlas(atlas: PoseAtlas, checkpoint: str | os.PathLike) -> dict[str, Any]:
    """Write the JSON beside the checkpoint and its summary into the model card; returns the summary."""
    from capsviz.training.checkpoint import atomic_write_text

    path = atlas_path(checkpoint)
    atomic_write_text(path, json.dumps(to_json(atlas), indent=1, ensure_ascii=False) + "\n")
    summary = {"file": ATLAS_FILE, "sha256": file_sha256(path), "named": atlas.named, "of": atlas.total}
    card = read_card(checkpoint)
    card[CARD_KEY] = summary
    write_card(checkpoint, card)
    return summary


# --- the app's sliders -----------------------------------------------------------------------------------


def effect_text(d: DimAtlas) -> str:
    """One tooltip: what the dimension does, measured, from its 1st to its 99th percentile."""
    e = d.effect
    span = f"From {d.p1:+.2f} (1st percentile) to {d.p99:+.2f} (99th), median {d.p50:+.2f}"
    if not e.named:
        why = "no effect dominates" if e.name == MIXED else "the ink moves by less than half a pixel"
        return f"{span}: {e.name} ({why}; the largest is {e.largest}, {e.shifts[e.largest]:+.2f} px)."
    unit = UNITS[e.effect or e.largest].replace("px", " px")
    where = ", ".join(f"{k} {v:.0%}" for k, v in e.where.items())
    return (
        f"{span}: {e.name}, {e.change:+.1f}{unit} (ink moves {abs(e.shift_px):.1f} px on average); the largest "
        f"effect, in this direction, for {e.consistency:.0%} of test digits; {e.dominance:.1f}x the next effect. "
        f"Where the change is: {where}."
    )


def slider_specs(atlas: PoseAtlas | None, digit: int, pose: np.ndarray) -> list[dict[str, Any]]:
    """Per dimension of capsule ``digit`` with current pose (16,): {"label", "min", "max", "value", "median",
    "help"}. The range is the class's observed 1st-99th percentile, widened to the value +- SLIDER_MARGIN;
    without an atlas (or that class), plain "Dimension k" sliders over the value +- 0.3."""
    values = np.asarray(pose, np.float64).reshape(-1)
    entry = atlas.classes.get(int(digit)) if atlas is not None else None
    specs = []
    for k, value in enumerate(values.tolist()):
        if entry is None:
            lo, hi, label, median, tip = value - POSE_SPAN, value + POSE_SPAN, f"Dimension {k + 1}", None, None
        else:
            d = entry.dims[k]
            lo, hi = min(d.p1, value - SLIDER_MARGIN), max(d.p99, value + SLIDER_MARGIN)
            label, median, tip = d.label, d.p50, effect_text(d)
        lo, hi = float(np.floor(lo * 100) / 100), float(np.ceil(hi * 100) / 100)
        specs.append(dict(label=label, min=lo, max=hi, value=float(value), median=median, help=tip))
    return specs


# --- the figure's images -----------------------------------------------------------------------------------


def atlas_grid(model: CapsNet, entry: ClassAtlas) -> np.ndarray:
    """(16, 3, 28, 28): the class's reference pose decoded with each dimension set to its 1st percentile,
    median and 99th percentile (the others left as they are): the measured version of the paper's Figure 4."""
    dims = len(entry.dims)
    poses = np.repeat(entry.reference_pose[None, None], dims, 0).repeat(3, 1)  # (16, 3, 16)
    for d, info in enumerate(entry.dims):
        poses[d, :, d] = (info.p1, info.p50, info.p99)
    recon = _decode(model, poses.reshape(-1, dims), entry.digit)
    return recon.reshape(dims, 3, *recon.shape[1:])


def most_interpretable(atlas: PoseAtlas) -> int:
    """The class with the most named dimensions (the smallest digit on a tie)."""
    return max(sorted(atlas.classes), key=lambda c: sum(d.effect.named for d in atlas.classes[c].dims))


# --- command line ----------------------------------------------------------------------------------------


def summary_lines(atlas: PoseAtlas) -> list[str]:
    lines = [f"named {atlas.named} of {atlas.total} dimensions"]
    for c, entry in sorted(atlas.classes.items()):
        names = ", ".join(d.label for d in entry.dims if d.effect.named)
        lines.append(f"  {c}: {sum(d.effect.named for d in entry.dims):2d} named  {names}")
    return lines


def write_figure(model: CapsNet, atlas: PoseAtlas, path: str | os.PathLike, digit: int | None = None) -> int:
    """Save the atlas figure of one class (default: the most interpretable) as a PNG; returns the class."""
    from capsviz.figures.atlas import atlas_figure

    digit = most_interpretable(atlas) if digit is None else digit
    entry = atlas.classes[digit]
    fig = atlas_figure(atlas_grid(model, entry), [d.label for d in entry.dims], digit, width=FIGURE_WIDTH)
    os.environ.setdefault("BROWSER_PATH", "/usr/bin/chromium")  # kaleido renders through Chromium
    fig.write_image(str(path), width=FIGURE_WIDTH, height=int(fig.layout.height), scale=2)
    return digit


def main(argv: list[str] | None = None) -> int:
    from capsviz.data.mnist import DataNotFoundError, load_mnist
    from capsviz.training.checkpoint import DEFAULT_DIR, CheckpointError, load_model

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], prog="python -m capsviz.pose_atlas")
    ap.add_argument("--checkpoint", default=str(DEFAULT_DIR), help="checkpoint folder (the JSON goes beside it)")
    ap.add_argument("--data-dir", default=None, help="folder holding MNIST/raw/ (default: CAPSVIZ_DATA_DIR)")
    ap.add_argument("--figure", default=None, help="also save the atlas figure of one class as this PNG")
    ap.add_argument("--figure-digit", type=int, default=None, help="class for --figure (default: most named)")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    try:
        model = load_model(args.checkpoint)
        test = load_mnist(train=False, data_dir=args.data_dir)
    except (CheckpointError, DataNotFoundError) as exc:
        raise SystemExit(str(exc)) from exc
    sha = file_sha256(weights_path(args.checkpoint))
    atlas = build_atlas(model, test.images.numpy(), test.labels.numpy(), sha)
    summary = save_atlas(atlas, args.checkpoint)
    print("\n".join(summary_lines(atlas)))
    print(f"wrote {atlas_path(args.checkpoint)} (sha256 {summary['sha256'][:12]}…) and the model card's {CARD_KEY}")
    if args.figure:
        digit = write_figure(model, atlas, args.figure, args.figure_digit)
        print(f"wrote {args.figure} (class {digit})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
