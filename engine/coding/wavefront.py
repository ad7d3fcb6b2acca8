"""Range coding of descriptor maps in wavefront order.

Block (r, c) depends on neighbours up to (r-1, c+2) and (r, c-1); all blocks with the same
``t = 3 r + c`` are therefore independent and are coded together, which makes decoding a
loop over about ``3 H + W`` wavefronts instead of ``H W`` blocks.
"""

from __future__ import annotations

import constriction
import numpy as np

from engine.coding.integer_context import IntegerContextModel, pad_symbols
from engine.errors import SideJPEGError

_FAMILY = constriction.stream.model.Categorical(perfect=False)


def wavefronts(height: int, width: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(rows, cols) of each wavefront ``3 r + c = t``, in coding order."""
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    t = (3 * rows + cols).ravel()
    order = np.argsort(t, kind="stable")
    bounds = np.flatnonzero(np.diff(t[order])) + 1
    return [(rows.ravel()[idx], cols.ravel()[idx]) for idx in np.split(order, bounds)]


def _wavefront_order(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    fronts = wavefronts(height, width)
    return np.concatenate([r for r, _ in fronts]), np.concatenate([c for _, c in fronts])


def block_probabilities(model: IntegerContextModel, symbols: np.ndarray, cond_codes: np.ndarray) -> np.ndarray:
    """Coder probabilities (H, W, C) of a fully known map: what the decoder will compute."""
    h, w = symbols.shape
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    logits = model.logits(pad_symbols(symbols), rows.ravel(), cols.ravel(), model.cond_bias(cond_codes))
    return model.probabilities(logits).reshape(h, w, -1)


def block_bits(model: IntegerContextModel, symbols: np.ndarray, cond_codes: np.ndarray) -> np.ndarray:
    """Ideal code length of each block in bits under the coder's probabilities."""
    probs = block_probabilities(model, symbols, cond_codes)
    chosen = np.take_along_axis(probs, symbols[..., None].astype(np.int64), axis=2)[..., 0]
    return (-np.log2(chosen)).astype(np.float32)


def encode(model: IntegerContextModel, symbols: np.ndarray, cond_codes: np.ndarray) -> bytes:
    """Range-code a (H, W) symbol map; all probabilities are computed in one pass."""
    probs = block_probabilities(model, symbols, cond_codes)
    rows, cols = _wavefront_order(*symbols.shape)
    encoder = constriction.stream.queue.RangeEncoder()
    encoder.encode(symbols[rows, cols].astype(np.int32), _FAMILY, probs[rows, cols])
    return encoder.get_compressed().astype("<u4").tobytes()


def decode(model: IntegerContextModel, payload: bytes, height: int, width: int, cond_codes: np.ndarray) -> np.ndarray:
    """Inverse of ``encode``: one vectorised step per wavefront."""
    if len(payload) % 4:
        raise SideJPEGError("side information payload is corrupted (length not a multiple of 4)")
    words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
    decoder = constriction.stream.queue.RangeDecoder(words)
    padded = pad_symbols(np.zeros((height, width), dtype=np.int64))
    padded[2:, 2 : 2 + width] = -1
    bias = model.cond_bias(cond_codes)
    for rows, cols in wavefronts(height, width):
        probs = model.probabilities(model.logits(padded, rows, cols, bias))
        try:
            padded[rows + 2, cols + 2] = decoder.decode(_FAMILY, probs)
        except Exception as exc:  # constriction reports exhausted or invalid data as assorted errors
            raise SideJPEGError(f"side information payload is corrupted: {exc}") from None
    return padded[2:, 2 : 2 + width].astype(np.uint8)
