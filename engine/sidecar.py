"""The versioned sidecar file that carries the coded descriptor map (docs/sidecar-format.md)."""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from engine.coding import adaptation as adapt
from engine.conditioning import FULL_COND, Conditioning
from engine.config import BLOCK
from engine.container import jpeg_size, without_metadata
from engine.errors import SideJPEGError

MAGIC = b"SJPS"
VERSION = 4
"""4: the adaptation has spatial taps. 3: the map is followed by the image's adaptation weights (still
read). 2: the header carries the 8-entry JPEG conditioning and lambda, the map the keep symbol (still read:
it has no adaptation). Version 1 (3-entry conditioning, 16 symbols) belongs to models no longer shipped."""
READS = (2, 3, 4)
MAX_SIDE = 65535
"""JPEG's own limit on width and height."""
_WITH_ADAPTATION = struct.Struct(f"<4sBB8sIIBf{FULL_COND}h8sIH")
_HEADS = {2: struct.Struct(f"<4sBB8sIIBf{FULL_COND}h8sI"), 3: _WITH_ADAPTATION, 4: _WITH_ADAPTATION}
"""Header of each version: version 3 adds the adaptation's length after the payload's; 4 keeps 3's header."""
ADAPTATION_EXPONENTS = {2: 0, 3: 2, 4: adapt.EXPONENTS}
"""Quantiser exponents per channel in each version's adaptation stream (``engine.coding.adaptation``)."""
_CRC = struct.Struct("<I")
OVERHEAD_BYTES = _HEADS[VERSION].size + _CRC.size
MAX_BITS_PER_BLOCK = 32
"""No sane coder spends more than this on one descriptor: bounds the payload size."""


def jpeg_digest(jpeg: bytes) -> bytes:
    """First 8 bytes of the SHA-256 of the JPEG the sidecar belongs to, its metadata segments left out
    (``engine.container.without_metadata``)."""
    return hashlib.sha256(without_metadata(jpeg)).digest()[:8]


def blocks_of(width: int, height: int) -> tuple[int, int]:
    """(rows, cols) of the 16x16 descriptor grid covering an image."""
    return -(-height // BLOCK), -(-width // BLOCK)


@dataclass(frozen=True)
class SidecarHeader:
    model_id: bytes
    width: int
    height: int
    quality: int
    """JPEG quality the encoder used (informational; 0 = unknown)."""
    lam: float
    cond_codes: tuple[int, ...]
    """Quantised conditioning vector, so both sides feed the networks identical values."""
    jpeg_hash: bytes
    payload_bytes: int
    adaptation_bytes: int = 0
    version: int = VERSION

    @property
    def header_bytes(self) -> int:
        return _HEADS[self.version].size

    @property
    def adaptation_exponents(self) -> int:
        return ADAPTATION_EXPONENTS[self.version]

    @property
    def grid(self) -> tuple[int, int]:
        return blocks_of(self.width, self.height)

    @property
    def conditioning(self) -> Conditioning:
        return Conditioning.from_codes(self.cond_codes)


def pack(header: SidecarHeader, payload: bytes, adaptation: bytes = b"") -> bytes:
    """Serialise header, payload, adaptation and CRC-32, in the current version (values the format cannot
    hold raise SideJPEGError)."""
    try:
        body = _HEADS[VERSION].pack(
            MAGIC, VERSION, 0, header.model_id, header.width, header.height, header.quality, header.lam,
            *header.cond_codes, header.jpeg_hash, len(payload), len(adaptation),
        ) + payload + adaptation
    except (struct.error, OverflowError) as exc:
        raise SideJPEGError(f"cannot write a sidecar with these values: {exc}") from None
    return body + _CRC.pack(zlib.crc32(body))


def parse_header(data: bytes) -> SidecarHeader:
    """Validate and decode the header alone; checks every size before anything is allocated."""
    if len(data) < 4 or data[:4] != MAGIC:
        raise SideJPEGError("not a SideJPEG sidecar (wrong magic bytes)")
    reads = f"versions {READS[0]}-{READS[-1]}"
    if len(data) >= 5 and data[4] < READS[0]:
        raise SideJPEGError(
            f"sidecar version {data[4]} was written by an earlier SideJPEG, whose models this one no longer "
            f"ships (it reads {reads}); restore the JPEG blind, or with the SideJPEG that wrote it"
        )
    if len(data) < 5 or data[4] not in READS:
        version = data[4] if len(data) >= 5 else "?"
        raise SideJPEGError(f"unsupported sidecar version {version} (this program reads {reads})")
    version, head = data[4], _HEADS[data[4]]
    if len(data) < head.size + _CRC.size:
        raise SideJPEGError("sidecar is truncated (shorter than its header)")
    _, _, flags, model_id, width, height, quality, lam, *rest = head.unpack_from(data)
    cond_codes, jpeg_hash, payload_bytes = tuple(rest[:FULL_COND]), rest[FULL_COND], rest[FULL_COND + 1]
    adaptation_bytes = rest[FULL_COND + 2] if version >= 3 else 0
    if flags != 0:
        raise SideJPEGError(f"sidecar uses unknown flags {flags:#x}")
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise SideJPEGError(f"sidecar declares an impossible image size {width}x{height}")
    if quality > 100 or not np.isfinite(lam) or lam < 0:
        raise SideJPEGError("sidecar header holds invalid quality or lambda values")
    rows, cols = blocks_of(width, height)
    if payload_bytes > 4 + rows * cols * MAX_BITS_PER_BLOCK // 8:
        raise SideJPEGError(f"sidecar declares a payload of {payload_bytes} bytes, too large for {width}x{height}")
    size = head.size + payload_bytes + adaptation_bytes + _CRC.size
    if len(data) < size:
        raise SideJPEGError("sidecar is truncated (payload shorter than declared)")
    if len(data) > size:
        raise SideJPEGError("sidecar has trailing bytes after its checksum")
    return SidecarHeader(
        model_id, width, height, quality, lam, cond_codes, jpeg_hash, payload_bytes, adaptation_bytes, version
    )


def unpack(data: bytes) -> tuple[SidecarHeader, bytes, bytes]:
    """(header, map payload, adaptation stream) of a sidecar, with its checksum verified."""
    header = parse_header(data)
    start = header.header_bytes
    middle = start + header.payload_bytes
    end = middle + header.adaptation_bytes
    (crc,) = _CRC.unpack_from(data, end)
    if zlib.crc32(data[:end]) != crc:
        raise SideJPEGError("sidecar is corrupted (checksum mismatch)")
    return header, data[start:middle], data[middle:end]


def check_belongs(header: SidecarHeader, jpeg: bytes) -> None:
    """Refuse a sidecar made for another JPEG, or one whose image size differs from the JPEG's.

    Both are checked before the payload is decoded, so a forged header (say 65535x65535 with the
    right hash) cannot make the decoder walk a grid far larger than the image it came with.
    """
    if header.jpeg_hash != jpeg_digest(jpeg):
        raise SideJPEGError("this sidecar was made for a different JPEG file")
    width, height = jpeg_size(jpeg)
    if (header.width, header.height) != (width, height):
        raise SideJPEGError(
            f"sidecar image size {header.width}x{header.height} does not match the JPEG's {width}x{height}"
        )
