"""Load any image a user may open (PNG, JPEG, BMP, TIFF, WebP, GIF) robustly into 8-bit RGB, with its
metadata (`engine.metadata`).

Every failure raises `SideJPEGError` with a one-line message. Only the formats above are ever
decoded (Pillow's other plugins, some of which run external programs, are never tried), the
pixel count is checked from the header before any pixel is decoded, and truncated files are
refused rather than silently padded (`ImageFile.LOAD_TRUNCATED_IMAGES` is left False).
"""

from __future__ import annotations

import io
import operator
import os
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from engine.errors import SideJPEGError
from engine.metadata import ImageMetadata, apply_orientation, read_metadata

MAX_PIXELS = 64_000_000
"""Largest width * height accepted by default (about 8000 x 8000)."""

SUPPORTED_SUFFIXES: tuple[str, ...] = (
    ".jpg",
    ".jpeg",
    ".jpe",
    ".jfif",
    ".png",
    ".bmp",
    ".dib",
    ".tif",
    ".tiff",
    ".webp",
    ".gif",
)
"""Lower-case file suffixes of the formats `load_image` reads."""

PILLOW_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "BMP", "DIB", "TIFF", "WEBP", "GIF")
"""Pillow plugins `load_image` lets decode (JPEG also opens the multi-picture MPO files of many cameras)."""

ORIENTATION_NOTES = {
    2: "mirrored horizontally",
    3: "rotated 180°",
    4: "mirrored vertically",
    5: "mirrored and rotated 90° counter-clockwise",
    6: "rotated 90° clockwise",
    7: "mirrored and rotated 90° clockwise",
    8: "rotated 90° counter-clockwise",
}

SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"BM", "BMP"),
)

MULTI_FRAME_KINDS = {"TIFF": "multi-page image: first page", "MPO": "multi-picture JPEG: first picture"}

ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


@dataclass(frozen=True)
class LoadedImage:
    """A decoded image: `rgb` is (H, W, 3) uint8 C-contiguous; `notes` say what conversions were done;
    `metadata` is the file's EXIF, XMP and colour profile as they describe `rgb` (so upright)."""

    rgb: np.ndarray
    notes: tuple[str, ...] = ()
    metadata: ImageMetadata = field(default_factory=ImageMetadata)


def file_dialog_filter() -> str:
    """A Qt-style file dialog filter for the supported formats, e.g. "Images (*.png *.jpg ...)"."""
    patterns = " ".join(f"*{suffix}" for suffix in SUPPORTED_SUFFIXES)
    return f"Images ({patterns});;All files (*)"


def load_image(source: str | os.PathLike | bytes, max_pixels: int = MAX_PIXELS) -> LoadedImage:
    """Decode a path or the raw bytes of an image file into 8-bit RGB; raise SideJPEGError on any failure.

    Only the first frame of an animated or multi-page file is used. Images with more than `max_pixels`
    pixels are refused from their header, before decoding. (Pillow's decompression-bomb warning is made
    an error with `warnings.catch_warnings`, which is process-wide; `max_pixels` is checked regardless.)
    """
    max_pixels = _checked_limit(max_pixels)
    data, name = _read_source(source)
    try:
        return _decode(data, name, max_pixels)
    except SideJPEGError:
        raise
    except Exception as exc:  # anything Pillow or numpy may raise on a hostile file
        raise SideJPEGError(f"{name}: cannot read image: {_one_line(exc)}") from None


def _checked_limit(max_pixels: int) -> int:
    """`max_pixels` as a positive int."""
    try:
        limit = operator.index(max_pixels)
    except TypeError:
        limit = 0
    if isinstance(max_pixels, bool) or limit < 1:
        raise SideJPEGError(f"max_pixels must be a positive integer, got {max_pixels!r}")
    return limit


