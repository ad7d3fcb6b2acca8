"""Overlapping tiles aligned to the 16x16 descriptor grid, for bounded memory on any image size, with
progress and cancellation between tiles."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from engine.config import BLOCK

Box = tuple[int, int, int, int]
Progress = Callable[[int, int], None]


class Cancelled(Exception):
    """Raised inside a compress or restore when its cancel event is set."""


class CancelEvent(Protocol):
    def is_set(self) -> bool: ...


def check_cancel(cancel: CancelEvent | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled()


@dataclass(frozen=True)
class Tile:
    """``inner`` is the region a tile contributes; ``outer`` adds a margin of context around it."""

    inner: Box
    outer: Box

    @property
    def offset(self) -> tuple[int, int]:
        """Position of the inner region inside the outer one."""
        return self.inner[0] - self.outer[0], self.inner[2] - self.outer[2]


def padded_size(size: int) -> int:
    """``size`` rounded up to whole blocks."""
    return size + -size % BLOCK


def padded_crop(rgb: np.ndarray, outer: Box) -> np.ndarray:
    """``outer`` of the image edge-padded to whole blocks, without padding the whole image."""
    a, b, c, d = outer
    h, w = rgb.shape[:2]
    crop = rgb[a : min(b, h), c : min(d, w)]
    if b > h or d > w:
        crop = np.pad(crop, ((0, max(0, b - h)), (0, max(0, d - w)), (0, 0)), mode="edge")
    return crop


def area_tiles(area: Box, height: int, width: int, size: int, margin: int) -> Iterator[Tile]:
    """Tiles of ``size`` covering ``area = (top, bottom, left, right)`` (16-aligned), each with up to
    ``margin`` of context from the (height, width) padded image around it."""
    top, bottom, left, right = area
    for y0 in range(top, bottom, size):
        for x0 in range(left, right, size):
            y1, x1 = min(y0 + size, bottom), min(x0 + size, right)
            outer = (max(0, y0 - margin), min(height, y1 + margin), max(0, x0 - margin), min(width, x1 + margin))
            yield Tile((y0, y1, x0, x1), outer)


def tiles(height: int, width: int, size: int, margin: int) -> list[Tile]:
    """Tiles covering a (height, width) image whose sides are multiples of 16.

    Every boundary is a multiple of 16, so each tile's descriptors are a whole sub-grid.
    """
    if size % BLOCK or margin % BLOCK or height % BLOCK or width % BLOCK:
        raise ValueError("tile size, margin and image sides must be multiples of the block size")
    return list(area_tiles((0, height, 0, width), height, width, size, margin))


def per_block(
    height: int, width: int, size: int, margin: int, compute: Callable[[Tile], np.ndarray],
    progress: Progress | None, cancel: CancelEvent | None,
) -> np.ndarray:
    """The (..., H16, W16) map of an image, from ``compute(tile) -> (..., h16, w16)`` over each tile's outer
    region, tile by tile."""
    h, w = padded_size(height), padded_size(width)
    out: np.ndarray | None = None
    parts = tiles(h, w, size, margin)
    for i, tile in enumerate(parts):
        check_cancel(cancel)
        (a, b, c, d) = tile.inner
        part = compute(tile)
        if out is None:
            out = np.zeros((*part.shape[:-2], h // BLOCK, w // BLOCK), dtype=part.dtype)
        dy, dx = (v // BLOCK for v in tile.offset)
        rows, cols = (b - a) // BLOCK, (d - c) // BLOCK
        out[..., a // BLOCK : b // BLOCK, c // BLOCK : d // BLOCK] = part[..., dy : dy + rows, dx : dx + cols]
        if progress:
            progress(i + 1, len(parts))
    return out


def image_box(
    height: int, width: int, box: Box, size: int, margin: int, run: Callable[[Tile], np.ndarray],
    progress: Progress | None, cancel: CancelEvent | None,
) -> np.ndarray:
    """``box = (top, left, bottom, right)`` of an image, from ``run(tile) -> (h, w, 3) uint8`` over each
    tile's outer region: memory stays bounded by the tile size, not the image size."""
    top, left, bottom, right = box
    area = (top - top % BLOCK, padded_size(bottom), left - left % BLOCK, padded_size(right))
    out = np.empty((bottom - top, right - left, 3), dtype=np.uint8)
    parts = list(area_tiles(area, padded_size(height), padded_size(width), size, margin))
    for i, tile in enumerate(parts):
        check_cancel(cancel)
        (a, b, c, d), (oa, _, oc, _) = tile.inner, tile.outer
        pixels = run(tile)
        # The part of this tile's inner region that lies in the box, in tile and in output coordinates.
        ya, yb, xa, xb = max(a, top), min(b, bottom), max(c, left), min(d, right)
        out[ya - top : yb - top, xa - left : xb - left] = pixels[ya - oa : yb - oa, xa - oc : xb - oc]
        if progress:
            progress(i + 1, len(parts))
    return out
