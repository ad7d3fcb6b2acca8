"""The document the panels share: ``state.DocumentState`` that announces each change with a Qt signal."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal

from gui.state import DocumentState, JpegOutcome, RestoreOutcome, Role, Settings, Source


class Document(QObject, DocumentState):
    """The one place shared state lives; panels read it and listen to its signals."""

    source_changed = Signal()
    settings_changed = Signal(object, object)
    """(old Settings, new Settings)."""
    jpeg_changed = Signal()
    restored_changed = Signal()
    ssim_changed = Signal(object)
    """The Role whose SSIM came in (SSIM is slow, so it follows the images)."""

    def __init__(self, settings: Settings | None = None) -> None:
        QObject.__init__(self)  # recent PySide6 also runs DocumentState.__init__() from here; once more is harmless
        DocumentState.__init__(self, settings)

    def set_source(self, source: Source, settings: Settings | None = None) -> None:
        """Show a new file; ``settings`` replace the current ones with it (the scheduler starts the work)."""
        super().set_source(source, settings)
        self.source_changed.emit()

    def update_settings(self, **changes: object) -> Settings | None:
        old = super().update_settings(**changes)
        if old is not None:
            self.settings_changed.emit(old, self.settings)
        return old

    def set_jpeg(self, outcome: JpegOutcome) -> None:
        super().set_jpeg(outcome)
        self.jpeg_changed.emit()

    def set_restored(self, outcome: RestoreOutcome) -> None:
        super().set_restored(outcome)
        self.restored_changed.emit()

    def set_ssim(self, role: Role, image: np.ndarray, value: float) -> bool:
        shown = super().set_ssim(role, image, value)
        if shown:
            self.ssim_changed.emit(role)
        return shown
