"""The pipeline API: any size, tiles, progress, cancellation, blind mode."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.coding import wavefront
from engine.conditioning import Conditioning
from engine.config import get_preset, rd_multiplier
from engine.errors import SideJPEGError
from engine.jpeg_io import decode_with_params, encode_jpeg
from engine.metrics import psnr
from engine.models.corrections import never_worse
from engine.models.sidejpeg import SideJPEGNet
from engine.pipeline import Codec
from engine.tiling import Cancelled, tiles
from tests.conftest import random_net, selecting_net


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
    assert np.array_equal(mine.conditioning.codes, theirs.conditioning.codes) and mine.header == theirs.header
    assert np.array_equal(mine.block_bits, theirs.block_bits) and made.block_bits.sum() > 0


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
    saved = codec.inference.tile_size
    codec.inference.tile_size = 32
    try:
        calls: list[tuple[int, int]] = []
        tiled = codec.restore(made.jpeg, made.sidecar, progress=lambda d, t: calls.append((d, t))).image
    finally:
        codec.inference.tile_size = saved
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


class _SetAfter:
    """A cancel event that becomes set at its ``calls``-th check."""

    def __init__(self, calls: int) -> None:
        self.calls, self.checked = calls, 0

    def is_set(self) -> bool:
        self.checked += 1
        return self.checked >= self.calls


def test_cancel_acts_inside_a_tile_and_only_for_its_own_call(codec, sample_rgb: np.ndarray) -> None:
    """The whole image is one tile here; a cancel that comes during it stops the network at the next
    convolution, and the codec then works again for calls without it."""
    received = codec.receive(codec.compress(sample_rgb, 20, 64.0).jpeg)
    assert codec.inference.tile_size >= max(sample_rgb.shape)
    event = _SetAfter(calls=5)
    with pytest.raises(Cancelled):
        codec.restore(received, cancel=event)
    assert event.checked == 5, "the network went on after the cancel"
    assert codec.restore(received).image.shape == sample_rgb.shape


def test_a_box_restores_that_region(codec, sample_rgb: np.ndarray) -> None:
    received = codec.compress(sample_rgb, 25, 16.0).received()
    whole = codec.restore(received).image
    part = codec.restore(received, box=(-5, 40, 50, 500)).image
    assert part.shape == (50, sample_rgb.shape[1] - 40, 3)
    assert np.abs(part.astype(int) - whole[:50, 40:].astype(int)).max() <= 1
    with pytest.raises(SideJPEGError, match="does not overlap"):
        codec.restore(received, box=(200, 0, 300, 10))
    with pytest.raises(SideJPEGError, match="already carries"):
        codec.restore(received, b"sidecar")


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
    with pytest.raises(SideJPEGError, match="unknown precision 'fp8'"):
        pipeline.Codec(net=random_net(seed=0), device="cpu", precision="fp8")


def test_a_cpu_computes_in_fp32_whatever_precision_cuda_would_use(sample_rgb: np.ndarray) -> None:
    from engine import pipeline

    jpeg = encode_jpeg(sample_rgb[:64, :96], 20, "4:2:0")
    restored = {
        precision: pipeline.Codec(net=random_net(seed=0), device="cpu", precision=precision).restore(jpeg).image
        for precision in ("fp16", "bf16", "fp32")
    }
    assert np.array_equal(restored["fp16"], restored["fp32"]) and np.array_equal(restored["bf16"], restored["fp32"])


def test_encoder_picks_blocks_by_rate_and_distortion(sample_rgb: np.ndarray) -> None:
    """The map is the exact wavefront RDO choice over the decoder's candidates and the keep symbol, among
    the choices no worse than the JPEG."""
    codec = Codec(net=selecting_net(seed=2), device="cpu")
    keep = codec.config.keep_symbol
    for lam in (0.0, 2048.0):
        decoded, params = decode_with_params(encode_jpeg(sample_rgb, 20))
        conditioning = Conditioning.of(params, lam)
        inference = codec.inference
        x, y = inference.tensor(sample_rgb), inference.tensor(decoded)
        with torch.inference_mode():
            errors = inference.net.encoder_pass(x, y, inference.cond(conditioning)).errors
        allowed = never_worse(errors, keep)[0].permute(1, 2, 0).double().numpy()
        want = wavefront.rd_choose(codec.coder, allowed, conditioning, rd_multiplier(lam))
        chosen = codec.encoder.choose(sample_rgb, decoded, conditioning, lam, None, None)
        np.testing.assert_array_equal(chosen, want)
        per_block = errors[0].permute(1, 2, 0).numpy()
        chosen = np.take_along_axis(per_block, want[..., None].astype(np.int64), axis=2)[..., 0]
        assert (chosen <= per_block[..., keep]).all(), "a block was estimated worse than its JPEG"
        if lam == 0:
            assert (want != keep).any(), "some candidate should beat the JPEG somewhere at lambda 0"


def test_the_compressed_result_is_what_the_decoder_restores(sample_rgb: np.ndarray) -> None:
    codec = Codec(net=selecting_net(seed=3, modulation_std=0.05), device="cpu")
    made = codec.compress(sample_rgb, 30, 4.0)
    restored = codec.restore(made.jpeg, made.sidecar)
    np.testing.assert_array_equal(restored.image, made.restored)
    np.testing.assert_array_equal(restored.symbols, made.symbols)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 5),
    modulation=st.sampled_from([None, 0.05, 0.5]),
    quality=st.integers(1, 100),
    subsampling=st.sampled_from(["4:2:0", "4:2:2", "4:4:4"]),
    lam=st.sampled_from([0.0, 2.0, 64.0, 2048.0]),
    corner=st.tuples(st.integers(0, 60), st.integers(0, 80)),
    size=st.tuples(st.integers(1, 36), st.integers(1, 48)),
)
def test_with_its_sidecar_a_jpeg_is_never_restored_worse(
    sample_rgb: np.ndarray, seed: int, modulation: float | None, quality: int, subsampling: str, lam: float,
    corner: tuple[int, int], size: tuple[int, int],
) -> None:
    """Whatever the network (random ones, whose corrections mostly hurt, and ones whose trunk responds
    strongly to the map), image, quality, subsampling and lambda: the decoder's image is no worse than
    the JPEG, beyond rounding (0.01 dB)."""
    codec = _codec_for(seed, modulation)
    rgb = np.ascontiguousarray(sample_rgb[corner[0] : corner[0] + size[0], corner[1] : corner[1] + size[1]])
    made = codec.compress(rgb, quality, lam, subsampling)
    restored = codec.restore(made.jpeg, made.sidecar).image
    assert psnr(restored, rgb) >= psnr(made.jpeg_decoded, rgb) - 0.01


_CODECS: dict[tuple[int, float | None], Codec] = {}


def _codec_for(seed: int, modulation: float | None) -> Codec:
    if (seed, modulation) not in _CODECS:
        _CODECS[seed, modulation] = Codec(net=selecting_net(seed, modulation), device="cpu")
    return _CODECS[seed, modulation]


def test_the_fallbacks_keep_the_jpeg_where_the_decoder_would_do_worse(
    sample_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the decoder's pass comes out worse than the encoder estimated, the blocks it made worse keep their
    JPEG pixels, and if that is not enough, all of them."""
    codec = Codec(net=selecting_net(seed=4), device="cpu")
    keep = codec.config.keep_symbol
    decoded, params = decode_with_params(encode_jpeg(sample_rgb, 30))
    worse = np.clip(decoded.astype(int) + 9, 0, 255).astype(np.uint8)
    calls = []

    def bad_decoder(
        decoded_, conditioning, symbols, box, progress, cancel, adaptation=None, observe=None, constraint=None
    ):
        calls.append(symbols.copy())
        return worse

    monkeypatch.setattr(codec.inference, "restore", bad_decoder)
    symbols = np.zeros((6, 8), dtype=np.uint8)
    sent = codec.encoder.never_worse(sample_rgb, decoded, Conditioning.of(params, 2.0), symbols, None, None)
    assert len(calls) == 2 and (calls[1] == keep).all(), "every block got worse, so the second pass keeps all"
    assert (sent.symbols == keep).all() and np.array_equal(sent.restored, decoded)


