"""Per-image adaptation: its stream, its least-squares choice, the decoder's correction, and the codec."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import encoding
from engine import sidecar as sc
from engine.coding import adaptation as adapt
from engine.colour import RGB_OF_YCBCR
from engine.config import rd_multiplier
from engine.errors import SideJPEGError
from engine.metrics import psnr
from engine.models.adaptation import adapted, basis, basis_parts, basis_size
from engine.pipeline import Codec
from tests import fuzzing as fz
from tests.conftest import random_net


def _channels(exponents: int, size: int) -> st.SearchStrategy:
    weights = st.builds(
        adapt.ChannelWeights,
        st.tuples(*(st.integers(0, 15) for _ in range(exponents))),
        st.lists(st.integers(-adapt.MAX_VALUE, adapt.MAX_VALUE), min_size=size, max_size=size).map(tuple),
    )
    return st.tuples(*(st.none() | weights for _ in adapt.CHANNELS))


def _streams(exponents: int) -> st.SearchStrategy:
    """Adaptations of streams with ``exponents`` exponents per channel (2: sidecar version 3)."""
    smallest = 1 + sum(adapt.TAIL_GROUPS[: exponents - 1])
    return st.integers(smallest, smallest + 60).flatmap(lambda size: _channels(exponents, size))


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([2, adapt.EXPONENTS]).flatmap(lambda e: st.tuples(st.just(e), _streams(e))))
def test_every_adaptation_survives_its_stream(case) -> None:
    exponents, channels = case
    original = adapt.Adaptation(channels)
    data = adapt.encode(original)
    assert adapt.decode(data, exponents) == original
    assert len(data) * 8 - 8 < adapt.stream_bits(original) <= len(data) * 8


def _one_channel(size: int) -> adapt.Adaptation:
    return adapt.Adaptation((adapt.ChannelWeights((1, 2, 3), (5, -3) * (size // 2)), None, None))


def test_nothing_sent_is_an_empty_stream() -> None:
    assert adapt.encode(adapt.NOTHING) == b"" and adapt.decode(b"") == adapt.NOTHING
    assert adapt.NOTHING.tensor(10) is None and adapt.NOTHING.sent == ()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (adapt.encode(_one_channel(sum(adapt.TAIL_GROUPS) + 6))[:-1], "truncated"),
        (adapt.encode(_one_channel(sum(adapt.TAIL_GROUPS) + 6)) + b"\x80", "trailing"),
        (adapt.encode(_one_channel(sum(adapt.TAIL_GROUPS))), "too few weights"),
        (bytes([sum(adapt.TAIL_GROUPS) + 4, 0]), "no channel"),
        (bytes([sum(adapt.TAIL_GROUPS) + 4, 0b10000000, 0, 0, 0, 0, 0, 0]), "impossibly large"),
    ],
)
def test_forged_streams_are_refused_with_a_message(data: bytes, message: str) -> None:
    with pytest.raises(SideJPEGError, match=message):
        adapt.decode(data)


def test_the_decoders_correction_is_the_basis_the_encoder_fits() -> None:
    torch.manual_seed(0)
    h = torch.randn(1, 6, 4, 5, dtype=torch.float64)
    restored, jpeg = torch.rand(1, 3, 8, 10, dtype=torch.float64), torch.rand(1, 3, 8, 10, dtype=torch.float64)
    weights = torch.randn(basis_size(6), 3, dtype=torch.float64)
    correction = torch.einsum("bkhw,kc->bchw", basis(h, restored, jpeg), weights)
    want = restored + torch.einsum("ij,bjhw->bihw", RGB_OF_YCBCR, correction)
    torch.testing.assert_close(adapted(h, restored, jpeg, weights), want, atol=1e-10, rtol=1e-10)
    whole = basis(h, restored, jpeg)
    for rows in (slice(0, 3), slice(3, 8), slice(1, 2)):
        # equal up to the order in which the colour transform's matrix product sums, which may depend on the
        # tensor's shape (an Intel Xeon gave 7e-15 where AMD EPYCs had given exact equality)
        torch.testing.assert_close(basis(h, restored, jpeg, rows), whole[:, :, rows], atol=1e-13, rtol=1e-13)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([1, 2, 4]), st.floats(0.0, 1.0))
def test_statistics_of_cells_are_those_of_the_whole_basis(seed: int, scale: int, kept: float) -> None:
    """``Statistics.add_cells`` (features per trunk cell, the rest per pixel) sums what ``add`` of the whole
    basis does, over the pixels that count, strip by strip."""
    gen = torch.Generator().manual_seed(seed)
    h = torch.randn(1, 5, 12 // scale, 16 // scale, generator=gen, dtype=torch.float64)
    restored, jpeg = (torch.rand(1, 3, 12, 16, generator=gen, dtype=torch.float64) for _ in range(2))
    error = torch.randn(3, 12, 16, generator=gen, dtype=torch.float64)
    use = torch.rand(12, 16, generator=gen) >= kept
    whole, cells = adapt.Statistics.empty(basis_size(5)), adapt.Statistics.empty(basis_size(5))
    for rows in (slice(0, 4), slice(4, 12)):
        full, counted = basis(h, restored, jpeg, rows)[0], use[rows]
        whole.add(full[:, counted].T, error[:, rows][:, counted].T)
        features, rest = basis_parts(h, restored, jpeg, rows)
        cells.add_cells(features[0], rest[0], error[:, rows], counted)
    assert cells.pixels == whole.pixels == int(use.sum())
    np.testing.assert_allclose(cells.gram, whole.gram, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(cells.cross, whole.cross, rtol=1e-12, atol=1e-9)


def test_least_squares_finds_an_error_the_basis_explains_and_stops_where_it_does_not_pay() -> None:
    rng = np.random.default_rng(1)
    size = basis_size(3)
    features = torch.from_numpy(rng.normal(size=(5000, size)))
    truth = rng.normal(size=(size, 3)) * 0.01
    error = features @ torch.from_numpy(truth @ RGB_OF_YCBCR.numpy().T)
    stats = adapt.Statistics.empty(size)
    stats.add(features, error)
    exact = adapt.choose(stats, multiplier=1e-9)
    assert exact.sent == adapt.CHANNELS
    np.testing.assert_allclose(exact.weights(size), truth, atol=1e-5)
    cheap = adapt.choose(stats, multiplier=1.0)
    left = error - features @ torch.from_numpy(cheap.weights(size) @ RGB_OF_YCBCR.numpy().T)
    assert float(left.square().sum()) < 0.05 * float(error.square().sum())
    assert adapt.stream_bits(cheap) < adapt.stream_bits(exact)
    assert adapt.choose(stats, multiplier=1e12) == adapt.NOTHING


def _channel_cost(option: adapt.ChannelWeights, gram: np.ndarray, pull: np.ndarray, multiplier: float) -> float:
    w = option.weights()
    return float(w @ gram @ w - 2 * w @ pull) + multiplier * adapt.channel_bits(option)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 40), st.floats(1e-6, 1e-2), st.integers(0, 6))
def test_refined_weights_cost_no_more_than_rounded_ones(
    seed: int, size: int, multiplier: float, exponent: int
) -> None:
    """Rate-distortion optimised quantisation never raises a channel's cost (squared error + multiplier *
    bits) over nearest rounding; with uncorrelated features and free bits, rounding is already optimal."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(size, size)) + 3 * rng.normal(size=(size, 1))
    gram = mixing @ mixing.T + 1e-3 * np.eye(size)
    target = rng.normal(size=size) * 0.05
    rounded = adapt._quantised(target, (exponent,))
    refined = adapt._refined(rounded, adapt._ChannelCost(gram, gram @ target, 1.0, multiplier))
    assert refined.exponents == rounded.exponents
    assert _channel_cost(refined, gram, gram @ target, multiplier) <= _channel_cost(
        rounded, gram, gram @ target, multiplier
    ) + 1e-12
    diagonal = np.diag(np.diag(gram))
    assert adapt._refined(rounded, adapt._ChannelCost(diagonal, diagonal @ target, 1.0, 0.0)) == rounded


