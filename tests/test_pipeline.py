"""The pipeline API: any size, tiles, progress, cancellation, blind mode."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from engine import pipeline
from engine.coding import wavefront
from engine.coding.integer_context import quantize_cond
from engine.conditioning import full_vector
from engine.config import rd_multiplier
from engine.errors import SideJPEGError
from engine.jpeg_io import decode_with_params
from engine.pipeline import Cancelled, Codec
from engine.tiling import tiles
from tests.conftest import random_net


@pytest.mark.parametrize("shape", [(1, 1), (9, 15), (16, 16), (33, 47)])
def test_any_size_round_trips(codec, sample_rgb: np.ndarray, shape: tuple[int, int]) -> None:
    rgb = np.ascontiguousarray(sample_rgb[: shape[0], : shape[1]])
    made = codec.compress(rgb, 40, 32.0)
    assert made.symbols.shape == (-(-shape[0] // 16), -(-shape[1] // 16))
    assert made.jpeg_decoded.shape == rgb.shape
    out = codec.restore(made.jpeg, made.sidecar)
    assert out.image.shape == rgb.shape and out.image.dtype == np.uint8
    assert not out.blind and np.array_equal(out.symbols, made.symbols)


def test_a_compress_result_is_what_its_receiver_decodes(codec, sample_rgb: np.ndarray) -> None:
    made = codec.compress(sample_rgb, 30, 16.0)
    mine, theirs = made.received(), codec.receive(made.jpeg, made.sidecar)
    assert np.array_equal(mine.decoded, theirs.decoded) and np.array_equal(mine.symbols, theirs.symbols)
    assert np.array_equal(mine.cond_codes, theirs.cond_codes) and mine.header == theirs.header


def test_bpp_counts_real_bytes(codec, sample_rgb: np.ndarray) -> None:
    made = codec.compress(sample_rgb, 20, 64.0)
    pixels = sample_rgb.shape[0] * sample_rgb.shape[1]
    assert made.bpp_total == pytest.approx((len(made.jpeg) + len(made.sidecar)) * 8 / pixels)
    assert made.bpp_total == pytest.approx(made.bpp_jpeg + made.bpp_side)
    assert 0 < made.side_share < 1


def test_blind_mode_without_sidecar(codec, sample_rgb: np.ndarray) -> None:
    made = codec.compress(sample_rgb, 20, 64.0)
    blind = codec.restore(made.jpeg)
    assert blind.blind and blind.symbols is None and blind.header is None
    assert blind.image.shape == sample_rgb.shape


def test_tiled_restore_matches_whole_image(codec, sample_rgb: np.ndarray) -> None:
    made = codec.compress(sample_rgb, 20, 64.0)
    whole = codec.restore(made.jpeg, made.sidecar).image
    saved = codec.tile_size
    codec.tile_size = 32
    try:
        calls: list[tuple[int, int]] = []
        tiled = codec.restore(made.jpeg, made.sidecar, progress=lambda d, t: calls.append((d, t))).image
    finally:
        codec.tile_size = saved
    assert calls[-1][0] == calls[-1][1] == len(tiles(96, 128, 32, 32))
    assert np.abs(tiled.astype(int) - whole.astype(int)).max() <= 1


def test_cancel_stops_work(codec, sample_rgb: np.ndarray) -> None:
    event = threading.Event()
    event.set()
    with pytest.raises(Cancelled):
        codec.compress(sample_rgb, 20, 64.0, cancel=event)
    made = codec.compress(sample_rgb, 20, 64.0)
    with pytest.raises(Cancelled):
        codec.restore(made.jpeg, made.sidecar, cancel=event)


@pytest.mark.parametrize("quality", [0, 101])
def test_quality_out_of_range(codec, sample_rgb: np.ndarray, quality: int) -> None:
    with pytest.raises(SideJPEGError, match="quality"):
        codec.compress(sample_rgb, quality, 64.0)


def test_444_subsampling_is_supported(codec, sample_rgb: np.ndarray) -> None:
    made = codec.compress(sample_rgb, 50, 64.0, subsampling="4:4:4")
    assert codec.restore(made.jpeg, made.sidecar).image.shape == sample_rgb.shape


def test_unknown_preset_and_missing_weights_give_clear_errors(monkeypatch, tmp_path) -> None:
    from engine import pipeline

    with pytest.raises(SideJPEGError, match="unknown preset"):
        pipeline.Codec(preset="does-not-exist")
    monkeypatch.setattr(pipeline, "weights_path", lambda preset: tmp_path / f"{preset}.safetensors")
    with pytest.raises(SideJPEGError, match="no trained weights"):
        pipeline.Codec(preset="paper")


def test_encoder_picks_blocks_by_rate_and_distortion(sample_rgb: np.ndarray) -> None:
    """With block-level selection the coded map is the exact wavefront RDO choice over the decoder's candidates."""
    net = random_net(seed=2)
    torch.nn.init.normal_(net.restorer.corrections.out.weight, std=0.02)
    codec = Codec(net=net, device="cpu")
    assert net.selects_blocks
    for lam in (0.0, 2048.0):
        res = codec.compress(sample_rgb, 20, lam)
        codes = quantize_cond(full_vector(decode_with_params(res.jpeg)[1], lam))
        cond = codec._cond(codes)
        x, y = codec._tensor(sample_rgb), codec._tensor(res.jpeg_decoded)
        with torch.inference_mode():
            per_block = codec._fast().encoder_pass(x, y, cond).errors[0].permute(1, 2, 0).double().numpy()
        want = wavefront.rd_choose(codec.coder, per_block, codes, rd_multiplier(lam))
        np.testing.assert_array_equal(res.symbols, want)
        np.testing.assert_array_equal(codec.restore(res.jpeg, res.sidecar).symbols, want)


