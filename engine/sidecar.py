"""The versioned sidecar file that carries the coded descriptor map (docs/sidecar-format.md)."""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass, replace

import numpy as np

from engine.coding import adaptation as adapt
from engine.conditioning import FULL_COND, Conditioning, JpegParams
from engine.config import BLOCK
from engine.container import jpeg_size, without_metadata
from engine.errors import SideJPEGError

MAGIC = b"SJPS"
VERSION = 7
"""7: the flag ``SHOWS_BLIND``; 6's header. 6: blocks that keep the JPEG (the keep symbol) show it decoded anew
from its coefficients (``engine.constraint.Constraint.decode``; in a JPEG coarser than the model restores
blindly, only where a block's expected error is under a level), no longer its own pixels moved into the
constraint everywhere; 5's header.
5: a slim header; what the JPEG itself says (its size, its conditioning) is no longer repeated, and the
model id and JPEG hash are 4 bytes. 4: the adaptation has spatial taps. 3: the map is followed by the image's
adaptation weights. 2: the header carries the 8-entry JPEG conditioning and lambda, the map the keep symbol
(it has no adaptation). 2-6 are still read. Version 1 (3-entry conditioning, 16 symbols) belongs to models no
longer shipped."""
READS = (2, 3, 4, 5, 6, 7)
MAX_SIDE = 65535
"""JPEG's own limit on width and height."""
_WIDE = struct.Struct(f"<4sBB8sIIBf{FULL_COND}h8sIH")
_SLIM = struct.Struct("<4sBB4s4sBfH")
_HEADS = {2: struct.Struct(f"<4sBB8sIIBf{FULL_COND}h8sI"), 3: _WIDE, 4: _WIDE, 5: _SLIM, 6: _SLIM, 7: _SLIM}
"""Fixed part of each version's header: version 3 adds the adaptation's length after the payload's, 4 keeps
3's header; 5 is followed by the two lengths as variable-length integers, and 6 and 7 keep 5's header."""
ADAPTATION_EXPONENTS = {2: 0, 3: 2, 4: adapt.EXPONENTS, 5: adapt.EXPONENTS, 6: adapt.EXPONENTS, 7: adapt.EXPONENTS}
"""Quantiser exponents per channel in each version's adaptation stream (``engine.coding.adaptation``)."""
ID_BYTES = 4
"""Bytes of the model id and of the JPEG hash a sidecar of version 5 on carries (8 before)."""
UNCONSTRAINED = 1
"""Flag: the decoder shows this image without its JPEG's quantisation constraint (``engine.constraint``). The
encoder sets it where even the JPEG's own pixels within the constraint measure worse than the JPEG."""
SHOWS_BLIND = 2
"""Flag (version 7 on): the decoder shows this image as blind decoding with the same model shows the JPEG. The
encoder sets it where blind decoding shows a share of the network under 1 (a fine JPEG, ``engine.strength``)
and that comes closer to the original than the sidecar's map would: the sidecar
then costs its bits but never the image's quality against no sidecar."""
KNOWN_FLAGS = {5: UNCONSTRAINED, 6: UNCONSTRAINED, 7: UNCONSTRAINED | SHOWS_BLIND}
"""The flags each version may set (none before version 5)."""
_CRC = struct.Struct("<I")
_LENGTH_BYTES = 4
"""Longest variable-length integer read (28 bits: far beyond any sidecar)."""
MAX_BITS_PER_BLOCK = 32
"""No sane coder spends more than this on one descriptor: bounds the payload size."""


def jpeg_digest(jpeg: bytes) -> bytes:
    """First 8 bytes of the SHA-256 of the JPEG the sidecar belongs to, its metadata segments left out
    (``engine.container.without_metadata``); versions 5 on carry the first ``ID_BYTES`` of them."""
    return hashlib.sha256(without_metadata(jpeg)).digest()[:8]


def conditioning_check(codes: np.ndarray) -> int:
    """16-bit check of the conditioning codes: a decoder (version 5 on) derives them from the JPEG and compares."""
    return int.from_bytes(hashlib.sha256(codes.astype("<i2").tobytes()).digest()[:2], "little")