@pytest.fixture(scope="module")
def adapting_codec() -> Codec:
    net = random_net(seed=11)
    torch.nn.init.zeros_(net.restorer.tail.weight)
    torch.nn.init.normal_(net.restorer.corrections.out.weight, std=0.02)
    return Codec(net=net, device="cpu")


def test_a_compressed_image_decodes_to_exactly_the_encoders_result(adapting_codec: Codec, sample_rgb) -> None:
    made = adapting_codec.compress(sample_rgb, 20, 0.0)
    assert made.adaptation.sent, "the trunk's features explain some of what a random network leaves"
    got = adapting_codec.receive(made.jpeg, made.sidecar)
    assert got.adaptation == made.adaptation and got.header.adaptation_bytes > 0
    np.testing.assert_array_equal(adapting_codec.restore(got).image, made.restored)
    without = Codec(net=adapting_codec.inference.net, device="cpu", adapts=False).compress(sample_rgb, 20, 0.0)
    assert without.adaptation == adapt.NOTHING and sc.unpack(without.sidecar)[0].adaptation_bytes == 0
    assert psnr(made.restored, sample_rgb) > psnr(without.restored, sample_rgb)


@pytest.mark.parametrize("tile_size", [128, None], ids=["tiles", "whole"])
def test_the_encoder_applies_its_adaptation_to_the_held_tiles_as_the_decoder_does(
    adapting_codec: Codec, sample_rgb, tile_size: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if tile_size is not None:
        monkeypatch.setattr(adapting_codec.inference, "tile_size", tile_size)
    held = adapting_codec.compress(sample_rgb, 20, 0.0)
    monkeypatch.setattr(encoding, "HELD_BYTES", 0)
    decoded_again = adapting_codec.compress(sample_rgb, 20, 0.0)
    assert held.adaptation.sent and held.sidecar == decoded_again.sidecar
    np.testing.assert_array_equal(held.restored, decoded_again.restored)
    np.testing.assert_array_equal(adapting_codec.restore(held.jpeg, held.sidecar).image, held.restored)


def test_version_2_sidecars_are_still_read(adapting_codec: Codec, sample_rgb) -> None:
    made = Codec(net=adapting_codec.inference.net, device="cpu", adapts=False).compress(sample_rgb, 20, 0.0)
    header, payload = made.received().header, sc.unpack(made.sidecar)[1]
    v2 = fz.wide_sidecar(
        2, adapting_codec.model_id, header.width, header.height, header.quality, header.lam, header.cond_codes,
        sc.jpeg_digest(made.jpeg), payload,
    )
    got = adapting_codec.receive(made.jpeg, v2)
    assert got.header.version == 2 and got.adaptation == adapt.NOTHING
    np.testing.assert_array_equal(adapting_codec.restore(got).image, made.restored)


def test_version_3_sidecars_are_still_read_their_adaptation_without_spatial_taps(
    adapting_codec: Codec, sample_rgb
) -> None:
    made = adapting_codec.compress(sample_rgb, 20, 0.0)
    header, (_, payload, stream) = made.received().header, sc.unpack(made.sidecar)
    size = adapt.size_for(basis_size(adapting_codec.inference.net.config.trunk_features), 2)
    old = adapt.Adaptation(tuple(
        None if ch is None else adapt.ChannelWeights(ch.exponents[:2], ch.values[:size])
        for ch in adapt.decode(stream).channels
    ))
    old_stream = adapt.encode(old)
    v3 = fz.wide_sidecar(
        3, adapting_codec.model_id, header.width, header.height, header.quality, header.lam, header.cond_codes,
        sc.jpeg_digest(made.jpeg), payload, old_stream,
    )
    got = adapting_codec.receive(made.jpeg, v3)
    assert got.header.version == 3 and got.adaptation == old and old.size == size
    without_taps = adapt.Adaptation(tuple(
        None if ch is None else adapt.ChannelWeights(ch.exponents, ch.values[:size] + (0,) * (len(ch.values) - size))
        for ch in adapt.decode(stream).channels
    ))
    same = sc.pack(
        adapting_codec.model_id, sc.jpeg_digest(made.jpeg), header.quality, header.lam, made.conditioning, payload,
        adapt.encode(without_taps),
    )
    np.testing.assert_array_equal(adapting_codec.restore(got).image, adapting_codec.restore(made.jpeg, same).image)


def test_an_adaptation_for_another_basis_is_refused(adapting_codec: Codec, sample_rgb) -> None:
    made = adapting_codec.compress(sample_rgb, 20, 0.0)
    payload = sc.unpack(made.sidecar)[1]
    other = adapt.encode(adapt.Adaptation((adapt.ChannelWeights((0, 0, 0), (1, 2, 3)), None, None)))
    forged = sc.pack(adapting_codec.model_id, sc.jpeg_digest(made.jpeg), 20, 0.0, made.conditioning, payload, other)
    with pytest.raises(SideJPEGError, match="weights per channel"):
        adapting_codec.receive(made.jpeg, forged)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([0, 1, 2]), st.floats(1e-3, 10.0))
