"""PrimaryCaps' 9x9 stride-2 convolution as im2col + one GEMM, for CPU training.

oneDNN's backward pass for this shape (256 -> 256 channels, 20x20 -> 6x6, stride 2) runs at about a
third of its forward speed on CPU and was most of a training step. As im2col + GEMM, the forward,
grad-weight and grad-input products are plain matmuls (AMX-bf16 kernels under autocast); with
channels-last input the im2col is a copy of contiguous runs of 9 x C values, and col2im is one
index_add_. Same function, same nn.Conv2d parameters: the tests check it against F.conv2d.
"""

from __future__ import annotations

import torch


def _patches(x_nhwc: torch.Tensor, k: int, stride: int) -> torch.Tensor:
    """(B, H, W, C) -> (B, OH, OW, k, k, C): a strided view of every receptive field."""
    b, h, w, c = x_nhwc.shape
    oh, ow = (h - k) // stride + 1, (w - k) // stride + 1
    sb, sh, sw, sc = x_nhwc.stride()
    return x_nhwc.as_strided((b, oh, ow, k, k, c), (sb, sh * stride, sw * stride, sh, sw, sc))

_COL2IM: dict[tuple[int, ...], torch.Tensor] = {}


def _col2im_index(h: int, w: int, oh: int, ow: int, k: int, stride: int) -> torch.Tensor:
    """For each (out_y, out_x, ky, kx), the flat input pixel y * w + x it reads."""
    key = (h, w, oh, ow, k, stride)
    if key not in _COL2IM:
        oy = torch.arange(oh).view(oh, 1, 1, 1) * stride + torch.arange(k).view(1, 1, k, 1)
        ox = torch.arange(ow).view(1, ow, 1, 1) * stride + torch.arange(k).view(1, 1, 1, k)
        _COL2IM[key] = (oy * w + ox).reshape(-1)
    return _COL2IM[key]


class _ConvGemm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x_nhwc, weight, bias, stride):
        o, c, k, _ = weight.shape
        cols = _patches(x_nhwc, k, stride)
        b, oh, ow = cols.shape[:3]
        cols = cols.reshape(b * oh * ow, k * k * c)
        wmat = weight.permute(2, 3, 1, 0).reshape(k * k * c, o)  # rows ordered (ky, kx, c)
        out = torch.addmm(bias, cols, wmat)
        ctx.save_for_backward(cols, wmat)
        ctx.meta = (x_nhwc.shape, weight.shape, stride)
        return out.view(b, oh, ow, o)

    @staticmethod
    def backward(ctx, grad_out):
        cols, wmat = ctx.saved_tensors
        (b, h, w, c), (o, _, k, _), stride = ctx.meta
        _, oh, ow, _ = grad_out.shape
        g = grad_out.reshape(b * oh * ow, o)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            gcols = (g @ wmat.t()).view(b, oh * ow * k * k, c)
            grad_x = g.new_zeros(b, h * w, c).index_add_(1, _col2im_index(h, w, oh, ow, k, stride), gcols)
            grad_x = grad_x.view(b, h, w, c)
        if ctx.needs_input_grad[1]:
            grad_w = (cols.t() @ g).view(k, k, c, o).permute(3, 2, 0, 1)
        if ctx.needs_input_grad[2]:
            grad_b = g.sum(0)
        return grad_x, grad_w, grad_b, None


def conv2d_gemm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, stride: int) -> torch.Tensor:
    """F.conv2d(x, weight, bias, stride) without padding, for x (B, C, H, W); returns (B, OH, OW, O),
    channels-last order. Honours CPU autocast (bf16) the way a convolution does."""
    x_nhwc = x.permute(0, 2, 3, 1)
    if torch.is_autocast_enabled(x.device.type):
        dtype = torch.get_autocast_dtype(x.device.type)
        x_nhwc, weight, bias = x_nhwc.to(dtype), weight.to(dtype), bias.to(dtype)
    if not x_nhwc.is_contiguous():
        x_nhwc = x_nhwc.contiguous()
    with torch.autocast(x.device.type, enabled=False):
        return _ConvGemm.apply(x_nhwc, weight, bias, stride)
