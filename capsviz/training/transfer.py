"""Start a bigger-image CapsNet (MultiMNIST's 36x36) from trained MNIST (28x28) weights.

    mnist = load_model("checkpoints")
    model = init_from_mnist(mnist)            # CapsNet(MULTIMNIST_CONFIG), ready to fine-tune

Conv1 and PrimaryCaps are convolutions: their weights do not depend on the image size and are
copied as they are. DigitCaps has one W_ij per primary-capsule *position* (and type); the 36x36
model has a 10x10 grid where MNIST's has 6x6. Its positions are matched in image coordinates, not
stretched: a primary capsule at grid row r sees image rows 2r .. 2r + 16, so a 28x28 digit centred
in 36x36 (4 px of border) puts MNIST's capsule (r, c) exactly at (r + 2, c + 2) of the new grid, with
the same receptive field and the same input. Those 6x6 positions get MNIST's W unchanged. The
2-capsule ring around them gets W = 0 (``border="zero"``, the default): its votes are then 0 and
leave the routing of the others untouched, so on a centred digit the new model computes exactly
what the MNIST model computes (the tests check it), and training grows the ring's W from there (its
gradient, u_i times the vote's gradient, is not 0). ``border="nearest"`` continues the nearest
trained position outward instead. Measured on 1,000 MNIST test digits with the shipped weights,
before any training: MNIST model 99.4%; "zero" 99.4% centred and 98.2% with each digit shifted by
up to 4 px; "nearest" 75.4% and 77.2%: the ring sees mostly empty field, where the primary
capsules are not short (conv biases), and with trained W their votes swamp the digit's. Stretching
6x6 over 10x10 would do the same, and give each position the W of a place 1.7x nearer the centre.

The decoder's first two layers are copied. Its last layer (1024 -> 36*36) starts as MNIST's
(1024 -> 28*28) placed in the centre of the 36x36 field; the 4-px frame gets zero weights and the
lowest bias of the MNIST layer (MNIST's own empty border pixels: sigmoid of it is ~0). So the new
decoder draws the MNIST reconstruction, centred, which is what a capsule trained on centred digits
means; fine-tuning then learns where the shifted digit lies from the pose.
"""

from __future__ import annotations

from typing import Literal

import torch

from capsviz.model.capsnet import CapsNet, CapsNetConfig


def _grid_offset(src: CapsNetConfig, dst: CapsNetConfig) -> int:
    """Grid cells between the two grids' origins when the smaller image sits centred in the bigger."""
    if (dst.image_size - src.image_size) % 4:
        raise ValueError(
            f"image sizes {src.image_size} -> {dst.image_size}: the difference must be a multiple of 4 "
            "(2 px per side per grid cell at stride 2) for the grids to line up"
        )
    return (dst.image_size - src.image_size) // 4


def transfer_digit_weights(
    weight: torch.Tensor, src: CapsNetConfig, dst: CapsNetConfig, border: Literal["zero", "nearest"] = "zero"
) -> torch.Tensor:
    """DigitCaps W (src grid^2 * types, 8, 10, 16) -> (dst grid^2 * types, 8, 10, 16).

    Position (r, c) of the dst grid takes src position (r - off, c - off), off = grid offset (2 for
    28 -> 36); outside the src grid, zeros (``zero``) or the nearest src position (``nearest``)."""
    if border not in ("zero", "nearest"):
        raise ValueError(f"border must be 'zero' or 'nearest', got {border!r}")
    off = _grid_offset(src, dst)
    gs, gd, t = src.primary_grid, dst.primary_grid, src.primary_types
    w = weight.detach().reshape(gs, gs, t, *weight.shape[1:])
    pos = torch.arange(gd) - off
    inside = (pos >= 0) & (pos < gs)
    idx = pos.clamp(0, gs - 1)
    out = w[idx[:, None], idx[None, :]]  # (gd, gd, types, 8, 10, 16)
    if border == "zero":
        keep = (inside[:, None] & inside[None, :]).to(out.dtype)
        out = out * keep.view(gd, gd, *([1] * (out.dim() - 2)))
    return out.reshape(gd * gd * t, *weight.shape[1:]).clone()


def transfer_decoder_output(
    weight: torch.Tensor, bias: torch.Tensor, src_size: int, dst_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The decoder's last Linear (src_size^2, H) -> (dst_size^2, H), the src image centred: frame
    pixels get zero weights and the smallest src bias (drawn ~0 after the sigmoid)."""
    h = weight.shape[1]
    top = (dst_size - src_size) // 2
    w = weight.new_zeros(dst_size, dst_size, h)
    b = bias.new_full((dst_size, dst_size), float(bias.min()))
    w[top : top + src_size, top : top + src_size] = weight.detach().view(src_size, src_size, h)
    b[top : top + src_size, top : top + src_size] = bias.detach().view(src_size, src_size)
    return w.view(dst_size * dst_size, h), b.view(-1)


def init_from_mnist(
    mnist_model: CapsNet, cfg: CapsNetConfig | None = None, border: Literal["zero", "nearest"] = "zero"
) -> CapsNet:
    """A CapsNet for ``cfg`` (default: capsviz.data.multimnist.MULTIMNIST_CONFIG) initialised from a
    trained MNIST model, on the CPU in fp32 and in train mode (see the module docstring)."""
    if cfg is None:
        from capsviz.data.multimnist import MULTIMNIST_CONFIG

        cfg = MULTIMNIST_CONFIG
    src = mnist_model.cfg
    same = ("conv1_channels", "kernel_size", "primary_types", "primary_dim", "num_classes", "digit_dim")
    diff = [
        f"{k}: {getattr(src, k)} vs {getattr(cfg, k)}"
        for k in (*same, "decoder_hidden")
        if getattr(src, k) != getattr(cfg, k)
    ]
    if diff:
        raise ValueError(f"configs differ beyond the image size: {'; '.join(diff)}")
    model = CapsNet(cfg)
    old = {k: v.detach().float().cpu() for k, v in mnist_model.state_dict().items()}
    new = model.state_dict()
    for k in ("conv1.weight", "conv1.bias", "primary.conv.weight", "primary.conv.bias"):
        new[k] = old[k].clone()
    new["digit.weight"] = transfer_digit_weights(old["digit.weight"], src, cfg, border)
    for k in ("decoder.net.0.weight", "decoder.net.0.bias", "decoder.net.2.weight", "decoder.net.2.bias"):
        new[k] = old[k].clone()
    new["decoder.net.4.weight"], new["decoder.net.4.bias"] = transfer_decoder_output(
        old["decoder.net.4.weight"], old["decoder.net.4.bias"], src.image_size, cfg.image_size
    )
    model.load_state_dict(new)
    return model.train()
