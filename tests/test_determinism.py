"""Determinism across machines: a sidecar encoded with one torch thread count (or on the GPU) decodes to
the identical descriptor map with another (or on the CPU), and a sidecar from other weights is refused.

What holds exactly: the descriptor map (the range coder's probabilities come from integer arithmetic,
never from float kernels). What need not: the restored pixels go through float convolutions whose
summation order may depend on the thread count, so a few pixels may round to the neighbouring level
(measured on a 200x300 crop: 1 value off by 1 level with one pipeline revision, identical with the
next). The tests assert the map exactly and the image within 1 level.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from PIL import Image

from engine.errors import SideJPEGError
from engine.pipeline import Codec
from engine.resources import SAMPLE_IMAGE
from tests.conftest import random_net


@contextmanager
def threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A 200x300 crop of the sample: big enough for thread-count differences to show, fast enough for CI."""
    with Image.open(SAMPLE_IMAGE) as im:
        return np.ascontiguousarray(np.asarray(im.convert("RGB"))[:200, :300])


def level_difference(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """(max absolute difference, number of differing values) of two uint8 images."""
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return int(diff.max()), int(np.count_nonzero(diff))


def test_decoding_with_another_thread_count_gives_the_same_map(codec: Codec, photo: np.ndarray) -> None:
    with threads(1):
        made = codec.compress(photo, 30, 8.0)
        here = codec.restore(made.jpeg, made.sidecar)
    with threads(2):
        symbols = codec.receive(made.jpeg, made.sidecar).symbols
        there = codec.restore(made.jpeg, made.sidecar)
    assert np.array_equal(symbols, made.symbols)
    assert np.array_equal(there.symbols, made.symbols) and np.array_equal(here.symbols, made.symbols)
    worst, count = level_difference(here.image, there.image)
    assert worst <= 1, f"restored images differ by up to {worst} levels in {count} values"


def test_encoding_with_another_thread_count_still_decodes_exactly(codec: Codec, photo: np.ndarray) -> None:
    """The extractor is float, so the map chosen may in principle differ with the thread count; whichever
    map was chosen, the decoder on the other thread count reads it back exactly."""
    for encode_threads, decode_threads in ((2, 1), (1, 2)):
        with threads(encode_threads):
            made = codec.compress(photo[:96, :160], 50, 32.0)
        with threads(decode_threads):
            symbols = codec.receive(made.jpeg, made.sidecar).symbols
        assert np.array_equal(symbols, made.symbols)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_encoded_sidecar_decodes_identically_on_the_cpu(photo: np.ndarray) -> None:
    gpu = Codec(net=random_net(), device="cuda")
    cpu = Codec(net=random_net(), device="cpu")
    assert gpu.model_id == cpu.model_id
    made = gpu.compress(photo, 30, 8.0)
    on_gpu = gpu.restore(made.jpeg, made.sidecar)
    on_cpu = cpu.restore(made.jpeg, made.sidecar)
    assert np.array_equal(on_cpu.symbols, made.symbols) and np.array_equal(on_gpu.symbols, made.symbols)
    worst, count = level_difference(on_gpu.image, on_cpu.image)
    assert worst <= 1, f"GPU and CPU restorations differ by up to {worst} levels in {count} values"


def test_sidecar_from_other_weights_is_refused_not_decoded(codec: Codec, photo: np.ndarray) -> None:
    made = codec.compress(photo[:64, :96], 30, 8.0)
    for seed in (1, 5):
        other = Codec(net=random_net(seed=seed), device="cpu")
        assert other.model_id != codec.model_id
        with pytest.raises(SideJPEGError, match=r"made with model .* not the loaded one") as caught:
            other.restore(made.jpeg, made.sidecar)
        assert "\n" not in str(caught.value)
        with pytest.raises(SideJPEGError, match=r"made with model .* not the loaded one"):
            other.receive(made.jpeg, made.sidecar)


def test_weights_identity_follows_every_tensor(codec: Codec) -> None:
    """The model id a sidecar records changes with any weight, however small the change."""
    net = random_net()
    assert Codec(net=net, device="cpu").model_id == codec.model_id
    with torch.no_grad():
        first = next(iter(net.parameters()))
        first[(0,) * first.dim()] += 1e-6
    assert Codec(net=net, device="cpu").model_id != codec.model_id
