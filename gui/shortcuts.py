"""Keyboard: letter shortcuts that reach the window from a number field, and the Help > Shortcuts list."""

from __future__ import annotations

import html
from collections.abc import Iterable

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence
from PySide6.QtWidgets import QDialog, QLabel, QVBoxLayout, QWidget

MOUSE_ROWS = (
    ("drag", "pan (all views follow)"),
    ("wheel", "zoom"),
    ("drag the split line", "move the before / after boundary"),
    ("drop a file", "open it"),
)


class NumberFieldKeys(QObject):
    """Installed on spin boxes: a letter is a shortcut there, since a number field cannot type it.

    A focused text field claims every printable key (``ShortcutOverride``), so without this F, O, D or B
    would do nothing while the quality or λ field has focus; digits and editing keys stay the field's own.
    """

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent) and event.text().isalpha():
            event.ignore()
            return True
        return False


def shortcut_rows(actions: Iterable[QAction]) -> list[tuple[str, str]]:
    """(keys, what they do) for every action that has a shortcut on this platform (a standard key such as Quit
    may have none)."""
    rows = []
    for action in actions:
        keys = [k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts() if not k.isEmpty()]
        if keys:
            rows.append((" / ".join(keys), action.text().replace("&", "").rstrip("…")))
    return rows


class ShortcutsDialog(QDialog):
    """Help > Shortcuts: every keyboard shortcut of the window, then what the mouse does."""

    def __init__(self, rows: list[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        cells = "".join(
            f"<tr><td style='padding:2px 14px 2px 0'><b>{html.escape(keys)}</b></td><td>{html.escape(what)}</td></tr>"
            for keys, what in [*rows, *MOUSE_ROWS]
        )
        self.table = QLabel(f"<table>{cells}</table>")
        self.table.setTextFormat(Qt.TextFormat.RichText)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
