"""Fuzzing the readers of untrusted bytes: sidecar files and JPEGs with embedded side information.

Every input must end in ``SideJPEGError`` with a one-line message or in a valid result; never another
exception, a hang or an unbounded allocation. This is the bounded CI campaign (a few thousand cases);
``python -m tests.fuzzing --cases 100000`` runs the long one with the same corpus, mutators and checks.
"""

from __future__ import annotations

import copy
import struct
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import sidecar as sc
from engine.coding import wavefront
from engine.coding.integer_context import IntegerContextModel, pad_symbols
from engine.conditioning import FULL_COND, Conditioning
from engine.container import MAX_SEGMENTS, embed_sidecar, jpeg_size, split_embedded, without_metadata
from engine.errors import SideJPEGError
from tests import fuzzing as fz

CI = settings(
    deadline=None, derandomize=True, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def ci(examples: int) -> settings:
    """Deterministic hypothesis settings for CI with ``examples`` cases."""
    return settings(CI, max_examples=examples)

_CORPUS = None


def corpus():
    """The fuzz corpus, built once (hypothesis tests cannot take module fixtures cleanly)."""
    global _CORPUS
    if _CORPUS is None:
        _CORPUS = fz.build_corpus()
    return _CORPUS


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def contract(reader: str, data: bytes) -> str:
    """``run_case`` raises CheckFailed (an AssertionError) on any breach; returns the outcome."""
    outcome, _, _, _ = fz.run_case(reader, corpus(), data, case_seconds=20, trace=False)
    return outcome


def assert_refused(call, match: str = "") -> SideJPEGError:
    with pytest.raises(SideJPEGError, match=match) as caught:
        call()
    assert "\n" not in str(caught.value) and str(caught.value).strip()
    return caught.value


def traced(call) -> tuple[float, float]:
    """(seconds, peak MiB of Python/numpy allocations) of ``call``; exceptions propagate."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        call()
    finally:
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return elapsed, peak


# ------------------------------------------------------------------------------------------ seeds


def test_seed_corpus_is_accepted() -> None:
    c = corpus()
    assert contract("sidecar", c.sidecar) == "accepted"
    assert contract("embedded JPEG", c.embedded) == "accepted"
    assert contract("embedded JPEG", c.jpeg) == "accepted blind"


# ------------------------------------------------------------------------------------------ exhaustive


def test_sidecar_truncated_at_every_offset_is_refused() -> None:
    data = corpus().sidecar
    for cut in range(len(data)):
        assert contract("sidecar", data[:cut]) == "refused", cut


def test_every_single_bit_flip_of_a_sidecar_is_refused() -> None:
    """The CRC-32 covers header and payload, so no single flip anywhere survives."""
    data = corpus().sidecar
    for bit in range(8 * len(data)):
        assert contract("sidecar", fz.flip_bit(data, bit)) == "refused", bit


def test_embedded_jpeg_truncated_at_every_offset_is_refused() -> None:
    data = corpus().embedded
    for cut in range(len(data)):
        assert contract("embedded JPEG", data[:cut]) == "refused", cut


@ci(400)
@given(bit=st.integers(0, 2**20))
def test_single_bit_flips_of_an_embedded_jpeg(bit: int) -> None:
    """Refused; or restored blindly when the flip turned our segment into a foreign one; or restored with the
    side information when the flip only touched metadata, which the sidecar's hash leaves out."""
    data = fz.flip_bit(corpus().embedded, bit % (8 * len(corpus().embedded)))
    outcome = contract("embedded JPEG", data)
    if outcome == "accepted":
        image = without_metadata(split_embedded(data)[0])
        assert image == without_metadata(split_embedded(corpus().embedded)[0]), "a flip in the image went unnoticed"
    elif outcome != "refused":
        assert split_embedded(data)[1] is None


# ------------------------------------------------------------------------------------------ random


@ci(250)
@given(data=st.binary(max_size=600), prefix=st.sampled_from([b"", sc.MAGIC, sc.MAGIC + b"\x01"]))
def test_random_bytes_as_a_sidecar(data: bytes, prefix: bytes) -> None:
    assert contract("sidecar", prefix + data) == "refused"


@ci(250)
@given(data=st.binary(max_size=600), prefix=st.sampled_from([b"", b"\xff\xd8", b"\xff\xd8\xff"]))
def test_random_bytes_as_a_jpeg(data: bytes, prefix: bytes) -> None:
    assert contract("embedded JPEG", prefix + data) == "refused"


@ci(300)
@given(rng=st.randoms(use_true_random=False), reader=st.sampled_from(sorted(fz.READERS)))
def test_random_edits(rng, reader: str) -> None:
    c = corpus()
    contract(reader, fz.havoc(rng, c.sidecar if reader == "sidecar" else c.embedded))


# ------------------------------------------------------------------------------------------ forged headers

SIDES = st.one_of(st.sampled_from(fz.INTERESTING_SIDES), st.integers(0, 2**32 - 1))
LENGTHS = st.one_of(st.sampled_from(fz.INTERESTING_LENGTHS), st.integers(0, 2**32 - 1))


@ci(400)
@given(
    width=st.one_of(SIDES, st.none()), height=st.one_of(SIDES, st.none()),
    declared=st.one_of(st.none(), LENGTHS), payload=st.binary(max_size=300),
    right_model=st.booleans(), right_hash=st.booleans(), good_crc=st.booleans(),
    quality=st.integers(0, 255), lam=st.floats(width=32),
    cond=st.lists(st.integers(-32768, 32767), min_size=FULL_COND, max_size=FULL_COND).map(tuple),
    flags=st.sampled_from([0, 0, 1, 255]), version=st.sampled_from([sc.VERSION, sc.VERSION, 4, 4, 1, 0, 2, 255]),
)
def test_forged_sidecar_headers(width, height, declared, payload, right_model, right_hash, good_crc, quality, lam,
                                cond, flags, version) -> None:
    """Huge sizes, 2^32-1 lengths, NaN lambda... behind a valid CRC and the right model and JPEG hash."""
    sizes = {"width": width, "height": height} if version in fz.WIDE else {}
    data = fz.forge_sidecar(
        corpus(), declared=declared, payload=payload, quality=quality, lam=lam, cond=cond, flags=flags,
        version=version, good_crc=good_crc, model_id=None if right_model else b"\x00" * 8,
        jpeg_hash=None if right_hash else b"\x11" * 8, **sizes,
    )
    outcome = contract("sidecar", data)
    if outcome == "accepted":
        header = corpus().codec.receive(corpus().jpeg, data).header
        assert (header.width, header.height) == (corpus().width, corpus().height)


@pytest.mark.parametrize(("width", "height"), [(65535, 65535), (65535, 1), (1, 65535), (4096, 4096)])
def test_forged_huge_grid_is_refused_before_decoding(width: int, height: int) -> None:
    """A header claiming 65535x65535 with the right model and JPEG hash used to make the decoder walk a
    4096x4096 grid (minutes, about 1 GB) before the size check; now the size is checked first."""
    c = corpus()
    rows, cols = sc.blocks_of(width, height)
    data = fz.forge_sidecar(
        c, version=4, width=width, height=height, payload=b"\x00" * min(4 * rows * cols, 1 << 16)
    )
    seconds, peak = traced(lambda: assert_refused(lambda: c.codec.receive(c.jpeg, data), "does not match"))
    assert seconds < 2 and peak < 4
    seconds, peak = traced(lambda: assert_refused(lambda: c.codec.restore(c.jpeg, data), "does not match"))
    assert seconds < 2 and peak < 4


@pytest.mark.parametrize("declared", [2**32 - 1, 2**31, 4 + 3 * 4 * 4 + 1, 10**6])
def test_huge_declared_payload_is_refused_before_allocation(declared: int) -> None:
    c = corpus()
    data = fz.forge_sidecar(c, version=4, declared=declared)
    _, peak = traced(lambda: assert_refused(lambda: sc.unpack(data), "too large"))
    assert peak < 1
    assert_refused(lambda: c.codec.restore(c.jpeg, data), "too large")
    slim = fz.forge_sidecar(c, declared=declared)
    _, peak = traced(lambda: assert_refused(lambda: sc.unpack(slim), "truncated|impossible length"))
    assert peak < 1


@pytest.mark.parametrize("version", [4, sc.VERSION])
def test_payload_bound_allows_exactly_what_the_header_permits(version: int) -> None:
    c = corpus()
    rows, cols = c.header.grid
    bound = 4 + rows * cols * sc.MAX_BITS_PER_BLOCK // 8
    for length in (bound - 4, bound):
        assert contract("sidecar", fz.forge_sidecar(c, version=version, payload=bytes(length))) in (
            "accepted", "refused"
        )
        sc.unpack(fz.forge_sidecar(c, version=version, payload=bytes(length)))
    too_long = fz.forge_sidecar(c, version=version, payload=bytes(bound + 1))
    assert_refused(lambda: c.codec.receive(c.jpeg, too_long), "too large")
    if version in fz.WIDE:  # its header says the size: refused before the JPEG is looked at
        assert_refused(lambda: sc.unpack(too_long), "too large")


def _worst_case_map(coder, rows: int, cols: int, cond: Conditioning) -> np.ndarray:
    """The map that picks the least likely symbol everywhere, in decoding order (the longest code)."""
    padded = pad_symbols(np.zeros((rows, cols), dtype=np.int64))
    padded[2:, 2 : 2 + cols] = -1
    bias = coder.cond_bias(cond)
    for r, cc in wavefront.wavefronts(rows, cols):
        probs = coder.probabilities(coder.logits(padded, r, cc, bias))
        padded[r + 2, cc + 2] = probs.argmin(axis=1)
    return padded[2:, 2 : 2 + cols].astype(np.uint8)


@pytest.mark.parametrize("sharpen", [1, 1000])
@pytest.mark.parametrize(("rows", "cols"), [(1, 1), (1, 2), (2, 2), (3, 5), (1, 40), (16, 16)])
def test_max_payload_bound_holds_for_worst_case_maps(rows: int, cols: int, sharpen: int) -> None:
    """No map the coder can be asked to write exceeds the bound the reader enforces (MAX_BITS_PER_BLOCK),
    even with logits scaled until every unlikely symbol sits at the probability floor."""
    c = corpus()
    context = copy.deepcopy(c.codec.inference.net.context)
    with torch.no_grad():
        context.layers[-1].weight.mul_(sharpen)
        context.layers[-1].bias.mul_(sharpen)
    coder = IntegerContextModel(context)
    cond = c.header.conditioning
    symbols = _worst_case_map(coder, rows, cols, cond)
    payload = wavefront.encode(coder, symbols, cond)
    assert len(payload) <= 4 + rows * cols * sc.MAX_BITS_PER_BLOCK // 8
    assert np.array_equal(wavefront.decode(coder, payload, rows, cols, cond), symbols)
    if sharpen > 1 and rows * cols >= 16:
        assert len(payload) * 8 / (rows * cols) > 12  # the sharpening did push the code towards its worst


# ------------------------------------------------------------------------------------------ embedded segments


@ci(300)
@given(rng=st.randoms(use_true_random=False))
def test_many_segments(rng) -> None:
    contract("embedded JPEG", fz.many_segments(rng, corpus()))


@ci(200)
@given(
    chunks=st.lists(st.tuples(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=8)), max_size=300),
    where=st.integers(0, 3),
)
def test_arbitrary_segment_tables(chunks, where: int) -> None:
    """Any sequence of our segments with any index, total and content, anywhere before the image data."""
    c = corpus()
    blob = b"".join(fz.our_segment(i, t, chunk) for i, t, chunk in chunks)
    data = fz.with_segments(c.jpeg, blob) if where < 3 else c.jpeg[:-2] + blob + c.jpeg[-2:]
    contract("embedded JPEG", data)


