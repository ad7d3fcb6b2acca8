"""Entropy coding: exact round trips, real sizes that match the estimated rate, integer = float."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from engine.coding import wavefront
from engine.coding.integer_context import CAUSAL_OFFSETS, IntegerContextModel
from engine.conditioning import Conditioning
from engine.config import get_preset
from engine.models.context_model import ContextModel, bits_per_block

COND = Conditioning.quantized(np.array([0.8, 0.9, 1.0, 1.0, 0.6, 0.7, 0.8, 0.0, 0.4]))


@pytest.fixture(scope="module")
def float_model() -> ContextModel:
    torch.manual_seed(1)
    return ContextModel(get_preset("fast")).eval()


@pytest.fixture(scope="module")
def int_model(float_model: ContextModel) -> IntegerContextModel:
    return IntegerContextModel(float_model)


def skewed_map(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A map with runs and a skewed histogram, like real descriptor maps."""
    symbols = rng.choice(16, size=shape, p=np.r_[0.4, 0.2, 0.1, np.full(13, 0.3 / 13)])
    for c in range(1, shape[1]):
        repeat = rng.random(shape[0]) < 0.5
        symbols[repeat, c] = symbols[repeat, c - 1]
    return symbols.astype(np.uint8)


SHAPES = [(1, 1), (1, 9), (9, 1), (2, 2), (3, 7), (17, 23), (32, 48), (64, 64), (256, 256)]


@pytest.mark.parametrize("shape", SHAPES)
def test_round_trip_is_exact(int_model: IntegerContextModel, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(shape[0] * 1000 + shape[1])
    symbols = skewed_map(rng, shape) if shape[0] % 2 else rng.integers(0, 16, shape).astype(np.uint8)
    payload = wavefront.encode(int_model, symbols, COND)
    assert np.array_equal(wavefront.decode(int_model, payload, *shape, COND), symbols)


@pytest.mark.parametrize("shape", [(8, 8), (32, 48), (128, 96)])
def test_payload_matches_estimated_rate(int_model: IntegerContextModel, shape: tuple[int, int]) -> None:
    symbols = skewed_map(np.random.default_rng(7), shape)
    estimate = wavefront.block_bits(int_model, symbols, COND).sum()
    real = 8 * len(wavefront.encode(int_model, symbols, COND))
    assert abs(real - estimate) <= 0.02 * estimate + 64


def test_integer_and_float_models_agree_in_rate(float_model: ContextModel, int_model: IntegerContextModel) -> None:
    rng = np.random.default_rng(3)
    symbols = rng.integers(0, 16, (40, 60)).astype(np.uint8)
    one_hot = torch.nn.functional.one_hot(torch.from_numpy(symbols).long(), 17).permute(2, 0, 1)[None].float()
    with torch.inference_mode():
        cond = torch.from_numpy(COND.vector())[None]
        float_bits = float(bits_per_block(float_model(one_hot, cond), one_hot).sum())
    int_bits = float(wavefront.block_bits(int_model, symbols, COND).sum())
    assert abs(int_bits - float_bits) <= 0.01 * float_bits


def test_real_descriptor_map_round_trip(codec, sample_rgb: np.ndarray) -> None:
    result = codec.compress(sample_rgb, 20, 64.0)
    received = codec.receive(result.jpeg, result.sidecar)
    header, decoded = received.header, received.symbols
    assert np.array_equal(decoded, result.symbols)
    assert abs(8 * header.payload_bytes - result.block_bits.sum()) <= 0.02 * result.block_bits.sum() + 64


def test_wavefronts_respect_causality() -> None:
    h, w = 7, 11
    seen = np.zeros((h, w), dtype=bool)
    for rows, cols in wavefront.wavefronts(h, w):
        assert not seen[rows, cols].any()
        for dy, dx in CAUSAL_OFFSETS:
            r, c = rows + dy, cols + dx
            inside = (r >= 0) & (c >= 0) & (c < w)
            assert seen[r[inside], c[inside]].all()
        seen[rows, cols] = True
    assert seen.all()
    assert len(wavefront.wavefronts(h, w)) == 3 * (h - 1) + w


def test_payload_of_impossible_length_is_refused(int_model: IntegerContextModel) -> None:
    from engine.errors import SideJPEGError

    with pytest.raises(SideJPEGError):
        wavefront.decode(int_model, b"\x00\x01\x02", 4, 4, COND)


def test_rd_choice_without_rate_takes_the_least_error(int_model: IntegerContextModel) -> None:
    errors = np.random.default_rng(3).random((9, 13, 17)) * 1000
    chosen = wavefront.rd_choose(int_model, errors, COND, 0.0)
    np.testing.assert_array_equal(chosen, errors.argmin(axis=2))


def test_rd_choice_trades_error_for_bits(int_model: IntegerContextModel) -> None:
    """A larger multiplier spends fewer bits and accepts more error; the map always decodes exactly."""
    errors = np.random.default_rng(4).random((20, 30, 17)) * 200
    results = []
    for multiplier in (0.0, 20.0, 200.0, 1e6):
        chosen = wavefront.rd_choose(int_model, errors, COND, multiplier)
        bits = float(wavefront.block_bits(int_model, chosen, COND).sum())
        error = float(np.take_along_axis(errors, chosen[..., None].astype(np.int64), axis=2).sum())
        payload = wavefront.encode(int_model, chosen, COND)
        np.testing.assert_array_equal(wavefront.decode(int_model, payload, 20, 30, COND), chosen)
        results.append((bits, error))
    bits, error = zip(*results, strict=True)
    assert all(a > b for a, b in itertools.pairwise(bits))
    assert all(a < b for a, b in itertools.pairwise(error))
    cheapest = wavefront.rd_choose(int_model, errors, COND, 1e9)
    probs = wavefront.block_probabilities(int_model, cheapest, COND)
    np.testing.assert_array_equal(cheapest, probs.argmax(axis=2))  # each block takes its most probable symbol
