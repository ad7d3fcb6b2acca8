"""The Qt binding must not corrupt Python's reference counts (the app would crash after a while)."""

import sys

from PySide6 import __version__ as pyside_version
from PySide6.QtWidgets import QLabel


def test_qt_calls_keep_the_reference_count_of_none(qtbot):
    label = QLabel()
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for _ in range(1000):
        label.setText("x")
    lost = before - sys.getrefcount(None)
    assert lost < 100, (
        f"PySide6 {pyside_version} on Python {sys.version.split()[0]} drops a reference to None on every call "
        "returning nothing; the GUI would abort with 'none_dealloc'. Use a PySide6 without this bug (e.g. 6.11.3)."
    )
