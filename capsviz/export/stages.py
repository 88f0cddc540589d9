"""The exported trace in stages, and the file that carries them: what the page's worker runs one stage at a time.

    parts = trace_stages(model)              # [(Stage spec, nn.Module, example inputs), ...] for the exporter
    data = pack(header, graphs)              # one file: a JSON header, then each stage's ONNX graph
    header, graphs = unpack(data)            # graphs: [StageGraph(name, inputs, outputs, onnx bytes)]

Why stages: the page reads the drawing while it is drawn, and a reading that has started cannot be stopped inside
one ``session.run``. At pen-up the finished drawing waited for the stroke's last reading (one whole trace, 24 ms
in WASM) before its own began. Cut at PrimaryCaps' convolution (19 of the 24 ms) into ``PRIMARY_PARTS`` slices of
its output channels, a reading can be abandoned between stages, so the finished drawing waits at most one
slice (~5 ms). The stages compute exactly what ``CapsNet.forward`` does, with its own pieces:

    features     image (1, 1, S, S)                  -> features (1, 256, S-8, S-8)     CapsNet.features
    primary{k}   features                            -> primary_conv{k} (1, 64, 6, 6)   PrimaryCaps.conv, channels
                                                                                         [64k, 64k + 64)
    routing      primary_conv0 .. primary_conv3      -> lengths, couplings, poses,      PrimaryCaps.capsules,
                                                        primary                         DigitCaps (record=True)

File layout: ``MAGIC``, the header's length (4 bytes, little-endian), the header (UTF-8 JSON: the format, the
model's hash and config, and per stage its name, input and output names, and byte offset and length in what
follows), then the stages' ONNX graphs one after another. Floor 3: torch and ``capsviz.model`` only.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

import torch
from torch import nn

from capsviz.model.capsnet import CapsNet

MAGIC = b"CAPSVIZ-STAGES\n"
PRIMARY_PARTS = 4  # ~5 ms of WASM each: the longest a finished drawing waits for a reading it overtakes


@dataclass(frozen=True)
class StageSpec:
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


@dataclass(frozen=True)
class StageGraph:
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    graph: bytes  # one ONNX model


class Features(nn.Module):
    def __init__(self, model: CapsNet):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model.features(image)


class PrimaryPart(nn.Module):
    """Output channels [lo, hi) of PrimaryCaps' convolution: a slice of its weights, nothing recomputed."""

    def __init__(self, model: CapsNet, lo: int, hi: int):
        super().__init__()
        conv = model.primary.conv
        part = nn.Conv2d(conv.in_channels, hi - lo, conv.kernel_size, conv.stride)  # type: ignore[arg-type]
        assert conv.bias is not None and part.bias is not None
        with torch.no_grad():
            part.weight.copy_(conv.weight[lo:hi])
            part.bias.copy_(conv.bias[lo:hi])
        self.conv = part

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.conv(features)


class Routing(nn.Module):
    """The convolution's parts joined -> PrimaryCaps' capsules -> DigitCaps with every iteration recorded."""

    def __init__(self, model: CapsNet, iterations: int):
        super().__init__()
        self.model = model
        self.iterations = iterations

    def forward(self, *parts: torch.Tensor) -> tuple[torch.Tensor, ...]:
        u = self.model.primary.capsules(torch.cat(parts, dim=1).permute(0, 2, 3, 1))
        _, rec = self.model.digit(u, self.iterations, record=True)
        assert rec is not None
        return rec.lengths[:, 0], rec.coupling[:, 0], rec.poses[:, 0], u[0].float()


def trace_stages(
    model: CapsNet, iterations: int, input_name: str, outputs: tuple[str, ...]
) -> list[tuple[StageSpec, nn.Module, tuple[torch.Tensor, ...]]]:
    """The stages of ``model``'s trace, in order, each with example inputs for the exporter."""
    cfg = model.cfg
    side = cfg.image_size
    channels = model.primary.conv.out_channels
    assert channels % PRIMARY_PARTS == 0 and (channels // PRIMARY_PARTS) % cfg.primary_dim == 0
    step = channels // PRIMARY_PARTS  # whole capsule types per part
    image = torch.zeros(1, 1, side, side)
    with torch.no_grad():
        features = model.features(image)
        parts = [PrimaryPart(model, k * step, (k + 1) * step) for k in range(PRIMARY_PARTS)]
        convs = tuple(part(features) for part in parts)
    names = tuple(f"primary_conv{k}" for k in range(PRIMARY_PARTS))
    out: list[tuple[StageSpec, nn.Module, tuple[torch.Tensor, ...]]] = [
        (StageSpec("features", (input_name,), ("features",)), Features(model), (image,))
    ]
    for k, part in enumerate(parts):
        out.append((StageSpec(f"primary{k}", ("features",), (names[k],)), part, (features,)))
    out.append((StageSpec("routing", names, outputs), Routing(model, iterations), convs))
    return out


def pack(header: dict, graphs: list[StageGraph]) -> bytes:
    """One file: MAGIC, the header's length, the header (``header`` plus each stage's names and byte range)."""
    stages, offset = [], 0
    for g in graphs:
        stages.append({"name": g.name, "inputs": list(g.inputs), "outputs": list(g.outputs), "offset": offset})
        stages[-1]["length"] = len(g.graph)
        offset += len(g.graph)
    head = json.dumps({**header, "stages": stages}, sort_keys=True).encode()
    return b"".join([MAGIC, struct.pack("<I", len(head)), head, *(g.graph for g in graphs)])


def unpack(data: bytes) -> tuple[dict, list[StageGraph]]:
    """``pack``'s header and stages back; ValueError for anything else (a truncated or foreign file)."""
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
        raise ValueError("not a capsviz stages file")
    (size,) = struct.unpack_from("<I", data, len(MAGIC))
    start = len(MAGIC) + 4 + size
    try:
        header = json.loads(data[len(MAGIC) + 4 : start])
        graphs = []
        for s in header["stages"]:
            lo, n = start + int(s["offset"]), int(s["length"])
            if lo + n > len(data):
                raise ValueError(f"stage {s['name']} runs past the end of the file")
            graphs.append(StageGraph(s["name"], tuple(s["inputs"]), tuple(s["outputs"]), data[lo : lo + n]))
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"damaged capsviz stages header: {exc}") from exc
    return header, graphs
