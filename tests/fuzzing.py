"""Fuzz the two readers of untrusted bytes: sidecar files, and JPEGs with side information embedded.

    python -m tests.fuzzing --cases 100000          # the long campaign, on demand
    python -m tests.fuzzing --cases 20000 --markdown  # the table in docs/robustness.md

Every case must end in ``SideJPEGError`` with a one-line message, or in a valid result (a bit
flip that still parses, a JPEG whose side information was mangled into a foreign segment and is
restored blindly). Anything else is a failure: another exception, a case running past
``--case-seconds`` (a hang), or Python/numpy allocations past ``--case-mib`` (tracemalloc).
Failing inputs are saved under ``--save`` with the seed and case number that reproduce them.

The codec is a random-initialised ``fast`` model (``torch.manual_seed(0)``), so no shipped
weights are needed; the seed corpus is a small crop of the bundled sample image compressed with it.
``tests/test_fuzz_readers.py`` reuses the corpus, mutators and checks below for the CI campaign.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import resource
import signal
import struct
import sys
import time
import tracemalloc
import warnings
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from engine import sidecar as sc
from engine.config import get_preset
from engine.container import APP_MARKER, IDENTIFIER, embed_sidecar, jpeg_size, split_embedded
from engine.errors import SideJPEGError
from engine.image_io import MAX_PIXELS
from engine.models.sidejpeg import SideJPEGNet
from engine.pipeline import Codec
from engine.resources import SAMPLE_IMAGE

CASE_SECONDS = 10.0
"""A case running longer than this is a hang (the slowest legitimate case here takes well under 1 s)."""
CASE_MIB = 64
"""Bound on the Python/numpy memory one hostile input may make the readers allocate (tracemalloc)."""
MESSAGE_CHARS = 400
INTERESTING_SIDES = (0, 1, 2, 15, 16, 17, 255, 4096, 65535, 65536, 2**31 - 1, 2**32 - 1)
INTERESTING_LENGTHS = (0, 1, 3, 4, 5, 7, 8, 64, 65535, 2**31 - 1, 2**32 - 1)


class CaseTimeout(BaseException):
    """Raised by the alarm inside a case that hangs (a BaseException so ``except Exception`` cannot eat it)."""


class CheckFailed(AssertionError):
    """A reader broke its contract on one input."""


# --------------------------------------------------------------------------------------------- corpus


@dataclass
class Corpus:
    """A random-initialised codec and a small real JPEG + sidecar made with it."""

    codec: Codec
    jpeg: bytes
    sidecar: bytes
    embedded: bytes
    header: sc.SidecarHeader
    payload: bytes
    width: int
    height: int


def seed_image(height: int = 40, width: int = 56) -> np.ndarray:
    """A crop of the bundled sample (sides not multiples of 16), or a synthetic one if it is missing."""
    if SAMPLE_IMAGE.is_file():
        from PIL import Image

        with Image.open(SAMPLE_IMAGE) as im:
            rgb = np.asarray(im.convert("RGB"))
        return np.ascontiguousarray(rgb[200 : 200 + height, 300 : 300 + width])
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 4, yy * 5, (xx + yy) * 2], axis=-1)
    return np.clip(base + rng.integers(-20, 20, base.shape), 0, 255).astype(np.uint8)


def build_corpus(seed: int = 0) -> Corpus:
    torch.manual_seed(seed)
    codec = Codec(net=SideJPEGNet(get_preset("fast")), device="cpu")
    rgb = seed_image()
    made = codec.compress(rgb, 30, 2.0)
    payload = sc.unpack(made.sidecar)[1]
    return Corpus(
        codec, made.jpeg, made.sidecar, embed_sidecar(made.jpeg, made.sidecar), made.received().header, payload,
        made.width, made.height,
    )


WIDE = (2, 3, 4)
"""Versions whose header repeats the JPEG's size and conditioning (versions 5 and 6 leave them to the JPEG)."""


