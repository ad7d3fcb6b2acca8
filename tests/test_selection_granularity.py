"""The rate-distortion choice of ``benchmarks.selection_granularity``: what an added map would buy and cost."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.adaptation_lambda import rate_saved
from benchmarks.selection_granularity import fewer_candidates, gain_db, rd_addition, rd_map

COUNT = 4


def _case(rows: int, cols: int, parts: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    symbols = rng.integers(0, COUNT, (rows, cols))
    errors = rng.uniform(0, 1000, (rows, cols, parts, COUNT))
    own = np.take_along_axis(errors, np.broadcast_to(symbols[:, :, None, None], (rows, cols, parts, 1)), 3)
    return own[..., 0].sum(2), errors, symbols


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.sampled_from([1, 4]), st.integers(0, 10**6),
       st.floats(1.0, 1e5))
def test_saves_at_most_the_best_choice_and_pays_for_its_flags(rows, cols, parts, seed, multiplier):
    own, errors, symbols = _case(rows, cols, parts, seed)
    movable = np.ones_like(symbols, dtype=bool)
    saved, bits = rd_addition(own, errors, symbols, movable, multiplier)
    best = (own - errors.min(axis=3).sum(axis=2)).sum()
    assert saved <= best + 1e-9
    assert bits > 0  # the flags cost something even when nothing is sent


def test_a_part_much_better_than_the_block_is_sent():
    own, errors, symbols = _case(4, 4, 4, 0)
    errors[0, 0, :, :] = 1e6
    errors[0, 0, 1, (symbols[0, 0] + 1) % COUNT] = 0.0
    own[0, 0] = np.take_along_axis(errors[0, 0], np.full((4, 1), symbols[0, 0]), 1).sum()
    saved, bits = rd_addition(own, errors, symbols, np.ones_like(symbols, dtype=bool), 1.0)
    assert saved >= 1e6
    assert bits >= 1


def test_blocks_that_cannot_move_send_nothing():
    own, errors, symbols = _case(3, 3, 4, 1)
    saved, _ = rd_addition(own, errors * 0, symbols, np.zeros_like(symbols, dtype=bool), 1.0)
    assert saved == 0.0


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(0, 10**6))
def test_without_a_price_the_map_is_each_blocks_best_allowed_symbol(rows, cols, seed):
    blocks = np.random.default_rng(seed).uniform(0, 1000, (rows, cols, COUNT + 1))
    allowed = np.array([True, False, True, False, True])
    choice, _, error = rd_map(blocks, allowed, 0.0)
    assert allowed[choice].all()
    assert error == np.where(allowed, blocks, np.inf).min(axis=2).sum()


def test_keeping_every_candidate_changes_nothing():
    blocks = np.random.default_rng(2).uniform(0, 1000, (5, 7, COUNT + 1))
    assert fewer_candidates(blocks, COUNT, 50.0) == (0.0, 0.0)
    added, _ = fewer_candidates(blocks, 1, 0.0)
    assert added > 0  # without a price, fewer choices can only be worse


@settings(max_examples=50, deadline=None)
@given(st.floats(1.0, 1e9), st.floats(0.0, 0.99))
def test_gain_db_is_the_psnr_change_of_the_squared_error(sse, share):
    assert gain_db(sse, 0.0) == 0.0
    assert np.isclose(gain_db(sse, share * sse), -10 * np.log10(1 - share))
    assert np.isclose(gain_db(sse, -share * sse), -10 * np.log10(1 + share))


@settings(max_examples=50, deadline=None)
@given(st.floats(1.0, 40.0), st.floats(0.0, 0.05), st.floats(0.1, 2.0), st.integers(0, 10**6))
def test_a_gain_on_the_blind_slope_saves_nothing_and_images_average_linearly(slope, bpp, rate, seed):
    assert np.isclose(rate_saved(slope * bpp, bpp, slope, rate), 0.0, atol=1e-9)
    assert rate_saved(slope * bpp + 0.1, bpp, slope, rate) > 0 > rate_saved(slope * bpp - 0.1, bpp, slope, rate)
    gains, bits = np.random.default_rng(seed).uniform(-0.5, 0.5, (2, 8))
    per_image = [rate_saved(g, b, slope, rate) for g, b in zip(gains, bits, strict=True)]
    assert np.isclose(rate_saved(gains.mean(), bits.mean(), slope, rate), np.mean(per_image))
