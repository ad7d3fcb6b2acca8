"""JPEG encoding and decoding with Pillow (libjpeg-turbo), and reading JPEG parameters."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, JpegImagePlugin

from engine.conditioning import JpegParams
from engine.container import check_jpeg_size
from engine.errors import SideJPEGError

SUBSAMPLING = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}


def checked_quality(quality: int) -> int:
    """``quality`` as an int, or a SideJPEGError when it is outside 1-100."""
    if not 1 <= int(quality) <= 100:
        raise SideJPEGError(f"JPEG quality must be 1-100, got {quality}")
    return int(quality)


def encode_jpeg(
    rgb: np.ndarray, quality: int, subsampling: str = "4:2:0", optimize: bool = True, progressive: bool = False
) -> bytes:
    """Encode an (H, W, 3) uint8 image; Huffman optimisation is on by default since it is free."""
    quality = checked_quality(quality)
    if subsampling not in SUBSAMPLING:
        raise SideJPEGError(f"chroma subsampling must be one of {', '.join(SUBSAMPLING)}, got {subsampling!r}")
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(
        buf, "JPEG", quality=quality, subsampling=SUBSAMPLING[subsampling], optimize=optimize,
        progressive=progressive,
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
    """Decode JPEG bytes to an (H, W, 3) uint8 RGB array, as any viewer shows them; images too large to
    decode safely are refused before any pixel is decoded (``engine.container.check_jpeg_size``)."""
    check_jpeg_size(data)
    return np.asarray(open_jpeg(data).convert("RGB"))


def params_of(image: JpegImagePlugin.JpegImageFile) -> JpegParams:
    """Quantisation tables and chroma sampling factors from a JPEG's header."""
    tables = getattr(image, "quantization", None) or {}
    layers = getattr(image, "layer", None) or []
    if not tables or not layers:
        raise SideJPEGError("JPEG has no quantisation tables")
    try:
        luma = tuple(int(v) for v in tables[layers[0][3]])
        chroma = tuple(int(v) for v in tables[layers[1][3]]) if len(layers) > 1 else luma
    except (KeyError, IndexError, TypeError):
        raise SideJPEGError("JPEG refers to a quantisation table it does not define") from None
    if len(luma) != 64 or len(chroma) != 64:
        raise SideJPEGError("JPEG quantisation table does not have 64 entries")
    (_, luma_h, luma_v, _), chroma_h, chroma_v = layers[0], 1, 1
    if len(layers) > 1:
        chroma_h, chroma_v = max(1, layers[1][1]), max(1, layers[1][2])
    return JpegParams(
        luma, chroma, chroma_halved_h=luma_h > chroma_h, chroma_halved_v=luma_v > chroma_v, grayscale=len(layers) == 1
    )


def jpeg_params(data: bytes) -> JpegParams:
    return params_of(open_jpeg(data))


def decode_with_params(data: bytes) -> tuple[np.ndarray, JpegParams]:
    image = open_jpeg(data)
    return np.asarray(image.convert("RGB")), params_of(image)
