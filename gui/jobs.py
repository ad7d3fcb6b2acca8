"""What the worker threads compute: engine calls in, plain data out (no Qt here)."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine import (
    PRESETS,
    Cancelled,
    Codec,
    CompressResult,
    Received,
    RestoreResult,
    SidecarHeader,
    SideJPEGError,
    decode_jpeg,
    earlier_releases,
    encode_jpeg,
    find_side_information,
    load_image,
    preset_of,
    psnr,
    read_limited,
    read_metadata,
    read_sidecar_header,
    ssim,
)
from gui.state import JpegOutcome, Note, Rates, RestoreOutcome, Role, Settings, Source

Progress = Callable[[int, int], None]

SSIM_WINDOW = 11
"""Side of ``engine.ssim``'s Gaussian window."""
SSIM_BAND = 4
"""Rows of SSIM window positions per band: thin bands stay in cache (3-4x faster than the whole image at once)."""
PREVIEW_MAX_SHARE = 0.5
"""The visible region is restored first only when it is at most this share of the image."""

Box = tuple[int, int, int, int]
"""(top, left, bottom, right) in image pixels."""


@dataclass
class JobContext:
    """Handed to every job: a cancel flag the engine polls, and callbacks that become signals."""

    cancel: threading.Event
    progress: Progress
    partial: Callable[[object], None]


class CodecCache:
    """One loaded ``Codec`` per (preset, device), shared by all worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._codecs: dict[tuple[str, str], Codec] = {}

    def get(self, preset: str, device: str) -> Codec:
        """The codec for a preset on a device; raises SideJPEGError when its weights are missing."""
        with self._lock:
            key = (preset, device)
            if key not in self._codecs:
                self._codecs[key] = Codec(preset=preset, device=device)
            return self._codecs[key]

    def available_presets(self) -> list[str]:
        """Presets whose weights load, then the installed earlier releases (``preset@id``), which decode the
        sidecars made with them."""
        found = []
        for name in [*PRESETS, *earlier_releases()]:
            try:
                self.get(name, "cpu")
            except SideJPEGError:
                continue
            found.append(name)
        return found



def banded_ssim(a: np.ndarray, b: np.ndarray, cancel: threading.Event, band: int = SSIM_BAND) -> float:
    """``engine.ssim`` of the whole image, computed band by band so that it can be cancelled.

    SSIM is the mean of a map over every valid 11x11 window position; bands of rows that overlap by
    10 rows cover each position once, so the area-weighted mean of the band values is the same number.
    """
    height, width = a.shape[:2]
    if min(height, width) < SSIM_WINDOW or height <= band + SSIM_WINDOW:
        return ssim(a, b)
    starts = list(range(0, height - SSIM_WINDOW + 1, band))
    total, positions = 0.0, 0
    for i, start in enumerate(starts):
        if cancel.is_set():
            raise Cancelled()
        stop = starts[i + 1] + SSIM_WINDOW - 1 if i + 1 < len(starts) else height
        rows = stop - start - SSIM_WINDOW + 1
        total += ssim(a[start:stop], b[start:stop]) * rows
        positions += rows
    return total / positions


def measure_ssim(original: np.ndarray, images: list[tuple[Role, np.ndarray]], ctx: JobContext) -> None:
    """SSIM of each image against the original, each reported through ``ctx.partial`` as (role, image, value)."""
    for role, image in images:
        ctx.partial((role, image, banded_ssim(original, image, ctx.cancel)))


def scaled_progress(progress: Progress, start: float, span: float, steps: int = 1000) -> Progress:
    """A progress callback for one phase of a job that reports 0..steps overall."""

    def report(done: int, total: int) -> None:
        progress(round(steps * (start + span * done / max(total, 1))), steps)

    return report


def load_source(path: Path, as_received: bool = False) -> Source:
    """Open a file: a JPEG with side information (embedded or ``.side`` beside it) opens as received;
    any other image is an original to compress. ``as_received`` treats every JPEG as received."""
    data = read_limited(path)
    if data[:2] == b"\xff\xd8":
        found = find_side_information(path, data)
        if found.sidecar is not None or as_received:
            where = {None: "no side information: blind decoder", "embedded": "side information embedded"}
            note = where.get(found.where, f"sidecar {found.where}")
            return Source(
                path, None, found.jpeg, found.sidecar, decode_jpeg(found.jpeg), (f"received JPEG, {note}",),
                _header(found.sidecar), read_metadata(found.jpeg),
            )
    elif as_received:
        raise SideJPEGError(f"{path.name}: not a JPEG file")
    loaded = load_image(data)
    rgb = np.require(loaded.rgb, requirements=["C", "W"])
    return Source(path, rgb, notes=tuple(loaded.notes), metadata=loaded.metadata)


def _header(sidecar: bytes | None) -> SidecarHeader | None:
    """The sidecar's header; None when there is none or it does not parse (restoring it says why)."""
    try:
        return None if sidecar is None else read_sidecar_header(sidecar)
    except SideJPEGError:
        return None


