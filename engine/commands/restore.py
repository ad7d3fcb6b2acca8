"""Restore JPEGs with their side information (a sidecar beside each or embedded), or blindly.

One file: writes INPUT.restored.png (or -o). Several files or folders: writes each one's PNG (beside it,
or in --out-dir as STEM.png), skips those already written and ends with a summary. The PNG keeps the
JPEG's colour profile, EXIF and XMP.
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from engine.batch import Done, Job, plan, run_jobs
from engine.commands.common import (
    add_model_args,
    add_output_args,
    check_writable,
    codec_loader,
    out_dir,
    single_input,
    write_outputs,
)
from engine.config import DEFAULT_PRESET
from engine.metadata import ImageMetadata, png_save_options, read_metadata
from engine.pipeline import Codec, RestoreResult
from engine.resources import preset_of
from engine.side_files import SideInformation, find_side_information, read_limited
from engine.sidecar import parse_header

JPEG_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif")
"""The files of a folder that restore takes."""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="JPEG files, or folders of them")
    add_output_args(
        p,
        output_help="restored PNG, for a single input (default: INPUT name + .restored.png)",
        out_dir_help="write DIR/STEM.png for every input (default: beside each input, STEM.restored.png)",
    )
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--side", help="sidecar path, for a single input (default: INPUT.side, or side information embedded in INPUT)"
    )
    group.add_argument("--blind", action="store_true", help="ignore any side information")
    add_model_args(p, preset_default=None)


def find_sidecar(source: Path, data: bytes, explicit: str | None) -> SideInformation:
    """The side information to use: the sidecar named, else the one found for the JPEG
    (``engine.side_files.find_side_information``)."""
    found = find_side_information(source, data)
    return SideInformation(found.jpeg, read_limited(explicit), explicit) if explicit else found


def choose_preset(requested: str | None, sidecar: bytes | None) -> str:
    """The preset asked for, else the installed one whose weights made the sidecar."""
    if requested:
        return requested
    if sidecar is not None:
        return preset_of(parse_header(sidecar).model_id) or DEFAULT_PRESET
    return DEFAULT_PRESET


def encode_png(image: np.ndarray, meta: ImageMetadata) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "PNG", **png_save_options(meta))
    return buf.getvalue()


def output_of(source: Path, output: str | None, folder: Path | None) -> Path:
    if output:
        return Path(output)
    if folder:
        return folder / f"{source.stem}.png"
    return source.with_name(f"{source.stem}.restored.png")


def restore_file(
    codecs: Callable[[str], Codec], source: Path, out: Path, args: argparse.Namespace
) -> tuple[RestoreResult, int]:
    """Restore one JPEG and write its PNG atomically: the result and the bytes read (JPEG and sidecar)."""
    check_writable(out, args.force, inputs=(source,))
    jpeg = read_limited(source)
    found = find_sidecar(source, jpeg, args.side)
    sidecar = None if args.blind else found.sidecar
    result = codecs(choose_preset(args.preset, sidecar)).restore(found.jpeg, sidecar)
    meta = read_metadata(found.jpeg)
    write_outputs([(out, encode_png(result.image, meta.stripped() if args.strip_metadata else meta))])
    return result, len(jpeg) + (0 if args.blind else found.file_bytes)


def run(args: argparse.Namespace) -> int:
    source = single_input(args.inputs, {"-o/--output": args.output, "--side": args.side})
    folder = out_dir(args.out_dir)
    codecs = codec_loader(args.device)
    if source is not None:
        out = output_of(source, args.output, folder)
        result, _ = restore_file(codecs, source, out, args)
        if not result.blind and result.network_share < 1.0:
            mode = (
                f"restored with side information, which asks for what blind decoding shows: {result.network_share:.0%} "
                "of the network, the rest the JPEG decoded anew from its coefficients"
            )
        elif not result.blind:
            mode = "restored with side information"
        elif result.passed_through and result.constrained:
            mode = (
                "the JPEG decoded anew from its coefficients (finer than the model restores blindly), "
                "no side information"
            )
        elif result.passed_through:
            mode = "the JPEG as it is (finer than the model restores blindly), no side information"
        elif result.network_share < 1.0:
            mode = (
                f"restored blind at {result.network_share:.0%} (the share calibrated for its quality: the rest "
                "the JPEG decoded anew from its coefficients), no side information"
            )
        else:
            mode = "restored blind, no side information"
        print(f"wrote {out}: {result.image.shape[1]}x{result.image.shape[0]}, {mode}")
        return 0

    def work(job: Job) -> Done:
        result, size_in = restore_file(codecs, job.source, job.outputs[0], args)
        height, width = result.image.shape[:2]
        return Done(size_in, job.outputs[0].stat().st_size, size_in * 8 / (width * height))

    jobs = plan(args.inputs, JPEG_SUFFIXES, lambda path: (output_of(path, None, folder),), "JPEG files")
    summary = run_jobs(jobs, work, args.force, "restore")
    print(summary.text())
    return summary.exit_code
