"""``sidejpeg-gui [IMAGE] [--screenshot OUT.png]``: start the viewer (or render one screenshot and exit)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from engine import SAMPLE_IMAGE

SCREENSHOT_TIMEOUT_S = 120
SCREENSHOT_SIZE = (1680, 1050)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="sidejpeg-gui", description="View and compress images as JPEG + learned side information.",
    )
    parser.add_argument("image", nargs="?", type=Path, default=SAMPLE_IMAGE,
                        help="image or received .jpg to open (default: the bundled sample)")
    parser.add_argument("--screenshot", type=Path, metavar="OUT.png",
                        help="render the window offscreen once the restored view is in, save it and exit "
                             "(with the default settings: nothing remembered is read or saved)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the app; returns the process exit status."""
    args = parse_args(argv)
    from PySide6.QtWidgets import QApplication

    if args.screenshot and QApplication.instance() is None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setOrganizationName("SideJPEG")
    app.setApplicationName("SideJPEG")

    from engine import SideJPEGError
    from gui.main_window import MainWindow
    from gui.theme import apply_dark_theme, configure_pyqtgraph

    apply_dark_theme(app)
    configure_pyqtgraph()
    try:
        window = MainWindow(remember=not args.screenshot)
    except SideJPEGError as exc:
        print(f"sidejpeg-gui: {exc}", file=sys.stderr)
        return 2
    from gui.workers import garbage_collected_on_gui_thread

    with garbage_collected_on_gui_thread():
        if args.screenshot:
            from gui.screenshot import take_screenshot

            return take_screenshot(window, args.image, args.screenshot, SCREENSHOT_SIZE, SCREENSHOT_TIMEOUT_S)
        window.show()
        window.open_path(args.image)
        return app.exec()
