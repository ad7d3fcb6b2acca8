"""The state the panels share: what is open, the settings, and the newest results (a QObject with signals)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine import DEFAULT_PRESET

BLOCK = 16
"""Pixels per side of the block one artifact descriptor covers."""


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


@dataclass(frozen=True)
class Source:
    """What was opened: an original to compress, or a received JPEG (plus side information) to restore."""

    path: Path | None
    original: np.ndarray | None
    received_jpeg: bytes | None = None
    received_sidecar: bytes | None = None
    received_decoded: np.ndarray | None = None
    notes: tuple[str, ...] = ()

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
    """Bits per pixel of what would be sent: bytes * 8 / (W * H)."""

    jpeg: float
    side: float

    @classmethod
    def of(cls, jpeg: bytes, sidecar: bytes | None, width: int, height: int) -> Rates:
        pixels = width * height
        return cls(len(jpeg) * 8 / pixels, len(sidecar or b"") * 8 / pixels)

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
    ``rates`` count it only when it was used.
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
    preset: str


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
        self._ssim: dict[Role, tuple[np.ndarray, float]] = {}

    def set_source(self, source: Source) -> None:
        self.source, self.jpeg, self.restored = source, None, None
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
        self.restored_changed.emit()

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
        """Keep the SSIM of ``image`` if it is still the one shown for ``role``."""
        if image is self.image(role):
            self._ssim[role] = (image, value)
            self.ssim_changed.emit(role)

    def ssim(self, role: Role) -> float | None:
        """SSIM of the image shown for ``role`` against the original, once computed."""
        image, value = self._ssim.get(role, (None, None))
        return value if image is not None and image is self.image(role) else None
