"""Would finer or per-channel block selection pay? ``python -m benchmarks.selection_granularity``.

Issue #17 suggests treating chroma on its own, with finer blocks or its own map. The decoder's candidate
corrections exist at every pixel, so such maps can be judged without training: this compresses training crops
(``benchmarks.adaptation_lambda.crops``) with ``fast`` at each quality, computes the squared error every
candidate leaves at every pixel (the encoder's own pass) and lets a rate-distortion choice at the sidecar's
lambda add one of three things to the map it sent:

- ``split``: a flag per 16x16 block; a split block sends a candidate for each of its 8x8 quarters;
- ``chroma``: the same, but a quarter's candidate replaces only Cb and Cr (luma stays the block's);
- ``luma``: a second symbol per block whose candidate replaces only Y (chroma stays the first symbol's).

And the other way, what the map would lose with fewer candidates (``--candidates``): the choice among the
``k`` candidates this image uses most (and the keep symbol) against the choice among all of them, both priced
by an ideal code of the symbols' frequencies in the image. What halving the candidates loses bounds what
doubling them could gain, at this trunk.

The added symbols are priced by an ideal adaptive code: a symbol equal to the block's own has probability
``a``, every other ``(1 - a) / (C - 1)``, flags the entropy of their frequency, both fitted to the image's
choices (a few rounds of choosing and refitting). What each buys is valued as the BD-rate values it: the
PSNR gain divided by the blind curve's slope at that quality on the same crops, minus its bits, as a
percentage of the JPEG's rate (positive saves rate). The gain is measured on the encoder's prediction before
the image's adaptation, which would take part of it: an upper bound. The test sets are never looked at.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from benchmarks.adaptation_lambda import QUALITIES, crops, rate_saved, valuation
from engine import Codec
from engine.colour import to_rgb, to_ycbcr
from engine.config import BLOCK, rd_multiplier
from engine.models.sidejpeg import SideJPEGNet

VARIANTS = ("split", "chroma", "luma")
ROUNDS = 4


def _sums(errors: torch.Tensor, size: int) -> np.ndarray:
    """(..., H / size, W / size) sums of (..., H, W) per-pixel errors over size x size blocks."""
    return (F.avg_pool2d(errors, size) * size * size).double().numpy()


def _quarters(errors: np.ndarray) -> np.ndarray:
    """(C, 2 H, 2 W) errors of 8x8 blocks -> (H, W, 4, C): each 16x16 block's quarters."""
    count, height, width = errors.shape[0], errors.shape[1] // 2, errors.shape[2] // 2
    return errors.reshape(count, height, 2, width, 2).transpose(1, 3, 2, 4, 0).reshape(height, width, 4, count)