def _read_source(source: str | os.PathLike | bytes) -> tuple[bytes, str]:
    """Return the file's bytes and a name for messages; refuse missing, directory and empty inputs."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), "image data"
    elif isinstance(source, (str, os.PathLike)):
        data, name = _read_file(source)
    else:
        raise SideJPEGError(f"expected a file path or bytes, got {type(source).__name__}")
    if not data:
        raise SideJPEGError(f"{name}: file is empty (0 bytes)")
    return data, name


def _read_file(path: str | os.PathLike) -> tuple[bytes, str]:
    """Read a whole file, turning every OS error into a one-line SideJPEGError."""
    try:
        text_path = os.fspath(path)
    except Exception as exc:
        raise SideJPEGError(f"not a usable file path: {_one_line(exc)}") from None
    name = os.path.basename(text_path) or str(text_path)
    if not os.path.exists(text_path):
        raise SideJPEGError(f"{name}: file not found")
    if os.path.isdir(text_path):
        raise SideJPEGError(f"{name}: is a directory, not an image file")
    try:
        with open(text_path, "rb") as handle:
            return handle.read(), name
    except (OSError, ValueError, MemoryError) as exc:
        raise SideJPEGError(f"{name}: cannot read file: {_one_line(exc)}") from None


def _decode(data: bytes, name: str, max_pixels: int) -> LoadedImage:
    """Open lazily, check the size, decode the first frame, orient it and convert it to RGB."""
    notes: list[str] = []
    with _open(data, name, max_pixels) as image:
        _check_size(image.size, name, max_pixels)
        notes.extend(_frame_notes(image))
        wide_samples = _has_16_bit_samples(image)
        _load_pixels(image, name, max_pixels)
        metadata = read_metadata(image)
        notes.extend(metadata.notes)
        oriented, metadata, orientation_note = _apply_orientation(image, metadata)
        notes.extend(orientation_note)
        rgb, conversion_notes = _to_rgb(oriented)
        notes.extend(conversion_notes)
    if wide_samples and "16-bit image reduced to 8 bits" not in notes:
        notes.append("16-bit image reduced to 8 bits")
    return LoadedImage(rgb=np.ascontiguousarray(rgb, dtype=np.uint8), notes=tuple(notes), metadata=metadata)


def _open(data: bytes, name: str, max_pixels: int) -> Image.Image:
    """Identify the format and read the header only (no pixels are decoded yet)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=PILLOW_FORMATS)
    except Image.DecompressionBombError:
        raise _bomb_error(name, max_pixels, warned=False) from None
    except Image.DecompressionBombWarning:
        raise _bomb_error(name, max_pixels, warned=True) from None
    except Image.UnidentifiedImageError:
        raise _unidentified_error(data, name) from None
    except Exception as exc:
        if _is_truncation(exc):
            raise SideJPEGError(f"{name}: file is truncated (incomplete image header)") from None
        raise SideJPEGError(f"{name}: damaged image header: {_one_line(exc)}") from None


def _unidentified_error(data: bytes, name: str) -> SideJPEGError:
    """The error for data Pillow could not identify: damaged if it starts like a supported format."""
    sniffed = _sniff_format(data)
    if sniffed:
        return SideJPEGError(f"{name}: damaged or truncated {sniffed} file (its header cannot be read)")
    return SideJPEGError(f"{name}: not an image in a supported format (PNG, JPEG, BMP, TIFF, WebP, GIF)")


def _sniff_format(data: bytes) -> str | None:
    """The supported format whose signature `data` starts with, if any."""
    for signature, fmt in SIGNATURES:
        if data.startswith(signature):
            return fmt
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return None


def _check_size(size: tuple[int, int], name: str, max_pixels: int) -> None:
    """Refuse empty images and images larger than `max_pixels`, from the header size alone."""
    width, height = size
    if width <= 0 or height <= 0:
        raise SideJPEGError(f"{name}: image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise SideJPEGError(
            f"{name}: image is too large ({width}x{height} = {width * height:,} pixels; the limit is {max_pixels:,})"
        )


