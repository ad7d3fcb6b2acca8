"""Side information inside the JPEG itself, as APP10 marker segments other viewers ignore."""

from __future__ import annotations

import struct

from engine.errors import SideJPEGError
from engine.image_io import MAX_PIXELS

APP_MARKER = 0xEA
"""APP10."""
IDENTIFIER = b"SideJPEG\x00"
MAX_CHUNK = 65535 - 2 - len(IDENTIFIER) - 2
"""Payload bytes per segment: the 16-bit length field counts itself, the identifier and 2 index bytes."""
MAX_SEGMENTS = 255
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
"""Start-of-frame markers (DHT, JPG and DAC share the range but are not frame headers)."""


def _segments(jpeg: bytes) -> list[tuple[int, int, int]]:
    """(marker, start, end) of each marker segment between SOI and SOS; validates lengths."""
    if len(jpeg) < 4 or jpeg[:2] != b"\xff\xd8":
        raise SideJPEGError("not a JPEG file (missing start-of-image marker)")
    pos, found = 2, []
    while True:
        if pos + 4 > len(jpeg) or jpeg[pos] != 0xFF:
            raise SideJPEGError("JPEG is truncated or malformed before its image data")
        marker = jpeg[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker == 0xDA:
            return found
        (length,) = struct.unpack_from(">H", jpeg, pos + 2)
        end = pos + 2 + length
        if length < 2 or end > len(jpeg):
            raise SideJPEGError("JPEG has a marker segment that runs past the end of the file")
        found.append((marker, pos, end))
        pos = end


def _is_ours(jpeg: bytes, marker: int, start: int, end: int) -> bool:
    """An APP10 segment whose own bytes (never the next segment's) start with our identifier."""
    head = start + 4 + len(IDENTIFIER)
    return marker == APP_MARKER and head <= end and jpeg[start + 4 : head] == IDENTIFIER


METADATA_MARKERS = frozenset(range(0xE0, 0xF0)) | {0xFE}
"""APP0-APP15 and COM: metadata that tools add, change or strip without touching the image."""


def without_metadata(jpeg: bytes) -> bytes:
    """The JPEG with its APPn and COM segments removed: what a sidecar's hash covers, so that EXIF, XMP or an
    ICC profile added or edited later does not detach the sidecar from its image."""
    out, pos = bytearray(jpeg[:2]), 2
    for marker, start, end in _segments(jpeg):
        out += jpeg[pos:start]
        if marker not in METADATA_MARKERS:
            out += jpeg[start:end]
        pos = end
    return bytes(out + jpeg[pos:])


def jpeg_size(jpeg: bytes) -> tuple[int, int]:
    """(width, height) from the JPEG's frame header, read without decoding anything."""
    for marker, start, end in _segments(jpeg):
        if marker in _SOF_MARKERS:
            if end < start + 9:
                raise SideJPEGError("JPEG frame header is truncated")
            height, width = struct.unpack_from(">HH", jpeg, start + 5)
            if width == 0 or height == 0:
                raise SideJPEGError(f"JPEG declares an image of no pixels ({width}x{height})")
            return width, height
    raise SideJPEGError("JPEG has no frame header before its image data")


def check_jpeg_size(jpeg: bytes, max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """``jpeg_size``, refusing images over ``max_pixels`` before any pixel is decoded (decompression bombs)."""
    width, height = jpeg_size(jpeg)
    if width * height > max_pixels:
        raise SideJPEGError(
            f"JPEG is too large ({width}x{height} = {width * height:,} pixels; the limit is {max_pixels:,})"
        )
    return width, height


def _segment(index: int, count: int, chunk: bytes) -> bytes:
    length = 2 + len(IDENTIFIER) + 2 + len(chunk)
    return struct.pack(">BBH", 0xFF, APP_MARKER, length) + IDENTIFIER + bytes([index, count]) + chunk


LEADING_MARKERS = frozenset({0xE0, 0xE1, 0xE2})
"""APP0 (JFIF), APP1 (EXIF, XMP) and APP2 (ICC profile): embedded side information goes after those
that lead the file, so readers that expect them first still find them first."""


def embed_sidecar(jpeg: bytes, sidecar: bytes) -> bytes:
    """The JPEG with the sidecar in APP10 segments after its leading APP0, APP1 and APP2 segments."""
    segments = _segments(jpeg)
    if any(_is_ours(jpeg, m, s, e) for m, s, e in segments):
        raise SideJPEGError("JPEG already carries embedded side information")
    chunks = [sidecar[i : i + MAX_CHUNK] for i in range(0, len(sidecar), MAX_CHUNK)] or [b""]
    if len(chunks) > MAX_SEGMENTS:
        raise SideJPEGError("side information too large to embed")
    insert_at = 2
    for marker, _, end in segments:
        if marker not in LEADING_MARKERS:
            break
        insert_at = end
    blob = b"".join(_segment(i, len(chunks), c) for i, c in enumerate(chunks))
    return jpeg[:insert_at] + blob + jpeg[insert_at:]


def split_embedded(data: bytes) -> tuple[bytes, bytes | None]:
    """(plain JPEG, embedded sidecar or None): our segments removed, others kept byte for byte."""
    ours = [(s, e) for m, s, e in _segments(data) if _is_ours(data, m, s, e)]
    if not ours:
        return data, None
    chunks, count = [], None
    for index, (start, end) in enumerate(ours):
        head = start + 4 + len(IDENTIFIER)
        if head + 2 > end:
            raise SideJPEGError("embedded side information segment is truncated")
        seq, total = data[head], data[head + 1]
        if seq != index or (count is not None and total != count):
            raise SideJPEGError("embedded side information segments are out of order or inconsistent")
        count = total
        chunks.append(data[head + 2 : end])
    if count != len(ours):
        raise SideJPEGError(f"embedded side information is incomplete ({len(ours)} of {count} segments)")
    plain = bytearray()
    pos = 0
    for start, end in ours:
        plain += data[pos:start]
        pos = end
    plain += data[pos:]
    return bytes(plain), b"".join(chunks)
