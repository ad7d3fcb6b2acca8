"""Would the adaptation pay more per region than per image? ``python -m benchmarks.adaptation_regions``.

Issue #17 asks for per-image and per-region adaptation; the sidecar sends one set of weights per image. For
each held-out training image (512x512 centre crop), quality and lambda this compresses with ``fast`` without
the adaptation, then fits it as the encoder does (least squares on the decoder's basis, quantised by rate and
distortion, ``engine.coding.adaptation.choose``) to the whole image and, independently, to each region of a
g x g grid (g = 2, 3, 4, region edges on the 16-pixel grid). With ``--deltas`` each region's weights are
fitted instead as a change of the whole image's chosen weights, which a region sends only where it pays (one
flag bit per region, on top of the whole image's stream); with ``--classes`` the parts are instead classes of
blocks the decoder derives without being told (ALF's idea: quartiles of the JPEG's luma activity or
brightness, or the block's symbol modulo 4), each a change of the image's weights. It prints, as percentages
of the restored image's squared error, what each changes in squared error and in the encoder's cost (squared
error + 3 lambda bits), and the bits sent. Nothing here is in the codec: it measures whether building it
would pay. The test sets are never looked at.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from engine import Codec
from engine.coding import adaptation as adapt
from engine.colour import RGB_OF_YCBCR, YCBCR
from engine.config import BLOCK, rd_multiplier
from engine.encoding import fitting_strips
from engine.inference import Observer
from engine.models.corrections import block_mask
from engine.tiling import Tile, padded_crop
from engine.training.data import VALIDATION_STEMS, load_rgb
from engine.training.validate import centre_crop

GRIDS = (1, 2, 3, 4)
CLASSES = 4
CLASS_KINDS = ("activity", "brightness", "symbol")


def _edges(size: int, parts: int) -> list[int]:
    """``parts`` + 1 region edges over ``size`` pixels, inner ones on the block grid."""
    inner = [round(size * i / parts) // BLOCK * BLOCK for i in range(1, parts)]
    return [0, *inner, size]


def _counted(codec: Codec, original: np.ndarray, made) -> torch.Tensor:
    """The pixels the encoder fits to: inside the image, outside blocks that keep the JPEG."""
    height, width = original.shape[:2]
    keep = codec.config.keep_symbol
    counted = torch.zeros(tuple(BLOCK * n for n in made.symbols.shape), dtype=torch.bool)
    counted[:height, :width] = True
    if keep is not None:
        counted &= ~block_mask(torch.from_numpy(made.symbols)[None], keep)[0, 0]
    return counted


def _grid_masks(counted: torch.Tensor, height: int, width: int) -> dict[str, list[torch.Tensor]]:
    """Per grid g x g, the mask of each region."""
    masks = {}
    for grid in GRIDS:
        ys, xs = _edges(height, grid), _edges(width, grid)
        regions = []
        for i in range(grid):
            for j in range(grid):
                inside = torch.zeros_like(counted)
                inside[ys[i] : ys[i + 1], xs[j] : xs[j + 1]] = True
                regions.append(counted & inside)
        masks[f"{grid}x{grid}"] = regions
    return masks


def block_classes(made, kind: str) -> np.ndarray:
    """(H/16, W/16) class of each block, which the decoder can derive without being told: the quartile of the
    JPEG's luma activity (mean absolute Laplacian) or brightness in the image, or the block's symbol modulo 4."""
    symbols = made.symbols
    if kind == "symbol":
        return symbols % CLASSES
    rows, cols = symbols.shape
    luma = made.jpeg_decoded.astype(np.float64) @ YCBCR[0].numpy()
    luma = np.pad(luma, ((0, rows * BLOCK - luma.shape[0]), (0, cols * BLOCK - luma.shape[1])), mode="edge")
    if kind == "activity":
        laplacian = 4 * luma[1:-1, 1:-1] - luma[:-2, 1:-1] - luma[2:, 1:-1] - luma[1:-1, :-2] - luma[1:-1, 2:]
        luma = np.pad(np.abs(laplacian), 1)
    values = luma.reshape(rows, BLOCK, cols, BLOCK).mean(axis=(1, 3))
    return np.searchsorted(np.quantile(values, np.linspace(0, 1, CLASSES + 1)[1:-1]), values)


def _class_masks(counted: torch.Tensor, made) -> dict[str, list[torch.Tensor]]:
    """Per kind of class, the mask of each class."""
    masks = {}
    for kind in CLASS_KINDS:
        pixels = torch.from_numpy(block_classes(made, kind)).repeat_interleave(BLOCK, 0).repeat_interleave(BLOCK, 1)
        masks[kind] = [counted & (pixels == c) for c in range(CLASSES)]
    return masks


def _part_statistics(
    codec: Codec, original: np.ndarray, made, masks: dict[str, list[torch.Tensor]]
) -> dict[str, list[adapt.Statistics]]:
    """The adaptation's statistics over each mask."""
    height, width = original.shape[:2]
    size = codec.encoder.basis_size
    parts = {key: [(mask, adapt.Statistics.empty(size)) for mask in group] for key, group in masks.items()}

    def observe(tile: Tile, jpeg: torch.Tensor, restored: torch.Tensor, h: torch.Tensor) -> None:
        target = codec.inference.tensor(padded_crop(original, tile.outer))
        for rows, cols, features, rest, remaining in fitting_strips(tile, jpeg, restored, h, target):
            for group in parts.values():
                for mask, stats in group:
                    use = mask[rows, cols]
                    if use.any():
                        stats.add_cells(features, rest, remaining, use)

    watch: Observer = observe
    codec.inference.restore(
        made.jpeg_decoded, made.conditioning, made.symbols, (0, 0, height, width), None, None, observe=watch
    )
    return {key: [stats for _, stats in group] for key, group in parts.items()}


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
    parser.add_argument("--classes", action="store_true", help="classes of blocks instead of regions (as deltas)")
    args = parser.parse_args()
    codec = Codec("fast", "cpu", adapts=False)
    keys = ["1x1", *CLASS_KINDS] if args.classes else [f"{g}x{g}" for g in GRIDS]
    header = " | ".join(f"{key}: SSE %  cost %   bits" for key in keys)
    print(f"image           q  lambda | {header}")
    for quality in (int(q) for q in args.qualities.split(",")):
        for lam in (float(v) for v in args.lambdas.split(",")):
            multiplier = rd_multiplier(lam)
            totals = {key: np.zeros(3) for key in keys}
            for stem in VALIDATION_STEMS:
                rgb = np.ascontiguousarray(centre_crop(load_rgb(next(Path(args.data).glob(f"{stem}.*"))), 512))
                made = codec.compress(rgb, quality, lam)
                before = float(np.sum(np.square(made.restored.astype(np.float64) - rgb)))
                counted = _counted(codec, rgb, made)
                if args.classes:
                    masks = {"1x1": [counted], **_class_masks(counted, made)}
                else:
                    masks = _grid_masks(counted, *rgb.shape[:2])
                parts = _part_statistics(codec, rgb, made, masks)
                cells = []
                for key in keys:
                    if key != "1x1" and (args.deltas or args.classes):
                        change, bits = _fitted_deltas(parts["1x1"][0], parts[key], multiplier)
                    else:
                        change, bits = _fitted(parts[key], multiplier)
                    totals[key] += (change, bits, before)
                    cells.append(_cell(change, bits, before, multiplier))
                print(f"{stem:14s} {quality:3d} {lam:7g} | " + " | ".join(cells), flush=True)
            cells = [_cell(change, int(bits), before, multiplier) for change, bits, before in totals.values()]
            print(f"{'all':14s} {quality:3d} {lam:7g} | " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
