"""Helpers shared by the GUI tests: waiting for the window's background work, reading captions."""

from pathlib import Path

from gui.main_window import MainWindow
from gui.state import Role

WAIT_MS = 60_000


def wait_idle(qtbot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: not window.busy, timeout=WAIT_MS)


def open_and_wait(qtbot, window: MainWindow, path: Path) -> None:
    """Open a file and wait until every stage, the SSIM and the RD sweep included, is done."""
    with qtbot.waitSignal(window.document.source_changed, timeout=WAIT_MS):
        window.open_path(path)
    qtbot.waitUntil(lambda: window.document.restored is not None, timeout=WAIT_MS)
    wait_idle(qtbot, window)


def reopen_as_received(qtbot, window: MainWindow, folder: Path) -> None:
    """Open the current JPEG (without its sidecar) as a received file, and wait until it is shown restored."""
    path = folder / "received.jpg"
    path.write_bytes(window.document.restored.jpeg)
    window.open_path(path, as_received=True)
    qtbot.waitUntil(lambda: window.document.source.received and window.document.restored is not None, timeout=WAIT_MS)
    wait_idle(qtbot, window)


def overlay(window: MainWindow, role: Role) -> str:
    """The caption text on the side-by-side view of ``role``."""
    return window.panes[role].overlay.text()