def wide_sidecar(
    version: int, model_id: bytes, width: int, height: int, quality: int, lam: float, cond: tuple[int, ...],
    jpeg_hash: bytes, payload: bytes, adaptation: bytes = b"", *, flags: int = 0, declared: int | None = None,
    good_crc: bool = True,
) -> bytes:
    """A sidecar in the header layout of versions 2-4, with any values."""
    extra = () if version == 2 else (len(adaptation),)  # every version since 3 declares the adaptation
    head = sc._HEADS[version].pack(
        sc.MAGIC, version, flags, model_id, width, height, quality, lam, *cond, jpeg_hash,
        len(payload) if declared is None else declared, *extra,
    )
    return _with_crc(head + payload + adaptation, good_crc)


def relabelled(sidecar: bytes, version: int) -> bytes:
    """A sidecar of version 5 or later labelled as another of those versions (they share one layout), its
    checksum made anew."""
    return _with_crc(sidecar[:4] + bytes([version]) + sidecar[5:-4], True)


def _with_crc(body: bytes, good: bool) -> bytes:
    crc = zlib.crc32(body) if good else zlib.crc32(body) ^ 0x5A5A5A5A
    return body + struct.pack("<I", crc)


def forge_sidecar(corpus: Corpus, *, version: int = sc.VERSION, flags: int = 0, model_id: bytes | None = None,
                  width: int | None = None, height: int | None = None, quality: int = 30, lam: float = 2.0,
                  cond: tuple[int, ...] | None = None, jpeg_hash: bytes | None = None,
                  payload: bytes | None = None, declared: int | None = None, good_crc: bool = True,
                  adaptation: bytes = b"") -> bytes:
    """A sidecar with any header values; by default it matches the corpus (model, hash, size) and its CRC is right.

    Versions 2-4 get their own header layout (``width`` and ``height`` only exist there), every other version
    the slim one of version 5, whose conditioning check is that of ``cond``."""
    payload = corpus.payload if payload is None else payload
    model_id = corpus.codec.model_id if model_id is None else model_id
    jpeg_hash = sc.jpeg_digest(corpus.jpeg) if jpeg_hash is None else jpeg_hash
    cond = corpus.header.cond_codes if cond is None else cond
    if version in WIDE:
        return wide_sidecar(
            version, model_id, corpus.width if width is None else width, corpus.height if height is None else height,
            quality, lam, cond, jpeg_hash, payload, adaptation, flags=flags, declared=declared, good_crc=good_crc,
        )
    if width is not None or height is not None:
        raise ValueError(f"a version-{version} header has no image size")
    head = sc._HEADS[5].pack(
        sc.MAGIC, version, flags, model_id[: sc.ID_BYTES], jpeg_hash[: sc.ID_BYTES], quality, lam,
        sc.conditioning_check(np.asarray(cond, dtype=np.int16)),
    )
    lengths = sc._varint(len(payload) if declared is None else declared) + sc._varint(len(adaptation))
    return _with_crc(head + lengths + payload + adaptation, good_crc)


def app10(content: bytes, length: int | None = None) -> bytes:
    """One APP10 segment; ``length`` overrides the length field (which counts itself)."""
    return struct.pack(">BBH", 0xFF, APP_MARKER, len(content) + 2 if length is None else length) + content


def our_segment(index: int, total: int, chunk: bytes) -> bytes:
    return app10(IDENTIFIER + bytes([index & 0xFF, total & 0xFF]) + chunk)


def with_segments(jpeg: bytes, segments: bytes) -> bytes:
    """The JPEG with raw segment bytes inserted right after its start-of-image marker."""
    return jpeg[:2] + segments + jpeg[2:]


def set_frame_size(jpeg: bytes, width: int, height: int) -> bytes:
    """The JPEG with the width and height in its frame header replaced (the scan data is left as is)."""
    pos = 2
    while pos + 4 <= len(jpeg):
        marker = jpeg[pos + 1]
        (length,) = struct.unpack_from(">H", jpeg, pos + 2)
        if marker in (0xC0, 0xC1, 0xC2):
            return jpeg[: pos + 5] + struct.pack(">HH", height, width) + jpeg[pos + 9 :]
        pos += 2 + length
    raise ValueError("no frame header")


# --------------------------------------------------------------------------------------------- checks


def check_message(exc: SideJPEGError) -> None:
    text = str(exc)
    if not text.strip() or "\n" in text or len(text) > MESSAGE_CHARS:
        raise CheckFailed(f"SideJPEGError message is not one clear line: {text!r}")