def _bomb_error(name: str, max_pixels: int, warned: bool) -> SideJPEGError:
    """The error for Pillow's decompression-bomb guard, naming the limit that was exceeded."""
    pillow_limit = Image.MAX_IMAGE_PIXELS
    if pillow_limit is None:
        limit = max_pixels
    else:
        limit = min(max_pixels, int(pillow_limit) if warned else 2 * int(pillow_limit))
    return SideJPEGError(f"{name}: image is too large (more than {limit:,} pixels; possible decompression bomb)")


def _frame_notes(image: Image.Image) -> list[str]:
    """A note when the file holds several frames or pages (only the first is used)."""
    try:
        count = int(getattr(image, "n_frames", 1))
    except Exception:  # counting frames walks the file; a damaged later frame must not stop frame 0
        count = 0
    if count == 1:
        return []
    image.seek(0)
    if count == 0:
        return ["frame count unreadable: first frame used"]
    kind = MULTI_FRAME_KINDS.get(image.format or "", "animated image: first frame")
    return [f"{kind} of {count} used"]


def _load_pixels(image: Image.Image, name: str, max_pixels: int) -> None:
    """Decode the pixels, refusing truncated or corrupt data."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
    except Image.DecompressionBombError:
        raise _bomb_error(name, max_pixels, warned=False) from None
    except Image.DecompressionBombWarning:
        raise _bomb_error(name, max_pixels, warned=True) from None
    except Exception as exc:
        if _is_truncation(exc):
            raise SideJPEGError(f"{name}: file is truncated (incomplete image data)") from None
        raise SideJPEGError(f"{name}: corrupt image data: {_one_line(exc)}") from None


def _is_truncation(exc: BaseException) -> bool:
    """Whether a Pillow error means the file ended early."""
    return isinstance(exc, EOFError) or "truncated" in str(exc).lower()


def _apply_orientation(
    image: Image.Image, metadata: ImageMetadata
) -> tuple[Image.Image, ImageMetadata, list[str]]:
    """The pixels and metadata upright, as the EXIF orientation says a viewer shows them."""
    if metadata.orientation == 1:
        return image, metadata, []
    note = f"EXIF orientation applied ({ORIENTATION_NOTES[metadata.orientation]})"
    try:
        return apply_orientation(image, metadata.orientation), metadata.upright(), [note]
    except Exception:
        return image, metadata, ["EXIF orientation could not be applied"]


def _to_rgb(image: Image.Image) -> tuple[np.ndarray, list[str]]:
    """Convert a decoded image of any Pillow mode to an (H, W, 3) uint8 array, with notes."""
    mode = image.mode
    if mode == "RGB":
        return np.asarray(image), []
    if mode == "1":
        return _gray_to_rgb(np.asarray(image.convert("L"))), ["1-bit image converted to RGB"]
    if mode == "L":
        return _gray_to_rgb(np.asarray(image)), ["grayscale converted to RGB"]
    if mode in ("P", "PA"):
        return _palette_to_rgb(image)
    if mode in ALPHA_MODES:
        return _composite_on_white(image)
    if mode.startswith("I;16"):
        return _gray_to_rgb(_scale_16_bit(np.asarray(image))), ["16-bit image reduced to 8 bits"]
    if mode == "I":
        return _int32_to_rgb(np.asarray(image))
    if mode == "F":
        return _gray_to_rgb(_float_to_8_bit(np.asarray(image))), ["floating-point image reduced to 8 bits"]
    if mode == "CMYK":
        return np.asarray(image.convert("RGB")), ["CMYK converted to RGB"]
    return _generic_to_rgb(image)


def _has_16_bit_samples(image: Image.Image) -> bool:
    """Whether a not-yet-loaded image stores 16-bit samples that Pillow narrows to 8 bits (e.g. RGB;16B)."""
    if image.mode.startswith("I;16"):
        return False  # those keep their 16 bits and are scaled by _scale_16_bit
    for tile in getattr(image, "tile", None) or []:
        args = getattr(tile, "args", None)
        raw_mode = args[0] if isinstance(args, tuple) and args else args
        if isinstance(raw_mode, str) and ";16" in raw_mode:
            return True
    return False


def _palette_to_rgb(image: Image.Image) -> tuple[np.ndarray, list[str]]:
    """Expand a palette image; palette transparency is composited on white."""
    if image.mode == "PA" or "transparency" in image.info:
        rgb, notes = _composite_on_white(image.convert("RGBA"))
        return rgb, ["palette image converted", *notes]
    return np.asarray(image.convert("RGB")), ["palette image converted"]


def _composite_on_white(image: Image.Image) -> tuple[np.ndarray, list[str]]:
    """Blend an image with alpha (RGBA, RGBa, LA, La, PA) over a white background."""
    rgba = np.asarray(image if image.mode == "RGBA" else image.convert("RGBA"))
    color = rgba[..., :3].astype(np.uint32)
    alpha = rgba[..., 3:4].astype(np.uint32)
    blended = (color * alpha + 255 * (255 - alpha) + 127) // 255
    notes = ["alpha channel composited on white"] if int(alpha.min()) < 255 else []
    if image.mode in ("LA", "La"):
        notes.insert(0, "grayscale converted to RGB")
    return blended.astype(np.uint8), notes


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    """Repeat a (H, W) uint8 array into three equal channels."""
    return np.repeat(gray.astype(np.uint8)[..., None], 3, axis=2)


def _scale_16_bit(values: np.ndarray) -> np.ndarray:
    """Map 0..65535 to 0..255 as round(v / 257) (exact: 257 is odd, so there are no ties)."""
    wide = np.clip(values.astype(np.int64), 0, 65535)
    return ((wide + 128) // 257).astype(np.uint8)


def _int32_to_rgb(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """32-bit integer grayscale: 0..255 kept, 0..65535 treated as 16-bit, anything else stretched."""
    low, high = (int(values.min()), int(values.max())) if values.size else (0, 0)
    if low >= 0 and high <= 255:
        return _gray_to_rgb(values.astype(np.uint8)), ["32-bit integer image converted to 8 bits"]
    if low >= 0 and high <= 65535:
        return _gray_to_rgb(_scale_16_bit(values)), ["16-bit image reduced to 8 bits"]
    stretched = _stretch(values.astype(np.float64), low, high)
    return _gray_to_rgb(stretched), ["32-bit integer image rescaled from its value range to 8 bits"]


def _float_to_8_bit(values: np.ndarray) -> np.ndarray:
    """Floating-point grayscale: 0..1 scaled by 255, 0..255 kept, anything else stretched; NaN becomes 0."""
    finite = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    if low >= 0.0 and high <= 1.0:
        return np.round(finite * 255.0).astype(np.uint8)
    if low >= 0.0 and high <= 255.0:
        return np.round(finite).astype(np.uint8)
    return _stretch(finite, low, high)


def _stretch(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Linearly map [low, high] to [0, 255]."""
    span = high - low
    if span <= 0:
        return np.zeros(values.shape, dtype=np.uint8)
    return np.round((values - low) * (255.0 / span)).astype(np.uint8)


def _generic_to_rgb(image: Image.Image) -> tuple[np.ndarray, list[str]]:
    """Any other mode Pillow can convert itself (YCbCr, LAB, HSV...)."""
    try:
        converted = image.convert("RGB")
    except Exception as exc:
        raise SideJPEGError(f"unsupported colour mode {image.mode}: {_one_line(exc)}") from None
    return np.asarray(converted), [f"{image.mode} image converted to RGB"]


def _one_line(exc: BaseException) -> str:
    """An exception as a single short line of text."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]
