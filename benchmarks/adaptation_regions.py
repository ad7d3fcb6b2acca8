"""Would the adaptation pay more per region than per image? ``python -m benchmarks.adaptation_regions``.

Issue #17 asks for per-image and per-region adaptation; the sidecar sends one set of weights per image. For
each held-out training image (512x512 centre crop), quality and lambda this compresses with ``fast`` without
the adaptation, then fits it as the encoder does (least squares on the decoder's basis, quantised by rate and
distortion, ``engine.coding.adaptation.choose``) to the whole image and, independently, to each region of a
g x g grid (g = 2, 3, 4, region edges on the 16-pixel grid). With ``--deltas`` each region's weights are
fitted instead as a change of the whole image's chosen weights, which a region sends only where it pays (one
flag bit per region, on top of the whole image's stream). It prints, as percentages of the restored image's
squared error, what each changes in squared error and in the encoder's cost (squared error + 3 lambda
bits), and the bits sent. Nothing here is in the codec: it measures whether building it would pay. The test
sets are never looked at.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from engine import Codec
from engine.coding import adaptation as adapt
from engine.colour import RGB_OF_YCBCR
from engine.config import BLOCK, rd_multiplier
from engine.encoding import fitting_strips
from engine.inference import Observer
from engine.models.corrections import block_mask
from engine.tiling import Tile, padded_crop
from engine.training.data import VALIDATION_STEMS, load_rgb
from engine.training.validate import centre_crop

GRIDS = (1, 2, 3, 4)


def _edges(size: int, parts: int) -> list[int]:
    """``parts`` + 1 region edges over ``size`` pixels, inner ones on the block grid."""
    inner = [round(size * i / parts) // BLOCK * BLOCK for i in range(1, parts)]
    return [0, *inner, size]


def _region_statistics(codec: Codec, original: np.ndarray, made) -> dict[int, list[adapt.Statistics]]:
    """The adaptation's statistics of each region of each grid, over the pixels the encoder fits to (inside
    the image, outside blocks that keep the JPEG)."""
    height, width = original.shape[:2]
    size = codec.encoder.basis_size
    keep = codec.config.keep_symbol
    counted = torch.zeros(tuple(BLOCK * n for n in made.symbols.shape), dtype=torch.bool)
    counted[:height, :width] = True
    if keep is not None:
        counted &= ~block_mask(torch.from_numpy(made.symbols)[None], keep)[0, 0]
    regions: dict[int, list[tuple[torch.Tensor, adapt.Statistics]]] = {}
    for grid in GRIDS:
        ys, xs = _edges(height, grid), _edges(width, grid)
        masks = []
        for i in range(grid):
            for j in range(grid):
                inside = torch.zeros_like(counted)
                inside[ys[i] : ys[i + 1], xs[j] : xs[j + 1]] = True
                masks.append((counted & inside, adapt.Statistics.empty(size)))
        regions[grid] = masks

    def observe(tile: Tile, jpeg: torch.Tensor, restored: torch.Tensor, h: torch.Tensor) -> None:
        target = codec.inference.tensor(padded_crop(original, tile.outer))
        for rows, cols, features, rest, remaining in fitting_strips(tile, jpeg, restored, h, target):
            for masks in regions.values():
                for mask, stats in masks:
                    use = mask[rows, cols]
                    if use.any():
                        stats.add_cells(features, rest, remaining, use)

    watch: Observer = observe
    codec.inference.restore(
        made.jpeg_decoded, made.conditioning, made.symbols, (0, 0, height, width), None, None, observe=watch
    )
    return {grid: [stats for _, stats in masks] for grid, masks in regions.items()}


def _fitted(parts: list[adapt.Statistics], multiplier: float) -> tuple[float, int]:
    """Squared error change (0-255 scale) and bits of each part's own rate-distortion chosen adaptation."""
    change, bits = 0.0, 0
    for stats in parts:
        chosen = adapt.choose(stats, multiplier)
        change += 255.0**2 * adapt._sse_change(stats, chosen.weights(stats.gram.shape[0]))
        bits += adapt.stream_bits(chosen)
    return change, bits


def _fitted_deltas(whole: adapt.Statistics, parts: list[adapt.Statistics], multiplier: float) -> tuple[float, int]:
    """Squared error change and bits of the whole image's chosen adaptation plus, per region, the change of
    those weights that ``choose`` finds for the region (nothing where it does not pay), with a flag each.

    A region's squared error as a function of the change d of the image's weights w has the region's Gram
    matrix and its products with the error that w leaves: the same least squares, around w."""
    size = whole.gram.shape[0]
    image = adapt.choose(whole, multiplier)
    weights = image.weights(size)
    change = 255.0**2 * adapt._sse_change(whole, weights)
    bits = adapt.stream_bits(image) + len(parts)
    rgb = weights @ RGB_OF_YCBCR.numpy().T
    for stats in parts:
        around = adapt.Statistics(stats.gram, stats.cross - stats.gram @ rgb, stats.pixels)
        delta = adapt.choose(around, multiplier)
        change += 255.0**2 * adapt._sse_change(around, delta.weights(size))
        bits += adapt.stream_bits(delta)
    return change, bits


def _cell(change: float, bits: int, before: float, multiplier: float) -> str:
    """Squared error change and cost as percentages of the squared error ``before``, and the bits."""
    return f"{100 * change / before:+7.2f} {100 * (change + multiplier * bits) / before:+7.2f} {bits:6d}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/train", help="the training folder (held-out images)")
    parser.add_argument("--qualities", default="10,20,30,40")
    parser.add_argument("--lambdas", default="64")
    parser.add_argument("--deltas", action="store_true", help="fit each region as a change of the image's weights")
    args = parser.parse_args()
    codec = Codec("fast", "cpu", adapts=False)
    header = " | ".join(f"{g}x{g}: SSE %  cost %   bits" for g in GRIDS)
    print(f"image           q  lambda | {header}")
    for quality in (int(q) for q in args.qualities.split(",")):
        for lam in (float(v) for v in args.lambdas.split(",")):
            multiplier = rd_multiplier(lam)
            totals = {g: np.zeros(3) for g in GRIDS}
            for stem in VALIDATION_STEMS:
                rgb = np.ascontiguousarray(centre_crop(load_rgb(next(Path(args.data).glob(f"{stem}.*"))), 512))
                made = codec.compress(rgb, quality, lam)
                before = float(np.sum(np.square(made.restored.astype(np.float64) - rgb)))
                cells = []
                regions = _region_statistics(codec, rgb, made)
                for grid, parts in regions.items():
                    if args.deltas and grid > 1:
                        change, bits = _fitted_deltas(regions[1][0], parts, multiplier)
                    else:
                        change, bits = _fitted(parts, multiplier)
                    totals[grid] += (change, bits, before)
                    cells.append(_cell(change, bits, before, multiplier))
                print(f"{stem:14s} {quality:3d} {lam:7g} | " + " | ".join(cells), flush=True)
            cells = [_cell(change, int(bits), before, multiplier) for change, bits, before in totals.values()]
            print(f"{'all':14s} {quality:3d} {lam:7g} | " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
