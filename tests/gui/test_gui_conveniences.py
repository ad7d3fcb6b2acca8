"""Settings remembered between runs, file sizes in the overlays, pixel values under the cursor, folder order."""

from pathlib import Path

from gui_helpers import overlay
from PySide6.QtCore import QSettings, QSize

from gui.captions import file_size
from gui.files import neighbour
from gui.main_window import MainWindow
from gui.state import Role


def test_settings_layout_and_geometry_are_remembered_between_runs(qtbot, codecs):
    first = MainWindow(codecs)
    qtbot.addWidget(first)
    first.show()
    first.encode.quality.spin.setValue(42)
    first.encode.lam.spin.setValue(200.0)
    first.encode.subsampling.setCurrentText("4:4:4")
    presets = codecs.available_presets()
    other = next(p for p in presets if p != first.document.settings.preset) if len(presets) > 1 else presets[0]
    first.encode.preset.setCurrentIndex(first.encode.preset.findData(other))
    first.view_controls.layout_choice.group.button(1).click()
    first.resize(760, 560)  # within the offscreen screen (800 x 600), which geometry is restored into
    first.close()

    second = MainWindow(codecs)
    qtbot.addWidget(second)
    settings = second.document.settings
    assert (settings.quality, settings.lam, settings.subsampling, settings.preset) == (42, 200.0, "4:4:4", other)
    assert second.encode.quality.value() == 42 and second.encode.lam.value() == 200.0
    assert second.encode.subsampling.currentText() == "4:4:4" and second.encode.preset.currentData() == other
    assert second.views.currentWidget() is second.split and second.view_controls.layout_choice.index() == 1
    assert second.size() == QSize(760, 560)


def test_unusable_remembered_values_fall_back_to_the_defaults(qtbot, codecs):
    store = QSettings()
    for key, value in (("encode/quality", "lots"), ("encode/lambda", "1e9"), ("encode/preset", "gone"),
                       ("encode/subsampling", "4:1:1"), ("window/geometry", "garbage")):
        store.setValue(key, value)
    window = MainWindow(codecs, store)
    qtbot.addWidget(window)
    defaults = MainWindow(codecs, remember=False)
    qtbot.addWidget(defaults)
    assert window.document.settings == defaults.document.settings


def test_overlays_give_file_sizes_beside_bpp(window):
    out = window.document.restored
    jpeg, side = len(out.jpeg), len(out.sidecar)
    assert f"bpp   {out.rates.jpeg:.3f} · {file_size(jpeg)}" in overlay(window, Role.JPEG)
    assert f"file  {file_size(jpeg)} + {file_size(side)} = {file_size(jpeg + side)}" in overlay(window, Role.RESTORED)
    assert [file_size(n) for n in (999, 12_345, 2_500_000)] == ["999 B", "12.3 KB", "2.50 MB"]


def test_hover_gives_the_pixel_values_of_every_view(window, crop):
    window._show_hover(37.5, 20.2)
    message = window.statusBar().currentMessage()
    doc = window.document
    for role, image in ((Role.ORIGINAL, crop), (Role.JPEG, doc.jpeg.decoded), (Role.RESTORED, doc.restored.restored)):
        assert f"{role.value} {' '.join(str(v) for v in image[20, 37])}" in message


def test_folder_order_is_natural_and_survives_a_deleted_current_file(tmp_path: Path):
    for name in ("b10.png", "B2.JPG", "a.tif", "b2.jpg.side", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert neighbour(tmp_path / "a.tif", 1) == tmp_path / "B2.JPG"
    assert neighbour(tmp_path / "B2.JPG", 1) == tmp_path / "b10.png"
    assert neighbour(tmp_path / "b10.png", 1) is None and neighbour(tmp_path / "a.tif", -1) is None
    assert neighbour(tmp_path / "b5.png", 1) == tmp_path / "b10.png"  # b5.png is gone: its neighbours remain
    assert neighbour(tmp_path / "b5.png", -1) == tmp_path / "B2.JPG"
