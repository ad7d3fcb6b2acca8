"""The status bar's progress bar for the running restore or target size search."""

from __future__ import annotations

import time

from PySide6.QtWidgets import QProgressBar

from gui.captions import time_left


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
