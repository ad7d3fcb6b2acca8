"""The RD sweep of the open image: JPEG, blind and side-information points over qualities (no Qt here).

Each curve is kept under what it depends on, so that a change that leaves it valid keeps it: the JPEG curve
depends on the image and the chroma subsampling, the blind curve also on the model, and only the
side-information curve on lambda.
"""

from __future__ import annotations

import enum
import math
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from engine import Codec, decode_jpeg, encode_jpeg, psnr
from gui.jobs import JobContext, honest_blind
from gui.state import DocumentState, Rates, Settings

RD_QUALITIES = (10, 20, 30, 40, 50, 60, 75, 90)
RD_MAX_PIXELS = 768 * 512
"""Images up to this size are swept whole, so the curves pass through the views' own numbers; larger ones on a
copy scaled down to this many pixels, so that the sweep finishes in seconds."""
KEPT_KEYS = 4
"""Curves kept per kind (e.g. the side-information curves of the last 4 lambdas)."""


class Curve(enum.Enum):
    JPEG = "JPEG"
    BLIND = "Blind restore"
    SIDE = "With side info"


@dataclass(frozen=True)
class RdPoint:
    quality: int
    bpp: float
    """Whole file: the JPEG, plus the sidecar on the side-information curve."""
    psnr: float


def curve_keys(image: Hashable, settings: Settings) -> dict[Curve, tuple]:
    """What each curve of ``image`` depends on under ``settings``."""
    jpeg = (image, settings.subsampling)
    blind = (*jpeg, settings.preset)
    return {Curve.JPEG: jpeg, Curve.BLIND: blind, Curve.SIDE: (*blind, settings.lam)}


class RdCurves:
    """Computed points per curve and key; ``select`` chooses the keys shown, the others stay for a change back."""

    def __init__(self) -> None:
        self.keys: dict[Curve, tuple] = {}
        self._kept: dict[Curve, OrderedDict[tuple, dict[int, RdPoint]]] = {curve: OrderedDict() for curve in Curve}

    def select(self, keys: dict[Curve, tuple]) -> None:
        self.keys = keys
        for curve, key in keys.items():
            self._touch(curve, key)

    def clear(self) -> None:
        self.keys = {}

    def points(self, curve: Curve) -> dict[int, RdPoint]:
        """The selected curve's points by quality."""
        return self._kept[curve].get(self.keys.get(curve), {})

    def missing(self, qualities: Iterable[int]) -> dict[Curve, list[int]]:
        """The qualities each selected curve still lacks (curves that lack none are left out)."""
        found = {curve: [q for q in qualities if q not in self.points(curve)] for curve in self.keys}
        return {curve: wanted for curve, wanted in found.items() if wanted}

    def add(self, curve: Curve, key: tuple, point: RdPoint) -> bool:
        """Keep a point; True when it belongs to a selected curve (the plot then changes)."""
        self._touch(curve, key)[point.quality] = point
        return self.keys.get(curve) == key

    def _touch(self, curve: Curve, key: tuple) -> dict[int, RdPoint]:
        kept = self._kept[curve]
        points = kept.setdefault(key, {})
        kept.move_to_end(key)
        while len(kept) > KEPT_KEYS:
            kept.popitem(last=False)
        return points


def sweep_size(width: int, height: int, max_pixels: int = RD_MAX_PIXELS) -> tuple[int, int]:
    """(width, height) of the image the sweep measures: the image itself up to ``max_pixels``, else scaled down."""
    factor = min(1.0, math.sqrt(max_pixels / (width * height)))
    return max(1, round(width * factor)), max(1, round(height * factor))


def sweep_image(rgb: np.ndarray) -> np.ndarray:
    size = sweep_size(rgb.shape[1], rgb.shape[0])
    if size == (rgb.shape[1], rgb.shape[0]):
        return rgb
    return np.array(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))


def rd_title(doc: DocumentState) -> str:
    """The RD plot's title: what the curves were swept on, and the settings they share."""
    source, settings = doc.source, doc.settings
    if source is None or source.received:
        return "RD plot needs an original image"
    width, height = sweep_size(*source.size)
    sweep = "whole image" if (width, height) == source.size else f"copy scaled to {width}×{height}"
    return f"PSNR vs bpp · {sweep} · λ {settings.lam:.1f} · {settings.subsampling} · {settings.preset}"


def shown_points(doc: DocumentState) -> dict[Curve, RdPoint]:
    """The points the views show, with the overlays' own numbers (whole image, never a scaled copy)."""
    current: dict[Curve, RdPoint] = {}
    if doc.source is None or doc.source.received:
        return current
    if doc.jpeg_is_current() and doc.jpeg.psnr is not None:
        current[Curve.JPEG] = RdPoint(doc.jpeg.quality, doc.jpeg.rates.jpeg, doc.jpeg.psnr)
    out = doc.restored
    if doc.restored_is_current() and out.psnr is not None:
        curve = Curve.BLIND if out.blind else Curve.SIDE
        current[curve] = RdPoint(out.settings.quality, out.rates.total, out.psnr)
    return current


def rd_sweep(
    codec: Codec, image: np.ndarray, missing: dict[Curve, list[int]], keys: dict[Curve, tuple], settings: Settings,
    ctx: JobContext,
) -> None:
    """Compute the missing points, reporting each through ``ctx.partial`` as ``(curve, key, point)``.

    The side-information point comes from ``compress`` (whose restored image is the decoder's), the blind one as
    the app shows blind restorations (the JPEG itself where the model passes it through or would harm it)."""
    height, width = image.shape[:2]
    qualities = sorted({q for wanted in missing.values() for q in wanted})
    for i, quality in enumerate(qualities):
        wanted = {curve for curve, qs in missing.items() if quality in qs}
        if Curve.SIDE in wanted:
            res = codec.compress(image, quality, settings.lam, settings.subsampling, cancel=ctx.cancel)
            jpeg, decoded = res.jpeg, res.jpeg_decoded
            ctx.partial((Curve.SIDE, keys[Curve.SIDE], RdPoint(quality, res.bpp_total, psnr(image, res.restored))))
        else:
            jpeg = encode_jpeg(image, quality, settings.subsampling)
            decoded = decode_jpeg(jpeg)
        bpp = Rates.of(jpeg, None, width, height).jpeg
        if Curve.JPEG in wanted:
            ctx.partial((Curve.JPEG, keys[Curve.JPEG], RdPoint(quality, bpp, psnr(image, decoded))))
        if Curve.BLIND in wanted:
            received = codec.receive(jpeg)
            shown, _ = honest_blind(codec.restore(received, cancel=ctx.cancel), received.decoded, image)
            ctx.partial((Curve.BLIND, keys[Curve.BLIND], RdPoint(quality, bpp, psnr(image, shown))))
        ctx.progress(i + 1, len(qualities))
