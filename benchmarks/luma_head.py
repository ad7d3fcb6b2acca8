"""Would a head of luma-only candidates pay? ``python -m benchmarks.luma_head`` (about 15 minutes, two threads).

The side information buys least in luma (Y about −0.8 / −0.2 % BD-rate over blind, chroma −25 to −34 %), and
``benchmarks.selection_granularity`` found that a second, Y-only choice among today's candidates does not pay:
they were trained to differ where selection paid, mostly in chroma. This trains candidates for luma alone and
values them. A second head, of the same form as the selection head (3x3 convolution, ReLU, 1x1 convolution), maps
the frozen ``fast`` trunk's features to ``K`` luma corrections; each 16x16 block that does not keep its JPEG
pixels may take one of them on top of its selected candidate (a second symbol per block, "none" among them).
Training is winner-take-all over none and the K, on the RGB squared error, with the selection stage's small
spread over all of them (``engine.training.selection.RELAXED_WEIGHT``), on crops of the training images (the
held-out four excluded) with the encoder's map chosen as in training.

The trained head is then valued as ``selection_granularity`` values its variants, on the same 12 crops: the
second map chosen by rate and distortion at the sidecar's lambda and priced by an ideal code of its symbols'
frequencies in the image; its PSNR gain over the blind curve's slope, minus its bits, as a percentage of the
JPEG's rate (positive saves rate). The gain is taken before the image's adaptation, which would take part of it:
an upper bound. The test sets are never looked at.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from benchmarks.adaptation_lambda import QUALITIES, crops, rate_saved, valuation
from benchmarks.selection_granularity import gain_db, rd_map
from engine import Codec
from engine.config import BLOCK, rd_multiplier
from engine.models.layers import conv
from engine.models.sidejpeg import EncoderPass, SideJPEGNet
from engine.training.data import CropSampler, split
from engine.training.selection import RELAXED_WEIGHT, VALUES_PER_BLOCK, rd_choice

HIDDEN = 48
BATCH = 16
CROP = 128
HELD_BATCHES = 8
"""Batches kept out of training to report the held-out reduction after each epoch."""


class LumaHead(nn.Module):
    """``count`` luma corrections per pixel from the trunk's features (at its resolution ``1 / scale``)."""

    def __init__(self, features: int, count: int, scale: int, hidden: int = HIDDEN) -> None:
        super().__init__()
        self.scale = scale
        self.hidden = conv(features, hidden)
        self.out = conv(hidden, count * scale * scale, 1)
        nn.init.normal_(self.out.weight, std=1e-3)
        nn.init.zeros_(self.out.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """(B, count, H, W) corrections at the image's resolution, on the 0-1 scale; a change of Y alone is the
        same change of R, G and B."""
        return F.pixel_shuffle(self.out(self.hidden(h, relu=True)), self.scale)


def luma_errors(head: LumaHead, h: torch.Tensor, selected: torch.Tensor, original: torch.Tensor,
                movable: torch.Tensor) -> torch.Tensor:
    """(B, 1 + count, H/16, W/16): RGB squared error (0-255 scale) per block of the ``selected`` image (none),
    then of each luma correction on top of it; zero in the blocks not ``movable`` (those that keep the JPEG)."""
    candidates = (selected[:, None] + head(h)[:, :, None]).clamp(0, 1)
    errors = torch.cat([selected[:, None], candidates], 1).sub(original[:, None]).mul(255).square().sum(2)
    sums = F.avg_pool2d(errors, BLOCK) * BLOCK * BLOCK
    return sums * movable[:, None]


@dataclass
class Item:
    """One training batch as the frozen network leaves it."""

    features: torch.Tensor
    selected: torch.Tensor
    original: torch.Tensor
    movable: torch.Tensor


def encoder_view(net: SideJPEGNet, passed: EncoderPass, original: torch.Tensor, jpeg: torch.Tensor,
                 symbols: torch.Tensor) -> Item:
    """The trunk's features in the encoder's ``passed`` and the image ``symbols`` select, clamped as shown."""
    selected = net.restorer.selected(passed.features, passed.base, jpeg, symbols).clamp(0, 1)
    return Item(passed.features, selected, original, symbols != net.config.keep_symbol)


def training_items(net: SideJPEGNet, data: Path, batches: int, seed: int) -> list[Item]:
    train, _ = split(data)
    sampler = CropSampler(train, CROP, seed=seed)
    items = []
    with torch.no_grad():
        for _ in range(batches):
            b = sampler.batch(BATCH)
            passed = net.encoder_pass(b.original, b.jpeg, b.cond)
            symbols = rd_choice(net, net.allowed_errors(passed.errors), passed.first, b.cond, b.lambdas)
            items.append(encoder_view(net, passed, b.original, b.jpeg, symbols))
    return items


def _step(head: LumaHead, item: Item, optimizer: torch.optim.Optimizer | None) -> tuple[float, float]:
    """One winner-take-all step (none when ``optimizer`` is None); the batch's squared error without and with
    the best correction per block."""
    errors = luma_errors(head, item.features, item.selected, item.original, item.movable)
    best = errors.min(1).values
    if optimizer is not None:
        loss = ((1 - RELAXED_WEIGHT) * best + RELAXED_WEIGHT * errors[:, 1:].mean(1)).mean() / VALUES_PER_BLOCK
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return float(errors[:, 0].detach().sum()), float(best.detach().sum())


def reduction(head: LumaHead, items: Sequence[Item], optimizer: torch.optim.Optimizer | None = None) -> float:
    """% less squared error with each block's best correction (a free choice) over ``items``, training on
    them on the way when an ``optimizer`` is given."""
    with torch.set_grad_enabled(optimizer is not None):
        totals = np.array([_step(head, item, optimizer) for item in items]).sum(0)
    return 100 * (1 - totals[1] / totals[0])


def train(head: LumaHead, items: list[Item], epochs: int, lr: float) -> None:
    optimizer = torch.optim.Adam(head.parameters(), lr=lr)
    fit, held = items[:-HELD_BATCHES], items[-HELD_BATCHES:]
    print(f"held-out batches before training: {reduction(head, held):.2f} % less", flush=True)
    for epoch in range(epochs):
        start = time.perf_counter()
        seen = reduction(head, fit, optimizer)
        print(f"epoch {epoch}: training {seen:.2f} % less, held-out batches {reduction(head, held):.2f} % less "
              f"({time.perf_counter() - start:.0f} s)", flush=True)


def value(codec: Codec, head: LumaHead, images: list[np.ndarray], lam: float) -> np.ndarray:
    """(qualities, 3): mean PSNR gain over the image as sent, bpp of the second map, and the gain of a free
    choice (no bits), over ``images`` compressed at each quality with ``lam``."""
    net, inference = codec.inference.net, codec.inference
    multiplier = rd_multiplier(lam)
    out = np.zeros((len(QUALITIES), 3))
    for rgb in images:
        for j, quality in enumerate(QUALITIES):
            made = codec.compress(rgb, quality, lam)
            x, jpeg = inference.tensor(rgb), inference.tensor(made.jpeg_decoded)
            symbols = torch.from_numpy(made.symbols.astype(np.int64))[None].to(x.device)
            with torch.inference_mode():
                passed = net.encoder_pass(x, jpeg, inference.cond(made.conditioning))
                item = encoder_view(net, passed, x, jpeg, symbols)
                blocks = luma_errors(head, item.features, item.selected, x, item.movable)
            blocks = blocks[0].double().cpu().numpy().transpose(1, 2, 0)
            _, bits, error = rd_map(blocks, np.ones(blocks.shape[2], dtype=bool), multiplier)
            none, best = blocks[:, :, 0].sum(), blocks.min(2).sum()
            sse = float(np.sum(np.square(made.restored.astype(np.float64) - rgb)))
            out[j] += gain_db(sse, none - error), bits / (rgb.shape[0] * rgb.shape[1]), gain_db(sse, none - best)
    return out / len(images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/train"))
    parser.add_argument("--candidates", type=int, default=8, help="luma corrections besides none")
    parser.add_argument("--batches", type=int, default=300, help=f"training batches of {BATCH} crops")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--lambdas", default="64")
    parser.add_argument("--seed", type=int, default=21)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    codec = Codec("fast", "cpu")
    net = codec.inference.net
    for p in net.parameters():
        p.requires_grad_(False)
    head = LumaHead(net.config.trunk_features, args.candidates, net.restorer.scale)
    train(head, training_items(net, args.data, args.batches, args.seed), args.epochs, args.lr)
    head.eval()
    images = crops(args.data)
    slope, jpeg_rate = valuation(codec, images)
    print("| lambda | q | gain dB | bpp | free choice dB | saves |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for lam in (float(v) for v in args.lambdas.split(",")):
        rows = zip(QUALITIES, value(codec, head, images, lam), slope, jpeg_rate, strict=True)
        for quality, (gain, bpp, free), s, r in rows:
            saves = rate_saved(gain, bpp, s, r)
            print(f"| {lam:g} | {quality} | +{gain:.3f} | {bpp:.4f} | +{free:.3f} | {saves:+.2f} % |", flush=True)


if __name__ == "__main__":
    main()
