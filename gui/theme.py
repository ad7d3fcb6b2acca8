"""Dark palette for Qt widgets and matching pyqtgraph defaults."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

BACKGROUND = "#141518"
"""Behind images and plots: dark and neutral, so colours are judged fairly."""
WINDOW = "#232429"
PANEL = "#1b1c20"
TEXT = "#e4e4e7"
MUTED = "#8b8d94"
ACCENT = "#4aa3df"

OVERLAY_STYLE = (
    "QLabel { background: rgba(12, 12, 14, 185); color: #f0f0f0; border-radius: 5px; padding: 5px 8px;"
    " font-family: 'DejaVu Sans Mono', 'Menlo', 'Consolas', monospace; font-size: 11px; }"
)
"""Corner overlays: readable on any image, small enough not to hide it."""


def configure_pyqtgraph() -> None:
    """Plot colours (the image views choose their own scaling: smooth below 100 %, crisp from 100 % on)."""
    pg.setConfigOptions(background=BACKGROUND, foreground=TEXT, antialias=False)


def apply_dark_theme(app: QApplication) -> None:
    """Fusion style with a dark palette."""
    app.setStyle("Fusion")
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: WINDOW,
        QPalette.ColorRole.WindowText: TEXT,
        QPalette.ColorRole.Base: PANEL,
        QPalette.ColorRole.AlternateBase: WINDOW,
        QPalette.ColorRole.ToolTipBase: PANEL,
        QPalette.ColorRole.ToolTipText: TEXT,
        QPalette.ColorRole.Text: TEXT,
        QPalette.ColorRole.Button: "#2e3036",
        QPalette.ColorRole.ButtonText: TEXT,
        QPalette.ColorRole.Highlight: ACCENT,
        QPalette.ColorRole.HighlightedText: "#0b0b0c",
        QPalette.ColorRole.PlaceholderText: MUTED,
        QPalette.ColorRole.Link: ACCENT,
    }
    for role, colour in roles.items():
        palette.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(MUTED))
    app.setPalette(palette)
    app.setStyleSheet(
        "QGroupBox { font-weight: 600; border: 1px solid #34363c; border-radius: 6px; margin-top: 14px;"
        " padding: 8px 6px 6px 6px; }"
        "QGroupBox::title { subcontrol-origin: margin; left: 10px; padding: 0 4px; color: #b9bbc2; }"
        "QPushButton:checked { background: #2f6f9f; color: white; }"
        "QDockWidget::title { padding: 4px 8px; background: #1d1e22; }"
        "QStatusBar { color: #c4c6cc; }"
    )
