"""Fixed-point evaluation of the context model, bit-exact on every machine.

The range coder fails if encoder and decoder see even slightly different probabilities, so
they never come from float kernels whose rounding differs between CPUs, GPUs, BLAS builds and
thread counts. Weights are rounded to integers once; evaluation uses integer arithmetic, floor
shifts and a fixed exponential table built by integer recurrence (Balle et al., ICLR 2019).

Every layer's input is clamped to ``[0, ACT_LIMIT]`` (the ReLU plus an upper bound far above any
activation a trained model produces). That bounds every product and every partial sum of a layer
below 2^53, so the layers may run as float64 BLAS matrix products of integer-valued arrays: each
intermediate is an exactly representable integer, hence the result is the same integer in any
summation order, with or without FMA, on every machine. The first layer (a sum of one table row
per causal neighbour) is bounded the same way. Models whose weights break a bound (checked once
per model, and per image for the first layer's bias) run the same arithmetic in int64 instead.
"""

from __future__ import annotations

import importlib

import numpy as np

from engine.conditioning import COND_BITS, Conditioning
from engine.models.context_model import CONTEXT_KERNEL, ContextModel

WEIGHT_BITS = 12
"""Weights are stored as round(w * 2^12)."""
ACT_BITS = 10
"""Activations and logits are integers in units of 2^-10."""
ACT_LIMIT = 1 << 24
"""Layer inputs are clamped to [0, 2^24], i.e. activations to at most 16384.0."""
FLOAT_EXACT_LIMIT = 1 << 53
"""float64 represents every integer of magnitude below this exactly."""
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
_EXP_TABLE_FLOAT = EXP_TABLE.astype(np.float64)

_CENTRE = CONTEXT_KERNEL // 2
CAUSAL_OFFSETS: tuple[tuple[int, int], ...] = tuple(
    (dy, dx) for dy in range(-_CENTRE, 1) for dx in range(-_CENTRE, _CENTRE + 1) if dy < 0 or dx < 0
)
"""The neighbours a 5x5 type-A mask lets a block see: two rows above and two blocks to the left."""
_CHUNK_MACS = 1 << 17
"""Blocks are evaluated in chunks whose matrix products stay below this many multiply-adds: small enough
for BLAS to run them on one thread (threads gain nothing at this size and stall when the cores are busy)
and for the (rows, 12, F) gather of the first layer to stay small on 24-megapixel maps."""


def _clip_ufunc() -> np.ufunc | None:
    """numpy's clip ufunc: one call where ``np.clip``'s Python wrapper costs more than the work on small arrays."""
    for name in ("numpy._core.umath", "numpy.core.umath"):
        try:
            clip = getattr(importlib.import_module(name), "clip", None)
        except ImportError:
            continue
        if isinstance(clip, np.ufunc):
            return clip
    return None


_CLIP = _clip_ufunc()


def _clamp(values: np.ndarray) -> None:
    """Clamp layer inputs to [0, ACT_LIMIT] in place."""
    if _CLIP is not None:
        _CLIP(values, 0, ACT_LIMIT, out=values)
    else:
        np.maximum(values, 0, out=values)
        np.minimum(values, ACT_LIMIT, out=values)


def _shift_round(values: np.ndarray, bits: int) -> np.ndarray:
    return (values + (1 << (bits - 1))) >> bits


def _to_int(values: np.ndarray, bits: int) -> np.ndarray:
    return np.round(values.astype(np.float64) * (1 << bits)).astype(np.int64)


def neighbour_offsets(padded_width: int) -> np.ndarray:
    """Flat offsets of the causal neighbours in a row-major padded map ``padded_width`` wide."""
    return np.array([dy * padded_width + dx for dy, dx in CAUSAL_OFFSETS], dtype=np.intp)


