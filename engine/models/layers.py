"""Small building blocks shared by the networks."""

from __future__ import annotations

import torch
from torch import nn


def conv(in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1) -> nn.Conv2d:
    """A 'same'-padded convolution (for odd kernels and stride 1)."""
    return nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2)


def causal_mask(kernel: int) -> torch.Tensor:
    """Mask of a causal (raster order) kernel that excludes the centre: 'type A' in PixelCNN."""
    mask = torch.zeros(kernel, kernel)
    centre = kernel // 2
    mask[:centre, :] = 1
    mask[centre, :centre] = 1
    return mask


class MaskedConv2d(nn.Conv2d):
    """Convolution that only sees already-coded neighbours (rows above, left in the same row)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 5) -> None:
        super().__init__(in_ch, out_ch, kernel, padding=kernel // 2)
        self.register_buffer("mask", causal_mask(kernel)[None, None], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.weight * self.mask, self.bias)


def cond_planes(cond: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Broadcast a (B, K) conditioning vector to (B, K, H, W) constant planes."""
    return cond[:, :, None, None].expand(-1, -1, height, width)
