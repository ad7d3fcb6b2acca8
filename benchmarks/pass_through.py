"""What decoding a JPEG anew from its coefficients changes, alone and with a share of the network:
``python -m benchmarks.pass_through [--data FOLDER] [--preset PRESET]``.

A fine JPEG is shown decoded anew (``engine.constraint.Constraint.decode``): its full-rate components from
their coefficients onto the integer grid, its subsampled ones moved into the constraint; then moved towards
the network's restoration by the share calibrated for its step and chroma sampling (``engine.strength``).
For every image, encoder, chroma sampling and quality this prints the mean and worst change of PSNR (RGB,
whole image) against the JPEG as libjpeg decodes it, of that decode alone, of what the preset's blind decoder
shows (``Codec.restore``, the network's share in the last column) and, for comparison, of the JPEG's own
pixels moved into the constraint (what sessions 17-31 showed where the chroma is subsampled).
Without ``--data`` it measures the blind calibration's images (held-out and sampled training images,
512x512 centre crops, clean and with its noise), which is what a rule may be chosen on; a test folder only
checks it.
"""

from __future__ import annotations

import argparse
import zlib
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from engine import DEFAULT_PRESET, Codec, encoders
from engine.constraint import Constraint
from engine.inference import pixels
from engine.jpeg_io import decode_with_params
from engine.metrics import psnr
from engine.training.calibrate import CROP, NOISE_SIGMAS, SETTINGS, calibration_images
from engine.training.data import list_images, load_rgb, to_tensor, with_noise
from engine.training.validate import centre_crop

QUALITIES = (80, 85, 88, 90, 92, 94, 95, 96, 97, 98, 99, 100)
TRAINING = Path("../shared/data/train")


def originals(data: Path | None) -> Iterator[np.ndarray]:
    """The test folder's images as they are, or crops of the blind calibration's images (held-out and sampled
    training images), each clean and with each of its noise levels."""
    if data is not None:
        yield from (load_rgb(path) for path in list_images(data))
        return
    for path in calibration_images(TRAINING):
        clean = np.ascontiguousarray(centre_crop(load_rgb(path), CROP))
        for sigma in NOISE_SIGMAS:
            yield with_noise(clean, sigma, np.random.default_rng(zlib.crc32(path.stem.encode())))


def changes_db(codec: Codec, original: np.ndarray, jpeg: bytes) -> tuple[tuple[float, float, float, float], str]:
    """The change of PSNR against the JPEG of its decode anew, of what ``codec`` shows blind and of its
    pixels projected; the network's share in what is shown; and the file's sampling."""
    decoded, params = decode_with_params(jpeg)
    constraint = Constraint.of(jpeg)
    if constraint is None:
        return (0.0, 0.0, 0.0, 0.0), params.subsampling
    before = psnr(decoded, original)
    image = to_tensor([decoded])
    anew = pixels(constraint.decode(image, 0, 0, float_where_coarse=True))
    shown = codec.restore(jpeg)
    projected = pixels(constraint.project(image, 0, 0))
    changes = (psnr(anew, original), psnr(shown.image, original), psnr(projected, original))
    return (*(change - before for change in changes), shown.network_share), params.subsampling


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="a folder of test originals (default: training crops)")
    parser.add_argument("--qualities", default=",".join(map(str, QUALITIES)), help="comma-separated JPEG qualities")
    parser.add_argument("--preset", default=DEFAULT_PRESET, help="the model whose blind decoder is measured")
    args = parser.parse_args()
    qualities = [int(q) for q in args.qualities.split(",")]
    codec = Codec(args.preset, device="cpu")
    changes: dict[tuple[str, str, int], list[tuple[float, float, float, float]]] = defaultdict(list)
    for original in originals(args.data):
        for encoder, subsampling in SETTINGS:
            for quality in qualities:
                jpeg = encoders.ENCODERS[encoder](original, quality, subsampling)
                values, sampling = changes_db(codec, original, jpeg)
                changes[(encoder, sampling, quality)].append(values)
    print(
        "| encoder | sampling | quality | anew: mean dB | worst dB | shown: mean dB | worst dB "
        "| projected: mean dB | worst dB | network share | images |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (encoder, sampling, quality), values in sorted(changes.items()):
        anew, shown, projected, share = np.asarray(values).T
        print(
            f"| {encoder} | {sampling} | {quality} | {anew.mean():+.3f} | {anew.min():+.4f} "
            f"| {shown.mean():+.3f} | {shown.min():+.4f} | {projected.mean():+.3f} | {projected.min():+.4f} "
            f"| {share.max():.3g} | {len(values)} |"
        )


if __name__ == "__main__":
    main()