class IntegerContextModel:
    """The float ``ContextModel`` quantised once, evaluated with integers only.

    ``use_float`` picks the float64 evaluation of the layers (exact, see the module docstring):
    None uses it whenever the weights allow it, False forces int64 products (the reference).
    """

    def __init__(self, model: ContextModel, use_float: bool | None = None) -> None:
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
        self._prepare(use_float)

    def _prepare(self, use_float: bool | None) -> None:
        """Lookup table of the first layer and, where exact, float64 copies of the other layers."""
        offsets, symbols, features = self.masked.shape
        # Row o * (C + 1) is zero (neighbour outside the image); row o * (C + 1) + 1 + s is masked[o][s].
        table = np.zeros((offsets, symbols + 1, features), dtype=np.int64)
        table[:, 1:] = self.masked
        self.table = table.reshape(offsets * (symbols + 1), features)
        self.table_base = (np.arange(offsets, dtype=np.intp) * (symbols + 1) + 1)[:, None]
        widest = max(w.shape[0] * w.shape[1] for w, _ in self.layers)
        self.chunk_rows = max(16, _CHUNK_MACS // widest)
        exact = all(self.layer_bound(w, b) < FLOAT_EXACT_LIMIT for w, b in self.layers)
        if use_float and not exact:
            raise ValueError("these weights are too large for exact float64 evaluation")
        self.float_layers = _augmented_layers(self.layers) if exact and use_float is not False else None
        # Largest first-layer sum before the per-image bias: one row per offset, the largest of each.
        self.first_bound = sum(int(np.abs(rows).max()) for rows in self.masked)
        self._bound: tuple[bytes, np.ndarray | None] | None = None

    def _float_table(self, bias: np.ndarray) -> np.ndarray | None:
        """The first layer's table in float64 for one image: ``bias`` folded into the rows of the first
        offset (every block reads exactly one row per offset) and a last column of ones, which carries
        the layer biases through ``float_layers``. None where the float path would not be exact."""
        key = bias.tobytes()
        bound = self._bound
        if bound is not None and bound[0] == key:
            return bound[1]
        table = None
        if self.float_layers is not None and self.first_bound + int(np.abs(bias).max()) < FLOAT_EXACT_LIMIT:
            rows, features = self.symbols + 1, self.table.shape[1]
            table = np.zeros((self.table.shape[0], features + 1))
            table[:, :features] = self.table
            table[:rows, :features] += bias
            table[:rows, features] = 1.0
        self._bound = (key, table)
        return table

    @staticmethod
    def layer_bound(weight: np.ndarray, bias: np.ndarray) -> int:
        """Largest magnitude a layer's accumulator (plus rounding offset) can reach on clamped inputs."""
        magnitudes = np.abs(weight).astype(object).sum(axis=1) * ACT_LIMIT + np.abs(bias).astype(object)
        return int(magnitudes.max()) + (1 << WEIGHT_BITS)

    def cond_bias(self, conditioning: Conditioning) -> np.ndarray:
        """Per-image bias of the first layer from the int16 conditioning codes."""
        acc = self.cond_weight @ conditioning.codes.astype(np.int64)
        return self.masked_bias + _shift_round(acc, WEIGHT_BITS + COND_BITS - ACT_BITS)

    def logits(self, padded: np.ndarray, rows: np.ndarray, cols: np.ndarray, bias: np.ndarray) -> np.ndarray:
        """Integer logits (N, C) of the blocks at ``rows, cols``.

        ``padded`` is the symbol map with a border of 2 (top, left, right) filled with -1, which
        marks blocks outside the image; only causal neighbours are read.
        """
        width = padded.shape[1]
        centre = (np.asarray(rows, dtype=np.intp) + _CENTRE) * width + np.asarray(cols, dtype=np.intp) + _CENTRE
        neighbours = padded.reshape(-1)[centre[:, None] + neighbour_offsets(width)[None]]
        return self.logits_of_neighbours(neighbours, bias)

    def logits_of_neighbours(self, neighbours: np.ndarray, bias: np.ndarray) -> np.ndarray:
        """Integer logits (N, C) from the (N, 12) symbols at ``CAUSAL_OFFSETS``, -1 outside the image."""
        logits = self._logits(neighbours.T, bias)
        return logits if logits.dtype == np.int64 else logits.astype(np.int64)

    def probabilities_of_neighbours(self, neighbours_t: np.ndarray, bias: np.ndarray) -> np.ndarray:
        """``probabilities(logits_of_neighbours(neighbours_t.T, bias))``, from the (12, N) neighbours (offset
        major, which gathers faster) and without the round trip of the logits through int64."""
        return self.probabilities(self._logits(neighbours_t, bias))

    def _logits(self, neighbours_t: np.ndarray, bias: np.ndarray) -> np.ndarray:
        """Logits of (12, N) neighbours as int64, or as integer-valued float64 on the float path."""
        rows, count = self.chunk_rows, neighbours_t.shape[1]
        if count > rows:
            return np.concatenate([self._logits(neighbours_t[:, i : i + rows], bias) for i in range(0, count, rows)])
        index = neighbours_t + self.table_base
        table = self._float_table(bias)
        if table is None:
            h = self.table[index].sum(axis=0)
            h += bias
            for weight, layer_bias in self.layers:
                _clamp(h)
                h = _shift_round(h @ weight.T + layer_bias, WEIGHT_BITS)
            return h
        x = table[index].sum(axis=0)
        for weight in self.float_layers:
            _clamp(x)  # leaves the column of ones alone
            x = x @ weight
            np.floor(x, out=x)
        return x

    @staticmethod
    def probabilities(logits: np.ndarray) -> np.ndarray:
        """Exactly normalisable probabilities (N, C) from integer logits via the fixed table.

        ``logits`` may be int64 or integer-valued float64; both give the same table entries.
        """
        gap = logits.max(axis=1, keepdims=True) - logits
        if gap.dtype.kind == "f":
            gap *= 1.0 / (1 << EXP_STEP_SHIFT)  # exact; truncation below is the floor of a non-negative value
            weights = _EXP_TABLE_FLOAT[np.minimum(gap, EXP_TABLE_SIZE - 1).astype(np.intp)]
        else:
            weights = EXP_TABLE[np.minimum(gap >> EXP_STEP_SHIFT, EXP_TABLE_SIZE - 1)]
        return weights / weights.sum(axis=1, keepdims=True)


def _augmented_layers(layers: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    """float64 matrices of the 1x1 layers acting on inputs with a trailing 1: weights and rounding bias
    scaled by 2^-12 (exact, a power of two) so that a floor completes the shift, and, except in the last
    layer, a column that passes the 1 on to the next layer."""
    scale, half = 1.0 / (1 << WEIGHT_BITS), 1 << (WEIGHT_BITS - 1)
    out = []
    for i, (weight, bias) in enumerate(layers):
        last = i == len(layers) - 1
        outputs, inputs = weight.shape
        matrix = np.zeros((inputs + 1, outputs + (0 if last else 1)))
        matrix[:inputs, :outputs] = weight.T * scale
        matrix[inputs, :outputs] = (bias + half) * scale
        if not last:
            matrix[inputs, outputs] = 1.0
        out.append(matrix)
    return out


def pad_symbols(symbols: np.ndarray) -> np.ndarray:
    """Symbol map with the -1 border that ``IntegerContextModel.logits`` expects."""
    h, w = symbols.shape
    padded = np.full((h + _CENTRE, w + 2 * _CENTRE), -1, dtype=np.int64)
    padded[_CENTRE:, _CENTRE : _CENTRE + w] = symbols
    return padded
