"""The CapsNet decoder as a compact binary payload for the browser, and a numpy reference of what the page computes.

    payload = export_decoder(model)          # DecoderPayload: .blob (bytes), .hash, .shapes
    image = decode_reference(payload, pose, digit)   # (S, S) in [0, 1], as the page computes it

The decoder is 160 -> 512 -> 1024 -> S*S (ReLU, ReLU, sigmoid; S = 28 for MNIST, 36 for MultiMNIST) on the
masked digit capsules: only capsule ``digit``'s 16 numbers are non-zero, so the first layer needs only that
capsule's 16 columns of W1.

Blob layout (little-endian; every array starts at an offset that is a multiple of its item size):

    offset 0   4 bytes  magic b"CDW1"
    offset 4   5 x uint32: num_classes C, digit_dim D, hidden1 H1, hidden2 H2, out O
    offset 24  float32 b1[H1], b2[H2], b3[O]
    then       float16 W1T[C*D, H1], W2T[H1, H2], W3T[H2, O]

Each weight matrix is stored input-major (the transpose of torch's Linear.weight): row i holds what input i
adds to every output, so the page accumulates out += x_i * row_i over the inputs the ReLU left non-zero.
Capsule c's part of the first layer is rows c*D .. c*D+D-1 of W1T. Weights are float16 (half the bytes of
float32); biases stay float32 (a few KB). The page computes in float32 on the float16 weights widened to
float32, exactly as ``decode_reference`` does here.

Pure library: numpy and torch only, no streamlit.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

import numpy as np

MAGIC = b"CDW1"
HEADER = struct.Struct("<4s5I")


@dataclass(frozen=True)
class DecoderPayload:
    """The decoder weights as one binary blob, and the hash the page caches it under."""

    blob: bytes
    hash: str  # first 16 hex digits of the blob's SHA-256
    num_classes: int
    digit_dim: int
    hidden1: int
    hidden2: int
    out: int

    @property
    def nbytes(self) -> int:
        return len(self.blob)


def blob_hash(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()[:16]


def pack_decoder(
    w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: np.ndarray, w3: np.ndarray, b3: np.ndarray, digit_dim: int
) -> DecoderPayload:
    """Pack torch-layout Linear weights (w: (out, in), b: (out,)) into the blob described above."""
    w1, w2, w3 = (np.asarray(w, np.float32) for w in (w1, w2, w3))
    h1, n_in = w1.shape
    h2, o = w2.shape[0], w3.shape[0]
    if n_in % digit_dim or w2.shape[1] != h1 or w3.shape[1] != h2:
        raise ValueError(f"decoder shapes do not chain: {w1.shape}, {w2.shape}, {w3.shape} (digit_dim {digit_dim})")
    classes = n_in // digit_dim
    parts = [
        HEADER.pack(MAGIC, classes, digit_dim, h1, h2, o),
        np.asarray(b1, "<f4").tobytes(),
        np.asarray(b2, "<f4").tobytes(),
        np.asarray(b3, "<f4").tobytes(),
        np.ascontiguousarray(w1.T).astype("<f2").tobytes(),
        np.ascontiguousarray(w2.T).astype("<f2").tobytes(),
        np.ascontiguousarray(w3.T).astype("<f2").tobytes(),
    ]
    blob = b"".join(parts)
    return DecoderPayload(blob, blob_hash(blob), classes, digit_dim, h1, h2, o)


def export_decoder(model) -> DecoderPayload:
    """A CapsNet (or its Decoder module) -> DecoderPayload."""
    decoder = getattr(model, "decoder", model)
    linears = [m for m in decoder.net if hasattr(m, "weight")]
    if len(linears) != 3:
        raise ValueError(f"expected a decoder with 3 linear layers, got {len(linears)}")
    (w1, b1), (w2, b2), (w3, b3) = (
        (layer.weight.detach().float().cpu().numpy(), layer.bias.detach().float().cpu().numpy()) for layer in linears
    )
    digit_dim = getattr(getattr(model, "cfg", None), "digit_dim", 16)
    return pack_decoder(w1, b1, w2, b2, w3, b3, digit_dim=digit_dim)


@dataclass(frozen=True)
class DecoderArrays:
    """The blob unpacked, weights widened to float32 (input-major, as in the blob)."""

    b1: np.ndarray
    b2: np.ndarray
    b3: np.ndarray
    w1t: np.ndarray  # (C*D, H1)
    w2t: np.ndarray  # (H1, H2)
    w3t: np.ndarray  # (H2, O)
    num_classes: int
    digit_dim: int


def unpack_decoder(blob: bytes) -> DecoderArrays:
    """Parse a blob (validating magic and size) back into float32 arrays."""
    if len(blob) < HEADER.size:
        raise ValueError("decoder blob too short")
    magic, c, d, h1, h2, o = HEADER.unpack_from(blob, 0)
    if magic != MAGIC:
        raise ValueError(f"not a decoder blob (magic {magic!r})")
    sizes_f32 = (h1, h2, o)
    sizes_f16 = ((c * d, h1), (h1, h2), (h2, o))
    expected = HEADER.size + 4 * sum(sizes_f32) + 2 * sum(a * b for a, b in sizes_f16)
    if len(blob) != expected:
        raise ValueError(f"decoder blob has {len(blob)} bytes, its header says {expected}")
    off = HEADER.size
    biases = []
    for n in sizes_f32:
        biases.append(np.frombuffer(blob, "<f4", n, off).astype(np.float32))
        off += 4 * n
    weights = []
    for rows, cols in sizes_f16:
        weights.append(np.frombuffer(blob, "<f2", rows * cols, off).astype(np.float32).reshape(rows, cols))
        off += 2 * rows * cols
    b1, b2, b3 = biases
    w1t, w2t, w3t = weights
    return DecoderArrays(b1, b2, b3, w1t, w2t, w3t, num_classes=c, digit_dim=d)


def decode_reference(payload: DecoderPayload | DecoderArrays | bytes, pose: np.ndarray, digit: int) -> np.ndarray:
    """What the page draws: decode capsule ``digit``'s 16-number pose with the float16 weights, in float32.
    Returns (side, side) in [0, 1] (side = sqrt(out))."""
    if isinstance(payload, DecoderPayload):
        payload = payload.blob
    arrays = unpack_decoder(payload) if isinstance(payload, bytes | bytearray) else payload
    d = arrays.digit_dim
    p = np.asarray(pose, np.float32).reshape(d)
    h1 = np.maximum(arrays.b1 + p @ arrays.w1t[digit * d : (digit + 1) * d], 0.0)
    h2 = np.maximum(arrays.b2 + h1 @ arrays.w2t, 0.0)
    z = arrays.b3 + h2 @ arrays.w3t
    out = 1.0 / (1.0 + np.exp(-z.astype(np.float64)))
    side = int(round(len(out) ** 0.5))
    return out.astype(np.float32).reshape(side, side)
