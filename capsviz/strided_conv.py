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


def _tap_pixels(h: int, w: int, oh: int, ow: int, k: int, stride: int) -> torch.Tensor:
    """For each (ky, kx, out_y, out_x), the flat input pixel y * w + x that tap reads."""
    key = (h, w, oh, ow, k, stride)
    if key not in _TAP_PIXELS:
        ky = torch.arange(k).view(k, 1, 1, 1)
        kx = torch.arange(k).view(1, k, 1, 1)
        oy = torch.arange(oh).view(1, 1, oh, 1)
        ox = torch.arange(ow).view(1, 1, 1, ow)
        _TAP_PIXELS[key] = ((oy * stride + ky) * w + ox * stride + kx).reshape(-1)
    return _TAP_PIXELS[key]


_TAP_PIXELS: dict[tuple[int, ...], torch.Tensor] = {}


class _ConvGemm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x_nhwc, weight, bias, stride):
        o, c, k, _ = weight.shape
        cols = _patches(x_nhwc, k, stride)
        b, oh, ow = cols.shape[:3]
        cols = cols.reshape(b * oh * ow, k * k * c)  # the im2col copy, columns ordered (ky, kx, c)
        # (O, ky, kx, C) rows: a view of a channels-last weight, used transposed by the GEMM.
        wrows = weight.permute(0, 2, 3, 1).reshape(o, k * k * c)
        out = torch.addmm(bias, cols, wrows.t())
        ctx.save_for_backward(cols, wrows)
        ctx.meta = (x_nhwc.shape, k, stride)
        return out.view(b, oh, ow, o)

    @staticmethod
    def backward(ctx, grad_out):
        cols, wrows = ctx.saved_tensors
        (b, h, w, c), k, stride = ctx.meta
        _, oh, ow, o = grad_out.shape
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            # One GEMM per kernel tap, rows ordered (out_y, out_x, batch): the result (taps*positions,
            # B*C) then scatters onto the (pixel, B*C) input gradient with contiguous adds (col2im).
            g_pos = grad_out.permute(1, 2, 0, 3).reshape(oh * ow * b, o)
            w_taps = wrows.view(o, k * k, c)
            gcols = g_pos.new_empty(k * k, oh * ow * b, c)
            for tap in range(k * k):  # 81 mm calls beat one broadcast bmm (which copies g 81 times)
                torch.mm(g_pos, w_taps[:, tap], out=gcols[tap])
            gcols = gcols.view(k * k * oh * ow, b * c)
            grad_x = gcols.new_zeros(h * w, b * c).index_add_(0, _tap_pixels(h, w, oh, ow, k, stride), gcols)
            grad_x = grad_x.view(h, w, b, c).permute(2, 0, 1, 3)
        g = grad_out.reshape(b * oh * ow, o)
        if ctx.needs_input_grad[1]:
            # (O, ky, kx, C) -> (O, C, ky, kx) view: channels-last, like the parameter itself.
            grad_w = (g.t() @ cols).view(o, k, k, c).permute(0, 3, 1, 2)
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
