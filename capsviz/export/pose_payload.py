"""What the in-page pose editor is sent and what it sends back, as plain data (no streamlit).

Slider specs are data (``DimSpec``), so names and data-derived ranges can be plugged in per dimension;
defaults: "Dimension k", the capsule's value +- ``POSE_SPAN``, step ``POSE_STEP``. The payload is one binary
message: a JSON header (slider specs, identity) and the model's S x S input as bytes (S = 28, or 36 for two
digits), plus the decoder weights (float16, ``capsviz.export.decoder``) only while the page does not hold them yet.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from capsviz.export.decoder import DecoderPayload

POSE_SPAN = 0.3  # default slider range: the capsule's value +- this
POSE_STEP = 0.01
PAYLOAD_MAGIC = b"CPE1"
_PREFIX = struct.Struct("<4sI")
_ALIGN = 8


# --- slider specs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DimSpec:
    """What may be set per pose dimension; None keeps the default. The starting value is always the
    capsule's actual value (the range is widened to include it)."""

    label: str | None = None  # default "Dimension k" (k = 1..16)
    min: float | None = None  # default value - POSE_SPAN
    max: float | None = None  # default value + POSE_SPAN
    median: float | None = None  # optional marker on the track, e.g. the median over the test set
    help: str | None = None  # tooltip


def slider_specs(
    pose: np.ndarray,
    dims: Sequence[DimSpec | Mapping[str, Any] | None] | None = None,
    *,
    span: float = POSE_SPAN,
    step: float = POSE_STEP,
) -> list[dict[str, Any]]:
    """One spec per dimension: {label, min, max, value, median, help, step}, JSON-ready."""
    values = np.asarray(pose, np.float64).reshape(-1)
    if dims is not None and len(dims) != len(values):
        raise ValueError(f"{len(dims)} dimension specs for a {len(values)}-number pose")
    specs = []
    for k, value in enumerate(values.tolist()):
        given = dims[k] if dims is not None else None
        if isinstance(given, Mapping):  # extra keys (a spec's own "value") are ignored: the pose decides
            given = DimSpec(**{f: given[f] for f in DimSpec.__dataclass_fields__ if f in given})
        spec = given or DimSpec()
        lo = value - span if spec.min is None else min(float(spec.min), value)
        hi = value + span if spec.max is None else max(float(spec.max), value)
        specs.append(
            {
                "label": spec.label or f"Dimension {k + 1}",
                "min": lo,
                "max": hi,
                "value": value,
                "median": None if spec.median is None else float(spec.median),
                "help": spec.help or f"Pose dimension {k + 1}: starts at the capsule's value, {value:.2f}.",
                "step": step,
            }
        )
    return specs


def identity(signature: str, digit: int, specs: list[dict[str, Any]]) -> str:
    """What the sliders' state belongs to: the drawing, the capsule and the specs."""
    text = json.dumps([signature, int(digit), specs], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- payload ------------------------------------------------------------------------------------


def image_bytes(image: np.ndarray) -> bytes:
    """(S, S) float in [0, 1] -> S*S bytes (784 for 28x28), rounded as the app's images are (figures.to_uint8)."""
    a = np.asarray(image, np.float32)
    return (np.clip(a, 0.0, 1.0) * 255.0).round().astype(np.uint8).tobytes()


def build_payload(
    image: np.ndarray,
    specs: list[dict[str, Any]],
    digit: int,
    ident: str,
    weights: DecoderPayload,
    include_weights: bool,
) -> bytes:
    """The bytes the component receives: b"CPE1", uint32 header length, JSON header, padding to 8, body
    (the input image as S*S bytes, then the decoder blob when ``include_weights``)."""
    img = image_bytes(image)
    side = int(round(math.sqrt(len(img))))
    body = [img]
    weights_at = None
    if include_weights:
        pad = -len(img) % _ALIGN
        body.append(b"\0" * pad)
        weights_at = {"offset": len(img) + pad, "length": weights.nbytes}
        body.append(weights.blob)
    header = {
        "v": 1,
        "id": ident,
        "digit": int(digit),
        "dims": specs,
        "image": {"offset": 0, "length": len(img), "width": side, "height": side},
        "weights_hash": weights.hash,
        "weights": weights_at,
    }
    head = json.dumps(header, separators=(",", ":")).encode()
    prefix = _PREFIX.pack(PAYLOAD_MAGIC, len(head)) + head
    prefix += b"\0" * (-len(prefix) % _ALIGN)
    return b"".join([prefix, *body])


def parse_payload(data: bytes) -> tuple[dict[str, Any], bytes, bytes | None]:
    """Inverse of ``build_payload``: (header, image bytes, weights blob or None). For tests and tools."""
    magic, n = _PREFIX.unpack_from(data, 0)
    if magic != PAYLOAD_MAGIC:
        raise ValueError(f"not a pose-editor payload (magic {magic!r})")
    header = json.loads(data[_PREFIX.size : _PREFIX.size + n])
    base = -(-(_PREFIX.size + n) // _ALIGN) * _ALIGN

    def section(s):
        return None if s is None else bytes(data[base + s["offset"] : base + s["offset"] + s["length"]])

    return header, section(header["image"]), section(header["weights"])


def pose_from_state(state: Any, ident: str, specs: list[dict[str, Any]]) -> np.ndarray:
    """The pose the page reported ({"id", "values"}) when it belongs to ``ident`` and is well formed,
    else the starting values."""
    start = np.array([s["value"] for s in specs], np.float32)
    if not isinstance(state, Mapping) or state.get("id") != ident:
        return start
    values = state.get("values")
    if not isinstance(values, list | tuple) or len(values) != len(specs):
        return start
    try:
        out = np.array([float(v) for v in values], np.float64)
    except (TypeError, ValueError):
        return start
    if not np.isfinite(out).all():
        return start
    lo = np.array([s["min"] for s in specs]) - 2 * np.array([s["step"] for s in specs])
    hi = np.array([s["max"] for s in specs]) + 2 * np.array([s["step"] for s in specs])
    return np.clip(out, lo, hi).astype(np.float32)
