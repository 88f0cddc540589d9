"""The drawings tests/e2e/test_inpage_preprocess.py sends through capsviz/app/components/inpage/preprocess.js, and
what the server's Python makes of them (capsviz.data.strokes.render_ink, capsviz.data.preprocess.to_mnist).

Every drawing is a page payload (capsviz.data.strokes.to_payload: integer coordinates, as the canvas sends them),
and the Python side reads the same payload through parse_drawing, so both sides start from identical numbers:

    scripted_payloads()        capsviz.testsets.drawn_digits.variants(seed=0, n_per_digit=10): 100 drawings
    redrawn_mnist_payloads()   MNIST test digits as strokes: their centre line (capsviz.testsets.redrawn_mnist's
                               skeleton) traced into polylines, at a random size, place and pen on the canvas
    edge_payloads()            one short stroke, a dot, a thin long line, the largest pen, ...
"""

from __future__ import annotations

import numpy as np

from capsviz.data.preprocess import EmptyDrawingError, TooSmallError, to_mnist
from capsviz.data.strokes import CANVAS, PEN_RANGE, parse_drawing, polyline_drawing, render_ink, render_rgba, to_payload


def scripted_payloads(n_per_digit: int = 10, seed: int = 0) -> list[dict]:
    from capsviz.testsets.drawn_digits import variants

    return [to_payload(d.as_strokes()) for d in variants(seed=seed, n_per_digit=n_per_digit)]


def _trace(points: np.ndarray) -> list[list[tuple[int, int]]]:
    """Integer (row, col) skeleton pixels -> polylines along 8-connected neighbours, every edge walked once
    (from the ends of lines first, so a plain stroke is one polyline)."""
    nodes = {tuple(p) for p in points.tolist()}
    steps = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
    nbrs = {p: [(p[0] + dy, p[1] + dx) for dy, dx in steps if (p[0] + dy, p[1] + dx) in nodes] for p in nodes}
    used: set[frozenset] = set()
    lines = []
    order = sorted(nodes, key=lambda p: (len(nbrs[p]) != 1, p))  # line ends first
    for start in order:
        while any(frozenset((start, q)) not in used for q in nbrs[start]):
            line, cur = [start], start
            while True:
                nxt = next((q for q in nbrs[cur] if frozenset((cur, q)) not in used), None)
                if nxt is None:
                    break
                used.add(frozenset((cur, nxt)))
                line.append(nxt)
                cur = nxt
            lines.append(line)
        if not nbrs[start] and not any(start in line for line in lines):
            lines.append([start])
    return lines


def mnist_strokes(image: np.ndarray, rng: np.random.Generator, every: int = 3) -> dict:
    """A 28x28 MNIST digit as the canvas's payload: its centre line traced into polylines (every ``every``-th
    point kept, ends always), scaled, placed and inked like capsviz.testsets.redrawn_mnist.redraw does."""
    from capsviz.testsets.redrawn_mnist import UPSAMPLE, centre_line

    pts = centre_line(image)  # (y, x) in 28-px units, pixel centres of an 8x skeleton
    grid = np.rint(pts * UPSAMPLE - 0.5).astype(int)
    lines = [np.asarray(line, float)[sorted({*range(0, len(line), every), len(line) - 1})] for line in _trace(grid)]
    height = rng.uniform(0.35, 0.9) * CANVAS
    width = float(np.clip(min(rng.uniform(10.0, 35.0), 0.22 * height), *PEN_RANGE))
    lo, hi = grid.min(0), grid.max(0)
    scale = (height - width) / max(float((hi - lo).max()), 1e-6)
    half = (hi - lo) * scale / 2 + width / 2 + 2
    centre = np.array([rng.uniform(h, CANVAS - h) if h < CANVAS / 2 else CANVAS / 2 for h in half])
    polylines = [((line - (lo + hi) / 2) * scale + centre)[:, ::-1] for line in lines]  # (y, x) -> (x, y)
    return to_payload(polyline_drawing(polylines, round(width)))


