"""JPEG encoding and decoding with Pillow (libjpeg-turbo), and reading JPEG parameters."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, JpegImagePlugin

from engine.conditioning import JpegParams
from engine.errors import SideJPEGError

SUBSAMPLING = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}


def encode_jpeg(rgb: np.ndarray, quality: int, subsampling: str = "4:2:0", optimize: bool = True) -> bytes:
    """Encode an (H, W, 3) uint8 image; Huffman optimisation is on by default since it is free."""
    if not 1 <= int(quality) <= 100:
        raise SideJPEGError(f"JPEG quality must be 1-100, got {quality}")
    if subsampling not in SUBSAMPLING:
        raise SideJPEGError(f"chroma subsampling must be one of {', '.join(SUBSAMPLING)}, got {subsampling!r}")
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(
        buf, "JPEG", quality=int(quality), subsampling=SUBSAMPLING[subsampling], optimize=optimize
    )
    return buf.getvalue()


def open_jpeg(data: bytes) -> JpegImagePlugin.JpegImageFile:
    try:
        image = Image.open(io.BytesIO(data), formats=["JPEG"])
        image.load()
    except Exception as exc:  # Pillow raises many types for broken files
        raise SideJPEGError(f"not a readable JPEG: {exc}") from None
    if image.format != "JPEG":
        raise SideJPEGError(f"not a JPEG file (it is {image.format or 'unknown'})")
    return image


def decode_jpeg(data: bytes) -> np.ndarray:
    """Decode JPEG bytes to an (H, W, 3) uint8 RGB array."""
    return np.asarray(open_jpeg(data).convert("RGB"))


def params_of(image: JpegImagePlugin.JpegImageFile) -> JpegParams:
    """Quantisation steps and chroma subsampling from a JPEG's header."""
    tables = getattr(image, "quantization", None) or {}
    if not tables:
        raise SideJPEGError("JPEG has no quantisation tables")
    luma = float(np.mean(tables[min(tables)]))
    chroma = float(np.mean(tables[sorted(tables)[1]])) if len(tables) > 1 else luma
    sampling = JpegImagePlugin.get_sampling(image) if image.mode == "RGB" or image.mode == "YCbCr" else 0
    return JpegParams(luma_step=luma, chroma_step=chroma, subsampled=sampling == 2)


def jpeg_params(data: bytes) -> JpegParams:
    return params_of(open_jpeg(data))


def decode_with_params(data: bytes) -> tuple[np.ndarray, JpegParams]:
    image = open_jpeg(data)
    return np.asarray(image.convert("RGB")), params_of(image)