def test_blind_restoration_passes_very_fine_jpegs_through(sample_rgb: np.ndarray) -> None:
    codec = Codec(net=random_net(seed=6), device="cpu")
    fine, coarse = (codec.receive(encode_jpeg(sample_rgb, q, "4:4:4")) for q in (98, 30))
    codec.blind_min_step = (fine.conditioning.luma_step + coarse.conditioning.luma_step) / 2
    passed, restored = codec.restore(fine), codec.restore(coarse)
    assert passed.passed_through and not restored.passed_through
    assert psnr(passed.image, sample_rgb) > psnr(fine.decoded, sample_rgb), "decoded anew, closer to the original"
    assert not np.array_equal(restored.image, coarse.decoded)
    np.testing.assert_array_equal(codec.restore(fine, box=(3, 5, 20, 30)).image, passed.image[3:20, 5:30])


def test_a_jpeg_exactly_at_the_calibrated_step_is_restored(sample_rgb: np.ndarray) -> None:
    """Calibration measured a gain at this very step, so the rounding of its code must not pass it through."""
    codec = Codec(net=random_net(seed=6), device="cpu")
    data = encode_jpeg(sample_rgb, 88)
    codec.blind_min_step = decode_with_params(data)[1].luma_step
    assert not codec.restore(codec.receive(data)).passed_through


