"""Evaluate SideJPEG against JPEG anchors on a directory of test images.

Follows the evaluation protocol: PSNR in dB on 8-bit RGB over the whole image, bpp = total file
bytes * 8 / pixels with the sidecar included. Writes rd.json (raw points), summary.json (mean
curves, BD-rate and BD-PSNR against jpeg, jpeg-opt and blind, published figures, safety) and
rd.png, then prints a summary table.

Every encoder at every subsampling (--encoder, --subsampling) is a JPEG setting with its own
curves: jpeg is the encoder's JPEG decoded plainly (Pillow's with standard Huffman tables, as in
the literature) and blind restores that JPEG. jpeg-opt and side are SideJPEG's own Pillow JPEG
(plain, and with its sidecar): they are measured for the Pillow encoders only, whose JPEGs have
the same pixels. jpegli and webp depend on no setting and are measured in the first one. The
safety table gives, per setting, quality and method, the PSNR change of blind and side against
the setting's plain JPEG over the images: mean and worst (jpeg must be among the methods).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

from engine import encoders
from engine.commands.common import add_adaptation_arg, add_model_args
from engine.config import LAMBDA_MAX, LAMBDA_MIN
from engine.evaluation.anchors import SUBSAMPLINGS, jpeg_settings
from engine.evaluation.runner import METHODS, Settings, evaluate, find_images
from engine.evaluation.summary import format_table
from engine.pipeline import Codec


def _number_list(kind: Callable[[str], float], lo: float, hi: float, what: str) -> Callable[[str], tuple]:
    """argparse type: comma-separated numbers within [lo, hi]."""

    def parse(text: str) -> tuple:
        try:
            values = tuple(dict.fromkeys(kind(v) for v in text.split(",") if v.strip()))
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a list of {what}s: {text!r}") from None
        if not values or any(not lo <= v <= hi for v in values):
            raise argparse.ArgumentTypeError(f"{what}s must be {lo:g}-{hi:g}, got {text!r}")
        return values

    return parse


def _name_list(allowed: Sequence[str], what: str) -> Callable[[str], tuple[str, ...]]:
    """argparse type: comma-separated names among ``allowed``."""

    def parse(text: str) -> tuple[str, ...]:
        names = tuple(dict.fromkeys(v.strip() for v in text.split(",") if v.strip()))
        unknown = [n for n in names if n not in allowed]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown {what}(s) {', '.join(unknown) or text!r}; use {','.join(allowed)}"
            )
        return names

    return parse


def _encoders(text: str) -> tuple[str, ...]:
    names = _name_list(tuple(encoders.ENCODERS), "encoder")(text)
    missing = [n for n in names if n not in encoders.available()]
    if missing:
        raise argparse.ArgumentTypeError(
            f"encoder {', '.join(missing)} is not available on this machine "
            "(cjpeg needs libjpeg-turbo's cjpeg tool: apt install libjpeg-turbo-progs)"
        )
    return names


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="directory of test images (e.g. ../shared/data/test/kodak)")
    p.add_argument(
        "--qualities",
        type=_number_list(int, 1, 100, "quality"),
        default=(10, 20, 30, 40, 50, 60, 75),
        help="JPEG qualities, comma-separated (default 10,20,30,40,50,60,75)",
    )
    p.add_argument(
        "--lambdas",
        type=_number_list(float, LAMBDA_MIN, LAMBDA_MAX, "lambda"),
        default=(4, 32, 256, 2048),
        help="lambdas of the side curves, comma-separated (default 4,32,256,2048)",
    )
    p.add_argument("--out", help="output directory (default eval/<dataset name>)")
    p.add_argument("--limit", type=_positive, help="evaluate only the first N images (by name)")
    p.add_argument(
        "--methods",
        type=_name_list(METHODS, "method"),
        default=METHODS,
        help=f"comma-separated subset of {','.join(METHODS)}",
    )
    p.add_argument(
        "--encoder",
        type=_encoders,
        default=("pillow",),
        help=f"JPEG encoders, comma-separated among {','.join(encoders.available())} (default pillow); each encoder "
        "at each subsampling is a setting with its own curves; jpeg-opt and side need a Pillow encoder",
    )
    p.add_argument(
        "--subsampling",
        type=_name_list(SUBSAMPLINGS, "subsampling"),
        default=("4:2:0",),
        help=f"chroma subsampling, comma-separated among {','.join(SUBSAMPLINGS)} (default 4:2:0); jpegli chooses its "
        "own, so it has the one setting 'jpegli auto'",
    )
    add_model_args(p)
    add_adaptation_arg(p)


def run(args: argparse.Namespace) -> int:
    data = Path(args.data)
    images = find_images(data, args.limit)
    out = Path(args.out) if args.out else Path("eval") / data.resolve().name
    lambdas = tuple(float(v) for v in args.lambdas)
    jpegs = jpeg_settings(args.encoder, args.subsampling)
    settings = Settings(data, out, tuple(args.qualities), lambdas, args.methods, jpegs)
    codec = Codec(args.preset, args.device, adapts=args.adapts) if settings.needs_codec else None
    summary = evaluate(settings, images, codec)
    print(format_table(summary))
    print(f"wrote {out / 'rd.json'}, {out / 'summary.json'} and {out / 'rd.png'}")
    return 0
