"""The per-image adaptation a sidecar carries: fitted by least squares, chosen by rate and distortion,
quantised, and written with signed Exp-Golomb codes.

The stream starts with the number of weights per channel (8 bits, so that it can be read without the
model and checked against it). For each of Y, Cb and Cr the encoder then either sends nothing (one bit)
or a quantiser step for each group of weights (the trunk features', the network's own correction's and
a constant's, the spatial taps'), and the integer weights. The decoder reads integers only, so it
recovers exactly the weights the encoder chose. Streams of sidecar version 3 have no spatial taps: two
steps per channel, and weights that stop before the taps.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from engine.colour import RGB_OF_YCBCR
from engine.errors import SideJPEGError
from engine.models.adaptation import SPATIAL_SIZE

CHANNELS = ("Y", "Cb", "Cr")
SIZE_BITS = 8
EXPONENT_BITS = 4
FINEST_STEP = 6
"""Quantiser steps are 2^-(6 + e) for a 4-bit e: from 1/64 to 2^-21."""
MAX_VALUE = 1 << 24
"""Largest integer weight a reader accepts (bounds its work on forged data)."""
TAIL_GROUPS = (4, SPATIAL_SIZE)
"""Sizes of the groups of weights after the trunk features': the network's correction in Y, Cb, Cr and a
constant; the spatial taps (``engine.models.adaptation.SPATIAL``)."""
EXPONENTS = 1 + len(TAIL_GROUPS)
"""Quantiser exponents per channel in the streams written now (2 in sidecar version 3)."""


def step(exponent: int) -> float:
    return 2.0 ** -(FINEST_STEP + exponent)


def size_for(basis_size: int, exponents: int) -> int:
    """Weights per channel of a stream with ``exponents`` exponents per channel, for a model whose basis
    has ``basis_size`` entries: older streams stop before the later groups."""
    return basis_size - sum(TAIL_GROUPS[exponents - 1 :])


def _steps(size: int, exponents: tuple[int, ...]) -> np.ndarray:
    """The quantiser step of each of a channel's ``size`` weights."""
    return _steps_of(size, np.asarray([exponents]))[0]


def _steps_of(size: int, exponents: np.ndarray) -> np.ndarray:
    """(n, size) steps of n options' exponents (n, groups) at once: each group's step repeated over its weights."""
    tails = TAIL_GROUPS[: exponents.shape[1] - 1]
    return np.repeat(2.0 ** -(FINEST_STEP + exponents), (size - sum(tails), *tails), axis=1)


@dataclass(frozen=True)
class ChannelWeights:
    """One channel's quantised weights: ``values * step``, each group of weights (trunk features, residual
    and constant, spatial taps) with the step of its own exponent."""

    exponents: tuple[int, ...]
    values: tuple[int, ...]

    def weights(self) -> np.ndarray:
        return np.asarray(self.values, dtype=np.float64) * _steps(len(self.values), self.exponents)


@dataclass(frozen=True)
class Adaptation:
    """Per channel (Y, Cb, Cr) its weights, or None where the encoder sent nothing."""

    channels: tuple[ChannelWeights | None, ...]

    @property
    def size(self) -> int:
        """Weights per channel (0 when nothing is sent)."""
        return next((len(ch.values) for ch in self.channels if ch is not None), 0)

    @property
    def sent(self) -> tuple[str, ...]:
        """The channels that carry weights."""
        return tuple(name for name, ch in zip(CHANNELS, self.channels, strict=True) if ch is not None)

    def weights(self, size: int) -> np.ndarray:
        """(size, 3) weights in YCbCr, zero for channels not sent and for groups an older stream lacks
        (``engine.models.adaptation.adapted``)."""
        out = np.zeros((size, len(CHANNELS)))
        for c, ch in enumerate(self.channels):
            if ch is not None:
                out[: len(ch.values), c] = ch.weights()
        return out

    def tensor(self, size: int) -> torch.Tensor | None:
        """The weights the restorer takes; None when nothing was sent."""
        return torch.from_numpy(self.weights(size).astype(np.float32)) if self.sent else None


NOTHING = Adaptation((None, None, None))


def _zigzag(value: int) -> int:
    return 2 * value - 1 if value > 0 else -2 * value


def _code_length(value: int) -> int:
    """Bits of one value's signed Exp-Golomb code."""
    return 2 * (_zigzag(value) + 1).bit_length() - 1


