"""The integer context model is exact: its float64 layers equal an int64 reference, and maps round-trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.coding import wavefront
from engine.coding.integer_context import (
    ACT_BITS,
    ACT_LIMIT,
    CAUSAL_OFFSETS,
    FLOAT_EXACT_LIMIT,
    WEIGHT_BITS,
    IntegerContextModel,
    pad_symbols,
)
from engine.conditioning import Conditioning
from engine.config import get_preset
from engine.models.context_model import ContextModel

COND = Conditioning.quantized(np.array([0.6, 0.7, 1.0, 1.0, 0.5, 0.6, 0.7, 0.0, 0.3]))


def reference_logits(model: IntegerContextModel, symbols: np.ndarray, conditioning: Conditioning) -> np.ndarray:
    """The integer context model written out plainly: a loop over offsets, int64 products, floor shifts."""
    h, w = symbols.shape
    padded = pad_symbols(symbols)
    acc = np.tile(model.cond_bias(conditioning), (h * w, 1))
    rows, cols = np.divmod(np.arange(h * w), w)
    for o, (dy, dx) in enumerate(CAUSAL_OFFSETS):
        neighbour = padded[rows + 2 + dy, cols + 2 + dx]
        inside = neighbour >= 0
        acc[inside] += model.masked[o][neighbour[inside]]
    for weight, bias in model.layers:
        acc = (np.clip(acc, 0, ACT_LIMIT) @ weight.T + bias + (1 << (WEIGHT_BITS - 1))) >> WEIGHT_BITS
    return acc


def context_model(seed: int, weight_int: float | None = None, masked_int: float | None = None) -> ContextModel:
    """A random context model; ``masked_int`` bounds the integer masked weights and ``weight_int`` is the
    integer magnitude of every 1x1 weight (random signs; exact in float32), so that the layers run at
    the limits of exactness."""
    torch.manual_seed(seed)
    model = ContextModel(get_preset("fast")).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        if masked_int is not None:
            ints = torch.randint(-int(masked_int), int(masked_int) + 1, model.masked.weight.shape, generator=gen)
            model.masked.weight.copy_(ints.float() / (1 << ACT_BITS))
        if weight_int is not None:
            for layer in model.layers:
                signs = torch.randint(0, 2, layer.weight.shape, generator=gen) * 2 - 1
                layer.weight.copy_(signs.float() * (int(weight_int) / (1 << WEIGHT_BITS)))
    return model


def random_map(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    return rng.integers(0, 16, shape).astype(np.uint8)


# The largest |w| for which a 48-input layer still stays below 2^53 on inputs clamped to 2^24.
NEAR_BOUND = (FLOAT_EXACT_LIMIT - (1 << 40)) // (48 * ACT_LIMIT)

MODELS = {
    "random": {},
    "weights 2^15": {"weight_int": 1 << 15, "masked_int": 1 << 22},
    "near 2^53": {"weight_int": NEAR_BOUND, "masked_int": 1 << 22},
}


@pytest.mark.parametrize("name", list(MODELS))
def test_float64_layers_equal_int64_reference(name: str) -> None:
    model = IntegerContextModel(context_model(3, **MODELS[name]))
    assert model.float_layers is not None, "these weights are within the exact float64 bound"
    if name == "near 2^53":
        assert max(model.layer_bound(w, b) for w, b in model.layers) > 0.99 * FLOAT_EXACT_LIMIT
    reference = IntegerContextModel(context_model(3, **MODELS[name]), use_float=False)
    rng = np.random.default_rng(5)
    for shape in [(1, 1), (5, 9), (48, 64)]:
        symbols = random_map(rng, shape)
        want = reference_logits(model, symbols, COND)
        h, w = shape
        rows, cols = np.divmod(np.arange(h * w), w)
        got = model.logits(pad_symbols(symbols), rows, cols, model.cond_bias(COND))
        assert got.dtype == np.int64
        assert np.array_equal(got, want)
        assert np.array_equal(reference.logits(pad_symbols(symbols), rows, cols, reference.cond_bias(COND)), want)
    if name != "random":
        assert np.abs(want).max() > 1 << 30, "the test should reach large magnitudes"


def test_weights_beyond_the_bound_fall_back_to_int64() -> None:
    too_big = context_model(4, weight_int=2 * NEAR_BOUND, masked_int=1 << 22)
    model = IntegerContextModel(too_big)
    assert model.float_layers is None
    with pytest.raises(ValueError):
        IntegerContextModel(too_big, use_float=True)
    symbols = random_map(np.random.default_rng(1), (6, 7))
    rows, cols = np.divmod(np.arange(42), 7)
    got = model.logits(pad_symbols(symbols), rows, cols, model.cond_bias(COND))
    assert np.array_equal(got, reference_logits(model, symbols, COND))


def test_first_layer_beyond_the_bound_falls_back_to_int64() -> None:
    """Masked weights so large that the first layer's sums could leave float64's exact range."""
    model = IntegerContextModel(context_model(5, weight_int=1 << 15, masked_int=1 << 52))
    assert model.float_layers is not None and model.first_bound >= FLOAT_EXACT_LIMIT
    symbols = random_map(np.random.default_rng(2), (9, 11))
    rows, cols = np.divmod(np.arange(99), 11)
    got = model.logits(pad_symbols(symbols), rows, cols, model.cond_bias(COND))
    assert np.array_equal(got, reference_logits(model, symbols, COND))
    payload = wavefront.encode(model, symbols, COND)
    assert np.array_equal(wavefront.decode(model, payload, 9, 11, COND), symbols)


ROUND_TRIP_SHAPES = [(1, 1), (1, 2), (2, 1), (1, 64), (64, 1), (2, 3), (5, 5), (7, 13), (16, 9), (31, 33), (64, 64)]


@pytest.mark.parametrize("name", list(MODELS))
def test_round_trip_random_maps(name: str) -> None:
    model = IntegerContextModel(context_model(7, **MODELS[name]))
    reference = IntegerContextModel(context_model(7, **MODELS[name]), use_float=False)
    rng = np.random.default_rng(11)
    shapes = ROUND_TRIP_SHAPES + [tuple(int(v) for v in rng.integers(1, 65, 2)) for _ in range(6)]
    for shape in shapes:
        symbols = random_map(rng, shape)
        payload = wavefront.encode(model, symbols, COND)
        assert payload == wavefront.encode(reference, symbols, COND), f"float and int64 coders differ at {shape}"
        assert np.array_equal(wavefront.decode(model, payload, *shape, COND), symbols), shape


def test_encode_reuses_given_probabilities() -> None:
    model = IntegerContextModel(context_model(2))
    symbols = random_map(np.random.default_rng(2), (9, 14))
    probs = wavefront.block_probabilities(model, symbols, COND)
    assert wavefront.encode(model, symbols, COND, probs) == wavefront.encode(model, symbols, COND)
    assert np.array_equal(wavefront.block_bits(model, symbols, COND, probs), wavefront.block_bits(model, symbols, COND))
