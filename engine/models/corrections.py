"""Block-level selection (decoder side): C candidate corrections of every block, one picked per block.

The restorer's trunk features feed a small head that proposes one residual correction per symbol
for every pixel; the descriptor of a 16x16 block says which of them the block receives. The
encoder, which has the original, knows what each choice would give and picks per block by rate
and distortion (``engine.coding.wavefront.rd_choose``); the descriptors thus carry exactly the information the
decoder can use, as block-level model selection does in learned video loop filters.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from engine.config import BLOCK
from engine.models.layers import conv

INIT_STD = 1e-3
"""Small random initial weights: distinct candidates from the start, so that every symbol can win a block."""


ERROR_ROWS = 64
"""Rows (at the candidates' resolution) whose errors are computed together: bounds the temporary memory to
about the candidates' own size over that many rows."""


def block_errors(
    candidates: torch.Tensor, count: int, scale: int, restored: torch.Tensor, original: torch.Tensor
) -> torch.Tensor:
    """Squared error of every choice for every block, (B, count, H/16, W/16), on the 0-255 scale and summed
    over the block's pixels and channels; ``restored`` is the image before the corrections and
    ``candidates`` come from ``BlockCorrections.candidates``.

    A block's sum does not depend on where its pixels lie, so the images are pixel-unshuffled to the
    candidates' resolution once, instead of every candidate being shuffled up to the image's. The work runs
    with channels last (a pixel's candidates side by side, as the convolution wrote them), a band of rows at
    a time.
    """
    b, _, height, width = candidates.shape
    grouped = candidates.permute(0, 2, 3, 1).reshape(b, height, width, count, -1)
    if scale > 1:
        restored, original = F.pixel_unshuffle(restored, scale), F.pixel_unshuffle(original, scale)
    restored, original = (x.permute(0, 2, 3, 1)[:, :, :, None].contiguous() for x in (restored, original))
    per_block = BLOCK // scale
    errors = []
    for top in range(0, height, ERROR_ROWS):
        rows = slice(top, top + ERROR_ROWS)
        sums = ((grouped[:, rows] + restored[:, rows]).clamp(0, 1) - original[:, rows]).square().sum(-1)
        band = sums.shape[1] // per_block
        errors.append(sums.reshape(b, band, per_block, width // per_block, per_block, count).sum((2, 4)))
    return torch.cat(errors, dim=1).permute(0, 3, 1, 2) * 255.0**2


def block_mask(symbols: torch.Tensor, symbol: int) -> torch.Tensor:
    """(B, 1, 16 H, 16 W) mask of the pixels whose block has ``symbol`` in a (B, H, W) map."""
    hit = (symbols == symbol)[:, None]
    return hit.repeat_interleave(BLOCK, 2).repeat_interleave(BLOCK, 3)


def keep_blocks(restored: torch.Tensor, jpeg: torch.Tensor, symbols: torch.Tensor, keep: int) -> torch.Tensor:
    """``restored`` with the JPEG's own pixels in every block whose symbol is ``keep``."""
    return torch.where(block_mask(symbols, keep), jpeg, restored)


def jpeg_errors(jpeg: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """Squared error of the JPEG itself per block, (B, 1, H/16, W/16), on the scale of ``block_errors``."""
    sums = (jpeg - original).square().sum(1, keepdim=True)
    return F.avg_pool2d(sums, BLOCK) * (BLOCK * BLOCK * 255.0**2)


def never_worse(errors: torch.Tensor, keep: int) -> torch.Tensor:
    """``errors`` (B, C, H, W) with every choice worse than the keep symbol's made impossible (infinite): the
    encoder then never sends a block worse than the JPEG, at any lambda."""
    return errors.masked_fill(errors > errors[:, keep : keep + 1], float("inf"))


class BlockCorrections(nn.Module):
    """A 3x3 convolution, ReLU and a 1x1 convolution from trunk features to ``symbols`` candidate residuals."""

    def __init__(self, features: int, hidden: int, symbols: int, scale: int) -> None:
        super().__init__()
        self.symbols = symbols
        self.scale = scale
        self.hidden = conv(features, hidden)
        self.out = conv(hidden, symbols * 3 * scale * scale, 1)
        nn.init.normal_(self.out.weight, std=INIT_STD)
        nn.init.zeros_(self.out.bias)

    def candidates(self, features: torch.Tensor) -> torch.Tensor:
        """All candidate residuals at the trunk's resolution, (B, symbols * 3 s^2, H/s, W/s)."""
        return self.out(self.hidden(features, relu=True))

    def select(self, features: torch.Tensor, symbols: torch.Tensor) -> torch.Tensor:
        """The residual each block's symbol picks, at the trunk's resolution (B, 3 s^2, H/s, W/s).

        Only the picked candidate is computed: ``out`` is a 1x1 convolution, so a block's candidate is its pixels'
        hidden features times its symbol's rows of the weights. Symbols past the last candidate (the keep
        symbol) take the last one; ``keep_blocks`` then replaces those blocks.
        """
        hidden = self.hidden(features, relu=True)
        b, channels, height, width = hidden.shape
        rows, cols = symbols.shape[1:]
        side = height // rows
        picked = symbols.long().clamp(max=self.symbols - 1).flatten()
        weight = self.out.weight.reshape(self.symbols, -1, channels)[picked]
        bias = self.out.bias.reshape(self.symbols, -1)[picked, None]
        blocks = hidden.reshape(b, channels, rows, side, cols, side).permute(0, 2, 4, 3, 5, 1)
        residual = torch.baddbmm(bias, blocks.reshape(-1, side * side, channels), weight.transpose(1, 2))
        pixels = residual.reshape(b, rows, cols, side, side, -1).transpose(2, 3).reshape(b, height, width, -1)
        return pixels.permute(0, 3, 1, 2)  # channels-last
