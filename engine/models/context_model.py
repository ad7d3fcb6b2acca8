"""Causal context model: probabilities of each descriptor given already-coded neighbours."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from engine.conditioning import FULL_COND
from engine.config import ModelConfig
from engine.models.layers import MaskedConv2d

CONTEXT_KERNEL = 5


class ContextModel(nn.Module):
    """A 5x5 masked convolution and three 1x1 convolutions giving C logits per block.

    The conditioning vector (JPEG parameters and lambda) enters as a per-image bias after the
    masked convolution. ``engine.coding.integer_context`` evaluates the same network in
    integer arithmetic for the entropy coder.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        f = config.context_features
        self.masked = MaskedConv2d(config.symbols, f, CONTEXT_KERNEL)
        self.cond = nn.Linear(FULL_COND, f, bias=False)
        self.layers = nn.ModuleList([nn.Conv2d(f, f, 1), nn.Conv2d(f, f, 1), nn.Conv2d(f, config.symbols, 1)])

    def forward(self, descriptors: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Logits (B, C, H, W) for a (B, C, H, W) one-hot (or soft) descriptor map."""
        h = self.masked(descriptors) + self.cond(cond)[:, :, None, None]
        for layer in self.layers:
            h = layer(F.relu(h))
        return h


def bits_per_block(logits: torch.Tensor, descriptors: torch.Tensor) -> torch.Tensor:
    """Bits ``-log2 p(symbol)`` of each block, (B, H, W); soft descriptors give the cross entropy."""
    log_p = F.log_softmax(logits.float(), dim=1)
    return -(descriptors.float() * log_p).sum(dim=1) / torch.log(torch.tensor(2.0))
