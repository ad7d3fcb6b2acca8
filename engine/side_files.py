"""Where a JPEG's side information lives: one rule for the command line, the app and batch mode."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.container import split_embedded
from engine.errors import SideJPEGError

SIDECAR_SUFFIX = ".side"
MAX_INPUT_BYTES = 1 << 29
"""Largest input file read (512 MiB): far above any JPEG or sidecar of an image within the pixel limit."""
MAX_SIDECAR_BYTES = 1 << 26
"""Largest sidecar file read (64 MiB): far above the sidecar of any image within the pixel limit."""


def sidecar_path(jpeg: Path) -> Path:
    """``photo.jpg.side`` for ``photo.jpg``."""
    return jpeg.with_name(jpeg.name + SIDECAR_SUFFIX)


@dataclass(frozen=True)
class SideInformation:
    """A JPEG file's plain JPEG and the side information found for it."""

    jpeg: bytes
    sidecar: bytes | None
    where: str | None
    """``embedded``, the sidecar file's name, or None when there is none."""

    @property
    def file_bytes(self) -> int:
        """Bytes read from a sidecar file beside the JPEG (0 when embedded or none)."""
        return len(self.sidecar) if self.sidecar is not None and self.where != "embedded" else 0


def read_limited(path: str | Path, limit: int = MAX_INPUT_BYTES) -> bytes:
    """A file's bytes; a missing file, a folder, or a file over ``limit`` bytes is refused before reading."""
    path = Path(path)
    if not path.exists():
        raise SideJPEGError(f"{path}: no such file")
    if not path.is_file():
        raise SideJPEGError(f"{path}: not a file")
    try:
        if path.stat().st_size > limit:
            raise SideJPEGError(f"{path}: file is too large ({path.stat().st_size:,} bytes)")
        return path.read_bytes()
    except OSError as exc:
        raise SideJPEGError(f"{path}: cannot read ({exc.strerror or exc})") from None


def find_side_information(path: Path, data: bytes) -> SideInformation:
    """The side information of the JPEG file ``path`` holding ``data``: a sidecar beside it
    (``photo.jpg.side``) first, since a file put there wins over what the JPEG carries, else the side
    information embedded in it, else none (restored blind)."""
    plain, embedded = split_embedded(data)
    beside = sidecar_path(path)
    if beside.is_file():
        return SideInformation(plain, read_limited(beside, MAX_SIDECAR_BYTES), beside.name)
    return SideInformation(plain, embedded, None if embedded is None else "embedded")
