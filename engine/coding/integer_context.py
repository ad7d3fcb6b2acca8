"""Fixed-point evaluation of the context model, bit-exact on every machine.

The range coder fails if encoder and decoder see even slightly different probabilities, so
they never come from float kernels (which differ between CPUs, GPUs, BLAS builds and thread
counts). Weights are rounded to integers once; evaluation uses int64 accumulation, floor
shifts and a fixed exponential table built by integer recurrence (Balle et al., ICLR 2019).
"""

from __future__ import annotations

import numpy as np

from engine.models.context_model import CONTEXT_KERNEL, ContextModel

WEIGHT_BITS = 12
"""Weights are stored as round(w * 2^12)."""
ACT_BITS = 10
"""Activations and logits are integers in units of 2^-10."""
COND_BITS = 12
"""The conditioning vector is carried as round(c * 2^12) (see ``quantize_cond``)."""
EXP_STEP_SHIFT = 4
"""The exponential table advances by 2^4 logit units = 1/64 nat per entry."""
EXP_TABLE_SIZE = 1536
EXP_ONE = 1 << 24
EXP_RATIO = 16517109
"""round(2^24 * exp(-1/64)), the recurrence factor of the table."""


def _exp_table() -> np.ndarray:
    table = np.empty(EXP_TABLE_SIZE, dtype=np.int64)
    value = EXP_ONE
    for i in range(EXP_TABLE_SIZE):
        table[i] = max(value, 1)
        value = (value * EXP_RATIO + (1 << 23)) >> 24
    return table


EXP_TABLE = _exp_table()

_CENTRE = CONTEXT_KERNEL // 2
CAUSAL_OFFSETS: tuple[tuple[int, int], ...] = tuple(
    (dy, dx) for dy in range(-_CENTRE, 1) for dx in range(-_CENTRE, _CENTRE + 1) if dy < 0 or dx < 0
)
"""The neighbours a 5x5 type-A mask lets a block see: two rows above and two blocks to the left."""


def quantize_cond(cond: np.ndarray) -> np.ndarray:
    """Conditioning vector as the int16 codes the sidecar stores."""
    return np.clip(np.round(np.asarray(cond, dtype=np.float64) * (1 << COND_BITS)), -32768, 32767).astype(np.int16)


def dequantize_cond(codes: np.ndarray) -> np.ndarray:
    return codes.astype(np.float32) / np.float32(1 << COND_BITS)


def _shift_round(values: np.ndarray, bits: int) -> np.ndarray:
    return (values + (1 << (bits - 1))) >> bits


def _to_int(values: np.ndarray, bits: int) -> np.ndarray:
    return np.round(values.astype(np.float64) * (1 << bits)).astype(np.int64)


class IntegerContextModel:
    """The float ``ContextModel`` quantised once, evaluated with integers only."""

    def __init__(self, model: ContextModel) -> None:
        weight = model.masked.weight.detach().double().cpu().numpy()  # (F, C, K, K)
        self.symbols = weight.shape[1]
        # masked[o] is (C, F): the contribution of neighbour symbol s at offset o, in activation units.
        self.masked = np.stack(
            [_to_int(weight[:, :, dy + _CENTRE, dx + _CENTRE].T, ACT_BITS) for dy, dx in CAUSAL_OFFSETS]
        )
        self.masked_bias = _to_int(model.masked.bias.detach().cpu().numpy(), ACT_BITS)
        self.cond_weight = _to_int(model.cond.weight.detach().cpu().numpy(), WEIGHT_BITS)  # (F, K)
        self.layers = [
            (
                _to_int(layer.weight.detach().cpu().numpy()[:, :, 0, 0], WEIGHT_BITS),
                _to_int(layer.bias.detach().cpu().numpy(), ACT_BITS + WEIGHT_BITS),
            )
            for layer in model.layers
        ]

    def cond_bias(self, cond_codes: np.ndarray) -> np.ndarray:
        """Per-image bias of the first layer from the int16 conditioning codes."""
        acc = self.cond_weight @ cond_codes.astype(np.int64)
        return self.masked_bias + _shift_round(acc, WEIGHT_BITS + COND_BITS - ACT_BITS)

    def logits(self, padded: np.ndarray, rows: np.ndarray, cols: np.ndarray, bias: np.ndarray) -> np.ndarray:
        """Integer logits (N, C) of the blocks at ``rows, cols``.

        ``padded`` is the symbol map with a border of 2 (top, left, right) filled with -1, which
        marks blocks outside the image; only causal neighbours are read.
        """
        h = np.broadcast_to(bias, (rows.size, bias.size)).copy()
        for o, (dy, dx) in enumerate(CAUSAL_OFFSETS):
            neighbour = padded[rows + _CENTRE + dy, cols + _CENTRE + dx]
            known = neighbour >= 0
            h[known] += self.masked[o][neighbour[known]]
        for weight, layer_bias in self.layers:
            h = _shift_round(np.maximum(h, 0) @ weight.T + layer_bias, WEIGHT_BITS)
        return h

    @staticmethod
    def probabilities(logits: np.ndarray) -> np.ndarray:
        """Exactly normalisable probabilities (N, C) from integer logits via the fixed table."""
        gap = (logits.max(axis=1, keepdims=True) - logits) >> EXP_STEP_SHIFT
        weights = EXP_TABLE[np.minimum(gap, EXP_TABLE_SIZE - 1)]
        return weights / weights.sum(axis=1, keepdims=True)


def pad_symbols(symbols: np.ndarray) -> np.ndarray:
    """Symbol map with the -1 border that ``IntegerContextModel.logits`` expects."""
    h, w = symbols.shape
    padded = np.full((h + _CENTRE, w + 2 * _CENTRE), -1, dtype=np.int64)
    padded[_CENTRE:, _CENTRE : _CENTRE + w] = symbols
    return padded
