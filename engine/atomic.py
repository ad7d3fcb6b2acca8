"""Atomic file output: write to a temporary file beside the target, then rename over it.

An error or an interrupt at any point leaves every previous file intact and no temporary file behind.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path


def _new_file_mode(path: Path) -> int:
    """The permissions a plainly created file would get: the existing file's, else 0o666 less the umask."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0o022)  # reading the umask requires setting it; restored at once
        os.umask(umask)
        return 0o666 & ~umask


def _temp_beside(target: Path) -> tuple[int, Path]:
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    return fd, Path(name)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path for a writer that wants a file name; on success it replaces ``target``."""
    target = Path(target)
    fd, tmp = _temp_beside(target)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, _new_file_mode(target))
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


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


def write_files(files: Sequence[tuple[Path, bytes]]) -> None:
    """Write every file to a temporary file beside it, then rename each over its target.

    Nothing is renamed until every temporary file is complete. Should a rename fail part way through
    several files, the ones already renamed are undone: new files are removed and replaced ones are put
    back from a hard link taken just before (where the file system has links). An OSError names the
    target it was writing as its ``filename``.
    """
    temps: list[Path] = []
    backups: dict[Path, Path | None] = {}
    renamed: list[Path] = []
    current = files[0][0] if files else Path()
    try:
        for current, data in files:
            fd, tmp = _temp_beside(current)
            temps.append(tmp)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, _new_file_mode(current))
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
            raise OSError(exc.errno, exc.strerror or str(exc), str(current)) from exc
        raise
    finally:
        for leftover in [*temps, *(b for b in backups.values() if b is not None)]:
            leftover.unlink(missing_ok=True)


def write_bytes(target: str | os.PathLike, data: bytes) -> None:
    write_files([(Path(target), data)])
