"""The JPEG's quantisation constraint: what it reads from a JPEG, where it moves a restoration, and that the
decoder and the calibration restore within it."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from engine import encoders
from engine.colour import to_ycbcr
from engine.constraint import DCT, ROUNDED_BELOW, Constraint, _integer_estimate
from engine.encoding import Encoded
from engine.jpeg_io import decode_jpeg, encode_jpeg
from engine.metrics import psnr
from engine.pipeline import Codec
from engine.training import calibrate
from tests import fuzzing as fz
from tests.conftest import random_net, selecting_net, tiny_image

SAMPLINGS = ("4:2:0", "4:2:2", "4:4:4")


def as_tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(rgb, dtype=np.float32)).permute(2, 0, 1)[None] / 255


def as_pixels(image: torch.Tensor) -> np.ndarray:
    return image[0].clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def coefficients(image: torch.Tensor, constraint: Constraint, index: int) -> torch.Tensor:
    """The DCT coefficients of one component of ``image`` at its JPEG resolution, over its whole blocks."""
    fy, fx = constraint.components[index].factor
    plane = to_ycbcr(image.double() * 255)[0, index] - (128 if index == 0 else 0)
    rows, cols = constraint.height // (8 * fy), constraint.width // (8 * fx)
    plane = plane[: rows * 8 * fy, : cols * 8 * fx]
    samples = plane.reshape(rows * 8, fy, cols * 8, fx).mean(dim=(1, 3))
    blocks = samples.reshape(rows, 8, cols, 8).transpose(1, 2)
    return DCT @ blocks @ DCT.T


def stored(constraint: Constraint, index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The stored coefficients (dequantised) of a component's whole blocks, and its quantiser steps."""
    component = constraint.components[index]
    fy, fx = component.factor
    rows, cols = constraint.height // (8 * fy), constraint.width // (8 * fx)
    step = torch.from_numpy(component.table)
    return torch.from_numpy(component.coefficients[:rows, :cols].astype(np.float64)) * step, step


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    quality=st.integers(5, 100),
    subsampling=st.sampled_from(SAMPLINGS),
    noise=st.floats(1.0, 30.0),
    height=st.integers(2, 4).map(lambda n: 16 * n),
    width=st.integers(2, 4).map(lambda n: 16 * n),
)
def test_projection_puts_every_coefficient_within_half_a_step_of_the_stored_one(
    seed: int, quality: int, subsampling: str, noise: float, height: int, width: int
) -> None:
    jpeg = encode_jpeg(tiny_image(seed, height, width), quality, subsampling)
    constraint = Constraint.of(jpeg)
    rng = np.random.default_rng(seed)
    restored = as_tensor(decode_jpeg(jpeg) + rng.normal(0, noise, (height, width, 3)))
    projected = constraint.project(restored, 0, 0)
    for index in range(3):
        coefficient, step = stored(constraint, index)
        distance = (coefficients(projected, constraint, index) - coefficient).abs()
        assert (distance <= step / 2 + 1e-3).all()
    again = constraint.project(projected, 0, 0)
    assert torch.allclose(again, projected, atol=1e-5), "a projected image is its own projection"


@pytest.mark.parametrize("subsampling", SAMPLINGS)
def test_projection_brings_a_noisy_restoration_closer_to_the_original(subsampling: str) -> None:
    original = tiny_image(3, 64, 96)
    jpeg = encode_jpeg(original, 95, subsampling)
    noisy = np.clip(decode_jpeg(jpeg) + np.random.default_rng(0).normal(0, 8, original.shape), 0, 255)
    projected = as_pixels(Constraint.of(jpeg).project(as_tensor(noisy), 0, 0))
    assert psnr(projected, original) > psnr(noisy.round().astype(np.uint8), original) + 0.3


@pytest.mark.parametrize("subsampling", SAMPLINGS)
def test_the_jpegs_own_pixels_hardly_move(subsampling: str) -> None:
    jpeg = encode_jpeg(tiny_image(5, 64, 80), 50, subsampling)
    decoded = decode_jpeg(jpeg)
    moved = as_pixels(Constraint.of(jpeg).project(as_tensor(decoded), 0, 0)).astype(int) - decoded
    assert np.abs(moved).max() <= 1 and np.mean(moved != 0) < 0.01


