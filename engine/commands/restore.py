"""Restore a JPEG with its side information (a sidecar beside it or embedded), or blindly."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from PIL import Image

from engine.commands.common import add_model_args, check_writable, read_input, write_output
from engine.config import DEFAULT_PRESET
from engine.container import split_embedded
from engine.pipeline import Codec
from engine.resources import installed_models
from engine.sidecar import parse_header


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="JPEG file")
    p.add_argument("-o", "--output", help="restored PNG (default: INPUT name + .restored.png)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--side", help="sidecar path (default: INPUT.side, or side information embedded in INPUT)")
    group.add_argument("--blind", action="store_true", help="ignore any side information")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    add_model_args(p, preset_default=None)


def find_sidecar(source: Path, jpeg: bytes, explicit: str | None) -> bytes | None:
    """The sidecar to use: the one named, else INPUT.side, else the embedded one (None if none)."""
    if explicit:
        return read_input(explicit)
    beside = Path(f"{source}.side")
    if beside.is_file():
        return read_input(beside)
    return split_embedded(jpeg)[1]


def choose_preset(requested: str | None, sidecar: bytes | None) -> str:
    """The preset asked for, else the installed one whose weights made the sidecar."""
    if requested:
        return requested
    if sidecar is not None:
        return installed_models().get(parse_header(sidecar).model_id.hex(), DEFAULT_PRESET)
    return DEFAULT_PRESET


def encode_png(image) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "PNG")
    return buf.getvalue()


def run(args: argparse.Namespace) -> int:
    source = Path(args.input)
    out = Path(args.output) if args.output else source.with_name(f"{source.stem}.restored.png")
    check_writable(out, args.force, inputs=(source,))
    jpeg = read_input(source)
    plain, _ = split_embedded(jpeg)
    sidecar = None if args.blind else find_sidecar(source, jpeg, args.side)
    codec = Codec(choose_preset(args.preset, sidecar), args.device)
    result = codec.restore(plain, sidecar)
    write_output(out, encode_png(result.image))
    mode = "blind (no side information)" if result.blind else "with side information"
    print(f"wrote {out}: {result.image.shape[1]}x{result.image.shape[0]}, restored {mode}")
    return 0