@torch.inference_mode()
def candidate_errors(net: SideJPEGNet, x: torch.Tensor, jpeg: torch.Tensor, cond: torch.Tensor,
                     symbols: np.ndarray) -> dict[str, np.ndarray]:
    """Per variant, (H, W, parts, C) squared errors (0-255 scale) of each candidate in each part of every
    16x16 block, and ``own``: (H, W) the error of each block's own symbol as the encoder predicts it."""
    passed = net.encoder_pass(x, jpeg, cond)
    corr = net.restorer.corrections
    count, scale = corr.symbols, corr.scale
    candidates = corr.candidates(passed.features)
    residuals = F.pixel_shuffle(candidates.reshape(count, 3 * scale * scale, *candidates.shape[-2:]), scale)
    images = (passed.base + residuals).clamp(0, 1)
    whole = torch.cat([images, jpeg]) - x
    own_symbol = torch.from_numpy(symbols.astype(np.int64)).repeat_interleave(BLOCK, 0).repeat_interleave(BLOCK, 1)
    own = whole.gather(0, own_symbol[None, None].expand(1, 3, -1, -1))
    ycc, own_ycc = to_ycbcr(images), to_ycbcr(own + x)

    def mixed(luma_from: torch.Tensor, chroma_from: torch.Tensor) -> torch.Tensor:
        rgb = to_rgb(torch.cat([luma_from[:, :1], chroma_from[:, 1:]], 1)).clamp(0, 1)
        return ((rgb - x) * 255).square().sum(1)

    scores = (whole * 255).square().sum(1)
    blocks = _sums(scores, BLOCK)
    chroma = mixed(own_ycc.expand_as(ycc), ycc)
    luma = mixed(ycc, own_ycc.expand_as(ycc))
    return {
        "own": np.take_along_axis(blocks, symbols[None].astype(np.int64), 0)[0],
        "split": _quarters(_sums(scores[:count], BLOCK // 2)),
        "chroma": _quarters(_sums(chroma, BLOCK // 2)),
        "luma": _sums(luma, BLOCK).transpose(1, 2, 0)[:, :, None],
        "blocks": blocks.transpose(1, 2, 0),
    }


def gain_db(sse: float, saved: float) -> float:
    """PSNR gain (dB) of taking ``saved`` off an image's squared error ``sse`` (a negative ``saved`` adds)."""
    return float(10 * np.log10(sse / max(sse - saved, 1e-9)))


def _entropy(p: float) -> float:
    return float(-(p * np.log2(p) + (1 - p) * np.log2(1 - p)))


def rd_addition(own: np.ndarray, parts: np.ndarray, symbols: np.ndarray, movable: np.ndarray,
                multiplier: float) -> tuple[float, float]:
    """Squared error saved and bits spent by the blocks where sending ``parts``' choices pays, at ``multiplier``;
    the bits are those of an ideal code of the final choices' frequencies."""
    count = parts.shape[-1]
    parent = np.broadcast_to(np.minimum(symbols, count - 1)[:, :, None, None], (*parts.shape[:3], 1))

    def prices(same: float) -> np.ndarray:
        price = np.full(parts.shape, -np.log2((1 - same) / (count - 1)))
        np.put_along_axis(price, parent, -np.log2(same), axis=3)
        return price

    same, flagged = 0.7, 0.2
    for _ in range(ROUNDS):
        price = prices(same)
        choice = (parts + multiplier * price).argmin(axis=3)[..., None]
        error = np.take_along_axis(parts, choice, 3)[..., 0].sum(2)
        spent = np.take_along_axis(price, choice, 3)[..., 0].sum(2)
        sent = movable & (error + multiplier * (spent - np.log2(flagged)) < own - multiplier * np.log2(1 - flagged))
        flagged = float(np.clip(sent[movable].mean() if movable.any() else 0.0, 1e-3, 1 - 1e-3))
        if sent.any():
            same = float(np.clip((choice[sent] == parent[sent]).mean(), 1e-3, 1 - 1e-3))
    if not sent.any():
        return 0.0, movable.sum() * _entropy(flagged)
    spent = np.take_along_axis(prices(same), choice, 3)[..., 0].sum(2)
    return float((own - error)[sent].sum()), float(spent[sent].sum() + movable.sum() * _entropy(flagged))


def rd_map(blocks: np.ndarray, allowed: np.ndarray, multiplier: float) -> tuple[np.ndarray, float, float]:
    """The choice per block among the ``allowed`` symbols of (H, W, S) ``blocks``' errors by error + multiplier
    bits, the bits an ideal code of the chosen symbols' frequencies spends, and its squared error."""
    price = np.full(blocks.shape[2], np.log2(allowed.sum()))
    for _ in range(ROUNDS):
        choice = np.where(allowed, blocks + multiplier * price, np.inf).argmin(axis=2)
        frequency = np.bincount(choice.ravel(), minlength=blocks.shape[2]) / choice.size
        price = -np.log2(np.maximum(frequency, 1e-6))
    error = np.take_along_axis(blocks, choice[..., None], 2).sum()
    return choice, float(price.ravel()[choice.ravel()].sum()), float(error)


def fewer_candidates(blocks: np.ndarray, kept: int, multiplier: float) -> tuple[float, float]:
    """Squared error added and bits saved by choosing among the ``kept`` most used candidates and the keep
    symbol (the last) instead of among all."""
    allowed = np.ones(blocks.shape[2], dtype=bool)
    choice, bits, error = rd_map(blocks, allowed, multiplier)
    usage = np.bincount(choice.ravel(), minlength=blocks.shape[2])[:-1]
    allowed[:-1] = False
    allowed[np.argsort(-usage, kind="stable")[:kept]] = True
    _, fewer_bits, fewer_error = rd_map(blocks, allowed, multiplier)
    return fewer_error - error, bits - fewer_bits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/train"))
    parser.add_argument("--lambdas", default="64,256")
    parser.add_argument("--candidates", default="4,8,12", help="fewer candidates to compare with all of them")
    args = parser.parse_args()
    fewer = [int(k) for k in args.candidates.split(",") if k]
    rows = [*VARIANTS, *(f"{k} candidates" for k in fewer)]
    images = crops(args.data)
    codec = Codec("fast", "cpu")
    net, inference = codec.inference.net, codec.inference
    slope, jpeg_rate = valuation(codec, images)
    print("| lambda | variant | " + " | ".join(f"q{q}: dB, bpp, saves" for q in QUALITIES) + " |")
    for lam in (float(v) for v in args.lambdas.split(",")):
        multiplier = rd_multiplier(lam)
        totals = np.zeros((len(rows), len(QUALITIES), 2))
        for rgb in images:
            pixels = rgb.shape[0] * rgb.shape[1]
            for j, quality in enumerate(QUALITIES):
                made = codec.compress(rgb, quality, lam)
                x, jpeg = inference.tensor(rgb), inference.tensor(made.jpeg_decoded)
                errors = candidate_errors(net, x, jpeg, inference.cond(made.conditioning), made.symbols)
                sse = float(np.sum(np.square(made.restored.astype(np.float64) - rgb)))
                movable = made.symbols != net.config.keep_symbol
                for v, variant in enumerate(VARIANTS):
                    saved, bits = rd_addition(errors["own"], errors[variant], made.symbols, movable, multiplier)
                    totals[v, j] += gain_db(sse, saved) / len(images), bits / pixels / len(images)
                for v, kept in enumerate(fewer, len(VARIANTS)):
                    added, saved_bits = fewer_candidates(errors["blocks"], kept, multiplier)
                    totals[v, j] += gain_db(sse, -added) / len(images), -saved_bits / pixels / len(images)
        for v, variant in enumerate(rows):
            cells = [
                f"{gain:+.3f}, {bpp:.4f}, {rate_saved(gain, bpp, s, r):+.2f} %"
                for (gain, bpp), s, r in zip(totals[v], slope, jpeg_rate, strict=True)
            ]
            print(f"| {lam:g} | {variant} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