def test_regions_on_the_grid_project_as_the_whole_image_does() -> None:
    jpeg = encode_jpeg(tiny_image(7, 96, 64), 40, "4:2:0")
    constraint = Constraint.of(jpeg)
    restored = as_tensor(np.clip(decode_jpeg(jpeg) + np.random.default_rng(1).normal(0, 6, (96, 64, 3)), 0, 255))
    whole = constraint.project(restored, 0, 0)
    parts = [constraint.project(restored[..., a:b, :], a, 0) for a, b in ((0, 32), (32, 80), (80, 96))]
    assert torch.allclose(torch.cat(parts, dim=2), whole, atol=1e-6)
    with pytest.raises(ValueError, match="block grid"):
        constraint.project(restored[..., 8:, :], 8, 0)


def test_blocks_that_reach_past_the_image_stay_as_they_are() -> None:
    jpeg = encode_jpeg(tiny_image(9, 40, 56), 30, "4:2:0")
    constraint = Constraint.of(jpeg)
    restored = as_tensor(np.clip(decode_jpeg(jpeg) + np.random.default_rng(2).normal(0, 10, (40, 56, 3)), 0, 255))
    padded = torch.nn.functional.pad(restored, (0, 8, 0, 8), mode="replicate")
    projected = constraint.project(padded, 0, 0)
    changed = (projected - padded).abs().amax(dim=(0, 1))
    assert float(changed[40:, :].max()) < 1e-5 and float(changed[:, 56:].max()) < 1e-5, "the padding is not the image's"
    assert float(changed[:40, :56].max()) > 1e-3


@settings(max_examples=50, deadline=None)
@given(value=st.floats(-300, 300), noise=st.floats(0.0, 2.0), shift=st.floats(0.0, 0.999))
def test_the_integer_estimate_is_odd_monotone_and_exact_where_the_noise_is_large_or_tiny(
    value: float, noise: float, shift: float
) -> None:
    decoded = torch.tensor([[value, -value, value + shift]], dtype=torch.float64)
    estimate = _integer_estimate(decoded, torch.tensor([[noise]], dtype=torch.float64))
    assert float(estimate[0, 0]) == pytest.approx(-float(estimate[0, 1]), abs=1e-6)
    assert float(estimate[0, 2]) >= float(estimate[0, 0]) - 1e-9
    assert abs(float(estimate[0, 0]) - value) <= 0.5
    if noise >= ROUNDED_BELOW:
        assert float(estimate[0, 0]) == value
    if noise < 0.05 and abs(value - round(value)) < 0.3:
        assert float(estimate[0, 0]) == pytest.approx(round(value), abs=1e-6)


@pytest.mark.parametrize("quality", [30, 95])
def test_a_4_4_4_decode_anew_depends_on_the_coefficients_alone(quality: int) -> None:
    """Every whole block of a full-rate component is decoded from the file, whatever pixels came in; regions
    on the grid decode as the whole image does."""
    jpeg = encode_jpeg(tiny_image(11, 48, 64), quality, "4:4:4")
    constraint = Constraint.of(jpeg)
    decoded = as_tensor(decode_jpeg(jpeg))
    noisy = as_tensor(np.clip(decode_jpeg(jpeg) + np.random.default_rng(3).normal(0, 6, (48, 64, 3)), 0, 255))
    whole = constraint.decode(decoded, 0, 0, float_where_coarse=True)
    assert torch.allclose(constraint.decode(noisy, 0, 0, float_where_coarse=True), whole, atol=1e-5)
    parts = [constraint.decode(decoded[..., a:b, :], a, 0, float_where_coarse=True) for a, b in ((0, 16), (16, 48))]
    assert torch.allclose(torch.cat(parts, dim=2), whole, atol=1e-6)


@pytest.mark.parametrize("subsampling", SAMPLINGS)
def test_without_the_floating_point_decode_a_coarse_jpeg_is_its_own_pixels_within_the_constraint(
    sample_rgb: np.ndarray, subsampling: str
) -> None:
    """What kept blocks show at q20: every block's expected error is over a level (its DC step alone is 40),
    so nothing is estimated on the integer grid and the JPEG's own pixels are projected, as before version 6."""
    jpeg = encode_jpeg(sample_rgb, 20, subsampling)
    constraint, decoded = Constraint.of(jpeg), as_tensor(decode_jpeg(jpeg))
    kept = as_pixels(constraint.decode(decoded, 0, 0, float_where_coarse=False))
    assert np.array_equal(kept, as_pixels(constraint.project(decoded, 0, 0)))
    assert not np.array_equal(kept, as_pixels(constraint.decode(decoded, 0, 0, float_where_coarse=True)))


