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
``pose_atlas``; capsviz.inspect.pose_sliders turns it into the app's pose-slider specs. The measuring and naming
live in capsviz.inspect.pose_effects.
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

from capsviz.inspect.pose_effects import (
    CANDIDATES,
    CONSISTENCY,
    DOMINANCE,
    LOOP_SHARE,
    MIN_SHIFT_PX,
    N_HELDOUT,
    N_NAMING,
    PERCENTILES,
    REGION_SHARE,
    REGIONS,
    STATS,
    UNITS,
    DimEffect,
    Measurement,
    class_poses,
    decode_poses,
    measure,
    name_dimension,
    split_sample,
)
from capsviz.model.capsnet import CapsNet
from capsviz.training.checkpoint import read_card, weights_path, write_card

ATLAS_FILE = "pose_atlas.json"
CARD_KEY = "pose_atlas"
VERSION = 1
FIGURE_WIDTH = 1000  # px, docs/pose_atlas.png (at scale 2)


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


# --- the figure's images -----------------------------------------------------------------------------------


def atlas_grid(model: CapsNet, entry: ClassAtlas) -> np.ndarray:
    """(16, 3, 28, 28): the class's reference pose decoded with each dimension set to its 1st percentile,
    median and 99th percentile (the others left as they are): the measured version of the paper's Figure 4."""
    dims = len(entry.dims)
    poses = np.repeat(entry.reference_pose[None, None], dims, 0).repeat(3, 1)  # (16, 3, 16)
    for d, info in enumerate(entry.dims):
        poses[d, :, d] = (info.p1, info.p50, info.p99)
    recon = decode_poses(model, poses.reshape(-1, dims), entry.digit)
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
