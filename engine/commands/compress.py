"""Compress an image to a JPEG plus its side information.

Writes OUT.jpg and its sidecar (OUT.jpg.side unless --side or --embed says otherwise), then
reports bits per pixel (file bytes * 8 / pixels) and RGB PSNR of the JPEG and of the restored
image against the input.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from engine.commands.common import add_model_args, check_writable, write_outputs
from engine.config import LAMBDA_MAX, LAMBDA_MIN
from engine.container import embed_sidecar
from engine.errors import SideJPEGError
from engine.image_io import load_image
from engine.metrics import psnr
from engine.pipeline import Codec


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="image to compress (PNG, JPEG, BMP, TIFF, WebP, GIF)")
    p.add_argument("-q", "--quality", type=int, required=True, help="JPEG quality 1-100")
    p.add_argument(
        "--lam", type=float, default=64.0, help=f"rate trade-off lambda, {LAMBDA_MIN:g}-{LAMBDA_MAX:g} (default 64)"
    )
    p.add_argument("-o", "--output", help="output JPEG path (default: the input's name with .jpg)")
    p.add_argument("--side", help="sidecar path (default: OUTPUT + .side)")
    p.add_argument("--embed", action="store_true", help="put the side information inside the JPEG instead")
    p.add_argument("--subsampling", default="4:2:0", choices=["4:2:0", "4:2:2", "4:4:4"], help="chroma subsampling")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    add_model_args(p)


def default_output(source: Path) -> Path:
    target = source.with_suffix(".jpg")
    return target if target != source else source.with_name(f"{source.stem}.sidejpeg.jpg")


def check_settings(args: argparse.Namespace) -> None:
    """Refuse bad settings before any file is read or any model is loaded."""
    if not 1 <= args.quality <= 100:
        raise SideJPEGError(f"JPEG quality must be 1-100, got {args.quality}")
    if not LAMBDA_MIN <= args.lam <= LAMBDA_MAX:  # also refuses nan
        raise SideJPEGError(f"lambda must be between {LAMBDA_MIN:g} and {LAMBDA_MAX:g}, got {args.lam:g}")


def run(args: argparse.Namespace) -> int:
    check_settings(args)
    source = Path(args.input)
    out = Path(args.output) if args.output else default_output(source)
    side = None if args.embed else Path(args.side) if args.side else Path(f"{out}.side")
    if side is not None and side.resolve() == out.resolve():
        raise SideJPEGError(f"{out}: the JPEG and its sidecar cannot be the same file")
    for path in (out, side):
        if path is not None:
            check_writable(path, args.force, inputs=(source,))
    loaded = load_image(source)
    codec = Codec(args.preset, args.device)
    result = codec.compress(loaded.rgb, args.quality, args.lam, args.subsampling)
    restored = codec.restore(result.jpeg, result.sidecar).image
    if args.embed:
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
        "psnr_restored": psnr(restored, loaded.rgb),
        "quality": result.quality,
        "lam": result.lam,
    }
    if args.json:
        print(json.dumps(report))
        return 0
    for note in loaded.notes:
        print(f"note: {note}")
    print(f"wrote {out}" + (" (side information embedded)" if args.embed else f" and {side}"))
    print(f"{result.width}x{result.height}, quality {result.quality}, lambda {result.lam:g}")
    share = f"({100 * result.side_share:.1f} %)"
    print(f"bpp  JPEG {result.bpp_jpeg:.4f}  sidecar {result.bpp_side:.4f} {share}  total {result.bpp_total:.4f}")
    print(f"PSNR JPEG {report['psnr_jpeg']:.2f} dB  restored {report['psnr_restored']:.2f} dB  (RGB, whole image)")
    return 0