def test_a_channels_own_cost_ranks_options_as_the_whole_cost_does(seed: int, c: int, multiplier: float) -> None:
    """``_ChannelCost`` (what the step search and the refinement minimise) differs from the whole adaptation's
    cost by a constant over every option that sends the channel."""
    rng = np.random.default_rng(seed)
    size = basis_size(2)
    features = rng.normal(size=(400, size))
    stats = adapt.Statistics.empty(size)
    stats.add(torch.from_numpy(features), torch.from_numpy(rng.normal(size=(400, 3)) * 0.01))
    current = rng.normal(size=(size, 3)) * 0.01
    to_rgb = RGB_OF_YCBCR.numpy()
    coupling = to_rgb.T @ to_rgb
    others = sum(coupling[c, d] * current[:, d] for d in range(3) if d != c)
    pull = (stats.cross @ to_rgb[:, c] - stats.gram @ others) / coupling[c, c]
    own = adapt._ChannelCost(stats.gram, pull, 255.0**2 * coupling[c, c], multiplier)
    options = [adapt._quantised(rng.normal(size=size) * 0.02, (e, e + 1, e)) for e in range(4)]
    whole = [adapt._cost(stats, multiplier, current, [None, None, None], c, option) for option in options]
    part = [float(own.of(np.array([o.values]), adapt._steps(size, o.exponents)[None])[0]) for o in options]
    np.testing.assert_allclose(np.diff(whole), np.diff(part), rtol=1e-9, atol=1e-6 * max(map(abs, whole)))
    assert own.least(options) == options[int(np.argmin(whole))]


@pytest.mark.parametrize(
    ("cap", "lam", "priced_at"), [(None, 1024.0, 1024.0), (64.0, 16.0, 16.0), (64.0, 1024.0, 64.0)]
)
def test_the_adaptation_prices_its_bits_at_the_sidecars_lambda_or_a_cap(
    adapting_codec: Codec, sample_rgb, monkeypatch: pytest.MonkeyPatch, cap: float | None, lam: float,
    priced_at: float,
) -> None:
    """The descriptors follow the sidecar's lambda, and so does the adaptation unless the encoder caps it
    (what ``benchmarks/adaptation_lambda.py`` measures)."""
    multipliers = []
    choose = adapt.choose

    def priced(stats: adapt.Statistics, multiplier: float) -> adapt.Adaptation:
        multipliers.append(multiplier)
        return choose(stats, multiplier)

    monkeypatch.setattr(adapt, "choose", priced)
    if cap is not None:
        monkeypatch.setattr(adapting_codec.encoder, "adaptation_lambda", cap)
    adapting_codec.compress(sample_rgb, 20, lam)
    assert multipliers == [rd_multiplier(priced_at)]