def sidecar_preset(source: Source) -> str | None:
    """The installed preset whose model made the received sidecar (None: no sidecar, or no installed model)."""
    return None if source.header is None else preset_of(source.header.model_id)


def encode_preview(codec: Codec, original: np.ndarray, settings: Settings, ctx: JobContext) -> JpegOutcome:
    """The plain JPEG at the current quality: fast, so the JPEG view updates first."""
    jpeg = encode_jpeg(original, settings.quality, settings.subsampling)
    decoded = decode_jpeg(jpeg)
    height, width = original.shape[:2]
    return JpegOutcome(
        settings.quality, settings.subsampling, jpeg, decoded, Rates.of(jpeg, None, width, height),
        psnr(original, decoded),
    )


def preview_box(view: tuple[float, float, float, float], width: int, height: int) -> Box | None:
    """The part of a ``(left, top, right, bottom)`` view rectangle that lies in the image, worth restoring
    first; None when the view shows most of the image (then the whole image is as quick) or none of it."""
    left, top = max(0, math.floor(view[0])), max(0, math.floor(view[1]))
    right, bottom = min(width, math.ceil(view[2])), min(height, math.ceil(view[3]))
    if right <= left or bottom <= top or (right - left) * (bottom - top) > PREVIEW_MAX_SHARE * width * height:
        return None
    return top, left, bottom, right


REGION_NOTE = "the visible region first; the rest follows"
BLIND_NOTE = "blind decoder; the descriptor maps follow"
PREDICTION_NOTE = "the encoder's prediction; the decoder's image follows"
NO_GAIN_NOTE = Note(
    "JPEG as it is", "blind restoration would not improve this JPEG (it measures worse): the JPEG is shown as it is"
)
PASS_THROUGH_NOTE = Note(
    "JPEG as it is", "blind restoration does not apply at this quality: the JPEG is shown as it is"
)
DECODED_ANEW_NOTE = Note(
    "JPEG decoded anew",
    "blind restoration does not apply at this quality: the JPEG is shown decoded anew from its coefficients "
    "(in floating point, onto the integer grid its encoder used; subsampled chroma moved into its "
    "quantisation constraint)",
)


SHOWN_BLIND_NOTE = Note(
    "Restored as blind",
    "its sidecar asks for what blind decoding shows: the encoder found that closer to the original than its "
    "descriptors (a fine JPEG, which blind decoding shows with a share of the network)",
)


def shared_note(share: float) -> Note:
    """Why a fine blind JPEG shows only a ``share`` of the network's restoration."""
    return Note(
        f"Restored at {share:.0%}",
        f"the JPEG decoded anew from its coefficients, moved {share:.0%} of the way to the network's "
        "restoration: the share calibrated for this quality and chroma sampling",
    )


@dataclass(frozen=True)
class RegionPreview:
    """Restored pixels of a region (the visible one, or the whole image before its descriptor maps),
    reported before the whole job is done."""

    box: Box
    pixels: np.ndarray
    background: np.ndarray
    """The JPEG decode, shown around the box until the whole image is restored."""
    note: str = REGION_NOTE

    def composed(self) -> np.ndarray:
        image = self.background.copy()
        top, left, bottom, right = self.box
        image[top:bottom, left:right] = self.pixels
        return image


