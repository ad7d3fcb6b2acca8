"""Where blind restoration helps: measured per model on held-out and sampled training images, stored with
its weights.

A blind restorer that has never seen a JPEG's original can only guess, and at very high qualities its
guess costs more than it gains. The decoder knows from the header how fine the quantiser is, so each
model carries the finest mean luma step from which on it was measured to improve every calibration image by
a margin (``TOLERANCE_DB``) at any chroma sampling or encoder, clean and with a photograph's noise added
(``NOISE_SIGMAS``) (``engine.weights.BLIND_MIN_STEP_KEY``), and per step and chroma sampling the share of its
restoration a JPEG is shown with (``BLIND_SHARES_KEY``, ``blind_shares``): finer than that threshold, the
decode anew from the coefficients (``Constraint.decode``) moved towards the restoration by the share that
served the worst point best, at most ``engine.strength.MAX_SHARE``; from it on, the share between that and
all of it that serves the mean best without lowering the worst point. One threshold for all samplings:
thresholds per sampling, tried, rest on too few images (4:2:0 looked safe up to q100 on the four held-out
images and lost up to 0.8 dB on photographs).
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from engine import encoders
from engine.conditioning import Conditioning
from engine.config import LAMBDA_MIN
from engine.constraint import Constraint
from engine.inference import mixed
from engine.jpeg_io import decode_with_params
from engine.models.sidejpeg import SideJPEGNet
from engine.strength import MAX_SHARE
from engine.training.data import PACK_MANIFEST, load_rgb, split, to_tensor, with_noise
from engine.training.validate import centre_crop, rounded_psnr
from engine.weights import BLIND_MIN_STEP_KEY, BLIND_SHARES_KEY

QUALITIES = (50, 60, 70, 75, 80, 85, 88, 90, 92, 94, 95, 96, 97, 98, 99, 100)
SETTINGS = (("pillow", "4:2:0"), ("pillow", "4:2:2"), ("pillow", "4:4:4"), ("jpegli", "auto"))
CROP = 512
NOISE_SIGMAS = (0.0, 2.0, 4.0)
"""Each held-out crop is measured as it is and with Gaussian noise of these standard deviations (8-bit
units) added before compression. The training images are downsampled, so nearly noise-free, and a
restorer that learned on them alone takes a photograph's sensor noise or film grain, which fine quantisers
keep, for artifacts: at luma steps 6.9-9.3 every clean held-out crop gained at least +0.068 dB (`fast`,
step 28389) while the worst Kodak or LIVE1 photograph lost up to 0.09 dB; with noise of 2 and 4 the
held-out points there fall below the margin too. Training adds such noise since (``data.NOISE_SHARE``)."""
TOLERANCE_DB = 0.05
"""The least change of PSNR against the JPEG that every held-out point must show where blind restoration
applies: a margin, not a tolerance of loss, because four held-out images are a small sample of photographs.
Allowing -0.03 dB, the `fast` of session 8 applied down to jpegli q92 (worst held-out point there +0.14 dB)
and lost up to 0.08 dB at jpegli q90 on unseen photographs."""
SHARES = tuple(k / 8 for k in range(9))
"""The network's shares measured (0: the decode anew alone, 1: the network alone)."""
EVERY = 7
"""Of the training images, every ``EVERY``-th joins the held-out ones in the calibration: four held-out
photographs cannot see what a screenshot or a flat graphic suffers (at Pillow 4:4:4 q100 a clean screenshot
lost 0.03 dB with a quarter of the network, where the held-out images had gained most with it). The network
has seen these, so they overstate its worth rather than hide a loss."""


def calibration_images(folder: Path) -> list[Path]:
    """The images a model is calibrated on: a training folder's held-out images and every ``EVERY``-th
    training image; of a pack (``engine.training.pack``), its held-out crops alone, since its other crops are
    small random ones."""
    train, held_out = split(folder)
    if (Path(folder) / PACK_MANIFEST).exists():
        return held_out
    return held_out + [path for path in train[::EVERY] if path not in held_out]


@dataclass(frozen=True)
class Point:
    image: str
    encoder: str
    subsampling: str
    """What the file says (jpegli picks its own)."""
    quality: int
    luma_step: float
    change_db: float
    noise: float = 0.0
    """Standard deviation of the noise added to the original (8-bit units)."""
    shared_db: tuple[float, ...] = ()
    """The change at each of ``SHARES`` of the network, the rest the JPEG decoded anew (as it is without a
    constraint)."""


