"""Artifact feature mapping (decoder side): descriptors to dense float features."""

from __future__ import annotations

import torch
from torch import nn

from engine.conditioning import FULL_COND
from engine.config import BLOCK, ModelConfig
from engine.models.layers import ConvStack, cond_planes, conv


def _upsample(features: int, factor: int) -> ConvStack:
    """A convolution followed by a pixel shuffle: one learned upsampling stage (the ReLU commutes with the shuffle,
    so it runs first, inside the convolution)."""
    return ConvStack(conv(features, features * factor * factor), nn.ReLU(), nn.PixelShuffle(factor))


class ArtifactFeatureMapping(nn.Module):
    """One-hot descriptor map at 1/16 resolution to features at the trunk's resolution.

    A 2x stage then an 8x stage (16x in all) for a full-resolution trunk; the second stage
    shrinks to match a trunk that works at a reduced scale.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        f = config.mapping_features
        second = BLOCK // (2 * config.trunk_scale)
        self.embed = ConvStack(conv(config.symbols + FULL_COND, f), nn.ReLU(), conv(f, f), nn.ReLU())
        self.up2 = _upsample(f, 2)
        self.up_rest = _upsample(f, second) if second > 1 else nn.Identity()
        self.out = conv(f, config.modulation_features)

    def forward(self, descriptors: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = torch.cat([descriptors, cond_planes(cond, descriptors.shape[2], descriptors.shape[3])], dim=1)
        return self.out(self.up_rest(self.up2(self.embed(h))))
