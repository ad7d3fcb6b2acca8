"""Would a few parameters overfitted to each image pay? ``python -m benchmarks.overfit`` (issue #17).

Issue #17's second variant: the encoder takes a bounded number of gradient steps on a few of the decoder's
parameters for the one image it compresses, quantises the changes and sends them. Here the parameters are the
biases of the trunk's first convolution (``head``) or of all its convolutions (``biases``: head, residual blocks,
context stage, ``body_end``), non-linear in what they change, unlike the image's least-squares adaptation that
the codec already sends.

On the 12 crops of ``benchmarks.adaptation_lambda`` (the held-out images and every 14th training image), or with
``--images`` on the images of a folder (an evaluation: nothing is chosen on them), each compressed by the codec at
``--lambda``: ``--steps`` Adam steps on the squared error of the decoder's image before its adaptation (the blocks
that keep the JPEG's pixels not counted), the changes rounded to the power-of-two step that pays best and coded
adaptively (``code_bits``), then the adaptation fitted again on top, as the encoder fits it. Reported against the
image the codec sends: the PSNR gain (RGB and Y), the extra bits (changes plus the adaptation's difference), and
the rate it saves valued at the blind curve's slope (``benchmarks.adaptation_lambda.rate_saved``); also the gain
before rounding, before and with the adaptation (what the steps alone found). ``--area`` fits on a centred window.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmarks.adaptation_lambda import QUALITIES, crops, rate_saved, valuation
from benchmarks.selection_granularity import gain_db
from engine import DEFAULT_PRESET, Codec
from engine.coding import adaptation as adapt
from engine.colour import to_ycbcr
from engine.conditioning import JPEG_COND
from engine.config import BLOCK, rd_multiplier
from engine.models.adaptation import adapted, basis_parts, basis_size
from engine.models.corrections import block_mask
from engine.models.layers import Conv
from engine.models.sidejpeg import SideJPEGNet
from engine.training.data import list_images, load_rgb

VARIANTS = ("head", "biases")
STEP_EXPONENTS = range(-14, -3)
"""Quantiser steps tried for the changes: 2^-14 to 2^-4."""
CELL = 32
"""Pixels of a cell of the trunk's coarsest level (``fast-context``'s context stage at 1/16 of the trunk's 1/2)."""


def overfitted(net: SideJPEGNet, variant: str) -> list[torch.Tensor]:
    """The biases a variant overfits: the head's convolution's (``head``: a change of what every feature starts
    from, as the JPEG header's conditioning enters there), or every convolution's of the trunk (``biases``)."""
    restorer = net.restorer
    if variant == "head":
        return [restorer.head.bias]
    trunk = [m for name, m in restorer.named_modules() if name.split(".")[0] not in ("tail", "corrections")]
    return [m.bias for m in trunk if isinstance(m, Conv) and m.bias is not None]


