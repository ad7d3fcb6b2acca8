"""Overlapping tiles aligned to the 16x16 descriptor grid, for bounded memory on any image size."""

from __future__ import annotations

from dataclasses import dataclass

from engine.config import BLOCK


@dataclass(frozen=True)
class Tile:
    """``inner`` is the region a tile contributes; ``outer`` adds a margin of context around it."""

    inner: tuple[int, int, int, int]
    outer: tuple[int, int, int, int]

    @property
    def offset(self) -> tuple[int, int]:
        """Position of the inner region inside the outer one."""
        return self.inner[0] - self.outer[0], self.inner[2] - self.outer[2]


def tiles(height: int, width: int, size: int, margin: int) -> list[Tile]:
    """Tiles covering a (height, width) image whose sides are multiples of 16.

    Every boundary is a multiple of 16, so each tile's descriptors are a whole sub-grid.
    """
    if size % BLOCK or margin % BLOCK or height % BLOCK or width % BLOCK:
        raise ValueError("tile size, margin and image sides must be multiples of the block size")
    out = []
    for y0 in range(0, height, size):
        for x0 in range(0, width, size):
            y1, x1 = min(y0 + size, height), min(x0 + size, width)
            outer = (max(0, y0 - margin), min(height, y1 + margin), max(0, x0 - margin), min(width, x1 + margin))
            out.append(Tile((y0, y1, x0, x1), outer))
    return out