def test_a_model_without_block_selection_sends_the_extractors_map(sample_rgb: np.ndarray) -> None:
    """No selection head: the map is the extractor's argmax, as integer symbols that round-trip."""
    torch.manual_seed(7)
    net = SideJPEGNet(dataclasses.replace(get_preset("fast"), corrections=0, keep_jpeg=False, symbols=16)).eval()
    codec = Codec(net=net, device="cpu")
    made = codec.compress(sample_rgb, 30, 8.0)
    assert made.symbols.dtype == np.uint8 and made.symbols.max() < 16
    np.testing.assert_array_equal(codec.restore(made.jpeg, made.sidecar).symbols, made.symbols)


def test_the_preview_is_the_encoders_own_restoration_with_the_chosen_corrections(sample_rgb: np.ndarray) -> None:
    """``compress(preview=...)`` hands over, once and before the result, the encoder's trunk (conditioned on
    the extractor's map) with each block's chosen correction, shown as the decoder shows it: what the choice
    predicts."""
    from engine.constraint import Constraint
    from engine.encoding import jpeg_where_worse
    from engine.inference import shown as as_shown
    from engine.tiling import Tile

    codec = Codec(net=selecting_net(seed=3, modulation_std=0.05), device="cpu")
    shown: list[np.ndarray] = []
    made = codec.compress(sample_rgb, 30, 4.0, preview=shown.append)
    assert len(shown) == 1 and shown[0].shape == sample_rgb.shape and shown[0].dtype == np.uint8
    decoded, params = decode_with_params(made.jpeg)
    conditioning = Conditioning.of(params, 4.0)
    chosen = codec.encoder.choose(sample_rgb, decoded, conditioning, 4.0, None, None)
    inference, net = codec.inference, codec.inference.net
    x, y = inference.tensor(sample_rgb), inference.tensor(decoded)
    with torch.inference_mode():
        passed = net.encoder_pass(x, y, inference.cond(conditioning))
        symbols = torch.from_numpy(chosen.astype(np.int64))[None]
        restored = net.restorer.selected(passed.features, passed.base, y, symbols)
    whole = (0, sample_rgb.shape[0], 0, sample_rgb.shape[1])
    want = as_shown(restored, Tile(whole, whole), Constraint.of(made.jpeg), inference.kept(symbols))
    np.testing.assert_array_equal(shown[0], jpeg_where_worse(want, decoded, sample_rgb))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 5),
    modulation=st.sampled_from([None, 0.05, 0.5]),
    quality=st.integers(1, 100),
    lam=st.sampled_from([0.0, 64.0, 2048.0]),
    corner=st.tuples(st.integers(0, 60), st.integers(0, 80)),
    size=st.tuples(st.integers(1, 36), st.integers(1, 48)),
)
def test_the_preview_is_never_worse_than_the_jpeg_either(
    sample_rgb: np.ndarray, seed: int, modulation: float | None, quality: int, lam: float,
    corner: tuple[int, int], size: tuple[int, int],
) -> None:
    """No block of the preview is worse than the JPEG's, so neither is the whole image."""
    from engine.encoding import block_sse

    codec = _codec_for(seed, modulation)
    rgb = np.ascontiguousarray(sample_rgb[corner[0] : corner[0] + size[0], corner[1] : corner[1] + size[1]])
    shown: list[np.ndarray] = []
    made = codec.compress(rgb, quality, lam, preview=shown.append)
    assert (block_sse(shown[0], rgb) <= block_sse(made.jpeg_decoded, rgb)).all()


def test_compress_reports_progress_in_order_with_the_preview_at_the_end_of_the_choice(sample_rgb: np.ndarray) -> None:
    from engine.encoding import STAGE_SHARES

    codec = Codec(net=selecting_net(seed=3, modulation_std=0.05), device="cpu")
    reports: list[tuple[int, int]] = []
    at_preview: list[int] = []
    codec.compress(
        sample_rgb, 30, 4.0, progress=lambda done, total: reports.append((done, total)),
        preview=lambda _image: at_preview.append(reports[-1][0]),
    )
    done = [d for d, _ in reports]
    assert {t for _, t in reports} == {1000} and done == sorted(done) and done[0] > 0 and done[-1] <= 1000
    assert at_preview == [round(1000 * STAGE_SHARES[0] / sum(STAGE_SHARES))]