def _selecting_net(seed: int) -> torch.nn.Module:
    net = random_net(seed=seed)
    torch.nn.init.normal_(net.restorer.corrections.out.weight, std=0.02)
    return net


@pytest.mark.parametrize("fast", [True, False])
def test_prediction_is_the_restore_when_the_trunk_ignores_the_symbols(sample_rgb: np.ndarray, fast: bool) -> None:
    """The encoder's prediction differs from the decoder's pass only through the trunk's response to the
    map; without modulation the two are the same image, up to rounding."""
    net = _selecting_net(seed=11)
    for block in net.restorer.blocks:
        torch.nn.init.zeros_(block.modulation.weight)
        torch.nn.init.zeros_(block.modulation.bias)
    codec = Codec(net=net, device="cpu", fast=fast)
    rgb = np.ascontiguousarray(sample_rgb[:90, :100])
    made = codec.compress(rgb, 20, 8.0, predict=True)
    assert made.prediction is not None and made.prediction.shape == rgb.shape
    restored = codec.restore(made.jpeg, made.sidecar).image
    assert np.abs(made.prediction.astype(int) - restored.astype(int)).max() <= 1
    assert not np.array_equal(restored, codec.restore(made.jpeg, None).image)


def test_prediction_only_when_asked_and_affordable(sample_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    codec = Codec(net=_selecting_net(seed=12), device="cpu")
    assert codec.compress(sample_rgb, 20, 8.0).prediction is None
    asked = codec.compress(sample_rgb, 20, 8.0, predict=True)
    assert asked.prediction is not None
    monkeypatch.setattr(pipeline, "PREDICTION_MAX_BYTES", codec._prediction_bytes(*sample_rgb.shape[:2]) - 1)
    too_big = codec.compress(sample_rgb, 20, 8.0, predict=True)
    assert too_big.prediction is None
    np.testing.assert_array_equal(too_big.symbols, asked.symbols)
    assert too_big.sidecar == asked.sidecar