def _outcome(call: Callable[[], object]) -> tuple[object | None, SideJPEGError | None]:
    """(result, None) or (None, error) for a SideJPEGError; any other exception propagates."""
    try:
        return call(), None
    except SideJPEGError as exc:
        check_message(exc)
        return None, exc


def check_sidecar(corpus: Corpus, data: bytes) -> str:
    """The sidecar reader on ``data``: ``unpack``, ``Codec.receive`` and ``Codec.restore`` with the corpus JPEG."""
    unpacked, unpack_error = _outcome(lambda: sc.unpack(data))
    if unpacked is not None:
        header, payload, adaptation = unpacked
        declared = len(payload) != header.payload_bytes or len(adaptation) != header.adaptation_bytes
        if declared or len(data) != header.header_bytes + len(payload) + len(adaptation) + 4:
            raise CheckFailed("unpack returned a payload that disagrees with its header")
    read, read_error = _outcome(lambda: corpus.codec.receive(corpus.jpeg, data))
    restored, restore_error = _outcome(lambda: corpus.codec.restore(corpus.jpeg, data))
    if (read is None) != (restored is None) or (read is not None and unpacked is None):
        raise CheckFailed(
            f"readers disagree: unpack {unpack_error}, receive {read_error}, restore {restore_error}"
        )
    if restored is None:
        return "refused"
    header, symbols = read.header, read.symbols
    if symbols.shape != header.grid or symbols.dtype != np.uint8 or int(symbols.max()) >= corpus.codec.coder.symbols:
        raise CheckFailed(f"decoded descriptor map is malformed: {symbols.shape} {symbols.dtype}")
    if restored.image.shape != (corpus.height, corpus.width, 3) or not np.array_equal(restored.symbols, symbols):
        raise CheckFailed("restore of an accepted sidecar gave a malformed result")
    return "accepted"


def check_embedded(corpus: Corpus, data: bytes) -> str:
    """The JPEG reader on ``data``: ``split_embedded``, then ``Codec.restore`` of the whole file."""
    split, _ = _outcome(lambda: split_embedded(data))
    if split is not None:
        plain, side = split
        if split_embedded(plain) != (plain, None):
            raise CheckFailed("split_embedded left side information segments in the plain JPEG")
        if side is None and plain != data:
            raise CheckFailed("split_embedded changed a JPEG that carries no side information")
    restored, _ = _outcome(lambda: corpus.codec.restore(data))
    if restored is None:
        return "refused"
    if split is None:
        raise CheckFailed("restore accepted a file split_embedded refuses")
    plain, side = split
    width, height = jpeg_size(plain)
    if restored.image.shape != (height, width, 3) or restored.image.dtype != np.uint8:
        raise CheckFailed(f"restored image has shape {restored.image.shape}, the JPEG says {width}x{height}")
    if restored.blind != (side is None):
        raise CheckFailed("restore used side information split_embedded did not find, or ignored what it found")
    return "accepted blind" if restored.blind else "accepted"


READERS: dict[str, Callable[[Corpus, bytes], str]] = {"sidecar": check_sidecar, "embedded JPEG": check_embedded}


# --------------------------------------------------------------------------------------------- mutators


