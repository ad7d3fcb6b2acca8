"""The sidecar format: round trip, and clear refusals of everything that is not right."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from engine import sidecar as sc
from engine.errors import SideJPEGError
from engine.pipeline import Codec
from tests.conftest import random_net


@pytest.fixture(scope="module")
def made(codec, sample_rgb: np.ndarray):
    return codec.compress(sample_rgb, 30, 16.0)


def test_round_trip_keeps_every_field(made) -> None:
    header, payload, adaptation = sc.unpack(made.sidecar)
    assert (header.width, header.height, header.quality) == (128, 96, 30)
    assert header.lam == pytest.approx(16.0) and header.version == sc.VERSION
    assert header.jpeg_hash == sc.jpeg_digest(made.jpeg)
    assert len(made.sidecar) == sc.OVERHEAD_BYTES + len(payload) + len(adaptation)
    assert sc.pack(header, payload, adaptation) == made.sidecar


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


def test_absurd_sizes_are_refused_before_allocation(made) -> None:
    header, _, _ = sc.unpack(made.sidecar)
    huge = sc.pack(sc.SidecarHeader(header.model_id, 0, 10, 30, 1.0, header.cond_codes, header.jpeg_hash, 0), b"")
    with pytest.raises(SideJPEGError, match="impossible image size"):
        sc.unpack(huge)
    raw = bytearray(made.sidecar)
    offset = header.header_bytes - 6  # the payload's length
    raw[offset : offset + 4] = struct.pack("<I", 2**32 - 1)
    with pytest.raises(SideJPEGError, match="too large"):
        sc.unpack(bytes(raw))


def test_sidecar_for_another_jpeg_is_refused(codec, made, sample_rgb: np.ndarray) -> None:
    other = codec.compress(sample_rgb, 31, 16.0)
    with pytest.raises(SideJPEGError, match="different JPEG"):
        codec.restore(other.jpeg, made.sidecar)


def test_sidecar_from_other_weights_is_refused(made) -> None:
    other = Codec(net=random_net(seed=5), device="cpu")
    with pytest.raises(SideJPEGError, match="made with model"):
        other.restore(made.jpeg, made.sidecar)
