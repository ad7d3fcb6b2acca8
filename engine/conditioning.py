"""Side inputs every network sees: what the JPEG's header says, and lambda.

Conditioning on the quantisation tables and the chroma sampling factors (present in every JPEG
file, whatever encoder wrote it) lets one model serve every quality, subsampling and encoder;
conditioning on lambda lets one model serve a continuous rate trade-off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.config import LAMBDA_MAX, LAMBDA_MIN

JPEG_COND = 8
"""Entries of the JPEG conditioning vector (``JpegParams.vector``)."""
FULL_COND = JPEG_COND + 1
"""JPEG conditioning plus the normalised lambda (last)."""

LOW_FREQUENCIES = ((0, 1), (1, 0), (0, 2), (1, 1), (2, 0))
"""(row, column) of the lowest AC frequencies of an 8x8 table, in natural order: where most of a photo's
energy and most visible ringing lie."""


SAMPLINGS = {(False, False): "4:4:4", (True, False): "4:2:2", (True, True): "4:2:0", (False, True): "4:4:0"}
"""(chroma halved horizontally, vertically) -> name."""


def sampling_name(halved_h: bool, halved_v: bool, grayscale: bool) -> str:
    """``4:4:4``, ``4:2:2``, ``4:2:0``, ``4:4:0`` or ``gray``."""
    return "gray" if grayscale else SAMPLINGS[(halved_h, halved_v)]


def _log_step(step: float) -> float:
    return math.log2(max(step, 1.0)) / 8.0


@dataclass(frozen=True)
class JpegParams:
    """What a decoder knows about a JPEG from its header alone.

    ``luma`` and ``chroma`` are the 64 quantisation steps of the luma and chroma tables in natural
    (row-major) order; a grayscale file repeats its one table. The chroma planes are stored at
    ``1 / chroma_halved_h`` of the luma's width and ``1 / chroma_halved_v`` of its height
    (4:2:0 halves both, 4:2:2 the width only).
    """

    luma: tuple[int, ...]
    chroma: tuple[int, ...]
    chroma_halved_h: bool
    chroma_halved_v: bool
    grayscale: bool = False

    @property
    def luma_step(self) -> float:
        return float(np.mean(self.luma))

    @property
    def chroma_step(self) -> float:
        return float(np.mean(self.chroma))

    @property
    def subsampling(self) -> str:
        """``4:4:4``, ``4:2:2``, ``4:2:0``, ``4:4:0`` or ``gray``."""
        return sampling_name(self.chroma_halved_h, self.chroma_halved_v, self.grayscale)

    def vector(self) -> np.ndarray:
        """Mean steps, the chroma sampling, DC and lowest AC steps, grayscale: 8 numbers of order 1."""
        luma = np.asarray(self.luma, dtype=np.float64).reshape(8, 8)
        chroma = np.asarray(self.chroma, dtype=np.float64).reshape(8, 8)
        low = float(np.mean([luma[r, c] for r, c in LOW_FREQUENCIES]))
        return np.array(
            [
                _log_step(self.luma_step),
                _log_step(self.chroma_step),
                1.0 if self.chroma_halved_v else 0.0,
                1.0 if self.chroma_halved_h else 0.0,
                _log_step(luma[0, 0]),
                _log_step(low),
                _log_step(chroma[0, 0]),
                1.0 if self.grayscale else 0.0,
            ],
            dtype=np.float32,
        )


def lambda_code(lam: float) -> float:
    """Lambda on the model's [0, 1] scale (log-uniform over the supported range)."""
    lam = min(max(lam, LAMBDA_MIN), LAMBDA_MAX)
    return math.log(lam / LAMBDA_MIN) / math.log(LAMBDA_MAX / LAMBDA_MIN)


COND_BITS = 12
"""The conditioning vector is carried as the integers round(c * 2^12)."""


def _codes(values: np.ndarray) -> np.ndarray:
    """round(c * 2^COND_BITS) of float values c, clipped to int16."""
    scaled = np.round(np.asarray(values, dtype=np.float64) * (1 << COND_BITS))
    return np.clip(scaled, -32768, 32767).astype(np.int16)


def _luma_code(step: float) -> int:
    """The code a mean luma step of ``step`` gets (the first of ``Conditioning.codes``)."""
    return int(_codes(np.float32(_log_step(step))))


@dataclass(frozen=True, eq=False)
class Conditioning:
    """What the networks and the context coder are conditioned on: the JPEG header's parameters and lambda.

    It is held as the int16 codes a sidecar carries, so encoder and decoder feed their networks
    bit-identical values whatever machine each runs on.
    """

    codes: np.ndarray
    """(FULL_COND,) int16: round(c * 2^COND_BITS) of the conditioning vector c."""

    def __post_init__(self) -> None:
        if self.codes.shape != (FULL_COND,) or self.codes.dtype != np.int16:
            raise ValueError(f"conditioning codes must be {FULL_COND} int16 values")

    @classmethod
    def quantized(cls, vector: np.ndarray) -> Conditioning:
        """The codes of a float conditioning vector."""
        return cls(_codes(vector))

    @classmethod
    def of(cls, params: JpegParams, lam: float) -> Conditioning:
        """Conditioning for a JPEG with these header parameters, coded at rate trade-off ``lam``."""
        return cls.quantized(np.append(params.vector(), np.float32(lambda_code(lam))))

    @classmethod
    def from_codes(cls, codes: tuple[int, ...] | np.ndarray) -> Conditioning:
        return cls(np.asarray(codes, dtype=np.int16))

    def vector(self) -> np.ndarray:
        """The (FULL_COND,) float32 vector the networks take."""
        return self.codes.astype(np.float32) / np.float32(1 << COND_BITS)

    @property
    def luma_step(self) -> float:
        """Mean luma quantiser step, as the codes carry it (how coarse the JPEG is)."""
        return 2.0 ** (8.0 * float(self.vector()[0]))

    def at_lambda(self, lam: float) -> Conditioning:
        """The same JPEG's conditioning at rate trade-off ``lam`` (``of(params, lam)``'s codes)."""
        return Conditioning(np.append(self.codes[:-1], _codes(np.float32(lambda_code(lam)))).astype(np.int16))

    @property
    def subsampling(self) -> str:
        """The chroma sampling, as the codes carry it (``JpegParams.subsampling``)."""
        return sampling_name(bool(self.codes[3]), bool(self.codes[2]), bool(self.codes[7]))

    def luma_finer_than(self, step: float) -> bool:
        """Whether the JPEG's mean luma step is below ``step``, compared as codes: a JPEG whose step is
        exactly ``step`` (a calibrated point) is not finer, whichever way its code was rounded."""
        if math.isinf(step):
            return True
        return int(self.codes[0]) < _luma_code(step)

    def luma_code_is(self, step: float) -> bool:
        """Whether the JPEG's mean luma step is ``step`` as the codes carry it."""
        return not math.isinf(step) and int(self.codes[0]) == _luma_code(step)
