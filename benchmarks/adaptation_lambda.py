"""At which lambda should the image's adaptation be chosen? ``python -m benchmarks.adaptation_lambda``.

The encoder chooses the adaptation's weights at the sidecar's lambda; ``Encoder.adaptation_lambda`` can cap
it, so that the adaptation's bits are priced lower than the descriptors' at high lambdas. This compresses
training crops (the held-out images and every 14th training image, 512x512 centre crops) at q10-40 with
each cap and each lambda, and values what a cap changes as the BD-rate does: the change of PSNR divided by
the blind curve's own slope at that quality (dB per bpp, from the same crops), minus the change of rate, as
a percentage of the JPEG's rate. Positive means the cap saves rate. The test sets are never looked at.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from engine import Codec, encode_jpeg, psnr
from engine.training.data import load_rgb, split
from engine.training.validate import centre_crop

QUALITIES = (10, 20, 30, 40)
EVERY = 14


def crops(data: Path) -> list[np.ndarray]:
    train, held_out = split(data)
    return [np.ascontiguousarray(centre_crop(load_rgb(path), 512)) for path in held_out + train[::EVERY]]


def points(codec: Codec, images: list[np.ndarray], lam: float | None) -> np.ndarray:
    """(images, qualities, 2): PSNR and bpp of each image restored with its sidecar at ``lam``, or blind from
    its JPEG alone (``lam`` None: no encoder runs)."""
    out = np.zeros((len(images), len(QUALITIES), 2))
    for i, rgb in enumerate(images):
        pixels = rgb.shape[0] * rgb.shape[1]
        for j, quality in enumerate(QUALITIES):
            if lam is None:
                jpeg = encode_jpeg(rgb, quality)
                out[i, j] = psnr(codec.restore(jpeg).image, rgb), len(jpeg) * 8 / pixels
            else:
                made = codec.compress(rgb, quality, lam)
                out[i, j] = psnr(made.restored, rgb), made.bpp_total
    return out


def slopes(blind: np.ndarray) -> np.ndarray:
    """dB per bpp of the mean blind curve at each quality (from the quality before; the first to the next)."""
    mean = blind.mean(axis=0)
    ends = [(j - 1, j) if j else (0, 1) for j in range(len(QUALITIES))]
    return np.array([(mean[b, 0] - mean[a, 0]) / (mean[b, 1] - mean[a, 1]) for a, b in ends])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/train"))
    parser.add_argument("--lambdas", default="64,256,1024")
    parser.add_argument("--caps", default="64,128", help="caps to compare with no cap")
    args = parser.parse_args()
    images = crops(args.data)
    codec = Codec("fast", "cpu")
    blind = points(codec, images, None)
    slope = slopes(blind)
    print(f"{len(images)} crops; blind slope dB/bpp at q{QUALITIES}: {np.round(slope, 2).tolist()}")
    print("| lambda | cap | " + " | ".join(f"q{q}" for q in QUALITIES) + " |")
    for lam in (float(v) for v in args.lambdas.split(",")):
        codec.encoder.adaptation_lambda = math.inf
        base = points(codec, images, lam)
        for cap in (float(v) for v in args.caps.split(",")):
            if cap >= lam:
                continue
            codec.encoder.adaptation_lambda = cap
            got = points(codec, images, lam)
            saving = ((got[..., 0] - base[..., 0]) / slope - (got[..., 1] - base[..., 1])).mean(axis=0)
            cells = " | ".join(f"{100 * s / r:+.2f} %" for s, r in zip(saving, blind.mean(axis=0)[:, 1], strict=True))
            print(f"| {lam:g} | {cap:g} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
