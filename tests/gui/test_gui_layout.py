"""At 1280x720 (and 1920x1080) no control, caption or overlay is cut off."""

import pytest
from PySide6.QtWidgets import QAbstractButton, QComboBox, QLabel, QScrollArea

from gui.state import Role


def cut_off(window) -> list[str]:
    """Visible texts and controls smaller than they need to be, or reaching out of their view."""
    found = []
    widgets = [widget for kind in (QLabel, QAbstractButton, QComboBox) for widget in window.findChildren(kind)]
    for widget in widgets:
        if not widget.isVisible() or widget.window() is not window or widget.visibleRegion().isEmpty():
            continue
        name = f"{type(widget).__name__} {getattr(widget, 'text', lambda: '')()!r:.60}"
        if isinstance(widget, QLabel) and widget.wordWrap():
            if widget.height() < widget.heightForWidth(widget.width()):
                found.append(f"{name}: {widget.height()} px high, needs {widget.heightForWidth(widget.width())}")
        elif isinstance(widget, QLabel) and widget.pixmap().isNull() and widget.text():
            if widget.width() < widget.sizeHint().width():
                found.append(f"{name}: {widget.width()} px wide, needs {widget.sizeHint().width()}")
        elif not isinstance(widget, QLabel) and widget.width() < widget.minimumSizeHint().width():
            found.append(f"{name}: {widget.width()} px wide, needs {widget.minimumSizeHint().width()}")
    for pane in [*window.panes.values(), window.split]:
        for overlay in (pane.overlay, getattr(pane, "overlay_right", None)):
            if overlay is not None and overlay.isVisible() and not pane.rect().contains(overlay.geometry()):
                found.append(f"overlay {overlay.text()[:60]!r} reaches out of its view")
    scroll = window.findChild(QScrollArea)
    if scroll.horizontalScrollBar().maximum() > 0:
        found.append("the controls need a horizontal scroll bar")
    return found


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)])
def test_nothing_is_cut_off(qtbot, window, size):
    window.resize(*size)
    qtbot.wait(100)
    assert window.size().toTuple() == size
    assert cut_off(window) == []
    window.view_controls.layout_choice.group.button(1).click()
    window.view_controls.map_mode.setCurrentText("descriptors")
    window.encode.side.group.button(1).click()
    qtbot.waitUntil(lambda: window.document.restored.blind and not window.busy, timeout=60_000)
    qtbot.wait(100)
    assert cut_off(window) == []
    assert "Restored" in window.split.overlay_right.text() and window.panes[Role.RESTORED].overlay.text()
