"""Artifact descriptor extractor (encoder side only)."""

from __future__ import annotations

import torch
from torch import nn

from engine.conditioning import FULL_COND
from engine.config import ModelConfig
from engine.models.layers import Conv, ConvStack, DifferenceConv, cond_planes, conv


def _branch(features: int) -> ConvStack:
    """Three convolutions that turn an RGB image into features."""
    return ConvStack(conv(3, features), nn.ReLU(), conv(features, features), nn.ReLU(), conv(features, features))


class DescriptorExtractor(nn.Module):
    """Compares the original with its JPEG and emits, per 16x16 block, logits over C symbols.

    ``f_ori``, ``f_rec`` and ``f_ori - f_rec`` are concatenated and reduced by four stride-2
    convolutions to one vector per block; a 1x1 convolution gives the logits whose softmax is
    the artifact descriptor.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        f = config.extractor_features
        self.ori = _branch(f)
        self.rec = _branch(f)
        widths = [3 * f, 2 * f, 2 * f, 4 * f, 4 * f]
        down = (DifferenceConv, Conv, Conv, Conv)
        self.down = nn.ModuleList(down[i](widths[i], widths[i + 1], 4, stride=2, padding=1) for i in range(4))
        self.head = ConvStack(
            conv(widths[-1] + FULL_COND, widths[-1], 1), nn.ReLU(), conv(widths[-1], config.symbols, 1)
        )

    def forward(self, original: torch.Tensor, jpeg: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        first, *rest = self.down
        h = first(self.ori(original - 0.5), self.rec(jpeg - 0.5), relu=True)
        for layer in rest:
            h = layer(h, relu=True)
        h = torch.cat([h, cond_planes(cond, h.shape[2], h.shape[3])], dim=1)
        return self.head(h)
