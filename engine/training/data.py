"""Training batches: random crops of training photos, JPEG-compressed at random qualities."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from engine.conditioning import JpegParams
from engine.config import BLOCK
from engine.image_io import SUPPORTED_SUFFIXES
from engine.jpeg_io import SUBSAMPLING, params_of

VALIDATION_STEMS = ("wiki_037", "wiki_038", "plasma_Volna", "mate_Storm")
"""Training-folder images held out for validation, by name without extension, so that a copy of the
folder in another format holds out the same images (the test sets are never looked at)."""

TRAINING_SUFFIXES = frozenset(SUPPORTED_SUFFIXES) - {".gif"}
"""What ``load_image`` reads, less GIF: 256-colour palettes make poor ground truth."""


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in TRAINING_SUFFIXES)


def split(folder: Path) -> tuple[list[Path], list[Path]]:
    """(training, validation) image paths of a training folder."""
    images = list_images(folder)
    val = [p for p in images if p.stem in VALIDATION_STEMS]
    train = [p for p in images if p.stem not in VALIDATION_STEMS]
    if not train:
        raise ValueError(f"no training images in {folder}")
    return train, val or train[:1]


def load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def jpeg_roundtrip(rgb: np.ndarray, quality: int, subsampling: str) -> tuple[np.ndarray, JpegParams]:
    """Decoded JPEG and its parameters; no Huffman optimisation since pixels do not depend on it."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality, subsampling=SUBSAMPLING[subsampling])
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB")), params_of(im)


def sample_quality(rng: np.random.Generator) -> int:
    """Qualities over 5-95, with more weight where restoration matters most (5-60)."""
    return int(rng.integers(5, 96) if rng.random() < 0.35 else rng.integers(5, 61))


@dataclass
class Batch:
    original: torch.Tensor
    jpeg: torch.Tensor
    jpeg_cond: torch.Tensor


def to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div_(255.0).contiguous()


class CropSampler:
    """Random, augmented, JPEG-compressed crops (a multiple of the 16x16 block) from RAM."""

    def __init__(self, paths: list[Path], crop: int, seed: int) -> None:
        if crop % BLOCK:
            raise ValueError(f"crop size must be a multiple of {BLOCK}")
        self.images = [img for img in (load_rgb(p) for p in paths) if min(img.shape[:2]) >= crop]
        self.crop = crop
        self.rng = np.random.default_rng(seed)

    def crop_one(self) -> np.ndarray:
        img = self.images[self.rng.integers(len(self.images))]
        top = self.rng.integers(img.shape[0] - self.crop + 1)
        left = self.rng.integers(img.shape[1] - self.crop + 1)
        patch = img[top : top + self.crop, left : left + self.crop]
        patch = np.rot90(patch, self.rng.integers(4))
        if self.rng.random() < 0.5:
            patch = patch[:, ::-1]
        return np.ascontiguousarray(patch)

    def batch(self, size: int) -> Batch:
        originals, jpegs, conds = [], [], []
        for _ in range(size):
            patch = self.crop_one()
            sub = "4:2:0" if self.rng.random() < 0.8 else "4:4:4"
            decoded, params = jpeg_roundtrip(patch, sample_quality(self.rng), sub)
            originals.append(patch)
            jpegs.append(decoded)
            conds.append(params.vector())
        return Batch(to_tensor(originals), to_tensor(jpegs), torch.from_numpy(np.stack(conds)))
