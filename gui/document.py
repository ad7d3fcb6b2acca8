"""The state the panels share: what is open, the settings, and the newest results (a QObject with signals)."""

from __future__ import annotations

import enum
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine import DEFAULT_PRESET, ImageMetadata, SidecarHeader

BLOCK = 16
"""Pixels per side of the block one artifact descriptor covers."""
KEPT_OUTCOMES = 4
"""Restored results kept per image, so that toggling back to a setting shows it at once."""
KEPT_SSIM = 4
"""SSIM values kept per image (the shown views and those a toggle brings back)."""


class Role(enum.Enum):
    """The three images a user compares."""

    ORIGINAL = "Original"
    JPEG = "JPEG"
    RESTORED = "Restored"


@dataclass(frozen=True)
class Settings:
    """Everything the user chooses for a compress + restore."""

    quality: int = 30
    lam: float = 64.0
    use_sidecar: bool = True
    subsampling: str = "4:2:0"
    preset: str = DEFAULT_PRESET
    device: str = "cpu"

    def restore_key(self, received: bool) -> tuple:
        """What the restored view depends on; for a received JPEG only the decoder choices."""
        decoder = (self.use_sidecar, self.preset, self.device)
        return decoder if received else (self.quality, self.lam, self.subsampling, *decoder)


@dataclass(frozen=True)
class Source:
    """What was opened: an original to compress, or a received JPEG (plus side information) to restore."""

    path: Path | None
    original: np.ndarray | None
    received_jpeg: bytes | None = None
    received_sidecar: bytes | None = None
    received_decoded: np.ndarray | None = None
    notes: tuple[str, ...] = ()
    header: SidecarHeader | None = None
    """The received sidecar's header (None without one, or when it does not parse: restoring reports why)."""
    metadata: ImageMetadata = field(default_factory=ImageMetadata)
    """The EXIF, XMP and colour profile of the opened original, which exports carry (a received JPEG has its own)."""

    @property
    def received(self) -> bool:
        return self.original is None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        pixels = self.original if self.original is not None else self.received_decoded
        return pixels.shape[1], pixels.shape[0]


@dataclass(frozen=True)
class Rates:
    """Sizes of what would be sent, in bytes and in bits per pixel (bytes * 8 / (W * H))."""

    jpeg_bytes: int
    side_bytes: int
    pixels: int

    @classmethod
    def of(cls, jpeg: bytes, sidecar: bytes | None, width: int, height: int) -> Rates:
        return cls(len(jpeg), len(sidecar or b""), width * height)

    @property
    def total_bytes(self) -> int:
        return self.jpeg_bytes + self.side_bytes

    @property
    def jpeg(self) -> float:
        return self.jpeg_bytes * 8 / self.pixels

    @property
    def side(self) -> float:
        return self.side_bytes * 8 / self.pixels

    @property
    def total(self) -> float:
        return self.jpeg + self.side

    @property
    def side_share(self) -> float:
        """Fraction of the total spent on side information."""
        return self.side / self.total if self.total else 0.0


@dataclass(frozen=True)
class JpegOutcome:
    """The plain JPEG at the current quality: the fast first result."""

    quality: int
    subsampling: str
    jpeg: bytes
    decoded: np.ndarray
    rates: Rates
    psnr: float | None
    """Against the original; None when there is none."""


@dataclass(frozen=True)
class RestoreOutcome:
    """A restored image with everything the overlays, maps and exports need.

    ``sidecar`` is the side information that exists (kept for export even when the view is blind);
    ``rates`` count it only when it was used. ``quality`` and ``lam`` are the file's own (a received
    sidecar's header; None when unknown); ``settings`` is what the user had chosen when it was computed.
    """

    jpeg: bytes
    sidecar: bytes | None
    jpeg_decoded: np.ndarray
    restored: np.ndarray
    blind: bool
    symbols: np.ndarray | None
    block_bits: np.ndarray | None
    rates: Rates
    jpeg_psnr: float | None
    psnr: float | None
    quality: int | None
    lam: float | None
    settings: Settings
    note: str | None = None
    """Set when the pane shows the JPEG as it is instead of a restoration (and why)."""
    adaptation: tuple[str, ...] = ()
    """The channels the sidecar's adaptation corrects (none when it did not pay, or blind)."""
    adaptation_gain_db: float | None = None
    """What the adaptation added to the PSNR, where the encoder measured it (None for received files)."""