def flip_bit(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def havoc(rng: random.Random, data: bytes) -> bytes:
    """1-8 random edits: byte sets, interesting bytes, inserts, deletes, duplicated or swapped runs."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(6)
        pos = rng.randrange(len(out) + 1)
        if op == 0 and out:
            out[min(pos, len(out) - 1)] = rng.randrange(256)
        elif op == 1 and out:
            out[min(pos, len(out) - 1)] = rng.choice((0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF, 0xD8, 0xD9, 0xDA, 0xEA))
        elif op == 2:
            out[pos:pos] = rng.randbytes(rng.randint(1, 16))
        elif op == 3:
            del out[pos : pos + rng.randint(1, 16)]
        elif op == 4 and out:
            start = rng.randrange(len(out))
            out[pos:pos] = out[start : start + rng.randint(1, 64)]
        elif op == 5 and len(out) >= 4:
            start = rng.randrange(len(out) - 3)
            out[start : start + 4] = struct.pack("<I", rng.choice((0, 1, 0xFFFF, 0x10000, 2**31, 2**32 - 1)))
    return bytes(out)


def random_bytes(rng: random.Random) -> bytes:
    return rng.randbytes(rng.choice((0, 1, 2, 3, 4, 5, 8, 16, rng.randint(0, 256), rng.randint(0, 4096))))


def near_valid_sidecar(rng: random.Random, corpus: Corpus) -> bytes:
    """The seed sidecar with one field changed behind a valid CRC: most of these reach the range decoder,
    which must turn any payload (random words, the wrong length) into a map or a clear error."""
    field_name = rng.choice(("payload", "payload", "payload", "cond", "lam", "quality", "width", "height"))
    if field_name == "payload":
        rows, cols = corpus.header.grid
        return forge_sidecar(corpus, payload=rng.randbytes(rng.randint(0, 4 + rows * cols * 4)))
    if field_name == "cond":
        return forge_sidecar(corpus, cond=tuple(rng.randint(-32768, 32767) for _ in corpus.header.cond_codes))
    if field_name == "lam":
        return forge_sidecar(corpus, lam=rng.choice((0.0, 1e-30, 1e30, 3.0e38, float("nan"), -0.0)))
    if field_name == "quality":
        return forge_sidecar(corpus, quality=rng.randrange(256))
    side = rng.choice((corpus.width + 1, corpus.height - 1, 16, 1, 65535))
    return forge_sidecar(corpus, version=rng.choice(WIDE), **{field_name: side})


def forged_sidecar(rng: random.Random, corpus: Corpus) -> bytes:
    """Hostile header values (huge sizes, lengths, NaN lambda...) behind a valid CRC, mostly with the right
    model and JPEG hash so they get as far as the decoder can let them."""
    if rng.random() < 0.35:
        return near_valid_sidecar(rng, corpus)
    width = rng.choice((*INTERESTING_SIDES, corpus.width, corpus.width, rng.randrange(2**32)))
    height = rng.choice((*INTERESTING_SIDES, corpus.height, corpus.height, rng.randrange(2**32)))
    rows, cols = sc.blocks_of(max(width, 1), max(height, 1))
    bound = 4 + rows * cols * sc.MAX_BITS_PER_BLOCK // 8
    declared = rng.choice((None, None, *INTERESTING_LENGTHS, bound, bound + 1, bound - 1, rng.randrange(2**32)))
    payload_len = rng.choice((len(corpus.payload), 0, 4, 5, rng.randint(0, 2048)))
    payload = corpus.payload if payload_len == len(corpus.payload) else rng.randbytes(payload_len)
    if declared is not None and declared <= 1 << 16 and rng.random() < 0.5:
        payload = rng.randbytes(declared)  # the declared length is actually present
    version = rng.choice((sc.VERSION,) * 4 + (4, 4, 0, 2, 255))
    sizes = {"width": min(width, 2**32 - 1), "height": min(height, 2**32 - 1)} if version in WIDE else {}
    return forge_sidecar(
        corpus,
        version=version,
        flags=rng.choice((0,) * 6 + (1, 0x80, 0xFF)),
        model_id=rng.choice((None, None, None, rng.randbytes(8))),
        **sizes,
        quality=rng.choice((0, 1, 30, 100, 101, 255)),
        lam=rng.choice((2.0, 0.0, -1.0, float("nan"), float("inf"), -float("inf"), 3.0e38, 1e-45)),
        cond=tuple(rng.choice((0, 4096, -32768, 32767, rng.randint(-32768, 32767))) for _ in corpus.header.cond_codes),
        jpeg_hash=rng.choice((None, None, None, rng.randbytes(8))),
        payload=payload,
        declared=None if declared is None else min(declared, 2**32 - 1),
        good_crc=rng.random() < 0.9,
    )


def many_segments(rng: random.Random, corpus: Corpus) -> bytes:
    """The sidecar spread over many APP10 segments (up to 300, each chunk 0-8 bytes), then often broken:
    wrong index or total, short or empty segments, lengths past the end, foreign segments and fill bytes."""
    side = corpus.sidecar
    count = rng.choice((1, 2, 7, len(side), 255, 256, 300, rng.randint(1, 300)))
    cuts = sorted(rng.randint(0, len(side)) for _ in range(count - 1))
    chunks = [side[a:b] for a, b in zip([0, *cuts], [*cuts, len(side)], strict=True)]
    total = count if rng.random() < 0.6 else rng.choice((0, 1, count - 1, count + 1, 255))
    segments = [our_segment(i, total, c) for i, c in enumerate(chunks)]
    for _ in range(rng.choice((0, 0, 0, 1, 2, 5))):
        if not segments:
            break
        kind = rng.randrange(7)
        i = rng.randrange(len(segments))
        if kind == 0:  # wrong index
            segments[i] = our_segment(rng.randrange(256), total, chunks[i] if i < len(chunks) else b"")
        elif kind == 1:  # identifier only, no index bytes
            segments[i] = app10(IDENTIFIER[: rng.randint(0, len(IDENTIFIER))])
        elif kind == 2:  # length field past the end of the file
            segments[i] = app10(IDENTIFIER + bytes([i & 0xFF, total & 0xFF]), length=rng.choice((0, 1, 0xFFFF)))
        elif kind == 3:  # a foreign APP10 or APP1 segment in between
            marker = rng.choice((APP_MARKER, 0xE1))
            segments.insert(i, struct.pack(">BBH", 0xFF, marker, 6) + b"Exif")
        elif kind == 4:  # fill bytes
            segments.insert(i, b"\xff" * rng.randint(1, 64))
        elif kind == 5:  # duplicate
            segments.insert(i, segments[i])
        else:  # drop one
            del segments[i]
    return with_segments(corpus.jpeg, b"".join(segments))


def huge_frame(rng: random.Random, corpus: Corpus) -> bytes:
    """A JPEG whose frame header claims a huge or empty image, with or without (matching) side information.

    Sizes over the pixel limit must be refused from the header, before anything is decoded. Sizes within
    it are a legitimate image as far as the header can tell (libjpeg fills a scan that ends early with
    grey, and Pillow does not report it), so they cost what a real image of that size costs: only small
    ones are drawn here to keep the campaign bounded (docs/robustness.md).
    """
    big = (0, 8001, 16384, 65535)
    small = (0, 1, 16, 57, 255)
    width, height = rng.choice(big + small), rng.choice(big + small)
    if 0 < width * height <= MAX_PIXELS:
        width, height = min(width, 256), min(height, 256)
    jpeg = set_frame_size(corpus.jpeg, width, height)
    if rng.random() < 0.4:
        return jpeg
    version = rng.choice((sc.VERSION, 4))
    sizes = {"width": width, "height": height} if version in WIDE else {}
    forged = forge_sidecar(corpus, version=version, jpeg_hash=sc.jpeg_digest(jpeg), **sizes)
    return embed_sidecar(jpeg, forged) if rng.random() < 0.5 else with_segments(jpeg, our_segment(0, 1, forged))


@dataclass(frozen=True)
class CaseClass:
    """A class of bad input for one reader: ``exhaustive`` enumerates all its cases, ``make`` draws one."""

    name: str
    make: Callable[[random.Random, Corpus, int], bytes]
    weight: float = 1.0
    exhaustive: Callable[[Corpus], int] | None = None


def _classes_for(seed_of: Callable[[Corpus], bytes], forged: Callable[[random.Random, Corpus], bytes],
                 forged_name: str, prefix: bytes) -> list[CaseClass]:
    return [
        CaseClass("random bytes", lambda rng, c, i: random_bytes(rng), 0.6),
        CaseClass("random bytes after the magic", lambda rng, c, i: prefix + random_bytes(rng), 0.6),
        CaseClass("truncation at every offset", lambda rng, c, i: seed_of(c)[:i], 1.0, lambda c: len(seed_of(c))),
        CaseClass("single-bit flips", lambda rng, c, i: flip_bit(seed_of(c), i), 1.0, lambda c: 8 * len(seed_of(c))),
        CaseClass("random edits (havoc)", lambda rng, c, i: havoc(rng, seed_of(c)), 1.5),
        CaseClass(forged_name, lambda rng, c, i: forged(rng, c), 1.5),
    ]


CLASSES: dict[str, list[CaseClass]] = {
    "sidecar": _classes_for(
        lambda c: c.sidecar, forged_sidecar, "huge sizes and lengths (valid CRC)", sc.MAGIC + bytes([sc.VERSION])
    ),
    "embedded JPEG": [
        *_classes_for(lambda c: c.embedded, many_segments, "many segments", b"\xff\xd8"),
        CaseClass("huge frame sizes", lambda rng, c, i: huge_frame(rng, c), 0.5),
    ],
}


# --------------------------------------------------------------------------------------------- campaign


@dataclass
class Stats:
    cases: int = 0
    outcomes: Counter = field(default_factory=Counter)
    slowest_s: float = 0.0
    peak_mib: float = 0.0


@dataclass
class Failure:
    reader: str
    case_class: str
    index: int
    error: str
    saved: Path | None = None


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the block with CaseTimeout after ``seconds`` (main thread, POSIX); a no-op elsewhere."""
    if seconds <= 0 or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum, frame):
        raise CaseTimeout()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_case(reader: str, corpus: Corpus, data: bytes, case_seconds: float = CASE_SECONDS,
             case_mib: float = CASE_MIB, trace: bool = True) -> tuple[str, float, float, list[str]]:
    """(outcome, seconds, peak MiB traced, warnings) of one case; raises CheckFailed on a contract breach."""
    tracing = trace and tracemalloc.is_tracing()
    if tracing:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught, time_limit(case_seconds):
            warnings.simplefilter("always")
            outcome = READERS[reader](corpus, data)
    except CaseTimeout:
        raise CheckFailed(f"hang: still running after {case_seconds:g} s") from None
    except CheckFailed:
        raise
    except Exception as exc:
        raise CheckFailed(f"{type(exc).__name__} instead of SideJPEGError: {exc}") from exc
    elapsed = time.perf_counter() - start
    peak = (tracemalloc.get_traced_memory()[1] - base) / 2**20 if tracing else 0.0
    if peak > case_mib:
        raise CheckFailed(f"allocated {peak:.1f} MiB (bound {case_mib} MiB)")
    return outcome, elapsed, peak, [f"{w.category.__name__}: {w.message}" for w in caught]