def restore_visible_first(
    codec: Codec, received: Received, box: Box | None, ctx: JobContext, progress: Progress
) -> RestoreResult:
    """Restore ``box`` first (reported as a ``RegionPreview`` through ``ctx.partial``), then the whole image."""
    if box is not None:
        pixels = codec.restore(received, box=box, cancel=ctx.cancel).image
        ctx.partial(RegionPreview(box, pixels, received.decoded))
    return codec.restore(received, progress=progress, cancel=ctx.cancel)


def honest_blind(
    restored: RestoreResult, decoded: np.ndarray, original: np.ndarray | None
) -> tuple[np.ndarray, Note | None]:
    """A blind restoration as it may be shown: the JPEG itself where, measured against the original, restoring
    would make it worse; where the model passes the JPEG through, the JPEG decoded anew (or as it is where
    the codec cannot read its coefficients); where it shows a share of the network, that share; with the
    reason."""
    if original is not None and psnr(original, restored.image) < psnr(original, decoded):
        return decoded, NO_GAIN_NOTE
    if restored.passed_through:
        return restored.image, DECODED_ANEW_NOTE if restored.constrained else PASS_THROUGH_NOTE
    if restored.network_share < 1.0:
        return restored.image, shared_note(restored.network_share)
    return restored.image, None


def compress_and_restore(
    codec: Codec, original: np.ndarray, box: Box | None, settings: Settings, ctx: JobContext
) -> RestoreOutcome:
    """Compress to JPEG + sidecar and restore. With the sidecar the encoder's prediction is shown first, then
    the decoder's result, which the encoder checks itself (``CompressResult.restored``); blind, the restored
    image (the visible ``box`` first, the JPEG where restoring would not improve it) is shown before the
    sidecar is computed for the maps and export."""
    height, width = original.shape[:2]

    def compress(start: float, preview: Callable[[np.ndarray], None] | None = None) -> CompressResult:
        return codec.compress(
            original, settings.quality, settings.lam, settings.subsampling,
            progress=scaled_progress(ctx.progress, start, 1.0 - start), cancel=ctx.cancel, preview=preview,
        )

    def predicted(image: np.ndarray) -> None:
        ctx.partial(RegionPreview((0, 0, height, width), image, image, PREDICTION_NOTE))

    note = None
    if settings.use_sidecar:
        res = compress(0.0, predicted)
        image = res.restored
        note = SHOWN_BLIND_NOTE if res.received().shown_blind else None
    else:
        received = codec.receive(encode_jpeg(original, settings.quality, settings.subsampling))
        restored = restore_visible_first(codec, received, box, ctx, scaled_progress(ctx.progress, 0.0, 0.5))
        image, note = honest_blind(restored, received.decoded, original)
        ctx.partial(RegionPreview((0, 0, height, width), image, received.decoded, note.text if note else BLIND_NOTE))
        res = compress(0.5)
    used = res.sidecar if settings.use_sidecar else None
    return RestoreOutcome(
        res.jpeg, res.sidecar, res.jpeg_decoded, image, used is None, res.symbols, res.block_bits,
        Rates.of(res.jpeg, used, res.width, res.height), psnr(original, res.jpeg_decoded),
        psnr(original, image), res.quality, res.lam, settings, note,
        res.adaptation.sent if used else (), res.adaptation_gain_db if used else None,
    )


def restore_received(
    codec: Codec, source: Source, box: Box | None, settings: Settings, ctx: JobContext
) -> RestoreOutcome:
    """Restore a received JPEG with its side information (or blind), the visible ``box`` first; there is no
    original to measure. Quality and lambda are the file's own, from its sidecar's header."""
    used = source.received_sidecar if settings.use_sidecar else None
    received = codec.receive(source.received_jpeg, used)
    restored = restore_visible_first(codec, received, box, ctx, ctx.progress)
    if used is None:
        image, note = honest_blind(restored, received.decoded, None)
    else:
        image, note = restored.image, SHOWN_BLIND_NOTE if received.shown_blind else None
    width, height = source.size
    header = source.header
    return RestoreOutcome(
        source.received_jpeg, source.received_sidecar, source.received_decoded, image, used is None,
        received.symbols, received.block_bits, Rates.of(source.received_jpeg, used, width, height), None, None,
        header.quality if header and header.quality else None, header.lam if header else None, settings, note,
        received.adaptation.sent,
    )
