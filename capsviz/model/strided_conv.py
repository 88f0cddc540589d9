"""PrimaryCaps' 9x9 stride-2 convolution as row-phase im2col + GEMMs, for CPU training.

oneDNN's backward pass for this shape (256 -> 256 channels, 20x20 -> 6x6, stride 2) runs at about a
third of its forward speed on CPU and was most of a training step. Here the forward, grad-weight and
grad-input products are plain matmuls (AMX-bf16 kernels under autocast), without a full im2col:

* Input rows are split by phase, h = stride * a + py. For each phase, ``Y[a, b, ox, kx, c] =
  x[b, stride * a + py, stride * ox + kx, c]`` unfolds the columns only (k / stride times the input,
  not k^2 / stride^2 as a full im2col would).
* Kernel row ky = stride * m + py then reads the contiguous block ``Y[m : m + OH]``: a
  (OH * B * OW, k * C) matrix with rows ordered (out_y, batch, out_x). So the forward pass is k GEMMs
  (partial sums added in fp32), grad-weight is k GEMMs, and grad-input is k GEMMs accumulated in place
  into the phase buffers, then folded back onto the input columns by one small batched matmul with a
  0/1 matrix (col2im along x).

Every temporary stays below ~32 MB at batch 100: glibc serves those from its heap, where bigger
blocks would be fresh mmaps that page-fault on every step. Same function, same nn.Conv2d parameters:
the tests check it against F.conv2d.
"""

from __future__ import annotations

import torch


def _phases(k: int, stride: int, oh: int) -> list[tuple[int, int, int]]:
    """(py, taps, rows) per row phase: kernel rows ky = py + stride * m for m < taps read phase rows
    a = out_y + m < rows."""
    out = []
    for py in range(min(stride, k)):
        taps = (k - py + stride - 1) // stride
        out.append((py, taps, oh + taps - 1))
    return out


def _unfold_rows(x_nhwc: torch.Tensor, py: int, rows: int, k: int, stride: int, ow: int) -> torch.Tensor:
    """(B, H, W, C) -> Y (rows, B, OW, k, C), Y[a, b, ox, kx] = x[b, stride * a + py, stride * ox + kx]."""
    b, _, _, c = x_nhwc.shape
    sb, sh, sw, sc = x_nhwc.stride()
    view = x_nhwc.as_strided(
        (rows, b, ow, k, c), (stride * sh, sb, stride * sw, sw, sc), x_nhwc.storage_offset() + py * sh
    )
    return view.contiguous()


_FOLD: dict[tuple, torch.Tensor] = {}


def _fold_matrix(w: int, ow: int, k: int, stride: int, dtype: torch.dtype) -> torch.Tensor:
    """(W, OW * k) 0/1 matrix: input column x collects every (out_x, kx) with stride * out_x + kx = x."""
    key = (w, ow, k, stride, dtype)
    if key not in _FOLD:
        m = torch.zeros(w, ow, k, dtype=dtype)
        for ox in range(ow):
            for kx in range(k):
                m[stride * ox + kx, ox, kx] = 1
        _FOLD[key] = m.view(w, ow * k)
    return _FOLD[key]


