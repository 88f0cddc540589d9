"""The pose editor's sliders from the atlas: each dimension's measured name as its label, its observed 1st-99th
percentile as its range and what it does, measured, as its tooltip.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from capsviz.export.pose_payload import POSE_SPAN
from capsviz.inspect.pose_atlas import DimAtlas, PoseAtlas
from capsviz.inspect.pose_effects import MIXED, UNITS

SLIDER_MARGIN = 0.05  # a slider reaches at least the capsule's value +- this


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