def plan(cases: int, rng: random.Random, corpus: Corpus) -> list[tuple[str, CaseClass, int]]:
    """(reader, class, index) for every case: the budget split by weight; exhaustive classes run every
    case when their share allows (else an even sample), and hand what they do not need to havoc."""
    pairs = [(reader, cls) for reader, classes in CLASSES.items() for cls in classes]
    total_weight = sum(cls.weight for _, cls in pairs)
    quota = {(r, c.name): int(cases * c.weight / total_weight) for r, c in pairs}
    leftover = cases - sum(quota.values())
    for reader, cls in pairs:
        if cls.exhaustive is not None:
            size = cls.exhaustive(corpus)
            spare = max(0, quota[reader, cls.name] - size)
            quota[reader, cls.name] -= spare
            quota[reader, "random edits (havoc)"] += spare
    quota[pairs[0][0], "random edits (havoc)"] += leftover
    out = []
    for reader, cls in pairs:
        n = quota[reader, cls.name]
        if cls.exhaustive is not None:
            size = cls.exhaustive(corpus)
            indices = range(size) if n >= size else sorted(rng.sample(range(size), n))
        else:
            indices = range(n)
        out.extend((reader, cls, i) for i in indices)
    return out


def campaign(cases: int, seed: int = 0, corpus: Corpus | None = None, case_seconds: float = CASE_SECONDS,
             case_mib: float = CASE_MIB, trace: bool = True, save: Path | None = None,
             progress: Callable[[int, int], None] | None = None
             ) -> tuple[dict[tuple[str, str], Stats], list[Failure], Counter]:
    """Run ``cases`` cases; returns per (reader, class) statistics, the failures and the warnings seen."""
    corpus = corpus or build_corpus()
    stats: dict[tuple[str, str], Stats] = defaultdict(Stats)
    failures: list[Failure] = []
    seen_warnings: Counter = Counter()
    todo = plan(cases, random.Random(seed), corpus)
    started_tracing = trace and not tracemalloc.is_tracing()
    if started_tracing:
        tracemalloc.start()
    try:
        for n, (reader, cls, index) in enumerate(todo):
            data = cls.make(random.Random(f"{seed}:{reader}:{cls.name}:{index}"), corpus, index)
            entry = stats[reader, cls.name]
            entry.cases += 1
            try:
                outcome, elapsed, peak, caught = run_case(reader, corpus, data, case_seconds, case_mib, trace)
            except CheckFailed as exc:
                entry.outcomes["FAILED"] += 1
                failure = Failure(reader, cls.name, index, str(exc))
                if save is not None:
                    save.mkdir(parents=True, exist_ok=True)
                    failure.saved = save / f"{reader.replace(' ', '-')}-{cls.name.split()[0]}-{seed}-{index}.bin"
                    failure.saved.write_bytes(data)
                failures.append(failure)
                continue
            entry.outcomes[outcome] += 1
            entry.slowest_s = max(entry.slowest_s, elapsed)
            entry.peak_mib = max(entry.peak_mib, peak)
            seen_warnings.update(caught)
            if progress:
                progress(n + 1, len(todo))
    finally:
        if started_tracing:
            tracemalloc.stop()
    return dict(stats), failures, seen_warnings


