"""Zoom indicator and steps, smooth scaling below 100 %, the 8x8 grid, copy to the clipboard, Help > About."""

import numpy as np
import pytest
from gui_helpers import open_and_wait
from PIL import Image
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import QApplication

from engine import PRESETS, earlier_releases, measured_side_vs_blind
from gui.state import Role
from gui.views import GRID, ZOOM_STEPS, zoom_step


def press(qtbot, key: Qt.Key, modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.keyClick(QApplication.focusWidget() or QApplication.activeWindow(), key, modifier)


def grab_rgb(widget) -> np.ndarray:
    image = widget.grab().toImage()
    image = image.convertToFormat(image.Format.Format_RGB888)
    rows = np.array(image.constBits()).reshape(image.height(), image.bytesPerLine())
    return rows[:, : 3 * image.width()].reshape(image.height(), image.width(), 3)


def centre(widget, half: int = 8) -> np.ndarray:
    y, x = widget.height() // 2, widget.width() // 2
    return grab_rgb(widget)[y - half : y + half, x - half : x + half]


def test_plus_and_minus_step_the_zoom_and_the_indicator_follows(qtbot, window):
    window.activateWindow()
    pane = window.panes[Role.RESTORED]
    press(qtbot, Qt.Key.Key_1)
    assert window.statusBar().zoom_label.text() == "Zoom 100 %"
    press(qtbot, Qt.Key.Key_Plus)
    assert pane.zoom() == pytest.approx(1.5, rel=0.02) and window.statusBar().zoom_label.text() == "Zoom 150 %"
    press(qtbot, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    assert pane.zoom() == pytest.approx(2, rel=0.02)
    press(qtbot, Qt.Key.Key_Minus)
    press(qtbot, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    assert pane.zoom() == pytest.approx(1, rel=0.02) and window.statusBar().zoom_label.text() == "Zoom 100 %"
    assert window.panes[Role.JPEG].zoom() == pytest.approx(1, rel=0.02)  # linked
    assert window.document.settings.quality == 30
    assert zoom_step(0.37, 1) == 1 / 2 and zoom_step(0.37, -1) == 1 / 3 and zoom_step(64, 1) == ZOOM_STEPS[-1]


def test_below_100_percent_scaled_smoothly_from_100_percent_crisp(qtbot, window, tmp_path):
    checker = np.zeros((96, 128, 3), np.uint8)
    checker[(np.indices((96, 128)).sum(axis=0) % 2) == 1] = 255
    path = tmp_path / "checker.png"
    Image.fromarray(checker).save(path)
    open_and_wait(qtbot, window, path)
    pane = window.panes[Role.ORIGINAL]
    pane.zoom_to(0.5)
    qtbot.wait(50)
    middle = centre(pane)
    assert ((middle > 40) & (middle < 215)).mean() > 0.9  # neighbours averaged: grey, not black and white
    pane.zoom_to(2)
    qtbot.wait(50)
    middle = centre(pane)
    assert np.isin(middle, (0, 255)).mean() > 0.95  # square pixels


def test_g_shows_the_8x8_grid_on_every_view(qtbot, window):
    window.activateWindow()
    pane = window.panes[Role.RESTORED]
    pane.zoom_to(4)
    qtbot.wait(50)
    before = grab_rgb(pane)
    press(qtbot, Qt.Key.Key_G)
    assert window.grid_action.isChecked()
    assert all(p.grid.isVisible() for p in [*window.panes.values(), window.split])
    assert pane.grid.boundingRect() == QRectF(0, 0, 128, 96)
    xs = sorted({line.x1() for line in pane.grid.lines(QRectF(3, 5, 30, 20)) if line.x1() == line.x2()})
    assert xs == [8, 16, 24, 32] and GRID == 8
    after = grab_rgb(pane)
    assert (np.abs(after.astype(int) - before).sum(axis=2) > 30).mean() > 0.02  # a line every 32 screen pixels
    pane.zoom_to(0.5)  # lines 4 screen pixels apart would hide the image: none are drawn
    qtbot.wait(50)
    shown = grab_rgb(pane)
    window.set_grid(False)
    assert np.array_equal(grab_rgb(pane), shown)
    window.set_grid(True)
    press(qtbot, Qt.Key.Key_G)
    assert not pane.grid.isVisible()


def test_ctrl_c_copies_the_view_as_shown(qtbot, window):
    window.activateWindow()
    QApplication.clipboard().clear()
    press(qtbot, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    copied = QApplication.clipboard().image()
    pane = window.panes[Role.RESTORED]
    assert copied.size() == pane.grab().size()
    assert copied.convertToFormat(copied.Format.Format_RGB888) == pane.grab().toImage().convertToFormat(
        copied.Format.Format_RGB888
    )


def test_about_shows_each_installed_models_card(qtbot, window, codecs):
    action = next(a for a in window.actions() if a.text().startswith("&About"))
    action.trigger()
    text = window.about_dialog.text.text()
    assert window.about_dialog.isVisible()
    for preset in (p for p in codecs.available_presets() if p in PRESETS):
        config = PRESETS[preset]
        assert f"<code>{preset}</code>" in text
        assert config.trunk_summary in text
        codec = codecs.get(preset, "cpu")
        assert codec.model_id.hex() in text and f"step of {codec.blind_min_step:.2f}" in text
        measured = measured_side_vs_blind(preset)
        for name, value in (measured or {}).items():
            assert f"{name} {value:+.1f} %" in text
    assert all(f"<code>{name}</code>" in text for name in earlier_releases())
    shown = [codecs.get(p, "cpu") for p in codecs.available_presets() if p in PRESETS]
    shared = sum(
        any(share > 0 and step < codec.blind_min_step for step, _, share in codec.blind_shares) for codec in shown
    )
    assert text.count("moved up to") == shared and text.count("without the network") == len(shown) - shared
    window.about_dialog.close()
