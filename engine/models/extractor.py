"""Artifact descriptor extractor (encoder side only)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from engine.conditioning import FULL_COND
from engine.config import ModelConfig
from engine.models.layers import cond_planes, conv


def _branch(features: int) -> nn.Sequential:
    """Three convolutions that turn an RGB image into features."""
    return nn.Sequential(
        conv(3, features),
        nn.ReLU(inplace=True),
        conv(features, features),
        nn.ReLU(inplace=True),
        conv(features, features),
    )


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
        self.down = nn.ModuleList(nn.Conv2d(widths[i], widths[i + 1], 4, stride=2, padding=1) for i in range(4))
        self.head = nn.Sequential(
            nn.Conv2d(widths[-1] + FULL_COND, widths[-1], 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(widths[-1], config.symbols, 1),
        )

    def forward(self, original: torch.Tensor, jpeg: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        f_ori = self.ori(original - 0.5)
        f_rec = self.rec(jpeg - 0.5)
        h = torch.cat([f_ori, f_rec, f_ori - f_rec], dim=1)
        for layer in self.down:
            h = F.relu(layer(h))
        h = torch.cat([h, cond_planes(cond, h.shape[2], h.shape[3])], dim=1)
        return self.head(h)
