"""EDSR-baseline* post-processing trunk with conditional residual blocks."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from engine.conditioning import JPEG_COND
from engine.config import ModelConfig
from engine.models.adaptation import adapted
from engine.models.corrections import BlockCorrections, keep_blocks
from engine.models.layers import ConvStack, cond_planes, conv


class ConditionalResBlock(nn.Module):
    """EDSR residual block whose input features are multiplied by mapped artifact features.

    ``out = x + res_scale * body(x * (1 + W a))`` with ``W`` a 1x1 convolution; without
    artifact features (blind mode) the block is a plain EDSR block.
    """

    def __init__(self, features: int, modulation_features: int, res_scale: float) -> None:
        super().__init__()
        self.body = ConvStack(conv(features, features), nn.ReLU(), conv(features, features, scale=res_scale))
        self.modulation = conv(modulation_features, features, 1, shift=1.0)

    def forward(self, x: torch.Tensor, artifact: torch.Tensor | None) -> torch.Tensor:
        h = x if artifact is None else self.modulation(artifact, mul=x)
        return self.body(h, add=x)


class Restorer(nn.Module):
    """head, a body of conditional residual blocks with a skip around it, tail; adds to the JPEG.

    With ``trunk_scale`` s > 1 the trunk works on a pixel-unshuffled image (s x s cheaper). With
    ``config.corrections`` > 0 a block-level selection head adds the correction each block's symbol picks.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        f, s = config.trunk_features, config.trunk_scale
        self.scale = s
        self.head = conv(3 * s * s + JPEG_COND, f)
        self.blocks = nn.ModuleList(
            ConditionalResBlock(f, config.modulation_features, config.res_scale) for _ in range(config.trunk_blocks)
        )
        self.body_end = conv(f, f)
        self.tail = conv(f, 3 * s * s)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)
        self.corrections = (
            BlockCorrections(f, config.corrections, config.candidates, s) if config.corrections > 0 else None
        )
        self.keep_symbol = config.keep_symbol

    def trunk(self, jpeg: torch.Tensor, jpeg_cond: torch.Tensor, artifact: torch.Tensor | None) -> torch.Tensor:
        """Features at the trunk's resolution: the head's, then the body with a skip around it."""
        x = F.pixel_unshuffle(jpeg - 0.5, self.scale) if self.scale > 1 else jpeg - 0.5
        h = self.head(torch.cat([x, cond_planes(jpeg_cond, x.shape[2], x.shape[3])], dim=1))
        return self.body_end(self.body(h, jpeg_cond, artifact), add=h)

    def body(self, h: torch.Tensor, jpeg_cond: torch.Tensor, artifact: torch.Tensor | None) -> torch.Tensor:
        """The head's features through the residual blocks (``jpeg_cond`` is for the trunks that read it)."""
        for block in self.blocks:
            h = block(h, artifact)
        return h

    def scaled_up(self, residual: torch.Tensor) -> torch.Tensor:
        """A residual at the trunk's resolution, at the image's."""
        return F.pixel_shuffle(residual, self.scale) if self.scale > 1 else residual

    def to_image(self, jpeg: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """The JPEG plus a residual given at the trunk's resolution."""
        return jpeg + self.scaled_up(residual)

    def forward(
        self, jpeg: torch.Tensor, jpeg_cond: torch.Tensor, artifact: torch.Tensor | None,
        symbols: torch.Tensor | None = None, adaptation: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self.restore_with_features(jpeg, jpeg_cond, artifact, symbols, adaptation)[0]

    def restore_with_features(
        self, jpeg: torch.Tensor, jpeg_cond: torch.Tensor, artifact: torch.Tensor | None,
        symbols: torch.Tensor | None = None, adaptation: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The restored image and the trunk features it came from: the base restoration, each block's
        correction (block-level selection), the image's own correction (``adaptation`` weights, see
        ``engine.models.adaptation``), and the JPEG's pixels in the blocks that keep them."""
        h = self.trunk(jpeg, jpeg_cond, artifact)
        restored = self.selected(h, self.to_image(jpeg, self.tail(h)), jpeg, symbols)
        if adaptation is not None:
            restored = self.kept(adapted(h, restored, jpeg, adaptation), jpeg, symbols)
        return restored, h

    def selected(
        self, h: torch.Tensor, restored: torch.Tensor, jpeg: torch.Tensor, symbols: torch.Tensor | None
    ) -> torch.Tensor:
        """The base restoration ``restored`` (from the trunk features ``h``) with each block's correction and
        the JPEG's pixels in the blocks that keep them."""
        if symbols is not None and self.corrections is not None:
            restored = restored + self.scaled_up(self.corrections.select(h, symbols))
        return self.kept(restored, jpeg, symbols)

    def kept(self, restored: torch.Tensor, jpeg: torch.Tensor, symbols: torch.Tensor | None) -> torch.Tensor:
        """``restored`` with the JPEG's own pixels in the blocks whose symbol keeps them: before the
        adaptation too, whose spatial taps then see the pixels the encoder fitted them to."""
        if symbols is None or self.keep_symbol is None:
            return restored
        return keep_blocks(restored, jpeg, symbols, self.keep_symbol)