def redrawn_mnist_payloads(n: int = 50, seed: int = 0, data_dir: str | None = None) -> list[dict]:
    """The first ``n`` MNIST test digits as stroke payloads (raises DataNotFoundError without the data)."""
    from capsviz.data.mnist import load_mnist

    split = load_mnist(train=False, data_dir=data_dir, download=False)
    images = np.asarray(split.images[:n], np.float32)
    images = images / 255.0 if images.max() > 1.0 else images
    rng = np.random.default_rng(seed)
    return [mnist_strokes(im.reshape(28, 28), rng) for im in images]


def _payload(strokes: list[tuple[float, list[float]]], pen: int = 0) -> dict:
    """(width, [x0, y0, x1, y1, ...]) strokes -> payload, t = 0."""
    out = []
    for w, xy in strokes:
        p = []
        for i in range(0, len(xy), 2):
            p += [xy[i], xy[i + 1], 0]
        out.append({"w": w, "pen": pen, "p": p})
    return {"v": 1, "size": CANVAS, "strokes": out}


def edge_payloads() -> dict[str, dict]:
    return {
        "empty": {"v": 1, "size": CANVAS, "strokes": []},
        "dot": _payload([(18, [140, 140])]),
        "dot-largest-pen": _payload([(40, [140, 140])]),
        "short-stroke": _payload([(18, [130, 140, 150, 140])]),
        "short-stroke-thin": _payload([(8, [120, 100, 121, 160])]),
        "thin-long-line": _payload([(8, [20, 140, 260, 140])]),
        "thin-long-diagonal": _payload([(8, [15, 20, 262, 255])]),
        "largest-pen-one": _payload([(40, [140, 40, 140, 240, 130, 250])]),
        "largest-pen-seven": _payload([(40, [60, 50, 220, 50, 120, 250])]),
        "smallest-pen-seven": _payload([(8, [60, 50, 220, 50, 120, 250])]),
        "off-canvas-points": _payload([(18, [-30, 20, 140, 140, 400, 300])]),
        "clipped-widths": _payload([(2, [60, 60, 200, 60]), (90, [140, 60, 140, 240])]),
        "repeated-points": _payload([(18, [100, 100, 100, 100, 100, 200, 100, 200, 160, 200])]),
        "fractional": _payload([(17.5, [80.25, 60.5, 200.75, 70.125, 130.5, 230.875])]),
        "tiny-digit": _payload([(8, [138, 130, 142, 130, 140, 150])]),
        "second-pen": _payload([(18, [100, 60, 100, 220])], pen=1),
        # Ink over the canvas's frame: to_mnist takes the page for dark-on-light and inverts it (find_ink)
        "painted-over": _payload([(40, [x for y in range(0, 300, 30) for x in (0, y, 280, y)])]),
        "framed-digit": _payload([(40, [0, 0, 280, 0, 280, 280, 0, 280, 0, 0]), (18, [140, 60, 140, 220])]),
    }


def python_side(payload: dict) -> tuple[np.ndarray, np.ndarray | None, str | None]:
    """What the server makes of the payload: render_ink's (280, 280) uint8, and the model's input as
    capsviz.app.inputs.read_drawing makes it, to_mnist(render_rgba(drawing)).image (28, 28) float32, or None with
    the reason: "empty" (no strokes: the app never calls to_mnist; or EmptyDrawingError), "too-small"
    (TooSmallError), "dot" (read_drawing's click rule: the ink's longer side under two pen widths)."""
    drawing, _ = parse_drawing(payload)
    ink = render_ink(drawing)
    if drawing.is_empty:
        return ink, None, "empty"
    try:
        pre = to_mnist(render_rgba(drawing))
    except EmptyDrawingError:
        return ink, None, "empty"
    except TooSmallError:
        return ink, None, "too-small"
    top, left, bottom, right = pre.ink_box
    if max(bottom - top, right - left) < 2 * max(s.width for s in drawing.strokes):  # as read_drawing
        return ink, None, "dot"
    return ink, pre.image, None
