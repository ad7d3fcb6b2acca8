"""Multi-scale trunk: a U-Net of conditional residual blocks, as FBCNN, DRUNet and NAFNet restore JPEGs.

Strong artifacts at low qualities span many 8x8 blocks; a single-scale stack buys such a receptive field
with depth at full cost, a U-Net with levels at 1/2, 1/4 and 1/8 of the trunk's resolution buys it
cheaply (each level down quarters the pixels, so doubling its channels keeps a block's cost). The
U-Net keeps the paper's components: every block is a ``ConditionalResBlock`` modulated by the artifact
features (average-pooled to its level), every level starts with a gain from the JPEG header, and the
output is the trunk's features at its own resolution, which the block-selection head and the per-image
adaptation read as they read the EDSR trunk's.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from engine.conditioning import JPEG_COND
from engine.config import ModelConfig
from engine.models.layers import Conv
from engine.models.restorer import ConditionalResBlock, Restorer


class HeaderGain(nn.Module):
    """Per-channel gain ``1 + W c`` from the JPEG header's vector ``c``; the identity at initialisation."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(JPEG_COND, features)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor, jpeg_cond: torch.Tensor) -> torch.Tensor:
        return x * (1 + self.linear(jpeg_cond.to(x.dtype)))[:, :, None, None]


class Stage(nn.Module):
    """One side of a U-Net level: the header's gain, then conditional residual blocks."""

    def __init__(self, features: int, blocks: int, config: ModelConfig) -> None:
        super().__init__()
        self.gain = HeaderGain(features)
        self.blocks = nn.ModuleList(
            ConditionalResBlock(features, config.modulation_features, config.res_scale) for _ in range(blocks)
        )

    def forward(self, h: torch.Tensor, jpeg_cond: torch.Tensor, artifact: torch.Tensor | None) -> torch.Tensor:
        h = self.gain(h, jpeg_cond)
        for block in self.blocks:
            h = block(h, artifact)
        return h


class UNet(nn.Module):
    """Encoder stages, 2x2 stride-2 convolutions down, a bottleneck, 2x2 transposed convolutions up with
    additive skips (DRUNet's), decoder stages; maps (B, widths[0], H, W) features to the same shape."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        widths = (config.trunk_features, *config.unet_features)
        if len(config.unet_blocks) != len(widths):
            raise ValueError(f"unet_blocks needs one count per level ({len(widths)}), got {config.unet_blocks}")
        levels = len(widths) - 1
        self.stride = 2**levels
        blocks = config.unet_blocks
        self.encoder = nn.ModuleList(Stage(widths[i], blocks[i], config) for i in range(levels))
        self.down = nn.ModuleList(Conv(widths[i], widths[i + 1], 2, stride=2) for i in range(levels))
        self.bottleneck = Stage(widths[-1], blocks[-1], config)
        self.up = nn.ModuleList(nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2) for i in range(levels))
        self.decoder = nn.ModuleList(Stage(widths[i], blocks[i], config) for i in range(levels))

    def forward(self, h: torch.Tensor, jpeg_cond: torch.Tensor, artifact: torch.Tensor | None) -> torch.Tensor:
        height, width = h.shape[2:]
        pad = (0, -width % self.stride, 0, -height % self.stride)
        if any(pad):  # training crops need none; a no-op pad's backward trips torch.compile's CPU kernels
            h = F.pad(h, pad, mode="replicate")
            artifact = None if artifact is None else F.pad(artifact, pad, mode="replicate")
        skips = []
        for level, (stage, down) in enumerate(zip(self.encoder, self.down, strict=True)):
            h = stage(h, jpeg_cond, _pooled(artifact, level))
            skips.append(h)
            h = down(h)
        h = self.bottleneck(h, jpeg_cond, _pooled(artifact, len(skips)))
        for level in reversed(range(len(skips))):
            h = self.decoder[level](self.up[level](h) + skips[level], jpeg_cond, _pooled(artifact, level))
        return h[:, :, :height, :width]


def _pooled(artifact: torch.Tensor | None, level: int) -> torch.Tensor | None:
    """The artifact features at a level's resolution."""
    return artifact if artifact is None or level == 0 else F.avg_pool2d(artifact, 2**level)


class UNetRestorer(Restorer):
    """The restorer with a U-Net between its head and ``body_end`` instead of a stack of residual blocks."""

    def __init__(self, config: ModelConfig) -> None:
        if config.trunk_blocks:
            raise ValueError("a U-Net trunk's blocks are set by unet_blocks; trunk_blocks must be 0")
        super().__init__(config)
        self.unet = UNet(config)

    def body(self, h: torch.Tensor, jpeg_cond: torch.Tensor, artifact: torch.Tensor | None) -> torch.Tensor:
        return self.unet(h, jpeg_cond, artifact)


class HybridRestorer(Restorer):
    """The EDSR restorer with a U-Net context stage after the first half of its blocks: the lower levels add what a
    wide neighbourhood says to the features at the trunk's resolution, and the remaining blocks refine them.

    The stage's way up to the top level starts at zero, so the stage is the identity at initialisation and a
    trained ``edsr`` model's weights (all but ``restorer.context``) load into it unchanged, as good as before.
    """

    def __init__(self, config: ModelConfig) -> None:
        if not config.unet_blocks or config.unet_blocks[0]:
            raise ValueError("a hybrid trunk's top level is its edsr stack: unet_blocks must start with 0")
        super().__init__(config)
        self.context = UNet(config)
        nn.init.zeros_(self.context.up[0].weight)
        nn.init.zeros_(self.context.up[0].bias)
        self.context_after = config.context_after

    def body(self, h: torch.Tensor, jpeg_cond: torch.Tensor, artifact: torch.Tensor | None) -> torch.Tensor:
        for i, block in enumerate(self.blocks):
            if i == self.context_after:
                h = self.context(h, jpeg_cond, artifact)
            h = block(h, artifact)
        return h


TRUNKS: dict[str, type[Restorer]] = {"edsr": Restorer, "unet": UNetRestorer, "hybrid": HybridRestorer}


def restorer_for(config: ModelConfig) -> Restorer:
    """The restorer of a config's trunk kind."""
    if config.trunk not in TRUNKS:
        raise ValueError(f"unknown trunk {config.trunk!r}; available: {', '.join(TRUNKS)}")
    return TRUNKS[config.trunk](config)
