"""What the app remembers between runs (QSettings): the encode settings, the layout, the window geometry and the
recent files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from engine import LAMBDA_MAX, LAMBDA_MIN
from gui.controls import SUBSAMPLINGS
from gui.state import Settings

QUALITY, LAMBDA, SUBSAMPLING, PRESET = "encode/quality", "encode/lambda", "encode/subsampling", "encode/preset"
LAYOUT, GEOMETRY, WINDOW_STATE = "window/layout", "window/geometry", "window/state"
SPLIT = "split"
RECENT_KEY = "recent_files"
RECENT_MAX = 10


def _read(store: QSettings, key: str, convert: Callable[[object], object], valid: Callable[[object], bool]) -> object:
    """The stored value, or None when it is missing, unreadable or no longer valid (values come back as text
    from INI files, and an installed model may have gone)."""
    raw = store.value(key)
    if raw is None:
        return None
    try:
        value = convert(raw)
    except (TypeError, ValueError):
        return None
    return value if valid(value) else None


def remembered_settings(store: QSettings, presets: list[str]) -> dict[str, object]:
    """The remembered encode settings that are still valid, as keyword arguments for ``Settings``."""
    found = {
        "quality": _read(store, QUALITY, int, lambda v: 1 <= v <= 100),
        "lam": _read(store, LAMBDA, float, lambda v: LAMBDA_MIN <= v <= LAMBDA_MAX),
        "subsampling": _read(store, SUBSAMPLING, str, lambda v: v in SUBSAMPLINGS),
        "preset": _read(store, PRESET, str, lambda v: v in presets),
    }
    return {name: value for name, value in found.items() if value is not None}


def remembered_window(store: QSettings) -> tuple[bool, QByteArray | None, QByteArray | None]:
    """(split layout, window geometry, dock state) as last saved; None where nothing was saved."""
    geometry, state = (_read(store, key, QByteArray, bool) for key in (GEOMETRY, WINDOW_STATE))
    return store.value(LAYOUT) == SPLIT, geometry, state


def remember(store: QSettings, settings: Settings, split: bool, geometry: QByteArray, state: QByteArray) -> None:
    for key, value in ((QUALITY, settings.quality), (LAMBDA, settings.lam), (SUBSAMPLING, settings.subsampling),
                       (PRESET, settings.preset), (LAYOUT, SPLIT if split else "side by side"),
                       (GEOMETRY, geometry), (WINDOW_STATE, state)):
        store.setValue(key, value)


class RecentFiles:
    """The most recently opened files, newest first, kept in QSettings."""

    def __init__(self, settings: QSettings | None = None) -> None:
        self.settings = settings or QSettings()

    def paths(self) -> list[Path]:
        stored = self.settings.value(RECENT_KEY, [])
        if isinstance(stored, str):
            stored = [stored]
        return [Path(p) for p in stored or []]

    def add(self, path: Path) -> None:
        path = path.resolve()
        kept = [p for p in self.paths() if p != path]
        self.settings.setValue(RECENT_KEY, [str(p) for p in [path, *kept][:RECENT_MAX]])