def test_sidecar_split_over_the_most_segments_allowed_still_restores() -> None:
    c = corpus()
    size = -(-len(c.sidecar) // MAX_SEGMENTS)
    pieces = [c.sidecar[i : i + size] for i in range(0, len(c.sidecar), size)]
    pieces += [b""] * (MAX_SEGMENTS - len(pieces))
    data = fz.with_segments(c.jpeg, b"".join(fz.our_segment(i, MAX_SEGMENTS, p) for i, p in enumerate(pieces)))
    assert split_embedded(data) == (c.jpeg, c.sidecar)
    assert contract("embedded JPEG", data) == "accepted"
    over = data[:2] + fz.our_segment(255, 0, b"") + data[2:]
    assert_refused(lambda: split_embedded(over), "out of order")


@pytest.mark.parametrize(
    ("content", "length", "message"),
    [
        (b"SideJPEG\x00", None, "truncated"),  # identifier but no index bytes
        (b"SideJPEG\x00\x00\x02", None, "incomplete"),  # 1 of 2 segments
        (b"SideJPEG\x00\x00\x01", 0xFFFF, "past the end"),
        (b"SideJPEG\x00\x00\x01", 1, "past the end"),
        (b"SideJPEG\x00\x01\x01", None, "out of order"),
    ],
)
def test_broken_segments_are_refused(content: bytes, length: int | None, message: str) -> None:
    data = fz.with_segments(corpus().jpeg, fz.app10(content, length))
    assert_refused(lambda: split_embedded(data), message)
    assert_refused(lambda: corpus().codec.restore(data), message)


# ------------------------------------------------------------------------------------------ JPEG bombs


@pytest.mark.parametrize(("width", "height"), [(65535, 65535), (8001, 8000), (65535, 977), (0, 40), (56, 0)])
def test_frame_size_over_the_limit_is_refused_from_the_header(width: int, height: int) -> None:
    c = corpus()
    bomb = fz.set_frame_size(c.embedded, width, height)
    assert jpeg_size(fz.set_frame_size(c.jpeg, max(width, 1), max(height, 1))) == (max(width, 1), max(height, 1))
    seconds, peak = traced(lambda: assert_refused(lambda: c.codec.restore(bomb), "too large|no pixels"))
    assert seconds < 1 and peak < 1
    forged = fz.forge_sidecar(
        c, version=4, width=width, height=height, jpeg_hash=sc.jpeg_digest(split_embedded(bomb)[0])
    )
    assert_refused(lambda: c.codec.restore(embed_sidecar(split_embedded(bomb)[0], forged)), "too large|no pixels")


def test_jpeg_without_frame_header_is_refused() -> None:
    c = corpus()
    sos = c.jpeg.index(b"\xff\xda")
    assert_refused(lambda: jpeg_size(b"\xff\xd8" + c.jpeg[sos:]), "no frame header")
    truncated_sof = b"\xff\xd8" + struct.pack(">BBH", 0xFF, 0xC0, 4) + b"\x08\x00" + c.jpeg[sos:]
    assert_refused(lambda: jpeg_size(truncated_sof), "frame header is truncated")


# ------------------------------------------------------------------------------------------ the script


def test_fuzz_script_runs_a_bounded_campaign(tmp_path: Path, capsys) -> None:
    assert fz.main(["--cases", "400", "--save", str(tmp_path / "failures")]) == 0
    out = capsys.readouterr().out
    assert "sidecar: " in out and "embedded JPEG: " in out and " 0 failures" in out
    assert not (tmp_path / "failures").exists()
