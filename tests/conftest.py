"""Shared fixtures: small images and a random-initialised codec (fast, no shipped weights needed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from engine.config import get_preset
from engine.models.sidejpeg import SideJPEGNet
from engine.pipeline import Codec
from engine.resources import SAMPLE_IMAGE


def tiny_image(seed: int, height: int = 48, width: int = 64) -> np.ndarray:
    """A small smooth gradient with texture: compresses like a photo, not like noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 3, y * 4, (x + y) * 2], axis=-1) + rng.normal(0, 12, (height, width, 3))
    return np.clip(base, 0, 255).astype(np.uint8)


def random_net(seed: int = 0, preset: str = "fast") -> SideJPEGNet:
    """A randomly initialised network whose restorer does not start as the identity."""
    torch.manual_seed(seed)
    net = SideJPEGNet(get_preset(preset))
    torch.nn.init.normal_(net.restorer.tail.weight, std=0.01)
    return net.eval()


def selecting_net(seed: int, modulation_std: float | None = None) -> torch.nn.Module:
    """A random network that adds only its (visibly different) candidates to the JPEG, so that some help
    some blocks; ``modulation_std`` makes its trunk respond to the map (so that the decoder's result
    departs from the encoder's estimate)."""
    net = random_net(seed=seed)
    torch.nn.init.zeros_(net.restorer.tail.weight)
    torch.nn.init.normal_(net.restorer.corrections.out.weight, std=0.02)
    if modulation_std is not None:
        for block in net.restorer.blocks:
            torch.nn.init.normal_(block.modulation.weight, std=modulation_std)
    return net


@pytest.fixture(scope="session")
def codec() -> Codec:
    return Codec(net=random_net(), device="cpu")


@pytest.fixture(scope="session")
def sample_rgb() -> np.ndarray:
    """A 96x128 crop of the bundled sample image: real content, fast to process."""
    with Image.open(SAMPLE_IMAGE) as im:
        return np.ascontiguousarray(np.asarray(im.convert("RGB"))[200:296, 300:428])


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for modules of many tiny cases (the CI machine may be busy)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
