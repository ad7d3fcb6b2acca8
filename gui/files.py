"""Files: dialog filters, atomic export of JPEG + sidecar / embedded JPEG / restored PNG, the next image in a
folder (no Qt here)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
from PIL import Image

from engine import ImageMetadata, embed_sidecar, insert_metadata, png_save_options, sidecar_path, write_files
from gui.state import RestoreOutcome, Source

NO_METADATA = ImageMetadata()

OPEN_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
OPEN_FILTER = f"Images ({' '.join('*' + s for s in OPEN_SUFFIXES)});;All files (*)"
JPEG_FILTER = "JPEG (*.jpg *.jpeg)"
PNG_FILTER = "PNG image (*.png)"


def with_suffix(path: Path, suffixes: tuple[str, ...]) -> Path:
    """``path``, with the first suffix appended when it has none of them."""
    return path if path.suffix.lower() in suffixes else path.with_name(path.name + suffixes[0])


def suggested_path(source: Source | None, out: RestoreOutcome | None, suffix: str) -> Path:
    """Where an export is offered: beside the opened file, named after it and the quality (``photo_q30.jpg``)."""
    folder = source.path.parent if source and source.path else Path.cwd()
    stem = source.path.stem if source and source.path else "image"
    tag = f"_q{out.quality}" if out and out.quality and not source.received else "_restored"
    return folder / f"{stem}{tag}{suffix}"


def added_metadata(source: Source) -> ImageMetadata:
    """What a JPEG export adds: the original's EXIF, XMP and profile (a received JPEG carries its own)."""
    return NO_METADATA if source.received else source.metadata


def export_pair(
    jpeg_path: Path, jpeg: bytes, sidecar: bytes, meta: ImageMetadata = NO_METADATA
) -> tuple[Path, Path]:
    """Write ``photo.jpg`` (with the original's ``meta``) and ``photo.jpg.side`` together: both or neither
    (``engine.write_files``). The sidecar's JPEG hash leaves metadata out, so it still belongs."""
    side_path = sidecar_path(jpeg_path)
    write_files([(jpeg_path, insert_metadata(jpeg, meta)), (side_path, sidecar)])
    return jpeg_path, side_path


def export_embedded(path: Path, jpeg: bytes, sidecar: bytes, meta: ImageMetadata = NO_METADATA) -> Path:
    """Write one JPEG that carries the original's ``meta`` and the side information in application segments."""
    write_files([(path, embed_sidecar(insert_metadata(jpeg, meta), sidecar))])
    return path


def export_png(path: Path, rgb: np.ndarray, meta: ImageMetadata = NO_METADATA) -> Path:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG", **png_save_options(meta))
    write_files([(path, buffer.getvalue())])
    return path


def _natural_key(path: Path) -> list[object]:
    """Sort key: case-insensitive, numbers by value (img2 before img10)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name.lower())]


def neighbour(path: Path, step: int) -> Path | None:
    """The image ``step`` places after ``path`` (before, when negative) in its folder, by name; None past either
    end. ``path`` itself need not exist any more."""
    try:
        images = {p for p in path.parent.iterdir() if p.suffix.lower() in OPEN_SUFFIXES and p.is_file()}
    except OSError:
        return None
    ordered = sorted(images | {path}, key=_natural_key)
    index = ordered.index(path) + step
    return ordered[index] if 0 <= index < len(ordered) else None
