"""The anchor encoders, and published figures to print beside our numbers."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pyjpegli
from PIL import Image

from engine.jpeg_io import decode_jpeg, encode_jpeg


def jpeg_baseline(rgb: np.ndarray, quality: int) -> bytes:
    """Pillow (libjpeg-turbo) JPEG as in the literature: 4:2:0, standard Huffman tables."""
    return encode_jpeg(rgb, quality, "4:2:0", optimize=False)


def jpegli(rgb: np.ndarray, quality: int) -> bytes:
    """Google's jpegli encoder at the same quality number (its own defaults otherwise)."""
    height, width = rgb.shape[:2]
    return pyjpegli.encode(np.ascontiguousarray(rgb).tobytes(), width, height, int(quality))


def webp(rgb: np.ndarray, quality: int) -> bytes:
    """Lossy WebP (libwebp through Pillow) at the same quality number, default effort."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "WEBP", quality=int(quality), method=4)
    return buf.getvalue()


def decode_any(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


ANCHORS: dict[str, tuple[Callable[[np.ndarray, int], bytes], Callable[[bytes], np.ndarray]]] = {
    "jpeg": (jpeg_baseline, decode_jpeg),
    "jpegli": (jpegli, decode_jpeg),
    "webp": (webp, decode_any),
}
"""Anchor name -> (encoder, decoder)."""


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
