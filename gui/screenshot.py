"""``--screenshot``: open an image, wait until every view and the RD plot are in, save the window, exit."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer

from gui.main_window import MainWindow

POLL_MS = 100
SETTLE_MS = 300
"""Time for the last repaint after the results are in."""


def take_screenshot(window: MainWindow, image: Path, out: Path, size: tuple[int, int], timeout_s: float) -> int:
    """0 when ``out`` was written; 1 on an error or after ``timeout_s`` (no dialog is ever shown)."""
    loop = QEventLoop()
    status = {"code": 1}

    def fail(title: str, message: str) -> None:
        print(f"sidejpeg-gui: {title}: {message}", file=sys.stderr)
        loop.quit()

    def ready() -> bool:
        return window.document.restored is not None and not window.busy

    def save() -> None:
        if window.grab().save(str(out)):
            status["code"] = 0
        else:
            print(f"sidejpeg-gui: cannot write {out}", file=sys.stderr)
        loop.quit()

    def poll() -> None:
        if ready():
            poller.stop()
            QTimer.singleShot(SETTLE_MS, save)

    window.show_error = fail
    window.confirm = lambda title, message: fail(title, message) or False
    window.resize(*size)
    window.show()
    window.open_path(image)
    poller = QTimer(interval=POLL_MS, timeout=poll)
    deadline = QTimer(singleShot=True, interval=round(timeout_s * 1000))
    deadline.timeout.connect(lambda: fail("timeout", f"no result within {timeout_s:.0f} s"))
    poller.start()
    deadline.start()
    loop.exec()
    poller.stop()
    deadline.stop()
    window.close()
    return status["code"]
