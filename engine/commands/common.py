"""Argument and file helpers shared by the sub-commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.atomic import write_bytes
from engine.config import DEFAULT_PRESET, PRESETS
from engine.errors import SideJPEGError


def add_model_args(parser: argparse.ArgumentParser, preset_default: str | None = DEFAULT_PRESET) -> None:
    parser.add_argument("--preset", default=preset_default, choices=sorted(PRESETS), help="model preset")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where the networks run")


def read_input(path: str | Path) -> bytes:
    path = Path(path)
    if not path.exists():
        raise SideJPEGError(f"{path}: no such file")
    if not path.is_file():
        raise SideJPEGError(f"{path}: not a file")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SideJPEGError(f"{path}: cannot read ({exc.strerror})") from None


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


def write_output(path: Path, data: bytes) -> None:
    try:
        write_bytes(path, data)
    except OSError as exc:
        raise SideJPEGError(f"{path}: cannot write ({exc.strerror})") from None