def blocks_of(width: int, height: int) -> tuple[int, int]:
    """(rows, cols) of the 16x16 descriptor grid covering an image."""
    return -(-height // BLOCK), -(-width // BLOCK)


@dataclass(frozen=True)
class SidecarHeader:
    """A sidecar's header as read. A slim header (version 5 on) does not repeat what its JPEG says: ``width``,
    ``height`` and ``cond_codes`` are None until ``bind`` fills them in from the JPEG."""

    model_id: bytes
    """The model's id, or its first ``ID_BYTES`` (version 5 on)."""
    quality: int
    """JPEG quality the encoder used (informational; 0 = unknown)."""
    lam: float
    jpeg_hash: bytes
    """``jpeg_digest`` of the JPEG, or its first ``ID_BYTES`` (version 5 on)."""
    payload_bytes: int
    adaptation_bytes: int
    version: int
    header_bytes: int
    width: int | None = None
    height: int | None = None
    cond_codes: tuple[int, ...] | None = None
    """Quantised conditioning vector, so both sides feed the networks identical values."""
    cond_check: int | None = None
    """``conditioning_check`` of the codes the encoder used (version 5 on)."""
    unconstrained: bool = False
    """The ``UNCONSTRAINED`` flag: restore without the quantisation constraint."""
    shows_blind: bool = False
    """The ``SHOWS_BLIND`` flag: restore as blind decoding does."""

    @property
    def adaptation_exponents(self) -> int:
        return ADAPTATION_EXPONENTS[self.version]

    @property
    def keeps_decoded_anew(self) -> bool:
        """Whether blocks that keep the JPEG show it decoded anew (version 6 on) or its own pixels."""
        return self.version >= 6

    @property
    def grid(self) -> tuple[int, int]:
        if self.width is None or self.height is None:
            raise ValueError("a slim header (version 5 on) knows its image size only once bound to its JPEG")
        return blocks_of(self.width, self.height)

    @property
    def conditioning(self) -> Conditioning:
        if self.cond_codes is None:
            raise ValueError("a slim header (version 5 on) knows its conditioning only once bound to its JPEG")
        return Conditioning.from_codes(self.cond_codes)


def carried_lambda(lam: float) -> float:
    """Lambda as a sidecar carries it (float32): the encoder conditions its networks on this value, so a
    decoder that derives the conditioning from the header's lambda gets the same codes."""
    return float(np.float32(lam))


def _varint(value: int) -> bytes:
    """Unsigned LEB128: 7 bits per byte, least significant first, the top bit set on all but the last."""
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, position after it) of the canonical LEB128 integer at ``pos``."""
    value = 0
    for i in range(_LENGTH_BYTES):
        if pos + i >= len(data):
            raise SideJPEGError("sidecar is truncated (shorter than its header)")
        byte = data[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if byte == 0 and i:
                raise SideJPEGError("sidecar header holds a length in a non-canonical form")
            return value, pos + i + 1
    raise SideJPEGError("sidecar header declares an impossible length")


def pack(
    model_id: bytes, jpeg_hash: bytes, quality: int, lam: float, conditioning: Conditioning, payload: bytes,
    adaptation: bytes = b"", unconstrained: bool = False, shows_blind: bool = False,
) -> bytes:
    """Serialise header, payload, adaptation and CRC-32 in the current version (values the format cannot
    hold raise SideJPEGError). ``conditioning`` is what the encoder fed its networks: derived from the JPEG and
    ``carried_lambda(lam)``, it is not written, only its check."""
    flags = (UNCONSTRAINED if unconstrained else 0) | (SHOWS_BLIND if shows_blind else 0)
    try:
        head = _HEADS[VERSION].pack(
            MAGIC, VERSION, flags, model_id[:ID_BYTES], jpeg_hash[:ID_BYTES], quality, lam,
            conditioning_check(conditioning.codes),
        )
    except (struct.error, OverflowError) as exc:
        raise SideJPEGError(f"cannot write a sidecar with these values: {exc}") from None
    body = head + _varint(len(payload)) + _varint(len(adaptation)) + payload + adaptation
    return body + _CRC.pack(zlib.crc32(body))


def _check_version(data: bytes) -> int:
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
    if len(data) < _HEADS[data[4]].size + _CRC.size:
        raise SideJPEGError("sidecar is truncated (shorter than its header)")
    return data[4]


def _slim_header(data: bytes, version: int) -> tuple[SidecarHeader, int]:
    _, _, flags, model_id, jpeg_hash, quality, lam, check = _SLIM.unpack_from(data)
    payload_bytes, pos = _read_varint(data, _SLIM.size)
    adaptation_bytes, pos = _read_varint(data, pos)
    return SidecarHeader(
        model_id, quality, lam, jpeg_hash, payload_bytes, adaptation_bytes, version, pos, cond_check=check,
        unconstrained=bool(flags & UNCONSTRAINED), shows_blind=bool(flags & SHOWS_BLIND),
    ), flags


def _wide_header(data: bytes, version: int) -> tuple[SidecarHeader, int]:
    head = _HEADS[version]
    _, _, flags, model_id, width, height, quality, lam, *rest = head.unpack_from(data)
    cond_codes, jpeg_hash, payload_bytes = tuple(rest[:FULL_COND]), rest[FULL_COND], rest[FULL_COND + 1]
    adaptation_bytes = rest[FULL_COND + 2] if version >= 3 else 0
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise SideJPEGError(f"sidecar declares an impossible image size {width}x{height}")
    return SidecarHeader(
        model_id, quality, lam, jpeg_hash, payload_bytes, adaptation_bytes, version, head.size, width, height,
        cond_codes,
    ), flags


def parse_header(data: bytes) -> SidecarHeader:
    """Validate and decode the header alone; checks every size before anything is allocated."""
    version = _check_version(data)
    header, flags = _slim_header(data, version) if version >= 5 else _wide_header(data, version)
    if flags & ~KNOWN_FLAGS.get(version, 0):
        raise SideJPEGError(f"sidecar uses unknown flags {flags:#x}")
    if header.quality > 100 or not np.isfinite(header.lam) or header.lam < 0:
        raise SideJPEGError("sidecar header holds invalid quality or lambda values")
    if header.width is not None:
        _check_payload_fits(header, header.width, header.height)
    size = header.header_bytes + header.payload_bytes + header.adaptation_bytes + _CRC.size
    if len(data) < size:
        raise SideJPEGError("sidecar is truncated (payload shorter than declared)")
    if len(data) > size:
        raise SideJPEGError("sidecar has trailing bytes after its checksum")
    return header


def _check_payload_fits(header: SidecarHeader, width: int, height: int) -> None:
    rows, cols = blocks_of(width, height)
    if header.payload_bytes > 4 + rows * cols * MAX_BITS_PER_BLOCK // 8:
        raise SideJPEGError(
            f"sidecar declares a payload of {header.payload_bytes} bytes, too large for {width}x{height}"
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


def bind(header: SidecarHeader, jpeg: bytes, params: JpegParams) -> SidecarHeader:
    """The header of a sidecar checked against its JPEG (``params``: that JPEG's header), with the image size
    and conditioning a slim header (version 5 on) leaves to the JPEG filled in.

    Refuses a sidecar made for another JPEG, one whose image size differs from the JPEG's, and one whose
    conditioning this decoder would derive differently; all before the payload is decoded, so a forged
    header cannot make the decoder walk a grid far larger than the image it came with.
    """
    if header.jpeg_hash != jpeg_digest(jpeg)[: len(header.jpeg_hash)]:
        raise SideJPEGError("this sidecar was made for a different JPEG file")
    width, height = jpeg_size(jpeg)
    if header.width is not None and (header.width, header.height) != (width, height):
        raise SideJPEGError(
            f"sidecar image size {header.width}x{header.height} does not match the JPEG's {width}x{height}"
        )
    _check_payload_fits(header, width, height)
    if header.cond_codes is not None:
        return header
    codes = Conditioning.of(params, header.lam).codes
    if conditioning_check(codes) != header.cond_check:
        raise SideJPEGError(
            "this sidecar's conditioning does not match what this program reads from its JPEG's header; "
            "restore it with the SideJPEG that wrote it, or blind"
        )
    return completed(header, width, height, codes)


def completed(header: SidecarHeader, width: int, height: int, codes: np.ndarray) -> SidecarHeader:
    """``header`` with the image size and conditioning codes that a slim header (version 5 on) leaves to its JPEG."""
    return replace(header, width=width, height=height, cond_codes=tuple(int(v) for v in codes))