def _values_bits(values: np.ndarray) -> np.ndarray:
    """Bits of the signed Exp-Golomb codes of integer ``values`` (..., n), summed over the last axis."""
    codes = np.where(values > 0, 2 * values - 1, -2 * values) + 1
    lengths = np.frexp(codes.astype(np.float64))[1]  # code = m * 2^length, m in [0.5, 1): its bit length
    return np.sum(2 * lengths - 1, axis=-1)


def channel_bits(ch: ChannelWeights | None) -> int:
    """Bits a channel takes in the stream: its flag, exponents and signed Exp-Golomb codes."""
    if ch is None:
        return 1
    return 1 + len(ch.exponents) * EXPONENT_BITS + int(_values_bits(np.asarray(ch.values, dtype=np.int64)))


def stream_bits(adaptation: Adaptation) -> int:
    """Bits of the stream before its padding to whole bytes (none when nothing is sent)."""
    return SIZE_BITS + sum(channel_bits(ch) for ch in adaptation.channels) if adaptation.sent else 0


def encode(adaptation: Adaptation) -> bytes:
    """The stream: per channel a flag, then its exponents and its signed Exp-Golomb values; zero-padded to
    whole bytes. Nothing sent at all is an empty stream."""
    if not adaptation.sent:
        return b""
    bits = [format(adaptation.size, f"0{SIZE_BITS}b")]
    for ch in adaptation.channels:
        bits.append("1" if ch is not None else "0")
        if ch is None:
            continue
        bits += [format(exponent, f"0{EXPONENT_BITS}b") for exponent in ch.exponents]
        for value in ch.values:
            code = _zigzag(value) + 1
            bits.append("0" * (code.bit_length() - 1) + format(code, "b"))
    text = "".join(bits)
    text += "0" * (-len(text) % 8)
    return int(text, 2).to_bytes(len(text) // 8, "big")


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.text = format(int.from_bytes(data, "big"), f"0{len(data) * 8}b") if data else ""
        self.pos = 0

    def take(self, count: int) -> int:
        if self.pos + count > len(self.text):
            raise SideJPEGError("sidecar adaptation data is truncated")
        value = int(self.text[self.pos : self.pos + count], 2) if count else 0
        self.pos += count
        return value

    def exp_golomb(self) -> int:
        zeros = 0
        while self.take(1) == 0:
            zeros += 1
            if zeros > MAX_VALUE.bit_length():
                raise SideJPEGError("sidecar adaptation data holds an impossibly large weight")
        code = (1 << zeros | self.take(zeros)) - 1
        return (code + 1) // 2 if code % 2 else -(code // 2)


def decode(data: bytes, exponents: int = EXPONENTS) -> Adaptation:
    """The adaptation of a stream written by ``encode`` with ``exponents`` exponents per channel."""
    if not data:
        return NOTHING
    reader, channels = _Reader(data), []
    size = reader.take(SIZE_BITS)
    if size <= sum(TAIL_GROUPS[: exponents - 1]):
        raise SideJPEGError(f"sidecar adaptation data has too few weights per channel ({size})")
    for _ in CHANNELS:
        if not reader.take(1):
            channels.append(None)
            continue
        steps = tuple(reader.take(EXPONENT_BITS) for _ in range(exponents))
        channels.append(ChannelWeights(steps, tuple(reader.exp_golomb() for _ in range(size))))
    if "1" in reader.text[reader.pos :] or len(reader.text) - reader.pos >= 8:
        raise SideJPEGError("sidecar adaptation data has trailing bits")
    adaptation = Adaptation(tuple(channels))
    if not adaptation.sent:
        raise SideJPEGError("sidecar adaptation data sends no channel (it should then be empty)")
    return adaptation


@dataclass
class Statistics:
    """What least squares needs, summed over the pixels the adaptation applies to: the basis's Gram matrix
    and its products with the remaining error (original - restored, RGB, on the [0, 1] scale)."""

    gram: np.ndarray
    cross: np.ndarray
    pixels: int = 0

    @classmethod
    def empty(cls, size: int) -> Statistics:
        return cls(np.zeros((size, size)), np.zeros((size, len(CHANNELS))))

    def add(self, basis: torch.Tensor, error: torch.Tensor) -> None:
        """``basis`` (N, size) and ``error`` (N, 3) of N more pixels."""
        a, t = basis.double(), error.double()
        self.gram += (a.T @ a).cpu().numpy()
        self.cross += (a.T @ t).cpu().numpy()
        self.pixels += basis.shape[0]

    def add_cells(self, features: torch.Tensor, rest: torch.Tensor, error: torch.Tensor, use: torch.Tensor) -> None:
        """The pixels of a region whose basis starts with features constant over cells of s x s pixels:
        ``features`` (F, R / s, W / s) per cell, the rest of the basis ``rest`` (K, R, W) and the ``error``
        (3, R, W) per pixel, and ``use`` (R, W) the pixels that count.

        The sums a feature enters need only each cell's totals of the other entries: the same statistics as
        ``add`` of the whole basis, with s^2 times fewer products for the features'."""
        f, k = features.shape[0], rest.shape[0]
        mask = use.to(rest.dtype)
        a, t = rest * mask, error * mask
        scale = rest.shape[-1] // features.shape[-1]

        def cells(x: torch.Tensor) -> torch.Tensor:
            """Each cell's sum (x.shape[0], cells), in float64 for the products; strided slices add up rows,
            then columns (several times faster than a pooling kernel here)."""
            rows = sum(x[:, i::scale] for i in range(scale))
            return sum(rows[:, :, j::scale] for j in range(scale)).reshape(x.shape[0], -1).double()

        count = cells(mask[None])[0]
        per_cell = features.reshape(f, -1).double()
        a_cells, t_cells = cells(a), cells(t)
        a, t = a.reshape(k, -1).double(), t.reshape(len(CHANNELS), -1).double()
        mixed = (per_cell @ a_cells.T).cpu().numpy()
        self.gram[:f, :f] += ((per_cell * count) @ per_cell.T).cpu().numpy()
        self.gram[:f, f:] += mixed
        self.gram[f:, :f] += mixed.T
        self.gram[f:, f:] += (a @ a.T).cpu().numpy()
        self.cross[:f] += (per_cell @ t_cells.T).cpu().numpy()
        self.cross[f:] += (a @ t.T).cpu().numpy()
        self.pixels += int(use.sum())


def _sse_change(stats: Statistics, weights: np.ndarray) -> float:
    """Change of the squared error (RGB, [0, 1] scale) that YCbCr ``weights`` (size, 3) make."""
    rgb = weights @ RGB_OF_YCBCR.numpy().T
    return float(np.sum(rgb * (stats.gram @ rgb)) - 2 * np.sum(stats.cross * rgb))


def _rounded(target: np.ndarray, steps: np.ndarray) -> np.ndarray:
    return np.clip(np.round(target / steps), -MAX_VALUE, MAX_VALUE).astype(np.int64)


def _quantised(target: np.ndarray, exponents: tuple[int, ...]) -> ChannelWeights:
    values = _rounded(target, _steps(len(target), exponents))
    return ChannelWeights(exponents, tuple(int(v) for v in values))


@dataclass(frozen=True)
class _ChannelCost:
    """The part of ``_cost`` that one channel's weights w decide, given the other channels':
    ``scale * (w' gram w - 2 w' pull) + multiplier * bits``, for options that send the channel."""

    gram: np.ndarray
    pull: np.ndarray
    scale: float
    multiplier: float

    def of(self, values: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """The costs of n options at once: integer ``values`` (n, size) with their ``steps`` (n, size)."""
        w = values * steps
        quadratic = np.einsum("ni,ni->n", w @ self.gram, w) - 2 * w @ self.pull
        return self.scale * quadratic + self.multiplier * _values_bits(values)

    def least(self, options: list[ChannelWeights]) -> ChannelWeights:
        values = np.array([option.values for option in options], dtype=np.int64)
        steps = np.stack([_steps(values.shape[1], option.exponents) for option in options])
        return options[int(np.argmin(self.of(values, steps)))]


def choose(stats: Statistics, multiplier: float, refine: bool = True) -> Adaptation:
    """The adaptation that minimises squared error (0-255 scale) + ``multiplier`` * bits.

    Channel by channel (Cb, Cr, Y, then each again), given the others' current weights (at first the joint
    least-squares optimum, then what was chosen): nothing, or its least-squares weights quantised with the
    best steps (``_best_steps``), refined value by value (``_refined``) at those steps and at each group's
    next finer and coarser one (``_neighbours``), whichever costs least; ``refine=False`` rounds to the
    nearest step instead (``benchmarks/adaptation_quantisation.py`` compares the two).
    """
    size = stats.gram.shape[0]
    if stats.pixels < size:
        return NOTHING
    to_rgb = RGB_OF_YCBCR.numpy()
    coupling = to_rgb.T @ to_rgb
    """How the error of one YCbCr channel's correction meets another's in RGB."""
    projected = np.linalg.lstsq(stats.gram, stats.cross, rcond=None)[0] @ to_rgb
    current = np.linalg.solve(coupling, projected.T).T
    """The weights so far: the joint optimum, replaced channel by channel by what is chosen."""
    channels: list[ChannelWeights | None] = [None, None, None]

    aligned = stats.cross @ to_rgb
    for c in (1, 2, 0) * 2:
        others = sum(coupling[c, d] * current[:, d] for d in range(len(CHANNELS)) if d != c)
        target = (projected[:, c] - others) / coupling[c, c]
        pull = (aligned[:, c] - stats.gram @ others) / coupling[c, c]
        channel_cost = _ChannelCost(stats.gram, pull, 255.0**2 * coupling[c, c], multiplier)
        quantised = _best_steps(target, channel_cost)
        if refine:
            options = _neighbours(quantised, target)
            quantised = channel_cost.least([_refined(option, channel_cost) for option in options])
        cost = partial(_cost, stats, multiplier, current, channels, c)
        channels[c] = None if cost(None) <= cost(quantised) else quantised
        current[:, c] = 0.0 if channels[c] is None else channels[c].weights()
    return Adaptation(tuple(channels))


def _best_steps(target: np.ndarray, cost: _ChannelCost) -> ChannelWeights:
    """``target`` quantised with the steps of least ``cost``: the best exponent shared by every group of
    weights, then each group's own exponent given the others', twice round."""
    every = range(2**EXPONENT_BITS)

    def best(candidates: list[tuple[int, ...]]) -> tuple[int, ...]:
        steps = _steps_of(len(target), np.asarray(candidates))
        return candidates[int(np.argmin(cost.of(_rounded(target, steps), steps)))]

    chosen = best([(e,) * EXPONENTS for e in every])
    for _ in range(2):
        for group in range(EXPONENTS):
            chosen = best([(*chosen[:group], e, *chosen[group + 1 :]) for e in every])
    return _quantised(target, chosen)


def _neighbours(chosen: ChannelWeights, target: np.ndarray) -> list[ChannelWeights]:
    """``chosen``, and ``target`` quantised with one group's exponent one finer or one coarser: refined
    integers can make another step pay than rounded ones did."""
    options = [chosen]
    for group, exponent in enumerate(chosen.exponents):
        for moved in (exponent - 1, exponent + 1):
            if 0 <= moved < 2**EXPONENT_BITS:
                exponents = (*chosen.exponents[:group], moved, *chosen.exponents[group + 1 :])
                options.append(_quantised(target, exponents))
    return options


REFINE_PASSES = 3
"""Passes of ``_refined`` over a channel's weights at most (it stops earlier when a pass changes nothing)."""


def _refined(option: ChannelWeights, cost: _ChannelCost) -> ChannelWeights:
    """``option``'s integers moved one by one (by one step, or to zero) wherever that lowers ``cost``.

    Rounding each weight to its nearest step ignores how the basis's features correlate, and what each
    value costs to send; this rate-distortion optimised quantisation finds integers that are both
    cheaper and closer to the least-squares optimum in the error they leave."""
    gram, scale, multiplier = cost.gram, cost.scale, cost.multiplier
    steps = _steps(len(option.values), option.exponents)
    values = list(option.values)
    slope = gram @ (np.asarray(values, dtype=np.float64) * steps) - cost.pull
    steps, diagonal = steps.tolist(), np.diag(gram).tolist()  # Python floats: the loop reads them one by one
    for _ in range(REFINE_PASSES):
        changed = False
        for i, value in enumerate(values):
            length, best, best_change = _code_length(value), value, 0.0
            for candidate in (value - 1, value + 1, 0):
                if candidate == value or abs(candidate) > MAX_VALUE:
                    continue
                d = (candidate - value) * steps[i]
                change = scale * (d * d * diagonal[i] + 2 * d * slope.item(i))
                change += multiplier * (_code_length(candidate) - length)
                if change < best_change:
                    best, best_change = candidate, change
            if best != value:
                slope += (best - value) * steps[i] * gram[:, i]
                values[i], changed = best, True
        if not changed:
            break
    return ChannelWeights(option.exponents, tuple(values))


def _cost(
    stats: Statistics, multiplier: float, current: np.ndarray, channels: list[ChannelWeights | None], c: int,
    option: ChannelWeights | None,
) -> float:
    """Squared error (0-255 scale) change + ``multiplier`` * bits with channel ``c`` set to ``option``."""
    trial = current.copy()
    trial[:, c] = 0.0 if option is None else option.weights()
    bits = stream_bits(Adaptation((*channels[:c], option, *channels[c + 1 :])))
    return 255.0**2 * _sse_change(stats, trial) + multiplier * bits