class _ConvGemm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x_nhwc, weight, bias, stride):
        o, c, k, _ = weight.shape
        b, h, w, _ = x_nhwc.shape
        oh, ow = (h - k) // stride + 1, (w - k) // stride + 1
        phases = _phases(k, stride, oh)
        ys = [_unfold_rows(x_nhwc, py, rows, k, stride, ow) for py, _, rows in phases]
        # (O, ky, kx, C) rows: a view of a channels-last weight; kernel row ky is columns [ky*k*C, (ky+1)*k*C).
        wrows = weight.permute(0, 2, 3, 1).reshape(o, k * k * c)
        kc = k * c
        acc = None
        for (py, taps, _), y in zip(phases, ys, strict=True):
            for m in range(taps):
                ky = py + stride * m
                part = torch.mm(y[m : m + oh].view(oh * b * ow, kc), wrows[:, ky * kc : (ky + 1) * kc].t())
                acc = part.float() if acc is None else acc.add_(part)
        acc.add_(bias)
        out = torch.empty(b, oh, ow, o, dtype=x_nhwc.dtype, device=x_nhwc.device)
        out.copy_(acc.view(oh, b, ow, o).permute(1, 0, 2, 3))
        ctx.save_for_backward(wrows, *ys)
        ctx.meta = (x_nhwc.shape, k, stride)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        wrows, *ys = ctx.saved_tensors
        (b, h, w, c), k, stride = ctx.meta
        _, oh, ow, o = grad_out.shape
        kc = k * c
        phases = _phases(k, stride, oh)
        # Rows ordered (out_y, batch, out_x), like the unfolded input.
        g = grad_out.permute(1, 0, 2, 3).reshape(oh * b * ow, o)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.zeros(b, h, w, c, dtype=g.dtype, device=g.device)
            fold = _fold_matrix(w, ow, k, stride, g.dtype)
            for py, taps, rows in phases:
                gy = g.new_empty(rows, b, ow, kc)
                gy[oh:].zero_()
                for m in range(taps):
                    ky = py + stride * m
                    block = gy[m : m + oh].view(oh * b * ow, kc)
                    w_ky = wrows[:, ky * kc : (ky + 1) * kc]
                    if m == 0:
                        torch.mm(g, w_ky, out=block)
                    else:
                        block.addmm_(g, w_ky)
                # col2im along x: (rows * B, OW * k, C) -> (rows * B, W, C), then onto input rows stride*a+py.
                cols = torch.matmul(fold, gy.view(rows * b, ow * k, c))
                grad_x[:, py::stride][:, :rows].copy_(cols.view(rows, b, w, c).transpose(0, 1))
                del gy, cols
        if ctx.needs_input_grad[1]:
            gw = g.new_empty(o, k, kc)
            gt = g.t().contiguous()  # a transposed operand costs oneDNN ~70% more here
            for (py, taps, _), y in zip(phases, ys, strict=True):
                for m in range(taps):
                    gw[:, py + stride * m] = gt @ y[m : m + oh].view(oh * b * ow, kc)
            # (O, ky, kx, C) -> (O, C, ky, kx) view: channels-last, like the parameter itself.
            grad_w = gw.view(o, k, k, c).permute(0, 3, 1, 2)
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


class _ConvReluGemm(torch.autograd.Function):
    """relu(conv2d(x, weight, bias)) for a single-channel input that needs no gradient (the images):
    im2col (a few MB) + one GEMM each way; the output is the channels-last (B, H', W', O) block."""

    @staticmethod
    def forward(ctx, img, weight, bias):
        b, h, w = img.shape
        o, k = weight.shape[0], weight.shape[-1]
        oh, ow = h - k + 1, w - k + 1
        # Rows (ky, kx) plus a row of ones whose product with the gradient is grad-bias.
        cols_t = img.new_ones(k * k + 1, b, oh, ow)
        sb, sh, sw = img.stride()
        cols_t[:-1].copy_(img.as_strided((k, k, b, oh, ow), (sh, sw, sb, sh, sw)).reshape(k * k, b, oh, ow))
        cols_t = cols_t.view(k * k + 1, b * oh * ow)
        out = torch.addmm(bias, cols_t[:-1].t(), weight.reshape(o, k * k).t()).relu_()
        ctx.save_for_backward(cols_t, out)
        ctx.meta = (b, oh, ow, o, k)
        return out.view(b, oh, ow, o).permute(0, 3, 1, 2)

    @staticmethod
    def backward(ctx, grad):
        cols_t, out = ctx.saved_tensors
        b, oh, ow, o, k = ctx.meta
        g = torch.ops.aten.threshold_backward(grad.permute(0, 2, 3, 1).reshape(b * oh * ow, o), out, 0)
        gwb = cols_t @ g  # (k*k + 1, O): grad-weight rows, then grad-bias
        return None, gwb[:-1].t().reshape(o, 1, k, k), gwb[-1]


def conv2d_relu_gemm(images: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """F.relu(F.conv2d(images, weight, bias)) for (B, 1, H, W) images that need no gradient; returns
    (B, O, H', W') with channels-last strides. Honours CPU autocast (bf16) the way a convolution does."""
    img = images.reshape(images.shape[0], images.shape[2], images.shape[3])
    if torch.is_autocast_enabled(images.device.type):
        dtype = torch.get_autocast_dtype(images.device.type)
        img, weight, bias = img.to(dtype), weight.to(dtype), bias.to(dtype)
    with torch.autocast(images.device.type, enabled=False):
        return _ConvReluGemm.apply(img, weight, bias)
