"""The CapsNet of Sabour, Frosst & Hinton (2017), "Dynamic Routing Between Capsules".

    image (B, 1, 28, 28)
      -> Conv1: 256 x 9x9, stride 1, ReLU                       (B, 256, 20, 20)
      -> PrimaryCaps: 32 x 8D capsules, 9x9 stride 2, squash     (B, 1152, 8)   [1152 = 32 x 6 x 6]
      -> u_hat_j|i = W_ij u_i  (W_ij: 8 -> 16 per pair)           (B, 10, 1152, 16)
      -> dynamic routing (r iterations)                           (B, 10, 16)    digit capsules v_j
      -> |v_j| are the class scores                               (B, 10)
      -> decoder on the masked v: 160 -> 512 -> 1024 -> 784       (B, 28, 28)

Primary capsule i is numbered grid-major: i = (row * 6 + col) * 32 + type. With channels-last
activations that numbering makes PrimaryCaps' reshape free in both directions (a view), which keeps
the big convolution's backward pass on oneDNN's fast channels-last path.

The sizes above are the default (MNIST) config; every stage reads them from ``CapsNetConfig``. The
MultiMNIST model (capsviz.data.multimnist.MULTIMNIST_CONFIG) takes 36x36 images: Conv1 gives 28x28x256,
PrimaryCaps a 10x10 grid (3200 capsules), and the decoder draws 36x36.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from capsviz.model.routing import RoutingRecord, dynamic_routing, squash
from capsviz.model.strided_conv import conv2d_gemm, conv2d_relu_gemm

MNIST_SIDE = 28  # MNIST images are 28 x 28: the input the default config is built for
NUM_CLASSES = 10


@dataclass(frozen=True)
class CapsNetConfig:
    conv1_channels: int = 256
    kernel_size: int = 9
    primary_types: int = 32
    primary_dim: int = 8
    primary_grid: int = 6
    num_classes: int = NUM_CLASSES
    digit_dim: int = 16
    routing_iterations: int = 3
    decoder_hidden: tuple[int, int] = (512, 1024)
    image_size: int = MNIST_SIDE

    def __post_init__(self) -> None:
        expected = self.grid_for(self.image_size, self.kernel_size)
        if self.primary_grid != expected:
            raise ValueError(
                f"primary_grid={self.primary_grid} does not fit image_size={self.image_size}: Conv1 "
                f"({self.kernel_size}x{self.kernel_size}) then PrimaryCaps ({self.kernel_size}x{self.kernel_size}, "
                f"stride 2) give a {expected}x{expected} grid"
            )

    @staticmethod
    def grid_for(image_size: int, kernel_size: int = 9) -> int:
        """Side of the primary-capsule grid for square images: 28 -> 6, 36 -> 10."""
        return (image_size - 2 * (kernel_size - 1) - 1) // 2 + 1

    @property
    def num_primary(self) -> int:
        return self.primary_types * self.primary_grid * self.primary_grid

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> CapsNetConfig:
        d = dict(d)
        if "decoder_hidden" in d:
            d["decoder_hidden"] = tuple(d["decoder_hidden"])
        return cls(**d)


@dataclass
class CapsNetOutput:
    """lengths (B, 10) fp32; poses (B, 10, 16) fp32; primary (B, 1152, 8) squashed primary
    capsules; reconstruction (B, 28, 28) — (B, K, 28, 28) for a (B, K) target — or None; routing:
    every iteration, when recorded. (28 and 1152 for the default config: image_size and num_primary.)"""

    lengths: torch.Tensor
    poses: torch.Tensor
    primary: torch.Tensor
    reconstruction: torch.Tensor | None
    routing: RoutingRecord | None


class PrimaryCaps(nn.Module):
    """Conv 9x9 stride 2 producing 32 types of 8D capsules on a 6x6 grid, squashed."""

    def __init__(self, cfg: CapsNetConfig):
        super().__init__()
        self.cfg = cfg
        self.conv = nn.Conv2d(cfg.conv1_channels, cfg.primary_types * cfg.primary_dim, cfg.kernel_size, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 256, 20, 20) -> (B, 1152, 8), capsule i = (row * 6 + col) * 32 + type."""
        if x.device.type == "cpu" and torch.is_grad_enabled():
            # Training on CPU: oneDNN's backward for this shape is slow; the GEMM form is not.
            bias = self.conv.bias
            assert bias is not None  # nn.Conv2d's default, kept by every checkpoint
            out = conv2d_gemm(x, self.conv.weight, bias, stride=2)  # (B, 6, 6, 256)
        else:
            out = self.conv(x).permute(0, 2, 3, 1)  # inference, or cuDNN
        return self.capsules(out)

    def capsules(self, out: torch.Tensor) -> torch.Tensor:
        """The convolution's output, channels last (B, 6, 6, 256) -> the squashed capsules (B, 1152, 8)."""
        # channel k = type * 8 + dim, so (B, 6, 6, 32*8) -> (B, 6*6*32, 8) numbers i = (row*6+col)*32+type.
        return squash(out.reshape(out.shape[0], -1, self.cfg.primary_dim))


_CHUNK_BYTES = 24 * 2**20


