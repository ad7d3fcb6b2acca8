"""Soft-to-hard quantisation of descriptors to one of C one-hot vectors."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class SoftHardQuantizer(nn.Module):
    """Maps descriptor logits to one-hot symbols.

    Forward: the hard one-hot ``argmin_i KL(c_i || d) = argmax_i d_i``. Backward: the soft
    version ``d_i^sigma / sum_j d_j^sigma = softmax(sigma * log d)`` (straight-through).

    Two training aids against descriptor collapse (``docs/block-selection.md``): ``soft_mix`` in [0, 1]
    blends the soft value into the forward pass (1 = fully soft, as during the warm-up), and
    ``noise`` scales Gumbel noise added to ``log d`` so that every symbol keeps being tried.
    """

    def __init__(self) -> None:
        super().__init__()
        self.sigma = 1.0
        self.soft_mix = 0.0
        self.noise = 0.0

    def forward(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (quantised descriptor map, symbol indices), both over the channel dim 1."""
        log_d = F.log_softmax(logits, dim=1)
        if self.training and self.noise > 0:
            uniform = torch.rand_like(log_d).clamp_(1e-6, 1 - 1e-6)
            log_d = log_d - self.noise * torch.log(-torch.log(uniform))
        symbols = log_d.argmax(dim=1)
        hard = F.one_hot(symbols, log_d.shape[1]).permute(0, 3, 1, 2).to(log_d.dtype)
        if not self.training:
            return hard, symbols
        soft = F.softmax(self.sigma * log_d, dim=1)
        straight_through = hard + soft - soft.detach()
        if self.soft_mix > 0:
            return self.soft_mix * soft + (1 - self.soft_mix) * straight_through, symbols
        return straight_through, symbols
