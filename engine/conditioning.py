"""Side inputs every network sees: what the JPEG's quantisation tables say, and lambda.

Conditioning on the quantisation tables (present in every JPEG file) lets one model serve
every quality; conditioning on lambda lets one model serve a continuous rate trade-off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.config import LAMBDA_MAX, LAMBDA_MIN

JPEG_COND = 3
"""Entries of the JPEG conditioning vector: log luma step, log chroma step, subsampled."""
FULL_COND = JPEG_COND + 1
"""JPEG conditioning plus the normalised lambda."""


@dataclass(frozen=True)
class JpegParams:
    """What a decoder knows about a JPEG from its header alone."""

    luma_step: float
    chroma_step: float
    subsampled: bool

    def vector(self) -> np.ndarray:
        return np.array(
            [
                math.log2(max(self.luma_step, 1.0)) / 8.0,
                math.log2(max(self.chroma_step, 1.0)) / 8.0,
                1.0 if self.subsampled else 0.0,
            ],
            dtype=np.float32,
        )


def lambda_code(lam: float) -> float:
    """Lambda on the model's [0, 1] scale (log-uniform over the supported range)."""
    lam = min(max(lam, LAMBDA_MIN), LAMBDA_MAX)
    return math.log(lam / LAMBDA_MIN) / math.log(LAMBDA_MAX / LAMBDA_MIN)


def full_vector(params: JpegParams, lam: float) -> np.ndarray:
    return np.append(params.vector(), np.float32(lambda_code(lam))).astype(np.float32)
