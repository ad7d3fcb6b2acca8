"""Target size: the highest quality whose file (JPEG plus sidecar, as exported) is at most a number of bytes,
found by bisection with the engine's own encoder (no Qt here)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine import Cancelled, Codec, encode_jpeg
from gui.jobs import JobContext
from gui.state import Settings

QUALITIES = (1, 100)
PROBES = 7
"""Bisection steps over qualities 1-100 (2^7 > 100)."""


@dataclass(frozen=True)
class Fit:
    """The search's answer: the quality and its file size, or (``quality`` None) the size at quality 1, which is
    already over the limit."""

    quality: int | None
    total_bytes: int
    limit: int


def fit_quality(total_bytes: Callable[[int], int], limit: int) -> Fit:
    """Bisection for the highest quality whose ``total_bytes`` is at most ``limit``.

    File size grows with quality, but not strictly (a sidecar may shrink as the JPEG improves); every answer is
    a measured size, so it never exceeds the limit, though a quality just above it may also have fitted."""
    sizes: dict[int, int] = {}

    def fits(quality: int) -> bool:
        sizes[quality] = total_bytes(quality)
        return sizes[quality] <= limit

    fitting, over = QUALITIES[0] - 1, QUALITIES[1] + 1  # invariant: fitting fits (or is below 1), over does not
    while over - fitting > 1:
        middle = (fitting + over) // 2
        if fits(middle):
            fitting = middle
        else:
            over = middle
    if fitting < QUALITIES[0]:
        return Fit(None, sizes[QUALITIES[0]], limit)
    return Fit(fitting, sizes[fitting], limit)


def fit_to_size(codec: Codec, original: np.ndarray, limit: int, settings: Settings, ctx: JobContext) -> Fit:
    """``fit_quality`` of the file the current settings write: JPEG plus sidecar, or the JPEG alone when blind."""
    probes = iter(range(1, PROBES + 1))

    def total_bytes(quality: int) -> int:
        if ctx.cancel.is_set():
            raise Cancelled()
        if settings.use_sidecar:
            res = codec.compress(original, quality, settings.lam, settings.subsampling, cancel=ctx.cancel)
            size = len(res.jpeg) + len(res.sidecar)
        else:
            size = len(encode_jpeg(original, quality, settings.subsampling))
        ctx.progress(next(probes, PROBES), PROBES)
        return size

    return fit_quality(total_bytes, limit)
