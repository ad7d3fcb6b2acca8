"""Restore throughput on a large photo per preset and precision: ``python -m benchmarks.gpu_throughput``.

What a user with a GPU gets: megapixels per second of ``Codec.restore`` (JPEG decode, tiles, network,
pixels back) on a 24-megapixel photo, blind and with its sidecar, for each preset in fp16, bf16 and fp32.
The photo is the bundled sample enlarged to 6000x4000, then JPEG-compressed at quality 30. Presets without
shipped weights run with untrained ones (same arithmetic, same time). Each figure is the median of
``--reps`` restores after one warm-up. The sidecar is written once per preset, in the first precision.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from engine import PRESETS, SAMPLE_IMAGE, Codec, encode_jpeg
from engine.atomic import write_bytes
from engine.inference import CUDA_PRECISIONS
from engine.models.sidejpeg import SideJPEGNet
from engine.resources import weights_path

SIZE = (6000, 4000)
QUALITY = 30
LAMBDA = 64.0


def photo() -> tuple[np.ndarray, bytes]:
    """The 24-megapixel test photo and its JPEG bytes."""
    with Image.open(SAMPLE_IMAGE) as im:
        rgb = np.asarray(im.convert("RGB").resize(SIZE, Image.Resampling.LANCZOS))
    return rgb, encode_jpeg(rgb, QUALITY, "4:2:0")


def codec(preset: str, device: str, precision: str) -> Codec:
    if weights_path(preset).exists():
        return Codec(preset, device, precision=precision)
    torch.manual_seed(0)  # the same untrained model in every precision, so its sidecar applies to each
    return Codec(device=device, net=SideJPEGNet(PRESETS[preset]), precision=precision)


def seconds(run: Callable[[], object], reps: int, device: str) -> float:
    run()
    times = []
    for _ in range(reps):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        run()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="fast,unet,paper")
    parser.add_argument("--precisions", default=",".join(CUDA_PRECISIONS))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--out", type=Path, help="write the results to this JSON file (after every row)")
    args = parser.parse_args(argv)
    rgb, jpeg = photo()
    megapixels = SIZE[0] * SIZE[1] / 1e6
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    rows = []
    print(f"{megapixels:.1f} MP photo, q{QUALITY}, {device_name}: megapixels per second")
    for preset in args.presets.split(","):
        sidecar = None
        for precision in args.precisions.split(","):
            c = codec(preset, args.device, precision)
            sidecar = sidecar or c.compress(rgb, QUALITY, LAMBDA).sidecar
            blind = seconds(lambda c=c: c.restore(jpeg), args.reps, args.device)
            side = seconds(lambda c=c, s=sidecar: c.restore(jpeg, s), args.reps, args.device)
            rows.append({
                "preset": preset, "precision": precision, "blind_s": round(blind, 3), "side_s": round(side, 3),
                "blind_mp_per_s": round(megapixels / blind, 1), "side_mp_per_s": round(megapixels / side, 1),
            })
            print(json.dumps(rows[-1]), flush=True)
            if args.out:
                report = {"device": device_name, "megapixels": megapixels, "rows": rows}
                write_bytes(args.out, json.dumps(report).encode())


if __name__ == "__main__":
    main()