def _jpeg_of(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def test_cmyk_jpegs_have_no_constraint() -> None:
    assert Constraint.of(_jpeg_of(Image.fromarray(tiny_image(1)).convert("CMYK"))) is None


def test_a_greyscale_jpeg_is_restored_grey_within_its_luma_constraint(sample_rgb: np.ndarray) -> None:
    jpeg = _jpeg_of(Image.fromarray(tiny_image(4, 48, 64)).convert("L"))
    constraint = Constraint.of(jpeg)
    assert constraint is not None and len(constraint.components) == 1
    coloured = as_tensor(np.clip(decode_jpeg(jpeg) + np.random.default_rng(3).normal(0, 9, (48, 64, 3)), 0, 255))
    projected = constraint.project(coloured, 0, 0)
    chroma = to_ycbcr(projected.double())[0, 1:]
    assert float(chroma.abs().max()) < 1e-5, "every image a greyscale JPEG comes from is grey"
    decoded = constraint.decode(coloured, 0, 0, float_where_coarse=True)
    assert float(to_ycbcr(decoded.double())[0, 1:].abs().max()) < 1e-5
    coefficient, step = stored(constraint, 0)
    assert ((coefficients(projected, constraint, 0) - coefficient).abs() <= step / 2 + 1e-3).all()
    codec = Codec(net=random_net(seed=4), device="cpu")
    grey = np.ascontiguousarray(np.asarray(Image.fromarray(sample_rgb).convert("L")))
    restored = codec.restore(_jpeg_of(Image.fromarray(grey))).image
    assert (np.ptp(restored.astype(int), axis=2) <= 1).all()


def test_unreadable_bytes_have_no_constraint() -> None:
    assert Constraint.of(b"not a jpeg at all") is None


def test_jpegli_files_have_their_constraint() -> None:
    constraint = Constraint.of(encoders.ENCODERS["jpegli"](tiny_image(2, 64, 64), 90, "auto"))
    assert constraint is not None and constraint.components[0].factor == (1, 1)


def test_the_decoder_restores_within_the_constraint(sample_rgb: np.ndarray) -> None:
    codec = Codec(net=random_net(seed=4), device="cpu")
    jpeg = encode_jpeg(sample_rgb, 40, "4:2:0")
    got = codec.receive(jpeg)
    assert got.constraint is not None
    with torch.inference_mode():
        network = codec.inference.net.restore(as_tensor(got.decoded), codec.inference.cond(got.conditioning), None)
    restored = codec.restore(jpeg).image
    assert not np.array_equal(restored, as_pixels(network))
    assert np.array_equal(restored, as_pixels(got.constraint.project(network, 0, 0))), "one tile: the whole image"
    compressed = codec.compress(sample_rgb, 40, 64.0)
    assert compressed.constraint is not None
    assert np.array_equal(codec.restore(compressed.received()).image, compressed.restored)


def test_calibration_measures_the_restoration_the_decoder_shows(monkeypatch, sample_rgb: np.ndarray, tmp_path) -> None:
    path = tmp_path / "held_out.png"
    Image.fromarray(sample_rgb[:64, :64]).save(path)
    net = random_net(seed=2)
    monkeypatch.setattr(calibrate, "QUALITIES", (60,))
    monkeypatch.setattr(calibrate, "NOISE_SIGMAS", (0.0,))
    monkeypatch.setattr(calibrate, "SETTINGS", (("pillow", "4:4:4"),))
    shown = calibrate.measure(net, [path], torch.device("cpu"), crop=64)
    monkeypatch.setattr(Constraint, "of", classmethod(lambda cls, jpeg: None))
    unconstrained = calibrate.measure(net, [path], torch.device("cpu"), crop=64)
    assert shown[0].change_db > unconstrained[0].change_db


@pytest.mark.parametrize("subsampling", SAMPLINGS)
def test_kept_blocks_show_the_jpeg_decoded_anew(sample_rgb: np.ndarray, subsampling: str) -> None:
    """Where every block keeps the JPEG (a network whose corrections all hurt at q97), the decoder shows the
    JPEG decoded anew, or the JPEG itself where that measures worse; never worse. A sidecar of version 5 or
    earlier shows the JPEG's own pixels moved into the constraint there."""
    codec = Codec(net=selecting_net(seed=3), device="cpu")
    made = codec.compress(sample_rgb, 97, 4.0, subsampling)
    assert (made.symbols == codec.config.keep_symbol).all()
    got = codec.receive(made.jpeg, made.sidecar)
    restored = codec.restore(got).image
    assert np.array_equal(restored, made.restored)
    assert not got.header.unconstrained, "decoded anew, this sample comes closer to the original"
    decoded = as_tensor(made.jpeg_decoded)
    assert np.array_equal(restored, as_pixels(got.constraint.decode(decoded, 0, 0, float_where_coarse=False)))
    assert psnr(restored, sample_rgb) > psnr(made.jpeg_decoded, sample_rgb)
    earlier = codec.restore(made.jpeg, fz.relabelled(made.sidecar, 5)).image
    assert np.array_equal(earlier, as_pixels(got.constraint.project(decoded, 0, 0)))


def test_kept_blocks_of_a_jpeg_the_model_passes_through_show_what_blind_decoding_shows(
    sample_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    codec = Codec(net=selecting_net(seed=3), device="cpu")
    monkeypatch.setattr(codec, "blind_min_step", float("inf"))
    made = codec.compress(sample_rgb, 97, 4.0, "4:4:4")
    assert (made.symbols == codec.config.keep_symbol).all() and made.constraint.kept_float_where_coarse
    assert np.array_equal(codec.restore(made.jpeg, made.sidecar).image, made.restored)
    assert np.array_equal(made.restored, codec.restore(made.jpeg).image)


def test_where_even_the_constrained_jpeg_is_worse_the_sidecar_says_unconstrained(
    sample_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    codec = Codec(net=selecting_net(seed=3), device="cpu")
    for name in ("project", "decode"):
        method = getattr(Constraint, name)
        monkeypatch.setattr(Constraint, name, lambda self, *args, m=method, **kw: m(self, *args, **kw) + 0.03)
    made = codec.compress(sample_rgb, 60, 64.0)
    assert (made.symbols == codec.config.keep_symbol).all() and made.constraint is None
    assert np.array_equal(made.restored, made.jpeg_decoded)
    got = codec.receive(made.jpeg, made.sidecar)
    assert got.header.unconstrained and got.constraint is None
    assert np.array_equal(codec.restore(got).image, made.jpeg_decoded), "the JPEG itself, not constrained"


def test_the_coefficients_are_read_for_every_image_but_under_an_unconstrained_sidecar(
    sample_rgb: np.ndarray, monkeypatch
) -> None:
    codec = Codec(net=random_net(seed=4), device="cpu")
    monkeypatch.setattr(codec, "blind_min_step", 8.0)
    for quality, subsampling in ((98, "4:4:4"), (98, "4:2:0"), (30, "4:4:4")):
        assert codec.receive(encode_jpeg(sample_rgb, quality, subsampling)).constraint is not None
    made = codec.compress(sample_rgb, 30, 64.0)
    assert codec.receive(made.jpeg, made.sidecar).constraint is not None


@pytest.mark.parametrize("subsampling", SAMPLINGS)
@pytest.mark.parametrize("quality", [93, 97, 100])
def test_a_fine_jpeg_the_model_passes_through_is_decoded_anew_and_comes_closer_to_the_original(
    sample_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch, subsampling: str, quality: int
) -> None:
    """No network runs on a JPEG finer than the model restores: it is decoded anew from its coefficients,
    which undoes libjpeg's rounding of every sample (and its chroma upsampling's drift from the stored
    means) and so comes closer to the original than libjpeg's decode."""
    codec = Codec(net=random_net(seed=4), device="cpu")
    monkeypatch.setattr(codec, "blind_min_step", float("inf"))
    monkeypatch.setattr(codec.inference, "restore", lambda *a, **k: pytest.fail("the network ran"))
    jpeg = encode_jpeg(sample_rgb, quality, subsampling)
    decoded = decode_jpeg(jpeg)
    result = codec.restore(jpeg)
    assert result.passed_through and result.constrained
    anew = Constraint.of(jpeg).decode(as_tensor(decoded), 0, 0, float_where_coarse=True)
    assert np.array_equal(result.image, as_pixels(anew))
    assert psnr(result.image, sample_rgb) > psnr(decoded, sample_rgb) + 0.04


def test_a_jpeg_without_readable_coefficients_is_passed_through_as_it_is(
    sample_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    codec = Codec(net=random_net(seed=4), device="cpu")
    monkeypatch.setattr(codec, "blind_min_step", 8.0)
    monkeypatch.setattr(Constraint, "of", classmethod(lambda cls, jpeg: None))
    jpeg = encode_jpeg(sample_rgb, 97, "4:4:4")
    result = codec.restore(jpeg)
    assert result.passed_through and not result.constrained
    assert np.array_equal(result.image, decode_jpeg(jpeg))


@settings(max_examples=15, deadline=None)
@given(top=st.integers(0, 88), left=st.integers(0, 120), height=st.integers(1, 60), width=st.integers(1, 60))
def test_a_region_of_a_constrained_pass_through_is_that_region_of_the_whole(
    fine_pass_through: tuple[Codec, bytes, np.ndarray], top: int, left: int, height: int, width: int
) -> None:
    codec, jpeg, whole = fine_pass_through
    region = codec.restore(jpeg, box=(top, left, top + height, left + width)).image
    assert np.array_equal(region, whole[top : top + height, left : left + width])


@pytest.fixture(scope="module", params=["4:2:2", "4:4:4"])
def fine_pass_through(sample_rgb: np.ndarray, request: pytest.FixtureRequest) -> tuple[Codec, bytes, np.ndarray]:
    """A codec that passes every blind JPEG through, a fine JPEG of an odd size, and its whole image."""
    codec = Codec(net=random_net(seed=4), device="cpu")
    codec.blind_min_step = float("inf")
    jpeg = encode_jpeg(np.ascontiguousarray(sample_rgb[:91, :123]), 95, request.param)
    return codec, jpeg, codec.restore(jpeg).image


@pytest.mark.parametrize("subsampling", ["4:2:0", "4:4:4"])
def test_a_fine_jpeg_given_a_share_of_the_network_is_shown_between_its_decode_anew_and_the_restoration(
    sample_rgb: np.ndarray, subsampling: str
) -> None:
    """Finer than the model restores alone, a calibrated share moves the decode anew towards the network's
    restoration within the constraint (``engine.strength``); the region of a view is that of the whole."""
    codec = Codec(net=random_net(seed=4), device="cpu")
    jpeg = encode_jpeg(sample_rgb, 95, subsampling)
    codec.blind_min_step, codec.blind_shares = 0.0, []
    restored = codec.restore(jpeg).image
    codec.blind_min_step = float("inf")
    anew = codec.restore(jpeg)
    codec.blind_shares = [(1.0, subsampling, 0.5)]
    half = codec.restore(jpeg)
    assert anew.passed_through and anew.network_share == 0.0
    assert not half.passed_through and half.network_share == 0.5 and half.constrained
    middle = (anew.image.astype(float) + restored) / 2
    assert np.abs(half.image - middle).max() <= 1.0
    assert not np.array_equal(half.image, anew.image) and not np.array_equal(half.image, restored)
    np.testing.assert_array_equal(codec.restore(jpeg, box=(10, 20, 70, 90)).image, half.image[10:70, 20:90])


def test_without_a_constraint_a_share_of_the_network_passes_the_jpeg_through_as_it_is(
    sample_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    codec = Codec(net=random_net(seed=4), device="cpu")
    codec.blind_min_step, codec.blind_shares = float("inf"), [(1.0, "4:4:4", 0.5)]
    monkeypatch.setattr(Constraint, "of", classmethod(lambda cls, jpeg: None))
    jpeg = encode_jpeg(sample_rgb, 95, "4:4:4")
    result = codec.restore(jpeg)
    assert result.passed_through and result.network_share == 0.0
    assert np.array_equal(result.image, decode_jpeg(jpeg))


@pytest.mark.parametrize("subsampling", ["4:2:2", "4:4:4"])
def test_with_a_sidecar_a_fine_jpeg_is_never_shown_worse_than_blind_decoding_shows_it(
    sample_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch, subsampling: str
) -> None:
    """Where blind decoding shows a share of the network, the encoder compares it with its map's image and,
    where it comes closer, the sidecar asks for it (``SHOWS_BLIND``) and keeps every block."""
    codec = Codec(net=selecting_net(seed=3), device="cpu")
    codec.blind_min_step, codec.blind_shares = float("inf"), [(1.0, subsampling, 0.5)]
    made = codec.compress(sample_rgb, 97, 64.0, subsampling)
    blind = codec.restore(made.jpeg)
    assert 0.0 < blind.network_share < 1.0
    assert psnr(made.restored, sample_rgb) >= psnr(blind.image, sample_rgb)
    assert np.array_equal(codec.restore(made.jpeg, made.sidecar).image, made.restored)
    worse = Encoded(made.symbols, np.clip(made.jpeg_decoded.astype(int) + 9, 0, 255).astype(np.uint8))
    monkeypatch.setattr(codec.encoder, "encode", lambda *args, **kwargs: worse)
    flagged = codec.compress(sample_rgb, 97, 64.0, subsampling)
    got = codec.receive(flagged.jpeg, flagged.sidecar)
    assert got.shown_blind and (got.symbols == codec.config.keep_symbol).all()
    assert np.array_equal(flagged.restored, blind.image)
    restored = codec.restore(got)
    assert np.array_equal(restored.image, blind.image) and not restored.blind and restored.network_share == 0.5
    codec.blind_shares = []
    assert not codec.compress(sample_rgb, 97, 64.0, subsampling).received().shown_blind, "decoded anew alone"
