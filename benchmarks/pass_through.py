"""What moving a JPEG's own pixels into its quantisation constraint changes, with no network:
``python -m benchmarks.pass_through [--data FOLDER]``.

A JPEG finer than the model restores is shown as its own pixels, moved into its constraint where its
chroma is subsampled (``engine.pipeline.constrains_passed_through``). For every image, encoder, chroma
sampling and quality this prints the mean and worst change of PSNR (RGB, whole image) of the projected
pixels against the JPEG's, and whether the codec applies the projection there. Without ``--data`` it
measures training images (512x512 centre crops, clean and with the blind calibration's noise), which is
what a rule may be chosen on; a test folder only checks it.
"""

from __future__ import annotations

import argparse
import zlib
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from engine import encoders
from engine.constraint import Constraint
from engine.inference import pixels
from engine.jpeg_io import decode_with_params
from engine.metrics import psnr
from engine.pipeline import constrains_passed_through
from engine.training.calibrate import NOISE_SIGMAS
from engine.training.data import list_images, load_rgb, split, to_tensor, with_noise
from engine.training.validate import centre_crop

QUALITIES = (80, 85, 88, 90, 92, 94, 95, 96, 97, 98, 99, 100)
SETTINGS = (("pillow", "4:2:0"), ("pillow", "4:2:2"), ("pillow", "4:4:4"), ("jpegli", "auto"))
CROP = 512


TRAINING = Path("../shared/data/train")
EVERY = 7
"""Of the training images, every ``EVERY``-th joins the held-out ones: the projection learns nothing from them."""


def originals(data: Path | None) -> Iterator[np.ndarray]:
    """The test folder's images as they are, or training crops (the held-out images and every ``EVERY``-th
    other one), each clean and with each of the blind calibration's noise levels."""
    if data is not None:
        yield from (load_rgb(path) for path in list_images(data))
        return
    train, held_out = split(TRAINING)
    for path in held_out + train[::EVERY]:
        clean = np.ascontiguousarray(centre_crop(load_rgb(path), CROP))
        for sigma in NOISE_SIGMAS:
            yield with_noise(clean, sigma, np.random.default_rng(zlib.crc32(path.stem.encode())))


def change_db(original: np.ndarray, jpeg: bytes) -> tuple[float, bool, str]:
    """The projection's change of PSNR against the JPEG, whether the codec applies it, and the file's sampling."""
    decoded, params = decode_with_params(jpeg)
    constraint = Constraint.of(jpeg)
    if constraint is None:
        return 0.0, False, params.subsampling
    projected = pixels(constraint.project(to_tensor([decoded]), 0, 0))
    return psnr(projected, original) - psnr(decoded, original), constrains_passed_through(params), params.subsampling


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="a folder of test originals (default: training crops)")
    args = parser.parse_args()
    changes: dict[tuple[str, str, int, bool], list[float]] = defaultdict(list)
    for original in originals(args.data):
        for encoder, subsampling in SETTINGS:
            for quality in QUALITIES:
                jpeg = encoders.ENCODERS[encoder](original, quality, subsampling)
                change, applied, sampling = change_db(original, jpeg)
                changes[(encoder, sampling, quality, applied)].append(change)
    print("| encoder | sampling | quality | codec projects | mean dB | worst dB | images |")
    print("| --- | --- | ---: | --- | ---: | ---: | ---: |")
    for (encoder, sampling, quality, applied), values in sorted(changes.items()):
        row = f"| {encoder} | {sampling} | {quality} | {'yes' if applied else 'no'} "
        print(row + f"| {np.mean(values):+.3f} | {np.min(values):+.4f} | {len(values)} |")


if __name__ == "__main__":
    main()