def report(stats: dict[tuple[str, str], Stats], failures: list[Failure], seen: Counter, seconds: float,
           markdown: bool = False) -> str:
    lines = []
    if markdown:
        lines += ["| reader | class of bad input | cases | refused (SideJPEGError) | accepted | failures "
                  "| slowest case | peak traced alloc |",
                  "|---|---|---:|---:|---:|---:|---:|---:|"]
    for (reader, name), s in stats.items():
        accepted = s.outcomes["accepted"] + s.outcomes["accepted blind"]
        blind = f" ({s.outcomes['accepted blind']} blind)" if s.outcomes["accepted blind"] else ""
        cells = (reader, name, s.cases, s.outcomes["refused"], f"{accepted}{blind}", s.outcomes["FAILED"],
                 f"{1000 * s.slowest_s:.0f} ms", f"{s.peak_mib:.1f} MiB")
        if markdown:
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
        else:
            lines.append(f"{reader:14} {name:38} {s.cases:7d} cases  refused {cells[3]:6d}  accepted {cells[4]:>12}"
                         f"  failed {cells[5]:4d}  slowest {cells[6]:>7}  peak {cells[7]:>9}")
    per_reader = Counter()
    for (reader, _), s in stats.items():
        per_reader[reader] += s.cases
    total = sum(per_reader.values())
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    lines.append("")
    lines.append(", ".join(f"{reader}: {n} cases" for reader, n in per_reader.items())
                 + f"; {total} in all, {len(failures)} failures, {seconds:.0f} s, max RSS {rss:.0f} MiB")
    for warning, n in seen.most_common():
        lines.append(f"warning seen {n}x: {warning}")
    for f in failures[:50]:
        where = f" (input saved to {f.saved})" if f.saved else ""
        lines.append(f"FAILED {f.reader} / {f.case_class} / case {f.index}: {f.error}{where}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=20000, help="total cases over both readers (default 20000)")
    parser.add_argument("--seed", type=int, default=0, help="campaign seed (cases are reproducible from it)")
    parser.add_argument("--case-seconds", type=float, default=CASE_SECONDS, help="a case running longer is a hang")
    parser.add_argument("--case-mib", type=float, default=CASE_MIB, help="allocation bound per case (tracemalloc)")
    parser.add_argument("--no-trace", action="store_true", help="skip tracemalloc (faster; no allocation check)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: leave the CPU to others)")
    parser.add_argument("--save", default="runs/fuzz-failures", help="folder for failing inputs")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(argv)
    if args.cases < 1:
        parser.error("--cases must be positive")
    torch.set_num_threads(args.threads)
    start = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if done % 5000 == 0:
            print(f"  {done}/{total} cases, {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)

    stats, failures, seen = campaign(
        args.cases, args.seed, case_seconds=args.case_seconds, case_mib=args.case_mib, trace=not args.no_trace,
        save=Path(args.save), progress=progress,
    )
    print(report(stats, failures, seen, time.perf_counter() - start, args.markdown))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
