"""JPEG encoders as users meet them: libjpeg-turbo through Pillow, Google's jpegli, the ``cjpeg`` tool,
and custom quantisation tables such as cameras and editors write.

SideJPEG's own files come from ``engine.jpeg_io.encode_jpeg``; these are for evaluating and training
on JPEGs that other programs made.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Callable

import numpy as np
import pyjpegli
from PIL import Image

from engine.errors import SideJPEGError
from engine.jpeg_io import SUBSAMPLING, checked_quality, encode_jpeg

Encoder = Callable[[np.ndarray, int, str], bytes]
"""(rgb, quality, subsampling) -> JPEG bytes."""

CJPEG_SAMPLING = {"4:4:4": "1x1", "4:2:2": "2x1", "4:2:0": "2x2"}

STANDARD_LUMA = np.array(
    [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
     14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
     49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99],
    dtype=np.float64,
)
STANDARD_CHROMA = np.array(
    [17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
     47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32,
    dtype=np.float64,
)
"""The example tables of the JPEG standard (Annex K), natural order, that libjpeg scales by quality."""


def pillow(rgb: np.ndarray, quality: int, subsampling: str = "4:2:0") -> bytes:
    """libjpeg-turbo through Pillow, baseline with optimised Huffman tables."""
    return encode_jpeg(rgb, quality, subsampling)


def pillow_progressive(rgb: np.ndarray, quality: int, subsampling: str = "4:2:0") -> bytes:
    """libjpeg-turbo through Pillow, progressive."""
    return encode_jpeg(rgb, quality, subsampling, optimize=False, progressive=True)


def jpegli(rgb: np.ndarray, quality: int, subsampling: str = "auto") -> bytes:
    """Google's jpegli (``pyjpegli``); it picks its own chroma subsampling, so only ``auto`` is accepted."""
    if subsampling != "auto":
        raise SideJPEGError("jpegli chooses its own chroma subsampling (use 'auto')")
    height, width = rgb.shape[:2]
    return pyjpegli.encode(np.ascontiguousarray(rgb).tobytes(), width, height, checked_quality(quality))


def cjpeg(rgb: np.ndarray, quality: int, subsampling: str = "4:2:0") -> bytes:
    """libjpeg-turbo's ``cjpeg`` tool, progressive with optimised Huffman tables (when installed)."""
    tool = shutil.which("cjpeg")
    if tool is None:
        raise SideJPEGError("cjpeg is not installed (Debian: apt install libjpeg-turbo-progs)")
    if subsampling not in CJPEG_SAMPLING:
        raise SideJPEGError(f"chroma subsampling must be one of {', '.join(CJPEG_SAMPLING)}, got {subsampling!r}")
    ppm = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(ppm, "PPM")
    args = [tool, "-quality", str(checked_quality(quality)), "-sample", CJPEG_SAMPLING[subsampling], "-progressive"]
    done = subprocess.run([*args, "-optimize"], input=ppm.getvalue(), capture_output=True, check=False)
    if done.returncode != 0:
        raise SideJPEGError(f"cjpeg failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def quality_scale(quality: int) -> float:
    """libjpeg's factor from quality to a multiple of the standard tables."""
    quality = checked_quality(quality)
    return (5000 / quality if quality < 50 else 200 - 2 * quality) / 100


def custom_tables(quality: int, rng: np.random.Generator) -> list[list[int]]:
    """Luma and chroma tables like a camera's or an editor's: the standard tables scaled for ``quality``,
    reshaped by a random tilt between flat and steep and by per-entry jitter, clipped to 1-255."""
    tilt = rng.uniform(0.4, 1.3)
    tables = []
    for base in (STANDARD_LUMA, STANDARD_CHROMA):
        shaped = base.mean() * (base / base.mean()) ** tilt
        steps = shaped * quality_scale(quality) * rng.uniform(0.8, 1.25, 64)
        tables.append(np.clip(np.round(steps), 1, 255).astype(int).tolist())
    return tables


def with_tables(rgb: np.ndarray, tables: list[list[int]], subsampling: str = "4:2:0") -> bytes:
    """libjpeg-turbo through Pillow with the given quantisation tables (natural order)."""
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, "JPEG", qtables=tables, subsampling=SUBSAMPLING[subsampling])
    return buf.getvalue()


ENCODERS: dict[str, Encoder] = {
    "pillow": pillow,
    "pillow-progressive": pillow_progressive,
    "jpegli": jpegli,
    "cjpeg": cjpeg,
}
"""Encoder name -> encoder; ``cjpeg`` works only where the tool is installed (``available``)."""


def available() -> list[str]:
    """The encoders that work on this machine."""
    return [name for name in ENCODERS if name != "cjpeg" or shutil.which("cjpeg")]
