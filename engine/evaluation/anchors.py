"""The JPEG settings evaluated (encoder and chroma subsampling), the other formats' anchors, and published
figures to print beside our numbers."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from engine import encoders
from engine.jpeg_io import SUBSAMPLING, decode_jpeg, encode_jpeg

SUBSAMPLINGS = tuple(SUBSAMPLING)
AUTO = "auto"
"""The one subsampling of jpegli, which chooses its own."""
PILLOW_ENCODERS = frozenset({"pillow", "pillow-progressive"})
SIDEJPEG_METHODS = frozenset({"jpeg-opt", "side"})
"""Methods on SideJPEG's own JPEG (Pillow, baseline, optimised Huffman tables), plain and with its sidecar: they
belong to the settings of the Pillow encoders only, whose JPEGs have the same pixels."""


@dataclass(frozen=True)
class JpegSetting:
    """A JPEG encoder at one chroma subsampling: the JPEGs a group of curves is measured on."""

    encoder: str
    subsampling: str

    @property
    def label(self) -> str:
        return f"{self.encoder} {self.subsampling}"

    def measures(self, method: str) -> bool:
        return method not in SIDEJPEG_METHODS or self.encoder in PILLOW_ENCODERS

    def encode(self, rgb: np.ndarray, quality: int) -> bytes:
        """The JPEG the encoder writes: the one ``blind`` restores."""
        return encoders.ENCODERS[self.encoder](rgb, quality, self.subsampling)

    def plain(self, rgb: np.ndarray, quality: int) -> bytes:
        """The ``jpeg`` anchor's file: the encoder's JPEG, for Pillow with the standard Huffman tables of its
        default as in the literature (the same pixels as its optimised file)."""
        if self.encoder == "pillow":
            return encode_jpeg(rgb, quality, self.subsampling, optimize=False)
        return self.encode(rgb, quality)


def jpeg_settings(encoder_names: tuple[str, ...], subsamplings: tuple[str, ...]) -> tuple[JpegSetting, ...]:
    """Every encoder at every subsampling, in that order; jpegli has the one setting ``auto``."""
    return tuple(
        dict.fromkeys(JpegSetting(e, AUTO if e == "jpegli" else s) for e in encoder_names for s in subsamplings)
    )


DEFAULT_SETTINGS = (JpegSetting("pillow", "4:2:0"),)


def webp(rgb: np.ndarray, quality: int) -> bytes:
    """Lossy WebP (libwebp through Pillow) at the same quality number, default effort."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "WEBP", quality=int(quality), method=4)
    return buf.getvalue()


def decode_any(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


FIXED_ANCHORS: dict[str, tuple[Callable[[np.ndarray, int], bytes], Callable[[bytes], np.ndarray]]] = {
    "jpegli": (encoders.jpegli, decode_jpeg),
    "webp": (webp, decode_any),
}
"""Anchor name -> (encoder, decoder) for the anchors that depend on no JPEG setting (each at its own defaults)."""


PUBLISHED = {
    "source": (
        "J. Jiang, K. Zhang, R. Timofte, 'Towards Flexible Blind JPEG Artifacts Removal' (FBCNN), ICCV 2021: "
        "color JPEG artifact removal on LIVE1, PSNR (dB) on RGB"
    ),
    "dataset": "live1",
    "psnr": {
        "FBCNN": {"10": 27.77, "20": 30.11, "30": 31.43, "40": 32.34},
        "JPEG": {"10": 25.69, "20": 28.06, "30": 29.37, "40": 30.28},
    },
}
"""Published PSNR per quality (no rates are published, so these are printed, not plotted)."""
