"""The block-level selection stage: the encoder picks each block's correction, the decoder learns them.

After the end-to-end stage the trunk is frozen (or, with ``train_trunk``, trained by the picked blocks' errors too,
so that it learns features whose candidates differ where the encoder needs them). For every block the
encoder knows the squared error each of the C candidate corrections would leave, and picks by ``error + mu * bits`` with
``mu = 3 lambda`` (the training loss ``MSE + lambda * bpp`` per block, summed over its three
channels). The picked candidate is trained on its block, the others a little (relaxed
winner-takes-all, so no candidate is left untrained); the context model learns the rate of the
picked map and the extractor learns to predict it.
"""

from __future__ import annotations

import contextlib
import math

import torch
from torch.nn import functional as F

from engine.config import BLOCK, rd_multiplier
from engine.models.context_model import bits_per_block
from engine.models.sidejpeg import SideJPEGNet

RELAXED_WEIGHT = 0.05
"""Share of the loss spread over all candidates of a block, not only the picked one."""
VALUES_PER_BLOCK = BLOCK * BLOCK * 3


def one_hot(symbols: torch.Tensor, count: int) -> torch.Tensor:
    return F.one_hot(symbols.long(), count).permute(0, 3, 1, 2).float()


def rd_choice(net: SideJPEGNet, errors: torch.Tensor, first: torch.Tensor, cond: torch.Tensor,
              lams: torch.Tensor) -> torch.Tensor:
    """Per block the symbol of least ``error + mu * bits``, the bits priced in the context of ``first``.

    A one-pass stand-in for the codec's exact wavefront RDO (``engine.coding.wavefront.rd_choose``).
    """
    with torch.no_grad():
        bits = -F.log_softmax(net.context(one_hot(first, net.config.symbols), cond).float(), dim=1) / math.log(2)
        return (errors.detach() + rd_multiplier(lams)[:, None, None, None] * bits).argmin(dim=1)


def selection_loss(
    net: SideJPEGNet, original: torch.Tensor, jpeg: torch.Tensor, cond: torch.Tensor, lams: torch.Tensor,
    train_trunk: bool = False,
) -> tuple[torch.Tensor, dict, torch.Tensor]:
    """Loss of one batch in the selection stage, what to log about it (0-d tensors, read only when reported:
    no host-device round trip per step), and the chosen symbols; ``train_trunk``: the loss reaches the trunk."""
    logits = net.extractor(original, jpeg, cond)
    first = logits.argmax(dim=1)
    config = net.config
    with contextlib.nullcontext() if train_trunk else torch.no_grad():
        h, restored = net.base(jpeg, cond, first)
    with torch.no_grad():
        base = ((restored.clamp(0, 1) - original) * 255).pow(2).mean(dim=(1, 2, 3))
    errors = net.block_errors(h, restored, jpeg, original)
    chosen = rd_choice(net, net.allowed_errors(errors), first, cond, lams)
    picked = errors.gather(1, chosen[:, None])[:, 0]
    spread = errors[:, : config.candidates].mean(dim=1)
    distortion = ((1 - RELAXED_WEIGHT) * picked + RELAXED_WEIGHT * spread).mean() / VALUES_PER_BLOCK
    hot = one_hot(chosen, config.symbols)
    bits = bits_per_block(net.context(hot, cond), hot)
    loss = distortion + bits.mean() + F.cross_entropy(logits, chosen)
    mse = picked.detach().mean(dim=(1, 2)) / VALUES_PER_BLOCK
    stats = {
        "mse": mse.mean(),
        "selection_gain_db": (10 * torch.log10(base / mse.clamp_min(1e-8))).mean(),
        "side_bits_per_block": bits.detach().mean(),
        "extractor_agreement": (first == chosen).float().mean(),
        **({} if config.keep_symbol is None else {"kept_share": (chosen == config.keep_symbol).float().mean()}),
    }
    return loss, stats, chosen
