"""What the two-digit view asks of a traced image: the two longest capsules, each decoded on its own, and
which ink routes to which of them, iteration by iteration.

    pair = decode_pair(model, trace)                                   # PairTrace
    shares = stroke_shares(coupling, trace.primary_lengths, layers, pair.digits)   # (R, K, 2)

The paper (Sabour et al. 2017, section 6) reads a MultiMNIST image as the two longest digit capsules and
decodes each on its own, the other capsules masked (its Figure 5). Pure library: numpy and torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from capsviz.inspect.trace import CapsuleTrace, flatten_primary, reconstruct

KERNEL = 9  # Conv1's and PrimaryCaps' kernel side
RF = 2 * KERNEL - 1  # 17: the input rows and columns one primary position sees
STRIDE = 2  # PrimaryCaps' stride


@dataclass(frozen=True)
class PairTrace:
    """A trace read as two digits.

    trace: the full CapsuleTrace; digits: the two longest capsules, longest first; lengths: theirs;
    reconstructions: (2, S, S) each of the two decoded on its own (the paper's Figure 5)."""

    trace: CapsuleTrace
    digits: tuple[int, int]
    lengths: tuple[float, float]
    reconstructions: np.ndarray


def top_two(lengths: np.ndarray) -> tuple[int, int]:
    """The two longest capsules, longest first (ties: the lower class first)."""
    order = np.argsort(-np.asarray(lengths, np.float64), kind="stable")
    return int(order[0]), int(order[1])


def decode_pair(model, trace: CapsuleTrace) -> PairTrace:
    """The trace's two longest capsules and their reconstructions, each with all other capsules masked."""
    a, b = top_two(trace.lengths)
    recons = np.stack([reconstruct(model, trace.poses, d) for d in (a, b)])
    return PairTrace(trace, (a, b), (float(trace.lengths[a]), float(trace.lengths[b])), recons)


def field_weights() -> np.ndarray:
    """(17, 17) how much each input pixel of a primary position's field feeds it: the number of paths
    through the two 9x9 convolutions (a triangle 1 .. 9 .. 1 along each axis), normalised to sum 1."""
    tri = np.convolve(np.ones(KERNEL), np.ones(KERNEL))
    w = np.outer(tri, tri)
    return w / w.sum()


def field_ink(layers: np.ndarray) -> np.ndarray:
    """Ink layers (K, S, S) -> (K, G, G): each layer's ink in each primary position's receptive field,
    weighted by field_weights (G = (S - 17) // 2 + 1: 6 for 28x28 images, 10 for 36x36)."""
    windows = sliding_window_view(np.asarray(layers, np.float64), (RF, RF), axis=(1, 2))[:, ::STRIDE, ::STRIDE]
    return np.einsum("kghyx,yx->kgh", windows, field_weights())


def stroke_shares(
    coupling: np.ndarray, primary_lengths: np.ndarray, layers: np.ndarray, digits: tuple[int, ...] | list[int]
) -> np.ndarray:
    """The share of each ink layer's primary activation that each of ``digits`` claims, per iteration.

    coupling (R, I, J) c_ij of each routing iteration in the flat primary order (capsviz.inspect.trace);
    primary_lengths (types, G, G) |u_i|; layers (K, S, S) the ink of each stroke group (a pen colour, or
    one digit of a pair) in the model's input frame. A primary capsule's activation is split among the
    layers by their ink in its receptive field (field_ink); layer k's activation is sum_i |u_i| f_ki, and
    digit j claims sum_i |u_i| f_ki c_ij of it. Returns (R, K, len(digits)); uniform routing gives 1/J.
    A layer without ink gets NaN."""
    types = primary_lengths.shape[0]
    ink = field_ink(layers)  # (K, G, G)
    total = ink.sum(axis=0, keepdims=True)
    frac = np.divide(ink, total, out=np.zeros_like(ink), where=total > 1e-9)
    f = np.repeat(frac.reshape(frac.shape[0], -1), types, axis=1)  # (K, I): flat i = (row * G + col) * types + t
    w = f * flatten_primary(primary_lengths).reshape(1, -1)  # (K, I)
    claimed = np.einsum("ki,rij->rkj", w, np.asarray(coupling, np.float64)[..., list(digits)])
    own = w.sum(axis=1)  # (K,)
    with np.errstate(invalid="ignore", divide="ignore"):
        return claimed / np.where(own > 1e-12, own, np.nan)[None, :, None]


def trace_shares(trace: CapsuleTrace, layers: np.ndarray, digits: tuple[int, ...] | list[int]) -> np.ndarray:
    """stroke_shares for every routing iteration of a trace."""
    coupling = np.stack([s.coupling for s in trace.iterations])
    return stroke_shares(coupling, trace.primary_lengths, layers, digits)
