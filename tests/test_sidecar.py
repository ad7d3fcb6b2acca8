"""The sidecar format: round trip, and clear refusals of everything that is not right."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import sidecar as sc
from engine.commands.info import describe_constraint
from engine.constraint import Constraint
from engine.errors import SideJPEGError
from engine.inference import pixels
from engine.pipeline import Codec
from tests import fuzzing as fz
from tests.conftest import random_net


@pytest.fixture(scope="module")
def made(codec, sample_rgb: np.ndarray):
    return codec.compress(sample_rgb, 30, 16.0)


def test_round_trip_keeps_every_field(codec, made) -> None:
    header, payload, adaptation = sc.unpack(made.sidecar)
    assert header.quality == 30 and header.lam == 16.0 and header.version == sc.VERSION == 7
    assert header.jpeg_hash == sc.jpeg_digest(made.jpeg)[: sc.ID_BYTES]
    assert header.model_id == codec.model_id[: sc.ID_BYTES]
    assert len(made.sidecar) == header.header_bytes + len(payload) + len(adaptation) + 4
    assert sc.pack(codec.model_id, sc.jpeg_digest(made.jpeg), 30, 16.0, made.conditioning, payload, adaptation) == (
        made.sidecar
    )


def test_the_unconstrained_flag_round_trips_and_other_flags_are_refused(codec, made) -> None:
    header, payload, adaptation = sc.unpack(made.sidecar)
    assert not header.unconstrained
    flagged = sc.pack(
        codec.model_id, sc.jpeg_digest(made.jpeg), 30, 16.0, made.conditioning, payload, adaptation, unconstrained=True
    )
    assert flagged[5] == sc.UNCONSTRAINED and sc.unpack(flagged)[0].unconstrained
    assert codec.receive(made.jpeg, flagged).constraint is None
    assert codec.receive(made.jpeg, made.sidecar).constraint is not None
    assert "constraint: off" in describe_constraint(sc.unpack(flagged)[0])
    for flags in (4, 0x80, 0xFF):
        body = flagged[:5] + bytes([flags]) + flagged[6:-4]
        with pytest.raises(SideJPEGError, match="unknown flags"):
            sc.unpack(body + struct.pack("<I", zlib.crc32(body)))


def test_the_shows_blind_flag_round_trips_from_version_7_on(codec, made) -> None:
    header, payload, adaptation = sc.unpack(made.sidecar)
    assert not header.shows_blind and not codec.receive(made.jpeg, made.sidecar).shown_blind
    flagged = sc.pack(
        codec.model_id, sc.jpeg_digest(made.jpeg), 30, 16.0, made.conditioning, payload, adaptation, shows_blind=True
    )
    assert flagged[5] == sc.SHOWS_BLIND and sc.unpack(flagged)[0].shows_blind
    got = codec.receive(made.jpeg, flagged)
    assert got.shown_blind and not got.blind
    assert np.array_equal(codec.restore(got).image, codec.restore(made.jpeg).image), "what blind decoding shows"
    assert "shown as blind decoding shows it" in describe_constraint(got.header)
    with pytest.raises(SideJPEGError, match="unknown flags"):
        sc.unpack(fz.relabelled(flagged, 6))


def test_the_slim_header_leaves_to_the_jpeg_what_it_says(made) -> None:
    """Version 5 carries neither the image size nor the conditioning codes: binding to the JPEG fills them in,
    the same as the encoder used; the fixed overhead is 25 bytes and two short lengths (63 in version 4)."""
    header, payload, adaptation = sc.unpack(made.sidecar)
    assert header.width is None and header.cond_codes is None
    bound = made.received().header
    assert (bound.width, bound.height, bound.grid) == (128, 96, (6, 8))
    np.testing.assert_array_equal(bound.conditioning.codes, made.conditioning.codes)
    lengths = (len(payload) > 127) + (len(adaptation) > 127) + 2
    assert header.header_bytes + 4 == 25 + lengths


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b"XXXX" + b[4:], "magic"),
        (lambda b: b[:4] + bytes([9]) + b[5:], "version 9"),
        (lambda b: b[:20], "truncated"),
        (lambda b: b[:-10], "truncated"),
        (lambda b: b + b"\x00", "trailing"),
        (lambda b: b[:-6] + bytes([b[-6] ^ 0x10]) + b[-5:], "checksum"),
    ],
)
def test_damaged_sidecars_are_refused(made, mutate, message: str) -> None:
    with pytest.raises(SideJPEGError, match=message):
        sc.unpack(mutate(made.sidecar))


@given(st.integers(0, 2**28 - 1))
def test_lengths_round_trip_in_their_shortest_form(value: int) -> None:
    coded = sc._varint(value)
    assert sc._read_varint(coded + b"\xff", 0) == (value, len(coded))
    assert len(coded) == max(1, -(-value.bit_length() // 7))


@pytest.mark.parametrize(
    ("lengths", "message"),
    [(b"\x80\x00\x00", "non-canonical"), (b"\xff\xff\xff\xff\x01\x00", "impossible length"), (b"\x85", "truncated")],
)
def test_malformed_lengths_are_refused(codec, made, lengths: bytes, message: str) -> None:
    head = sc._HEADS[5].pack(
        sc.MAGIC, 5, 0, codec.model_id[:4], sc.jpeg_digest(made.jpeg)[:4], 30, 16.0,
        sc.conditioning_check(made.conditioning.codes),
    )
    body = head + lengths
    with pytest.raises(SideJPEGError, match=message):
        sc.unpack(body + struct.pack("<I", zlib.crc32(body)))


def test_a_conditioning_the_decoder_derives_differently_is_refused(codec, made) -> None:
    """A decoder that read the JPEG's tables otherwise (or a header whose lambda was edited) would feed the
    networks other values and decode garbage: the 16-bit check turns that into a clear refusal."""
    _, payload, adaptation = sc.unpack(made.sidecar)
    digest = sc.jpeg_digest(made.jpeg)
    forged = sc.pack(codec.model_id, digest, 30, 17.0, made.conditioning, payload, adaptation)
    with pytest.raises(SideJPEGError, match="conditioning does not match"):
        codec.receive(made.jpeg, forged)


def test_version_4_and_5_sidecars_are_still_read_with_the_jpegs_own_pixels_in_kept_blocks(
    sample_rgb: np.ndarray,
) -> None:
    """Version 6 shows kept blocks decoded anew; earlier versions, as their encoders checked them, the JPEG's
    own pixels moved into the constraint; every other block alike."""
    codec = Codec(device="cpu")  # the shipped model keeps some of this sample's blocks at q60, not all
    made = codec.compress(sample_rgb, 60, 64.0)
    header, payload, adaptation = sc.unpack(made.sidecar)
    codes = tuple(int(v) for v in made.conditioning.codes)
    v4 = fz.wide_sidecar(4, codec.model_id, 128, 96, 60, 64.0, codes, sc.jpeg_digest(made.jpeg), payload, adaptation)
    v5 = fz.relabelled(made.sidecar, 5)
    kept = np.repeat(np.repeat(made.symbols == codec.config.keep_symbol, 16, axis=0), 16, axis=1)[..., None]
    assert kept.any() and not kept.all() and header.keeps_decoded_anew
    own = pixels(Constraint.of(made.jpeg).project(codec.inference.tensor(made.jpeg_decoded), 0, 0))
    for sidecar, version, size in ((v4, 4, 63), (v5, 5, header.header_bytes + 4)):
        got = codec.receive(made.jpeg, sidecar)
        assert (got.header.version, got.header.header_bytes + 4) == (version, size)
        assert not got.header.keeps_decoded_anew
        np.testing.assert_array_equal(codec.restore(got).image, np.where(kept, own, made.restored))


def test_sidecar_for_another_jpeg_is_refused(codec, made, sample_rgb: np.ndarray) -> None:
    other = codec.compress(sample_rgb, 31, 16.0)
    with pytest.raises(SideJPEGError, match="different JPEG"):
        codec.restore(other.jpeg, made.sidecar)


def test_sidecar_from_other_weights_is_refused(made) -> None:
    other = Codec(net=random_net(seed=5), device="cpu")
    with pytest.raises(SideJPEGError, match="made with model"):
        other.restore(made.jpeg, made.sidecar)
