"""What the window shows, without Qt: the open file, the settings, the newest results and the view toggles, as
plain data and functions (the scheduler computes, the window displays; both read this)."""

from __future__ import annotations

import enum
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np

from engine import DEFAULT_PRESET, GPU_PRESET, ImageMetadata, SidecarHeader, measured_side_vs_blind

BLOCK = 16
"""Pixels per side of the block one artifact descriptor covers."""
KEPT_SSIM = 4
"""SSIM values kept per image (the shown views and those a toggle brings back)."""

K = TypeVar("K")
V = TypeVar("V")


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
class Note:
    """Why the restored pane shows the JPEG (as it is or decoded anew), or only a share of the network's
    restoration, instead of that restoration."""

    title: str
    """The pane's title in place of "Restored"."""
    text: str


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
    note: Note | None = None
    """Set when the pane shows the JPEG (as it is or decoded anew) or a share of the network's restoration instead of
    that restoration (and why)."""
    adaptation: tuple[str, ...] = ()
    """The channels the sidecar's adaptation corrects (none when it did not pay, or blind)."""
    adaptation_gain_db: float | None = None
    """What the adaptation added to the PSNR, where the encoder measured it (None for received files)."""


class Kept(Generic[K, V]):
    """The newest ``limit`` entries of a mapping; storing one more drops the oldest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: OrderedDict[K, V] = OrderedDict()

    def put(self, key: K, value: V) -> None:
        """Store ``value`` as the newest entry."""
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.limit:
            self._items.popitem(last=False)

    def get(self, key: K) -> V | None:
        return self._items.get(key)

    def clear(self) -> None:
        self._items.clear()


class DocumentState:
    """The one place shared state lives: what is open, the settings and the newest results."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.source: Source | None = None
        self.settings = settings or Settings()
        self.jpeg: JpegOutcome | None = None
        self.restored: RestoreOutcome | None = None
        self._failure: tuple[tuple, str] | None = None
        self._ssim: Kept[int, tuple[np.ndarray, float]] = Kept(KEPT_SSIM)

    def set_source(self, source: Source, settings: Settings | None = None) -> None:
        """Show a new file; ``settings`` replace the current ones with it."""
        self.source, self.jpeg, self.restored, self._failure = source, None, None, None
        self.settings = settings or self.settings
        self._ssim.clear()

    def update_settings(self, **changes: object) -> Settings | None:
        """Change some settings; the previous ones when that changed anything, else None."""
        new = replace(self.settings, **changes)
        if new == self.settings:
            return None
        old, self.settings = self.settings, new
        return old

    def set_jpeg(self, outcome: JpegOutcome) -> None:
        self.jpeg = outcome

    def set_restored(self, outcome: RestoreOutcome) -> None:
        self.restored = outcome

    def key_of(self, settings: Settings) -> tuple:
        """What the restored view of the open file depends on under ``settings``."""
        return settings.restore_key(self.source.received)

    def restored_is_current(self) -> bool:
        """Whether the restored view shows the current setting (not a previous one while a new one is computed)."""
        return self.restored is not None and self.key_of(self.restored.settings) == self.key_of(self.settings)

    def jpeg_is_current(self) -> bool:
        wanted = (self.settings.quality, self.settings.subsampling)
        return self.jpeg is not None and (self.jpeg.quality, self.jpeg.subsampling) == wanted

    def fail_restore(self, message: str) -> None:
        """Remember that restoring the current setting failed (the restored caption says so)."""
        self._failure = (self.key_of(self.settings), message)

    def restore_failure(self) -> str | None:
        """Why restoring the current setting failed, if it did."""
        if self._failure is None or self._failure[0] != self.key_of(self.settings):
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

    def set_ssim(self, role: Role, image: np.ndarray, value: float) -> bool:
        """Keep the SSIM of ``image`` (by identity: results are never modified); True when it is still the image
        shown for ``role``."""
        self._ssim.put(id(image), (image, value))
        return image is self.image(role)

    def ssim(self, role: Role) -> float | None:
        """SSIM of the image shown for ``role`` against the original, once computed."""
        image = self.image(role)
        kept, value = self._ssim.get(id(image)) or (None, None)
        return value if image is not None and kept is image else None


Preview = tuple[np.ndarray, str, list[str]]
"""A preview in the restored view: image, caption title and lines."""


@dataclass
class ViewState:
    """What the window shows beyond the document: the user's view toggles, a preview of a restoration in
    progress, and where the last open and target size search came from."""

    details: bool = True
    flipped: bool = False
    """The restored view shows the JPEG (before / after at the same place)."""
    grid_shown: bool = False
    map_mode: str = "none"
    preview: Preview | None = None
    requested: Path | None = None
    """The file asked for last (next / previous image step from it, even before it is open)."""
    fitted: Settings | None = None
    """The settings whose quality the target size search chose, while they are the current ones."""


def view_image(doc: DocumentState, view: ViewState, role: Role) -> np.ndarray | None:
    """What the view of ``role`` shows: the restored view may show a preview, or the JPEG while flipped."""
    if role is Role.RESTORED and view.flipped:
        return doc.image(Role.JPEG)
    if role is Role.RESTORED and view.preview is not None:
        return view.preview[0]
    return doc.image(role)


def fit_applies(searched: Settings, current: Settings) -> bool:
    """Whether a target size search made under ``searched`` still answers for ``current`` (only the quality,
    which it chooses, may differ)."""
    return replace(searched, quality=current.quality) == current


def side_pays(preset: str) -> bool | None:
    """Whether the preset's measured side information beats blind decoding (None: not measured)."""
    measured = measured_side_vs_blind(preset)
    return None if not measured else all(v < 0 for v in measured.values())


def default_settings(presets: list[str], devices: list[str], remembered: str | None = None) -> Settings:
    """The remembered preset, else ``DEFAULT_PRESET`` on a CPU and ``GPU_PRESET`` where CUDA is there; sidecar
    on where it pays."""
    base = Settings()
    device = "cuda" if "cuda" in devices else "cpu"
    preferred = [GPU_PRESET] if device == "cuda" else []
    preset = next(p for p in [remembered, *preferred, base.preset, *presets] if p in presets)
    return replace(base, preset=preset, device=device, use_sidecar=side_pays(preset) is not False)
