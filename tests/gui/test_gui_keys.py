"""Keyboard: shortcuts work wherever focus is and never edit a control; flip, help, next / previous image."""

import html
from pathlib import Path

import numpy as np
import pytest
from gui_helpers import WAIT_MS, overlay, wait_idle
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication

from gui.state import Role


def press(qtbot, key: Qt.Key) -> None:
    """A key press as the user makes it: to whatever has focus."""
    qtbot.keyClick(QApplication.focusWidget(), key)


def test_after_enter_in_the_quality_field_the_zoom_keys_zoom_and_the_value_stays(qtbot, window):
    window.activateWindow()
    spin = window.encode.quality.spin
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin, "42")
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    press(qtbot, Qt.Key.Key_4)
    assert window.panes[Role.RESTORED].vb.viewPixelSize()[0] == pytest.approx(0.25, rel=0.02)
    spin.clearFocus()  # a value typed into the field would be committed now
    assert spin.value() == 42 and spin.text().startswith("42")
    qtbot.waitUntil(lambda: window.document.restored.quality == 42, timeout=WAIT_MS)
    wait_idle(qtbot, window)
    assert window.document.settings.quality == 42


def test_letter_shortcuts_work_while_a_number_field_has_focus(qtbot, window):
    window.activateWindow()
    spin = window.encode.lam.spin
    spin.setFocus()
    text = spin.text()
    press(qtbot, Qt.Key.Key_O)
    press(qtbot, Qt.Key.Key_D)
    assert not window.view.details and window.view.map_mode == "descriptors"
    assert spin.text() == text and spin.hasFocus()


def test_shortcuts_never_change_the_focused_control(qtbot, window):
    window.activateWindow()
    controls = [window.encode.quality.slider, window.encode.lam.slider, window.encode.preset,
                window.encode.subsampling, window.view_controls.opacity.slider]
    values = [c.value() if hasattr(c, "value") else c.currentIndex() for c in controls]
    for control in controls:
        control.setFocus()
        for key in (Qt.Key.Key_PageUp, Qt.Key.Key_PageDown, Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_2):
            press(qtbot, key)
    assert [c.value() if hasattr(c, "value") else c.currentIndex() for c in controls] == values
    assert window.panes[Role.RESTORED].vb.viewPixelSize()[0] == pytest.approx(0.5, rel=0.02)
    assert window.document.settings.quality == 30


def test_b_flips_the_restored_view_to_the_jpeg_and_back(qtbot, window):
    window.activateWindow()
    doc = window.document
    window.view_controls.layout_choice.group.button(1).click()
    press(qtbot, Qt.Key.Key_B)
    assert window.view.flipped and window.flip_action.isChecked()
    assert np.array_equal(window.panes[Role.RESTORED].image.image, doc.image(Role.JPEG))
    assert np.array_equal(window.split.image.image, doc.image(Role.JPEG))
    assert "JPEG · q30 · 4:2:0 · flipped" in overlay(window, Role.RESTORED)
    assert "flipped" in window.split.overlay_right.text()
    press(qtbot, Qt.Key.Key_B)
    assert np.array_equal(window.panes[Role.RESTORED].image.image, doc.restored.restored)
    assert "Restored · q30" in overlay(window, Role.RESTORED)


def test_help_lists_every_shortcut(qtbot, window):
    window.activateWindow()
    press(qtbot, Qt.Key.Key_F1)
    dialog = window.shortcuts_dialog
    assert dialog.isVisible() and not dialog.isModal()
    text = dialog.table.text()
    listed = [keys for action in window.actions() for keys in action.shortcuts() if not keys.isEmpty()]
    assert len(listed) >= 16
    for keys in listed:
        assert html.escape(keys.toString(QKeySequence.SequenceFormat.NativeText)) in text
    for what in ("Fit", "Zoom 400 %", "Next image in folder", "Flip", "Toggle overlays", "wheel"):
        assert what in text


def save_shots(folder: Path, crop: np.ndarray) -> list[Path]:
    """Three images in natural name order (img1, img2, img10), plus files that are not images."""
    folder.mkdir()
    shots = [folder / name for name in ("img1.png", "img2.png", "img10.png")]
    for i, path in enumerate(shots):
        Image.fromarray(np.ascontiguousarray(crop[:, : 64 + 16 * i])).save(path)
    (folder / "notes.txt").write_text("not an image")
    return shots


def step(qtbot, window, key: Qt.Key, expected: Path) -> None:
    with qtbot.waitSignal(window.document.source_changed, timeout=WAIT_MS):
        press(qtbot, key)
    assert window.document.source.path == expected
    qtbot.waitUntil(lambda: window.document.restored is not None, timeout=WAIT_MS)
    wait_idle(qtbot, window)


def test_arrows_and_page_keys_step_through_the_folder_keeping_the_settings(qtbot, window, crop, tmp_path):
    shots = save_shots(tmp_path / "shots", crop)
    window.encode.quality.slider.setValue(40)
    window.activateWindow()
    window.open_path(shots[0])
    qtbot.waitUntil(lambda: window.document.source.path == shots[0], timeout=WAIT_MS)
    slider = window.encode.lam.slider
    slider.setFocus()  # the keys are for the window, not the focused slider
    position = slider.value()
    step(qtbot, window, Qt.Key.Key_Right, shots[1])
    step(qtbot, window, Qt.Key.Key_PageDown, shots[2])
    press(qtbot, Qt.Key.Key_Right)
    assert "No next image" in window.statusBar().currentMessage()
    step(qtbot, window, Qt.Key.Key_PageUp, shots[1])
    step(qtbot, window, Qt.Key.Key_Left, shots[0])
    assert slider.value() == position
    doc = window.document
    assert doc.settings.quality == 40 and doc.restored.quality == 40 and doc.source.original.shape[1] == 64
