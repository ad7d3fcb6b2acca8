"""Training batches: random crops of training photos, compressed as users' JPEGs are.

Every quality 1-100 with most weight where photos live (75-98) and where restoration gains most
(5-40); 4:2:0, 4:2:2, 4:4:4 and grayscale; libjpeg-turbo's tables, jpegli's, and custom tables like
cameras' and editors'. The networks see only what the file's header says (``engine.conditioning``).
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from engine import encoders
from engine.conditioning import JpegParams, lambda_code
from engine.config import BLOCK, LAMBDA_MAX, LAMBDA_MIN
from engine.image_io import SUPPORTED_SUFFIXES
from engine.jpeg_io import SUBSAMPLING, decode_with_params, params_of

VALIDATION_STEMS = ("wiki_037", "wiki_038", "plasma_Volna", "mate_Storm")
"""Training-folder images held out for validation, by name without extension, so that a copy of the
folder in another format holds out the same images (the test sets are never looked at)."""

TRAINING_SUFFIXES = frozenset(SUPPORTED_SUFFIXES) - {".gif"}
"""What ``load_image`` reads, less GIF: 256-colour palettes make poor ground truth."""
PACK_MANIFEST = "pack.json"
"""What marks a training folder as a pack (``engine.training.pack``) and lists what it was cut from."""


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


QUALITY_BANDS = ((0.42, 1, 40), (0.18, 41, 74), (0.32, 75, 98), (0.08, 99, 100))
"""(probability, lowest, highest quality) of the quality draw."""
SUBSAMPLINGS = (("4:2:0", 0.40), ("4:2:2", 0.22), ("4:4:4", 0.32), ("gray", 0.06))
ENCODER_SHARES = (("pillow", 0.70), ("jpegli", 0.15), ("custom", 0.15))


NOISE_SHARE = 0.3
NOISE_SIGMA = (0.5, 5.0)
"""A share of the training originals gets Gaussian noise of a standard deviation drawn uniformly from this
range (8-bit units), added before compression: the downsampled training images are nearly noise-free, and
a restorer that never saw a photograph's sensor noise or film grain takes what a fine quantiser keeps of it
for artifacts (``engine.training.calibrate.NOISE_SIGMAS``)."""


def with_noise(rgb: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``rgb`` with rounded Gaussian noise of ``sigma`` (8-bit units) added."""
    if sigma == 0:
        return rgb
    return np.clip(np.round(rgb + rng.normal(0.0, sigma, rgb.shape)), 0, 255).astype(np.uint8)


def maybe_noisy(patch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``patch``, or with probability ``NOISE_SHARE`` a noisy photograph of it (``NOISE_SIGMA``)."""
    if rng.random() >= NOISE_SHARE:
        return patch
    return with_noise(patch, float(rng.uniform(*NOISE_SIGMA)), rng)


def sample_quality(rng: np.random.Generator) -> int:
    """A quality from ``QUALITY_BANDS``."""
    shares = [band[0] for band in QUALITY_BANDS]
    _, low, high = QUALITY_BANDS[rng.choice(len(QUALITY_BANDS), p=shares)]
    return int(rng.integers(low, high + 1))


def _pick(rng: np.random.Generator, options: tuple[tuple[str, float], ...]) -> str:
    return options[rng.choice(len(options), p=[share for _, share in options])][0]


def random_jpeg(patch: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, JpegParams]:
    """(target, decoded JPEG, its parameters) of a patch compressed by a random encoder, quality and
    subsampling; a grayscale JPEG's target is the patch's gray, which is all such a file can restore."""
    quality, encoder, sub = sample_quality(rng), _pick(rng, ENCODER_SHARES), _pick(rng, SUBSAMPLINGS)
    if sub == "gray":
        gray = np.asarray(Image.fromarray(patch).convert("L"))
        buf = io.BytesIO()
        Image.fromarray(gray).save(buf, "JPEG", quality=quality)
        decoded, params = decode_with_params(buf.getvalue())
        return np.repeat(gray[..., None], 3, axis=2), decoded, params
    if encoder == "jpegli":
        data = encoders.jpegli(patch, quality)
    elif encoder == "custom":
        data = encoders.with_tables(patch, encoders.custom_tables(quality, rng), sub)
    else:
        return (patch, *jpeg_roundtrip(patch, quality, sub))
    decoded, params = decode_with_params(data)
    return patch, decoded, params


def sample_lambdas(rng: np.random.Generator, n: int) -> np.ndarray:
    """Lambdas drawn log-uniformly over the whole range."""
    return np.exp(rng.uniform(math.log(LAMBDA_MIN), math.log(LAMBDA_MAX), n)).astype(np.float32)


@dataclass
class Batch:
    original: torch.Tensor
    jpeg: torch.Tensor
    cond: torch.Tensor
    """The JPEG's conditioning and the sample's lambda code (``engine.conditioning``)."""
    lambdas: torch.Tensor

    def pin_memory(self) -> Batch:
        """The batch in page-locked memory (what a DataLoader with ``pin_memory`` calls)."""
        return Batch(*(t.pin_memory() for t in (self.original, self.jpeg, self.cond, self.lambdas)))


def to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div_(255.0).contiguous()


class CropSampler:
    """Random, augmented, JPEG-compressed crops (a multiple of the 16x16 block) from RAM, each with a random
    lambda."""

    def __init__(self, paths: list[Path], crop: int, seed: int) -> None:
        if crop % BLOCK:
            raise ValueError(f"crop size must be a multiple of {BLOCK}")
        self.images = [img for img in (load_rgb(p) for p in paths) if min(img.shape[:2]) >= crop]
        self.crop = crop
        self.seed(seed)

    def seed(self, seed: int) -> None:
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
            target, decoded, params = random_jpeg(maybe_noisy(self.crop_one(), self.rng), self.rng)
            originals.append(target)
            jpegs.append(decoded)
            conds.append(params.vector())
        lambdas = sample_lambdas(self.rng, size)
        lam_codes = torch.tensor([lambda_code(float(v)) for v in lambdas])[:, None]
        cond = torch.cat([torch.from_numpy(np.stack(conds)), lam_codes], dim=1)
        return Batch(to_tensor(originals), to_tensor(jpegs), cond, torch.from_numpy(lambdas))


class _Batches(IterableDataset):
    """Endless batches of one sampler; each DataLoader worker reseeds its copy with its own seed."""

    def __init__(self, sampler: CropSampler, size: int, seed: int) -> None:
        self.sampler, self.size, self.seed = sampler, size, seed

    def __iter__(self) -> Iterator[Batch]:
        worker = get_worker_info()
        if worker is not None:
            self.sampler.seed(self.seed + 7919 * (worker.id + 1))
        while True:
            yield self.sampler.batch(self.size)


def default_workers(device: torch.device) -> int:
    """Worker processes that make batches: none on a CPU, whose cores train; on a GPU, cores to spare."""
    return 0 if device.type == "cpu" else max(1, min(8, (os.cpu_count() or 2) - 1))


def batches(sampler: CropSampler, size: int, seed: int, workers: int, pin: bool) -> Iterator[Batch]:
    """Endless batches of ``size``, made in ``workers`` processes (0: in this one), the next ones made
    while the training step runs; pinned for asynchronous copies to a GPU with ``pin``."""
    loader = DataLoader(
        _Batches(sampler, size, seed), batch_size=None, num_workers=workers, pin_memory=pin,
        prefetch_factor=4 if workers else None, persistent_workers=workers > 0,
    )
    return iter(loader)
