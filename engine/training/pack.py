"""A compact copy of a training folder for a machine that takes little data (a lent GPU takes 64 MiB): the
held-out images as the centre crops validation and calibration read, and random crops of the training
images, as lossless PNGs, until a size budget is spent. A model exported from a pack is calibrated on its
held-out crops alone (``engine.training.calibrate.calibration_images``): the budget goes to training crops,
and the weights that ship are exported again on the full training folder.

The pack is itself a training folder: ``sidejpeg train --data PACK`` reads it as it reads the original,
and holds out the same images by name (``engine.training.data.VALIDATION_STEMS``).
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from engine.atomic import write_bytes
from engine.errors import SideJPEGError
from engine.training.calibrate import CROP as HELD_OUT_CROP
from engine.training.data import PACK_MANIFEST, load_rgb, split
from engine.training.validate import centre_crop


@dataclass(frozen=True)
class PackReport:
    training_crops: int
    held_out: int
    bytes: int


def _png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG", optimize=False, compress_level=9)
    return buf.getvalue()


def write_pack(source: Path, target: Path, side: int, budget_bytes: int, seed: int = 0) -> PackReport:
    """Write the pack of ``source`` into the empty or new folder ``target``: every held-out image's centre
    crop, then training crops of ``side`` pixels, an image drawn uniformly and a position uniformly within
    it (as ``CropSampler`` draws), while the total stays within ``budget_bytes``."""
    if target.exists() and any(target.iterdir()):
        raise SideJPEGError(f"{target} is not empty")
    train_paths, held_out = split(source)
    target.mkdir(parents=True, exist_ok=True)
    spent = 0
    for path in held_out:
        data = _png(np.ascontiguousarray(centre_crop(load_rgb(path), HELD_OUT_CROP)))
        write_bytes(target / f"{path.stem}.png", data)
        spent += len(data)
    images = [img for img in (load_rgb(p) for p in train_paths) if min(img.shape[:2]) >= side]
    if not images:
        raise SideJPEGError(f"no training image in {source} is {side} pixels on both sides")
    rng = np.random.default_rng(seed)
    count = 0
    while True:
        img = images[rng.integers(len(images))]
        top, left = rng.integers(img.shape[0] - side + 1), rng.integers(img.shape[1] - side + 1)
        data = _png(np.ascontiguousarray(img[top : top + side, left : left + side]))
        if spent + len(data) > budget_bytes:
            break
        write_bytes(target / f"crop_{count:05d}.png", data)
        spent, count = spent + len(data), count + 1
    report = PackReport(count, len(held_out), spent)
    manifest = {"source": str(source), "side": side, "seed": seed, "held_out_crop": HELD_OUT_CROP, **asdict(report)}
    write_bytes(target / PACK_MANIFEST, json.dumps(manifest, indent=1).encode())
    return report
