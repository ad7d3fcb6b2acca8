"""Compress images to JPEGs plus their side information.

One file: writes OUT.jpg and its sidecar (OUT.jpg.side unless --side or --embed says otherwise), then
reports bits per pixel (file bytes * 8 / pixels) and RGB PSNR of the JPEG and of the restored image
against the input. Several files or folders: writes each one's JPEG and sidecar (beside it, or in
--out-dir as STEM.jpg and STEM.jpg.side), skips those already written and ends with a summary.
The JPEG keeps the input's EXIF (orientation applied to the pixels), XMP and colour profile.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from engine.batch import Done, Job, plan, run_jobs
from engine.commands.common import (
    add_adaptation_arg,
    add_model_args,
    add_output_args,
    check_writable,
    codec_loader,
    out_dir,
    single_input,
    write_outputs,
)
from engine.config import LAMBDA_MAX, LAMBDA_MIN
from engine.container import embed_sidecar
from engine.errors import SideJPEGError
from engine.image_io import SUPPORTED_SUFFIXES, load_image
from engine.metadata import insert_metadata
from engine.metrics import psnr
from engine.pipeline import Codec
from engine.side_files import sidecar_path


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="images (PNG, JPEG, BMP, TIFF, WebP, GIF), or folders of them"
    )
    p.add_argument("-q", "--quality", type=int, required=True, help="JPEG quality 1-100")
    p.add_argument(
        "--lam", type=float, default=64.0, help=f"rate trade-off lambda, {LAMBDA_MIN:g}-{LAMBDA_MAX:g} (default 64)"
    )
    add_output_args(
        p,
        output_help="output JPEG path, for a single input (default: the input's name with .jpg)",
        out_dir_help="write DIR/STEM.jpg and DIR/STEM.jpg.side for every input (default: beside each input)",
    )
    p.add_argument("--side", help="sidecar path, for a single input (default: OUTPUT + .side)")
    p.add_argument("--embed", action="store_true", help="put the side information inside the JPEG instead")
    p.add_argument("--subsampling", default="4:2:0", choices=["4:2:0", "4:2:2", "4:4:4"], help="chroma subsampling")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    add_model_args(p)
    add_adaptation_arg(p)


def default_output(source: Path, folder: Path | None = None) -> Path:
    """STEM.jpg beside the source or in ``folder``; STEM.sidejpeg.jpg where that is the source itself."""
    target = (folder or source.parent) / f"{source.stem}.jpg"
    return target if target.resolve() != source.resolve() else target.with_name(f"{source.stem}.sidejpeg.jpg")


def check_settings(args: argparse.Namespace) -> None:
    """Refuse bad settings before any file is read or any model is loaded."""
    if not 1 <= args.quality <= 100:
        raise SideJPEGError(f"JPEG quality must be 1-100, got {args.quality}")
    if not LAMBDA_MIN <= args.lam <= LAMBDA_MAX:  # also refuses nan
        raise SideJPEGError(f"lambda must be between {LAMBDA_MIN:g} and {LAMBDA_MAX:g}, got {args.lam:g}")


def outputs_of(source: Path, args: argparse.Namespace, folder: Path | None) -> tuple[Path, Path | None]:
    """The JPEG and the sidecar (None when embedded) that ``source`` compresses to."""
    out = Path(args.output) if args.output else default_output(source, folder)
    side = None if args.embed else Path(args.side) if args.side else sidecar_path(out)
    if side is not None and side.resolve() == out.resolve():
        raise SideJPEGError(f"{out}: the JPEG and its sidecar cannot be the same file")
    return out, side


def compress_file(
    codecs: Callable[[str], Codec], source: Path, out: Path, side: Path | None, args: argparse.Namespace
) -> tuple[dict, tuple[str, ...]]:
    """Compress one image and write its outputs atomically: its report and the notes on its loading."""
    for path in (out, side):
        if path is not None:
            check_writable(path, args.force, inputs=(source,))
    loaded = load_image(source)
    meta = loaded.metadata.stripped() if args.strip_metadata else loaded.metadata
    result = codecs(args.preset).compress(loaded.rgb, args.quality, args.lam, args.subsampling)
    result = replace(result, jpeg=insert_metadata(result.jpeg, meta))
    if side is None:
        write_outputs([(out, embed_sidecar(result.jpeg, result.sidecar))])
    else:
        write_outputs([(out, result.jpeg), (side, result.sidecar)])
    report = {
        "jpeg_bytes": len(result.jpeg),
        "side_bytes": len(result.sidecar),
        "width": result.width,
        "height": result.height,
        "bpp_jpeg": result.bpp_jpeg,
        "bpp_side": result.bpp_side,
        "bpp_total": result.bpp_total,
        "psnr_jpeg": psnr(result.jpeg_decoded, loaded.rgb),
        "psnr_restored": psnr(result.restored, loaded.rgb),
        "quality": result.quality,
        "lam": result.lam,
        "metadata": list(meta.kinds),
        "adaptation": list(result.adaptation.sent),
        "adaptation_gain_db": result.adaptation_gain_db,
    }
    return report, loaded.notes


def run(args: argparse.Namespace) -> int:
    check_settings(args)
    source = single_input(args.inputs, {"-o/--output": args.output, "--side": args.side})
    folder = out_dir(args.out_dir)
    codecs = codec_loader(args.device, args.adapts)
    if source is not None:
        out, side = outputs_of(source, args, folder)
        report, notes = compress_file(codecs, source, out, side, args)
        print_report(report, notes, out, side, args.json)
        return 0

    def work(job: Job) -> Done:
        report, _ = compress_file(codecs, job.source, *outputs_of(job.source, args, folder), args)
        written = sum(path.stat().st_size for path in job.outputs)
        return Done(job.source.stat().st_size, written, report["bpp_total"], report["psnr_restored"], report)

    def outputs(path: Path) -> tuple[Path, ...]:
        return tuple(p for p in outputs_of(path, args, folder) if p is not None)

    summary = run_jobs(plan(args.inputs, SUPPORTED_SUFFIXES, outputs, "images"), work, args.force, "compress")
    print(json.dumps(summary.as_json()) if args.json else summary.text())
    return summary.exit_code


def print_report(report: dict, notes: tuple[str, ...], out: Path, side: Path | None, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report))
        return
    for note in notes:
        print(f"note: {note}")
    print(f"wrote {out}" + (" (side information embedded)" if side is None else f" and {side}"))
    print(f"{report['width']}x{report['height']}, quality {report['quality']}, lambda {report['lam']:g}")
    if report["metadata"]:
        print(f"metadata kept: {', '.join(report['metadata'])}")
    share = f"({100 * report['side_bytes'] / (report['jpeg_bytes'] + report['side_bytes']):.1f} %)"
    print(
        f"bpp  JPEG {report['bpp_jpeg']:.4f}  sidecar {report['bpp_side']:.4f} {share}  total {report['bpp_total']:.4f}"
    )
    print(f"PSNR JPEG {report['psnr_jpeg']:.2f} dB  restored {report['psnr_restored']:.2f} dB  (RGB, whole image)")
    adapted = ", ".join(report["adaptation"])
    bought = f"{adapted} (+{report['adaptation_gain_db']:.2f} dB)" if adapted else "none (it would not pay here)"
    print(f"adaptation: {bought}")
