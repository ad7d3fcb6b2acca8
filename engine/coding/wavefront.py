"""Range coding of descriptor maps in wavefront order.

Block (r, c) depends on neighbours up to (r-1, c+2) and (r, c-1); all blocks with the same
``t = 3 r + c`` are therefore independent and are coded together, which makes decoding a
loop over about ``3 H + W`` wavefronts instead of ``H W`` blocks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

import constriction
import numpy as np

from engine.coding.integer_context import IntegerContextModel, neighbour_offsets, pad_symbols
from engine.conditioning import Conditioning
from engine.errors import SideJPEGError

_FAMILY = constriction.stream.model.Categorical(perfect=False)
_BORDER = 2
"""Width of the -1 border of ``pad_symbols`` (top, left and right)."""


def _coding_order(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Raster indices of all blocks in coding order, and where each wavefront starts in it."""
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    t = (3 * rows + cols).ravel()
    order = np.argsort(t, kind="stable")
    bounds = np.flatnonzero(np.diff(t[order])) + 1
    return order, bounds


def wavefronts(height: int, width: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(rows, cols) of each wavefront ``3 r + c = t``, in coding order."""
    order, bounds = _coding_order(height, width)
    return [(idx // width, idx % width) for idx in np.split(order, bounds)]


@dataclass(frozen=True)
class _Plan:
    """What decoding a (height, width) map needs besides the payload, computed once per size."""

    order: np.ndarray
    """Raster index of every block, in coding order."""
    spans: tuple[tuple[int, int], ...]
    """[start, stop) of each wavefront in ``order``."""
    positions: np.ndarray
    """Flat index of every block (coding order) in the padded map."""
    neighbours: np.ndarray
    """(12, H W) flat indices of each block's causal neighbours in the padded map (coding order)."""
    raster_neighbours: np.ndarray
    """The same in raster order."""


@lru_cache(maxsize=8)
def _plan(height: int, width: int) -> _Plan:
    order, bounds = _coding_order(height, width)
    padded_width = width + 2 * _BORDER
    positions = (order // width + _BORDER) * padded_width + order % width + _BORDER
    offsets = neighbour_offsets(padded_width)[:, None]
    neighbours = positions[None] + offsets
    raster = np.arange(height * width)
    raster_neighbours = ((raster // width + _BORDER) * padded_width + raster % width + _BORDER)[None] + offsets
    edges = [0, *bounds.tolist(), order.size]
    for array in (order, positions, neighbours, raster_neighbours):
        array.flags.writeable = False
    return _Plan(order, tuple(pairwise(edges)), positions, neighbours, raster_neighbours)


def block_probabilities(model: IntegerContextModel, symbols: np.ndarray, conditioning: Conditioning) -> np.ndarray:
    """Coder probabilities (H, W, C) of a fully known map: what the decoder will compute."""
    h, w = symbols.shape
    neighbours = pad_symbols(symbols).reshape(-1)[_plan(h, w).raster_neighbours]
    return model.probabilities_of_neighbours(neighbours, model.cond_bias(conditioning)).reshape(h, w, -1)


def block_bits(
    model: IntegerContextModel, symbols: np.ndarray, conditioning: Conditioning, probs: np.ndarray | None = None
) -> np.ndarray:
    """Ideal code length of each block in bits under the coder's probabilities.

    ``probs`` may pass the result of ``block_probabilities`` when the caller already has it.
    """
    if probs is None:
        probs = block_probabilities(model, symbols, conditioning)
    chosen = np.take_along_axis(probs, symbols[..., None].astype(np.int64), axis=2)[..., 0]
    return (-np.log2(chosen)).astype(np.float32)


def encode(
    model: IntegerContextModel, symbols: np.ndarray, conditioning: Conditioning, probs: np.ndarray | None = None
) -> bytes:
    """Range-code a (H, W) symbol map; all probabilities are computed in one pass (or passed in)."""
    if probs is None:
        probs = block_probabilities(model, symbols, conditioning)
    order = _plan(*symbols.shape).order
    encoder = constriction.stream.queue.RangeEncoder()
    encoder.encode(
        symbols.reshape(-1)[order].astype(np.int32), _FAMILY, probs.reshape(order.size, -1)[order]
    )
    return encoder.get_compressed().astype("<u4").tobytes()


Pick = Callable[[np.ndarray, int, int], np.ndarray]
"""Given the coder's probabilities (n, C) of the blocks ``order[start:stop]`` of one wavefront, their symbols."""


def _fill(model: IntegerContextModel, height: int, width: int, conditioning: Conditioning, pick: Pick) -> np.ndarray:
    """Build a (height, width) map wavefront by wavefront, each block's symbol picked from its causal context."""
    plan = _plan(height, width)
    padded = np.full((height + _BORDER) * (width + 2 * _BORDER), -1, dtype=np.int64)
    bias = model.cond_bias(conditioning)
    for start, stop in plan.spans:
        probs = model.probabilities_of_neighbours(padded[plan.neighbours[:, start:stop]], bias)
        padded[plan.positions[start:stop]] = pick(probs, start, stop)
    padded = padded.reshape(height + _BORDER, width + 2 * _BORDER)
    return padded[_BORDER:, _BORDER : _BORDER + width].astype(np.uint8)


def decode(
    model: IntegerContextModel, payload: bytes, height: int, width: int, conditioning: Conditioning
) -> np.ndarray:
    """Inverse of ``encode``: one vectorised step per wavefront."""
    if len(payload) % 4:
        raise SideJPEGError("side information payload is corrupted (length not a multiple of 4)")
    words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
    decoder = constriction.stream.queue.RangeDecoder(words)

    def pick(probs: np.ndarray, start: int, stop: int) -> np.ndarray:
        try:
            return decoder.decode(_FAMILY, probs)
        except Exception as exc:  # constriction reports exhausted or invalid data as assorted errors
            raise SideJPEGError(f"side information payload is corrupted: {exc}") from None

    return _fill(model, height, width, conditioning, pick)


def rd_choose(
    model: IntegerContextModel, errors: np.ndarray, conditioning: Conditioning, multiplier: float
) -> np.ndarray:
    """Encoder-side RDO: per block the symbol of least ``errors + multiplier * bits``.

    ``errors`` (H, W, C) is the distortion each symbol would give each block. Blocks are decided
    wavefront by wavefront in coding order, so each is priced with the exact probabilities the
    decoder will use, given the choices already made for its causal neighbours (greedy: a choice's
    effect on the cost of later blocks is not counted).
    """
    height, width, _ = errors.shape
    flat = errors.reshape(height * width, -1)
    order = _plan(height, width).order

    def pick(probs: np.ndarray, start: int, stop: int) -> np.ndarray:
        return np.argmin(flat[order[start:stop]] - multiplier * np.log2(np.maximum(probs, 1e-300)), axis=1)

    return _fill(model, height, width, conditioning, pick)