@torch.inference_mode()
def measure(net: SideJPEGNet, paths: list[Path], device: torch.device, crop: int = CROP) -> list[Point]:
    """Blind change of PSNR against the JPEG, as the decoder shows it, for every calibration image, noise
    level, encoder, subsampling and quality."""
    net.eval()
    points = []
    for path in paths:
        clean = np.ascontiguousarray(centre_crop(load_rgb(path), crop))
        for sigma in NOISE_SIGMAS:
            patch = with_noise(clean, sigma, np.random.default_rng(zlib.crc32(path.stem.encode())))
            x = to_tensor([patch]).to(device)
            for encoder, subsampling in SETTINGS:
                for quality in QUALITIES:
                    jpeg = encoders.ENCODERS[encoder](patch, quality, subsampling)
                    decoded, params = decode_with_params(jpeg)
                    y = to_tensor([decoded]).to(device)
                    cond = torch.from_numpy(Conditioning.of(params, LAMBDA_MIN).vector())[None].to(device)
                    restored, anew = _shown(net.restore(y, cond, None), y, jpeg)
                    before = rounded_psnr(y, x)
                    shared = tuple(rounded_psnr(mixed(anew, restored, s), x) - before for s in SHARES)
                    points.append(
                        Point(
                            path.stem, encoder, params.subsampling, quality, params.luma_step,
                            rounded_psnr(restored, x) - before, sigma, shared,
                        )
                    )
    return points


def _shown(restored: torch.Tensor, jpeg: torch.Tensor, data: bytes) -> tuple[torch.Tensor, torch.Tensor]:
    """The blind restoration as the decoder shows it, within the JPEG's quantisation constraint, and the JPEG
    decoded anew (the JPEG itself without a constraint)."""
    constraint = Constraint.of(data)
    if constraint is None:
        return restored, jpeg
    return constraint.project(restored, 0, 0), constraint.decode(jpeg, 0, 0, float_where_coarse=True)


def blind_min_step(points: list[Point], tolerance: float = TOLERANCE_DB) -> float:
    """The finest mean luma step from which on (that step and every coarser one measured) no point's change
    with the network alone falls below ``tolerance``; infinite when even the coarsest fails."""
    steps = sorted({p.luma_step for p in points}, reverse=True)
    threshold = float("inf")
    for step in steps:
        if min(p.change_db for p in points if p.luma_step == step) < tolerance:
            break
        threshold = step
    return threshold


def blind_shares(points: list[Point], threshold: float, tolerance: float = TOLERANCE_DB) -> list[list]:
    """[step, sampling, share] for each step and chroma sampling measured, coarsest first.

    Finer than ``threshold``, of the shares up to ``MAX_SHARE``, the one whose worst point changes most (the
    least on a tie), 0 where even that falls below ``tolerance``: the network was measured to harm some image
    there, so the worst case decides. Per sampling because the network's worth differs most there at the
    finest steps (4:4:4 at q99-100: share 1/4 served the worst point better than 1/2, 4:2:0 the reverse).
    From the threshold on, where the network alone passes every point, of the shares from ``MAX_SHARE`` to 1
    that leave the worst point no lower than the network alone does, the one whose mean change is highest
    (the greatest on a tie): at 4:4:4 q88-92 three quarters or seven eighths of the network served both better
    than all of it."""
    rows = []
    for step, sampling in sorted({(p.luma_step, p.subsampling) for p in points}, key=lambda c: (-c[0], c[1])):
        changes = np.array([p.shared_db for p in points if (p.luma_step, p.subsampling) == (step, sampling)])
        worst, mean = changes.min(axis=0), changes.mean(axis=0)
        if step < threshold:
            capped = [i for i, share in enumerate(SHARES) if share <= MAX_SHARE]
            best = max(capped, key=lambda i: (worst[i], -i))
            rows.append([step, sampling, SHARES[best] if worst[best] >= tolerance else 0.0])
        else:
            kept = [i for i, share in enumerate(SHARES) if share >= MAX_SHARE and worst[i] >= worst[-1]]
            rows.append([step, sampling, SHARES[max(kept, key=lambda i: (mean[i], i))]])
    return rows


def calibration(
    net: SideJPEGNet, paths: list[Path], device: torch.device, crop: int = CROP, floor: float = 0.0
) -> dict:
    """The model info entries of a calibration on centre crops of ``crop`` pixels: the threshold and what it
    rests on. ``floor``: a mean luma step the threshold stays at or above whatever the calibration images allow,
    for weights whose calibrated threshold a check on photographs found too fine (``sidejpeg train --export
    --blind-floor``); the calibrated one is kept beside it."""
    points = measure(net, paths, device, crop)
    calibrated = blind_min_step(points)
    threshold = max(calibrated, floor)
    applied = [p for p in points if p.luma_step >= threshold]
    return {
        BLIND_MIN_STEP_KEY: threshold,
        BLIND_SHARES_KEY: blind_shares(points, threshold),
        "blind_calibration": {
            "images": sorted({p.image for p in points}),
            "crop": crop,
            "tolerance_db": TOLERANCE_DB,
            "noise_sigmas": list(NOISE_SIGMAS),
            "calibrated_min_step": calibrated,
            "floor": floor,
            "worst_applied_db": round(min((p.change_db for p in applied), default=0.0), 4),
            "points": [
                asdict(p) | {"change_db": round(p.change_db, 4), "shared_db": [round(c, 4) for c in p.shared_db]}
                for p in points
            ],
        },
    }
