"""Argument and file helpers shared by the sub-commands."""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import tempfile
from collections.abc import Sequence
from pathlib import Path

from engine.config import DEFAULT_PRESET, PRESETS
from engine.errors import SideJPEGError


def add_model_args(parser: argparse.ArgumentParser, preset_default: str | None = DEFAULT_PRESET) -> None:
    parser.add_argument("--preset", default=preset_default, choices=sorted(PRESETS), help="model preset")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where the networks run")


MAX_INPUT_BYTES = 1 << 29
"""Largest input file read (512 MiB): far above any JPEG or sidecar of an image within the pixel limit."""


def read_input(path: str | Path) -> bytes:
    path = Path(path)
    if not path.exists():
        raise SideJPEGError(f"{path}: no such file")
    if not path.is_file():
        raise SideJPEGError(f"{path}: not a file")
    try:
        if path.stat().st_size > MAX_INPUT_BYTES:
            raise SideJPEGError(f"{path}: file is too large ({path.stat().st_size:,} bytes)")
        return path.read_bytes()
    except OSError as exc:
        raise SideJPEGError(f"{path}: cannot read ({exc.strerror or exc})") from None


def check_writable(path: Path, force: bool, inputs: tuple[Path, ...] = ()) -> None:
    """Refuse to clobber an existing file (or an input) unless --force was given."""
    if path.is_dir():
        raise SideJPEGError(f"{path}: is a directory")
    if not force and path.exists():
        raise SideJPEGError(f"{path} exists; use --force to overwrite it")
    if not force and any(path.resolve() == p.resolve() for p in inputs):
        raise SideJPEGError(f"{path} is an input file; use --force to overwrite it")
    if not path.parent.exists():
        raise SideJPEGError(f"{path.parent}: no such directory")


def _new_file_mode(path: Path) -> int:
    """The permissions a plainly created file would get: the existing file's, else 0o666 less the umask."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _backup(path: Path) -> Path | None:
    """A hard link to ``path`` beside it, to put it back if a later rename fails (None where links fail)."""
    for _ in range(8):
        link = path.with_name(f".{path.name}.{secrets.token_hex(4)}.bak")
        try:
            os.link(path, link)
            return link
        except FileExistsError:
            continue
        except OSError:
            return None
    return None


def write_outputs(files: Sequence[tuple[Path, bytes]]) -> None:
    """Write every file to a temporary file beside it, then rename each over its target.

    Nothing is renamed until every temporary file is complete, so an error or an interrupt while
    writing leaves every previous file intact and no temporary file behind. Should a rename fail
    part way through several files, the ones already renamed are undone: new files are removed and
    replaced ones are put back from a hard link taken just before (where the file system has links).
    """
    temps: list[Path] = []
    backups: dict[Path, Path | None] = {}
    renamed: list[Path] = []
    current = files[0][0] if files else Path()
    try:
        for current, data in files:
            fd, name = tempfile.mkstemp(prefix=f".{current.name}.", suffix=".tmp", dir=current.parent)
            temps.append(Path(name))
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(name, _new_file_mode(current))
        for (current, _), tmp in zip(files, temps, strict=True):
            if len(files) > 1 and current.exists():
                backups[current] = _backup(current)
            os.replace(tmp, current)
            renamed.append(current)
    except BaseException as exc:
        for path in reversed(renamed):
            with contextlib.suppress(OSError):
                if path not in backups:
                    path.unlink()
                elif backups[path] is not None:
                    os.replace(backups[path], path)
        if isinstance(exc, OSError):
            raise SideJPEGError(f"{current}: cannot write ({exc.strerror or exc})") from None
        raise
    finally:
        for leftover in [*temps, *(b for b in backups.values() if b is not None)]:
            leftover.unlink(missing_ok=True)


def write_output(path: Path, data: bytes) -> None:
    write_outputs([(path, data)])
