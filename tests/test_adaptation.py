"""Per-image adaptation: its stream, its least-squares choice, the decoder's correction, and the codec."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import encoding
from engine import sidecar as sc
from engine.coding import adaptation as adapt
from engine.errors import SideJPEGError
from engine.metrics import psnr
from engine.models.adaptation import RGB_OF_YCBCR, adapted, basis, basis_size
from engine.pipeline import Codec
from tests.conftest import random_net


def _channels(size: int) -> st.SearchStrategy:
    weights = st.builds(
        adapt.ChannelWeights,
        st.integers(0, 15),
        st.integers(0, 15),
        st.lists(st.integers(-adapt.MAX_VALUE, adapt.MAX_VALUE), min_size=size, max_size=size).map(tuple),
    )
    return st.tuples(*(st.none() | weights for _ in adapt.CHANNELS))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 60).flatmap(_channels))
def test_every_adaptation_survives_its_stream(channels) -> None:
    original = adapt.Adaptation(channels)
    data = adapt.encode(original)
    assert adapt.decode(data) == original
    assert len(data) * 8 - 8 < adapt.stream_bits(original) <= len(data) * 8


def test_nothing_sent_is_an_empty_stream() -> None:
    assert adapt.encode(adapt.NOTHING) == b"" and adapt.decode(b"") == adapt.NOTHING
    assert adapt.NOTHING.tensor(10) is None and adapt.NOTHING.sent == ()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (adapt.encode(adapt.Adaptation((adapt.ChannelWeights(1, 2, (5, -3)), None, None)))[:-1], "truncated"),
        (adapt.encode(adapt.Adaptation((adapt.ChannelWeights(1, 2, (5, -3)), None, None))) + b"\x80", "trailing"),
        (bytes([2, 0]), "no channel"),
        (bytes([1, 0b10000000, 0, 0, 0, 0, 0, 0]), "impossibly large"),
    ],
)
def test_forged_streams_are_refused_with_a_message(data: bytes, message: str) -> None:
    with pytest.raises(SideJPEGError, match=message):
        adapt.decode(data)


def test_the_decoders_correction_is_the_basis_the_encoder_fits() -> None:
    torch.manual_seed(0)
    h, restored, jpeg = torch.randn(1, 6, 4, 5), torch.rand(1, 3, 8, 10), torch.rand(1, 3, 8, 10)
    weights = torch.randn(basis_size(6), 3)
    correction = torch.einsum("bkhw,kc->bchw", basis(h, restored, jpeg), weights)
    want = restored + torch.einsum("ij,bjhw->bihw", RGB_OF_YCBCR.float(), correction)
    torch.testing.assert_close(adapted(h, restored, jpeg, weights), want, atol=1e-5, rtol=1e-5)


def test_least_squares_finds_an_error_the_basis_explains_and_stops_where_it_does_not_pay() -> None:
    rng = np.random.default_rng(1)
    features = torch.from_numpy(rng.normal(size=(5000, 7)))
    truth = rng.normal(size=(7, 3)) * 0.01
    error = features @ torch.from_numpy(truth @ RGB_OF_YCBCR.numpy().T)
    stats = adapt.Statistics.empty(7)
    stats.add(features, error)
    exact = adapt.choose(stats, multiplier=1e-9)
    assert exact.sent == adapt.CHANNELS
    np.testing.assert_allclose(exact.weights(7), truth, atol=1e-5)
    cheap = adapt.choose(stats, multiplier=1.0)
    left = error - features @ torch.from_numpy(cheap.weights(7) @ RGB_OF_YCBCR.numpy().T)
    assert float(left.square().sum()) < 0.05 * float(error.square().sum())
    assert adapt.stream_bits(cheap) < adapt.stream_bits(exact)
    assert adapt.choose(stats, multiplier=1e12) == adapt.NOTHING


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
    header, payload, _ = sc.unpack(made.sidecar)
    v2 = sc._HEADS[2].pack(
        sc.MAGIC, 2, 0, header.model_id, header.width, header.height, header.quality, header.lam,
        *header.cond_codes, header.jpeg_hash, len(payload),
    ) + payload
    v2 += sc._CRC.pack(zlib.crc32(v2))
    got = adapting_codec.receive(made.jpeg, v2)
    assert got.header.version == 2 and got.adaptation == adapt.NOTHING
    np.testing.assert_array_equal(adapting_codec.restore(got).image, made.restored)


def test_an_adaptation_for_another_basis_is_refused(adapting_codec: Codec, sample_rgb) -> None:
    made = adapting_codec.compress(sample_rgb, 20, 0.0)
    header, payload, _ = sc.unpack(made.sidecar)
    other = adapt.encode(adapt.Adaptation((adapt.ChannelWeights(0, 0, (1, 2, 3)), None, None)))
    forged = sc.pack(header, payload, other)
    with pytest.raises(SideJPEGError, match="weights per channel"):
        adapting_codec.receive(made.jpeg, forged)