class DigitCaps(nn.Module):
    """Transformation matrices W_ij (8 -> 16) for all 1152 x 10 pairs, then routing."""

    def __init__(self, cfg: CapsNetConfig):
        super().__init__()
        self.cfg = cfg
        # weight[i, k, j, d]: u_hat_j|i[d] = sum_k u_i[k] * weight[i, k, j, d]
        self.weight = nn.Parameter(0.01 * torch.randn(cfg.num_primary, cfg.primary_dim, cfg.num_classes, cfg.digit_dim))

    def predictions(self, u: torch.Tensor) -> torch.Tensor:
        """(B, I, 8) -> u_hat (B, J, I, 16): one batched matmul over the 1152 primary capsules."""
        cfg = self.cfg
        w = self.weight.view(cfg.num_primary, cfg.primary_dim, cfg.num_classes * cfg.digit_dim)
        u_hat = torch.bmm(u.transpose(0, 1), w)  # (I, B, 8) @ (I, 8, J*D)
        # (I, B, J*D) -> (B, J, I, D), contiguous so the routing matmuls read it in one pass.
        i, b, _ = u_hat.shape
        return u_hat.view(i, b, cfg.num_classes, cfg.digit_dim).permute(1, 2, 0, 3).contiguous()

    def forward(
        self, u: torch.Tensor, iterations: int, record: bool = False
    ) -> tuple[torch.Tensor, RoutingRecord | None]:
        # Routing is independent per image, so on CPU the batch is routed in chunks whose u_hat stays
        # under ~24 MB: glibc serves such blocks from its heap, where a bigger one would be a fresh
        # mmap, page-faulted on every step (36.9 MB at batch 100 in bf16, and its gradient again).
        chunks = 1
        if not record and u.device.type == "cpu":
            cfg = self.cfg
            dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else u.dtype
            per_image = cfg.num_classes * cfg.num_primary * cfg.digit_dim * torch.finfo(dtype).bits // 8
            chunks = -(-u.shape[0] * per_image // _CHUNK_BYTES)
        if chunks <= 1:
            return dynamic_routing(self.predictions(u), iterations, record=record)
        size = -(-u.shape[0] // chunks)
        v = torch.cat([dynamic_routing(self.predictions(part), iterations)[0] for part in u.split(size)])
        return v, None


class Decoder(nn.Module):
    """Masked digit capsules (B, 10, 16) -> reconstruction (B, S, S) in [0, 1], S = image_size."""

    def __init__(self, cfg: CapsNetConfig):
        super().__init__()
        h1, h2 = cfg.decoder_hidden
        self.size = cfg.image_size
        self.net = nn.Sequential(
            nn.Linear(cfg.num_classes * cfg.digit_dim, h1),
            nn.ReLU(inplace=True),
            nn.Linear(h1, h2),
            nn.ReLU(inplace=True),
            nn.Linear(h2, cfg.image_size * cfg.image_size),
            nn.Sigmoid(),
        )

    def forward(self, poses: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """poses (B, 10, 16); target (B,) class whose capsule is kept, the others zeroed -> (B, S, S).

        A (B, K) target decodes K capsules of each image separately (each with all the others
        masked, as for the two digits of a MultiMNIST pair) -> (B, K, S, S), in one pass."""
        mask = F.one_hot(target, poses.shape[1]).unsqueeze(-1).to(poses.dtype)  # (B, [K,] 10, 1)
        masked = (poses.unsqueeze(1) if target.dim() == 2 else poses) * mask
        out = self.net(masked.flatten(-2))
        return out.view(*target.shape, self.size, self.size)


class CapsNet(nn.Module):
    def __init__(self, cfg: CapsNetConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or CapsNetConfig()
        self.conv1 = nn.Conv2d(1, cfg.conv1_channels, cfg.kernel_size)
        self.primary = PrimaryCaps(cfg)
        self.digit = DigitCaps(cfg)
        self.decoder = Decoder(cfg)

    def forward(
        self,
        images: torch.Tensor,
        target: torch.Tensor | None = None,
        iterations: int | None = None,
        record: bool = False,
        reconstruct: bool = True,
    ) -> CapsNetOutput:
        """images (B, 1, S, S) in [0, 1], S = cfg.image_size (28 for MNIST).

        target: class to decode (the true label in training), (B,); or (B, K) to decode K capsules
        of each image, each on its own (reconstruction (B, K, S, S)); None decodes the prediction.
        iterations: routing iterations; None uses the trained value.
        """
        u = self.primary(self.features(images))
        v, routing = self.digit(u, iterations or self.cfg.routing_iterations, record=record)
        lengths = v.norm(dim=-1)
        recon = None
        if reconstruct:
            mask_by = target if target is not None else lengths.argmax(dim=1)
            recon = self.decoder(v, mask_by)
        return CapsNetOutput(lengths=lengths, poses=v, primary=u, reconstruction=recon, routing=routing)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Conv1 and its ReLU: (B, 1, S, S) -> (B, 256, S - 8, S - 8)."""
        if images.device.type == "cpu" and torch.is_grad_enabled() and not images.requires_grad:
            # CPU training: oneDNN's weight gradient for this 1-channel conv is slow; the GEMM form is not.
            bias = self.conv1.bias
            assert bias is not None
            return conv2d_relu_gemm(images, self.conv1.weight, bias)
        return F.relu(self.conv1(images))
