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


def valuation(codec: Codec, images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The blind curve's slope (dB per bpp) and the JPEG's rate (bpp) at each quality over ``images``: what
    ``rate_saved`` values a change against. Printed, since every table of these benchmarks reads against them."""
    blind = points(codec, images, None)
    slope = slopes(blind)
    print(f"{len(images)} crops; blind slope dB/bpp at q{QUALITIES}: {np.round(slope, 2).tolist()}")
    return slope, blind.mean(axis=0)[:, 1]


def rate_saved(gain: np.ndarray | float, bpp: np.ndarray | float, slope: np.ndarray | float,
               rate: np.ndarray | float) -> np.ndarray | float:
    """% of the JPEG's ``rate`` saved by a PSNR ``gain`` (dB) that costs ``bpp`` more, valued as the BD-rate values
    it: the gain over the blind curve's ``slope``, minus the bits (positive saves rate)."""
    return 100 * (gain / slope - bpp) / rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/train"))
    parser.add_argument("--lambdas", default="64,256,1024")
    parser.add_argument("--caps", default="64,128", help="caps to compare with no cap")
    args = parser.parse_args()
    images = crops(args.data)
    codec = Codec("fast", "cpu")
    slope, jpeg_rate = valuation(codec, images)
    print("| lambda | cap | " + " | ".join(f"q{q}" for q in QUALITIES) + " |")
    for lam in (float(v) for v in args.lambdas.split(",")):
        codec.encoder.adaptation_lambda = math.inf
        base = points(codec, images, lam)
        for cap in (float(v) for v in args.caps.split(",")):
            if cap >= lam:
                continue
            codec.encoder.adaptation_lambda = cap
            got = points(codec, images, lam)
            change = (got - base).mean(axis=0)
            cells = " | ".join(f"{s:+.2f} %" for s in rate_saved(change[:, 0], change[:, 1], slope, jpeg_rate))
            print(f"| {lam:g} | {cap:g} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