@dataclass
class Case:
    """One compressed crop, as the decoder sees it and as the encoder fits it."""

    original: torch.Tensor
    jpeg: torch.Tensor
    cond: torch.Tensor
    symbols: torch.Tensor
    counted: torch.Tensor
    """(1, 1, H, W) the pixels outside the blocks that keep the JPEG's."""

    def restored(self, net: SideJPEGNet) -> tuple[torch.Tensor, torch.Tensor]:
        """The decoder's image before the adaptation, and the trunk features."""
        artifact = net.artifact_features(self.symbols, self.cond, self.jpeg.dtype)
        return net.restorer.restore_with_features(self.jpeg, self.cond[:, :JPEG_COND], artifact, self.symbols)

    def window(self, area: float) -> Case:
        """The case cut to a centred window of about ``area`` of its pixels, in whole 32-pixel cells (what the
        trunk's coarsest level needs), where the encoder could fit at a fraction of the cost."""
        height, width = self.original.shape[2:]
        side = max(1, round(math.sqrt(area) * min(height, width) / CELL)) * CELL
        top, left = (height - side) // 2 // CELL * CELL, (width - side) // 2 // CELL * CELL
        rows, cols = slice(top, top + side), slice(left, left + side)
        blocks = slice(top // BLOCK, (top + side) // BLOCK), slice(left // BLOCK, (left + side) // BLOCK)
        return Case(
            self.original[:, :, rows, cols], self.jpeg[:, :, rows, cols], self.cond,
            self.symbols[:, blocks[0], blocks[1]], self.counted[:, :, rows, cols],
        )

    def sse(self, image: torch.Tensor) -> float:
        """Squared error on the 0-255 scale."""
        return float((image.clamp(0, 1) - self.original).mul(255).square().sum())

    def luma_sse(self, image: torch.Tensor) -> float:
        """Squared error of luma (Y) on the 0-255 scale."""
        return float(to_ycbcr(image.clamp(0, 1) - self.original)[:, 0].mul(255).square().sum())

    def with_adaptation(self, net: SideJPEGNet, multiplier: float) -> tuple[float, int, float]:
        """Squared error, adaptation bits and luma's squared error of the decoder's image with the adaptation
        fitted to it."""
        with torch.no_grad():
            restored, h = self.restored(net)
            stats = adapt.Statistics.empty(basis_size(h.shape[1]))
            features, rest = basis_parts(h, restored, self.jpeg)
            stats.add_cells(features[0], rest[0], (self.original - restored)[0], self.counted[0, 0])
            chosen = adapt.choose(stats, multiplier)
            if not chosen.sent:
                return self.sse(restored), 0, self.luma_sse(restored)
            weights = chosen.tensor(stats.gram.shape[0])
            image = net.restorer.kept(adapted(h, restored, self.jpeg, weights), self.jpeg, self.symbols)
            return self.sse(image), adapt.stream_bits(chosen), self.luma_sse(image)


def cases(codec: Codec, images: list[np.ndarray], qualities: list[int], lam: float) -> Iterator[tuple[int, Case]]:
    inference, keep = codec.inference, codec.inference.net.config.keep_symbol
    for rgb in images:
        for quality in qualities:
            made = codec.compress(rgb, quality, lam)
            symbols = torch.from_numpy(made.symbols.astype(np.int64))[None]
            counted = torch.ones(1, 1, *rgb.shape[:2])
            if keep is not None:
                counted = (~block_mask(symbols, keep)[:, :, : rgb.shape[0], : rgb.shape[1]]).float()
            x, jpeg = inference.tensor(rgb).contiguous(), inference.tensor(made.jpeg_decoded).contiguous()
            yield quality, Case(x, jpeg, inference.cond(made.conditioning), symbols, counted)


def cropped(rgb: np.ndarray) -> np.ndarray:
    """The image's top-left part in whole cells of ``CELL`` pixels, which the unpadded passes here need (the
    codec pads; Kodak's 768x512 are whole already)."""
    height, width = (side // CELL * CELL for side in rgb.shape[:2])
    return np.ascontiguousarray(rgb[:height, :width])


def fit(net: SideJPEGNet, params: list[torch.Tensor], case: Case, steps: int, lr: float) -> None:
    """``steps`` Adam steps on ``params`` against the case's squared error before the adaptation."""
    optimizer = torch.optim.Adam(params, lr=lr)
    for _ in range(steps):
        restored, _ = case.restored(net)
        loss = (restored - case.original).square().mul(case.counted).sum() / case.counted.sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def adaptive_bits(flags: np.ndarray) -> float:
    """Bits of an adaptive binary arithmetic code of ``flags`` (Krichevsky-Trofimov estimator)."""
    ones = np.cumsum(flags) - flags
    seen = np.arange(len(flags))
    p_one = (ones + 0.5) / (seen + 1.0)
    return float(-np.sum(np.where(flags, np.log2(p_one), np.log2(1 - p_one))))


def code_bits(values: np.ndarray) -> float:
    """Bits of integer ``values``: an adaptive code of which are zero, then each other one's magnitude less one
    as an Exp-Golomb code and its sign."""
    nonzero = values[values != 0]
    magnitudes = np.abs(nonzero) - 1
    golomb = np.sum(2 * np.frexp((magnitudes + 1).astype(np.float64))[1] - 1)
    return adaptive_bits(values != 0) + float(golomb) + len(nonzero)


def quantised(params: list[torch.Tensor], start: list[torch.Tensor], exponent: int) -> float:
    """Rounds each parameter's change to multiples of 2^exponent (in place); the bits that send them."""
    step = 2.0**exponent
    values = []
    with torch.no_grad():
        for p, p0 in zip(params, start, strict=True):
            k = torch.round((p - p0) / step)
            p.copy_(p0 + k * step)
            values.append(k.to(torch.int64).flatten().numpy())
    return code_bits(np.concatenate(values)) + 1 + 4  # a flag, and the step's exponent


def measure(
    codec: Codec, case: Case, variant: str, steps: int, lr: float, lam: float, area: float
) -> tuple[float, ...]:
    """Of overfitting one case (fitted to ``case.window(area)``): the gain (dB) over the image sent, the extra
    bits, the gain before rounding and the adaptation over the image before the adaptation, the gain before
    rounding with the adaptation, and the gain in luma (Y) PSNR."""
    net = SideJPEGNet(codec.inference.net.config)
    net.load_state_dict(codec.inference.net.state_dict())
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    params = overfitted(net, variant)
    start = [p.detach().clone() for p in params]
    multiplier = rd_multiplier(lam)
    with torch.no_grad():
        before = case.sse(case.restored(net)[0])
    sent_sse, sent_bits, sent_luma = case.with_adaptation(net, multiplier)
    for p in params:
        p.requires_grad_(True)
    fit(net, params, case if area >= 1 else case.window(area), steps, lr)
    with torch.no_grad():
        free = case.sse(case.restored(net)[0])
    free_adapted, _, _ = case.with_adaptation(net, multiplier)
    trained = [p.detach().clone() for p in params]
    best = (0.0, 0, sent_sse, sent_bits, sent_luma)  # cost, bits, sse, adaptation bits, luma sse: nothing sent
    for exponent in STEP_EXPONENTS:
        with torch.no_grad():
            for p, t in zip(params, trained, strict=True):
                p.copy_(t)
        bits = quantised(params, start, exponent)
        sse, adaptation_bits, luma = case.with_adaptation(net, multiplier)
        cost = sse - sent_sse + multiplier * (bits + adaptation_bits - sent_bits)
        if cost < best[0]:
            best = (cost, bits, sse, adaptation_bits, luma)
    _, bits, sse, adaptation_bits, luma = best
    return (
        gain_db(sent_sse, sent_sse - sse), bits + adaptation_bits - sent_bits, gain_db(before, before - free),
        gain_db(sent_sse, sent_sse - free_adapted), gain_db(sent_luma, sent_luma - luma),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/train"))
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--qualities", default=",".join(map(str, QUALITIES)))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--lambda", dest="lam", type=float, default=64.0)
    parser.add_argument("--area", type=float, default=1.0, help="fit to a centred window of this share of the crop")
    parser.add_argument("--preset", default=DEFAULT_PRESET)
    parser.add_argument("--limit", type=int, default=None, help="only the first images")
    parser.add_argument(
        "--images", type=Path, default=None,
        help="measure on the images of this folder (cropped to whole 32-pixel cells) instead of the training crops",
    )
    args = parser.parse_args()
    codec = Codec(args.preset, "cpu")
    if args.images is None:
        images = crops(args.data)[: args.limit]
    else:
        images = [cropped(load_rgb(path)) for path in list_images(args.images)[: args.limit]]
    qualities = [int(q) for q in args.qualities.split(",")]
    slope, jpeg_rate = valuation(codec, images)
    at = {q: (slope[QUALITIES.index(q)], jpeg_rate[QUALITIES.index(q)]) for q in qualities}
    variants = args.variants.split(",")
    for variant in variants:
        count = sum(p.numel() for p in overfitted(codec.inference.net, variant))
        print(f"{variant}: {count} parameters", flush=True)
    results: dict[tuple[str, int], list[tuple[float, ...]]] = {}
    for quality, case in cases(codec, images, qualities, args.lam):
        for variant in variants:
            started = time.perf_counter()
            row = measure(codec, case, variant, args.steps, args.lr, args.lam, args.area)
            bpp = row[1] / (case.original.shape[2] * case.original.shape[3])
            results.setdefault((variant, quality), []).append((row[0], bpp, *row[2:]))
            print(f"{variant} q{quality}: gain {row[0]:+.3f} dB (Y {row[4]:+.3f}) for {row[1]:+.0f} bits, "
                  f"unrounded {row[2]:+.3f} dB "
                  f"before the adaptation, {row[3]:+.3f} dB with it "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
    print(f"\n| variant | q | gain dB | Y gain dB | bpp | saves | unrounded, before adaptation | with adaptation |"
          f"  ({args.steps} steps at {args.lr:g} on {args.area:g} of each image, lambda {args.lam:g})")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (variant, quality), rows in results.items():
        gain, bpp, free, free_adapted, luma = np.mean(rows, axis=0)
        saves = rate_saved(gain, bpp, *at[quality])
        print(
            f"| {variant} | {quality} | {gain:+.3f} | {luma:+.3f} | {bpp:.4f} | {saves:+.2f} % | {free:+.3f} "
            f"| {free_adapted:+.3f} |"
        )


if __name__ == "__main__":
    main()
