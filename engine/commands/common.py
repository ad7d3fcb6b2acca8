"""Argument and file helpers shared by the sub-commands."""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from engine.atomic import write_files
from engine.config import DEFAULT_PRESET, PRESETS
from engine.errors import SideJPEGError
from engine.pipeline import Codec


def add_model_args(parser: argparse.ArgumentParser, preset_default: str | None = DEFAULT_PRESET) -> None:
    parser.add_argument("--preset", default=preset_default, choices=sorted(PRESETS), help="model preset")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where the networks run")


def add_output_args(parser: argparse.ArgumentParser, output_help: str, out_dir_help: str) -> None:
    """-o or --out-dir, --strip-metadata and --force: how compress and restore write their outputs."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("-o", "--output", help=output_help)
    where.add_argument("--out-dir", metavar="DIR", help=out_dir_help)
    parser.add_argument(
        "--strip-metadata", action="store_true", help="leave out EXIF (GPS included) and XMP; the colour profile stays"
    )
    parser.add_argument(
        "--force", action="store_true", help="overwrite existing outputs (with several inputs: do those files again)"
    )


def single_input(inputs: Sequence[str], one_file_options: Mapping[str, str | None]) -> Path | None:
    """The input when exactly one file is named (the single-file mode), else None for a batch.

    ``one_file_options`` maps the options that name one file's outputs to their values; a batch refuses them.
    """
    if len(inputs) == 1 and not Path(inputs[0]).is_dir():
        return Path(inputs[0])
    for option, value in one_file_options.items():
        if value:
            raise SideJPEGError(f"{option} names the output of a single input; with several, use --out-dir")
    return None


def out_dir(name: str | None) -> Path | None:
    """The --out-dir folder, created if need be."""
    if not name:
        return None
    path = Path(name)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SideJPEGError(f"{path}: cannot create the output folder ({exc.strerror or exc})") from None
    return path


def add_adaptation_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-adaptation", dest="adapts", action="store_false",
        help="send only the descriptor map, not each image's own adaptation (docs/sidecar-format.md)",
    )


def codec_loader(device: str, adapts: bool = True) -> Callable[[str], Codec]:
    """A Codec per preset, each loaded on first use and once only."""
    return functools.cache(lambda preset: Codec(preset, device, adapts=adapts))


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


def write_outputs(files: Sequence[tuple[Path, bytes]]) -> None:
    """Write all files atomically, together (``engine.atomic.write_files``), or raise SideJPEGError."""
    try:
        write_files(files)
    except OSError as exc:
        raise SideJPEGError(f"{exc.filename}: cannot write ({exc.strerror})") from None