class Document(QObject):
    """The one place shared state lives; panels read it and listen to its signals."""

    source_changed = Signal()
    settings_changed = Signal(object, object)
    """(old Settings, new Settings)."""
    jpeg_changed = Signal()
    restored_changed = Signal()
    ssim_changed = Signal(object)
    """The Role whose SSIM came in (SSIM is slow, so it follows the images)."""

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__()
        self.source: Source | None = None
        self.settings = settings or Settings()
        self.jpeg: JpegOutcome | None = None
        self.restored: RestoreOutcome | None = None
        self._failure: tuple[tuple, str] | None = None
        self._outcomes: OrderedDict[tuple, RestoreOutcome] = OrderedDict()
        self._ssim: OrderedDict[int, tuple[np.ndarray, float]] = OrderedDict()

    def set_source(self, source: Source, settings: Settings | None = None) -> None:
        """Show a new file; ``settings`` replace the current ones with it (the caller schedules the work)."""
        self.source, self.jpeg, self.restored, self._failure = source, None, None, None
        self.settings = settings or self.settings
        self._outcomes.clear()
        self._ssim.clear()
        self.source_changed.emit()

    def update_settings(self, **changes: object) -> None:
        new = replace(self.settings, **changes)
        if new != self.settings:
            old, self.settings = self.settings, new
            self.settings_changed.emit(old, new)

    def set_jpeg(self, outcome: JpegOutcome) -> None:
        self.jpeg = outcome
        self.jpeg_changed.emit()

    def set_restored(self, outcome: RestoreOutcome) -> None:
        self.restored = outcome
        _keep(self._outcomes, self._key_of(outcome.settings), outcome, KEPT_OUTCOMES)
        self.restored_changed.emit()

    def _key_of(self, settings: Settings) -> tuple:
        return settings.restore_key(self.source.received)

    def cached_restore(self) -> RestoreOutcome | None:
        """The restored result of the current setting, when it was computed for this file before."""
        return self._outcomes.get(self._key_of(self.settings)) if self.source else None

    def restored_is_current(self) -> bool:
        """Whether the restored view shows the current setting (not a previous one while a new one is computed)."""
        return self.restored is not None and self._key_of(self.restored.settings) == self._key_of(self.settings)

    def jpeg_is_current(self) -> bool:
        wanted = (self.settings.quality, self.settings.subsampling)
        return self.jpeg is not None and (self.jpeg.quality, self.jpeg.subsampling) == wanted

    def fail_restore(self, message: str) -> None:
        """Remember that restoring the current setting failed (the restored caption says so)."""
        self._failure = (self._key_of(self.settings), message)

    def restore_failure(self) -> str | None:
        """Why restoring the current setting failed, if it did."""
        if self._failure is None or self._failure[0] != self._key_of(self.settings):
            return None
        return self._failure[1]

    def image(self, role: Role) -> np.ndarray | None:
        """The pixels shown for a role, or None while they are not known."""
        if self.source is None:
            return None
        if role is Role.ORIGINAL:
            return self.source.original
        if role is Role.JPEG:
            if self.source.received:
                return self.source.received_decoded
            return self.jpeg.decoded if self.jpeg else None
        return self.restored.restored if self.restored else None

    def set_ssim(self, role: Role, image: np.ndarray, value: float) -> None:
        """Keep the SSIM of ``image`` (by identity: results are never modified); the view of ``role`` shows it
        if that is still its image."""
        _keep(self._ssim, id(image), (image, value), KEPT_SSIM)
        if image is self.image(role):
            self.ssim_changed.emit(role)

    def ssim(self, role: Role) -> float | None:
        """SSIM of the image shown for ``role`` against the original, once computed."""
        image = self.image(role)
        kept, value = self._ssim.get(id(image), (None, None))
        return value if image is not None and kept is image else None


def _keep(kept: OrderedDict, key: object, value: object, limit: int) -> None:
    """Store ``value`` as the newest entry, dropping the oldest beyond ``limit``."""
    kept[key] = value
    kept.move_to_end(key)
    while len(kept) > limit:
        kept.popitem(last=False)
