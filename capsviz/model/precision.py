"""Training precision: bf16 autocast where the hardware runs it natively, fp32 elsewhere.

bf16 trains 2.7x as fast as fp32 on AMX (Sapphire Rapids) and 3.1x on AVX512-BF16 (Zen 4) (capsviz.bench.table); on
a CPU with neither (AVX2 only) PyTorch emulates it and a step takes minutes instead of about a second.
"""

from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("auto", "bf16", "fp32")  # "auto": native_bf16 decides


def native_bf16(device: torch.device) -> bool:
    """Whether bfloat16 convolutions and matmuls pay here: CUDA, or a CPU where oneDNN runs bf16 natively
    (AVX-512 with AVX512-BF16, or AMX); elsewhere PyTorch's fallback is slower than fp32."""
    if device.type == "cuda":
        return True
    try:
        return device.type == "cpu" and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve(precision: str, device: torch.device) -> str:
    """ "bf16" or "fp32" for a --precision value ("auto" picks bf16 only where it is native)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision


def cpu_capability() -> str:
    """The vector instructions PyTorch's CPU kernels use here (e.g. AVX2, AVX512), for messages."""
    return str(torch.backends.cpu.get_cpu_capability())


def autocast_for(device: torch.device, precision: str):
    """The autocast context of a resolved precision (a no-op for fp32)."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
