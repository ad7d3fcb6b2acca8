"""The status bar: a hint, the views' zoom, and the progress of a restore or target size search with Cancel."""

from __future__ import annotations

import time

from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QStatusBar

from gui.captions import time_left
from gui.theme import MUTED

HINT = "Drop an image to open it  ·  F fit  ·  + / − zoom  ·  ← / → folder  ·  B flip  ·  F1 shortcuts"


class JobProgress(QProgressBar):
    """Progress of the running job, with the time left estimated from its pace so far (a job that starts over, as
    after a slider move, restarts the clock)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFixedWidth(240)
        self.setTextVisible(True)
        self.setVisible(False)
        self._started: float | None = None

    def show_progress(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < self.value() or self.maximum() != total or self._started is None:
            self._started = now
        self.setRange(0, total)
        self.setValue(done)
        self.setFormat(time_left(now - self._started, done, total))

    def restart(self) -> None:
        """Back to zero, the clock stopped until the next job reports."""
        self.setValue(0)
        self._started = None


class StatusBar(QStatusBar):
    """Messages on the left; the zoom, and while a job runs its progress and Cancel, on the right."""

    def __init__(self) -> None:
        super().__init__()
        self.progress = JobProgress()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        hint = QLabel(HINT)
        hint.setStyleSheet(f"color: {MUTED};")
        self.zoom_label = QLabel()
        self.zoom_label.setToolTip("Zoom of the views: + / − step, 1 / 2 / 4 set, F fits")
        self.addWidget(hint)
        self.addPermanentWidget(self.zoom_label)
        self.addPermanentWidget(self.progress)
        self.addPermanentWidget(self.cancel_button)

    def show_working(self, working: bool) -> None:
        """Progress and Cancel while a restore or a target size search runs."""
        self.progress.setVisible(working)
        self.cancel_button.setEnabled(working)

    def show_zoom(self, factor: float) -> None:
        self.zoom_label.setText(f"Zoom {100 * factor:.0f} %")
