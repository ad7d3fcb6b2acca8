"""The main window against the real engine: views, sliders, overlays, maps, zoom, RD plot."""

import numpy as np
import pytest
from gui_helpers import WAIT_MS, open_and_wait, overlay, wait_idle
from PySide6.QtCore import Qt

from engine import decode_jpeg, encode_jpeg, psnr, ssim
from gui.app import SAMPLE_IMAGE
from gui.captions import adaptation_label, time_left
from gui.jobs import BLIND_NOTE, PREDICTION_NOTE, REGION_NOTE
from gui.main_window import MainWindow
from gui.state import Role


def test_window_opens_on_the_sample(qtbot, codecs):
    window = MainWindow(codecs)
    qtbot.addWidget(window)
    window.show()
    window.open_path(SAMPLE_IMAGE)
    qtbot.waitUntil(lambda: window.document.restored is not None, timeout=WAIT_MS)
    original = window.panes[Role.ORIGINAL].image.image
    assert original.shape == (512, 768, 3)
    assert window.panes[Role.RESTORED].image.image.shape == (512, 768, 3)
    assert "768 × 512 px" in overlay(window, Role.ORIGINAL)
    assert "sample.png" in window.windowTitle()


def test_quality_slider_gives_what_the_engine_computes(qtbot, window, default_codec, crop):
    doc = window.document
    window.encode.quality.slider.setValue(55)
    qtbot.waitUntil(lambda: doc.restored.quality == 55 and doc.jpeg.quality == 55, timeout=WAIT_MS)
    wait_idle(qtbot, window)
    res = default_codec.compress(crop, 55, doc.settings.lam, "4:2:0")
    out = default_codec.restore(res.jpeg, res.sidecar)
    assert (doc.restored.jpeg, doc.restored.sidecar) == (res.jpeg, res.sidecar)
    assert np.array_equal(doc.restored.restored, out.image)
    assert np.array_equal(window.panes[Role.RESTORED].image.image, out.image)
    assert np.array_equal(window.panes[Role.JPEG].image.image, res.jpeg_decoded)
    assert doc.restored.rates.total == pytest.approx(res.bpp_total)
    restored_text, jpeg_text = overlay(window, Role.RESTORED), overlay(window, Role.JPEG)
    assert f"= {res.bpp_total:.3f}" in restored_text
    assert f"{res.bpp_side:.3f} side" in restored_text
    assert f"{100 * res.side_share:.1f} % of total" in restored_text
    assert f"PSNR  {psnr(crop, out.image):.2f} dB" in restored_text
    assert f"SSIM  {ssim(crop, out.image):.4f}" in restored_text
    assert f"bpp   {res.bpp_jpeg:.3f}" in jpeg_text
    assert f"PSNR  {psnr(crop, res.jpeg_decoded):.2f} dB" in jpeg_text
    assert f"SSIM  {ssim(crop, res.jpeg_decoded):.4f}" in jpeg_text
    assert "q55" in jpeg_text
    assert f"adapt {adaptation_label(res.adaptation.sent, res.adaptation_gain_db)}" in restored_text
    assert doc.restored.adaptation == res.adaptation.sent


def test_the_adaptation_label_says_what_was_sent_and_bought() -> None:
    assert adaptation_label(("Cb", "Cr"), 0.213) == "Cb, Cr (+0.21 dB)"
    assert adaptation_label(("Y",), None) == "Y"
    assert adaptation_label((), None).startswith("none")


def test_a_burst_of_slider_moves_ends_on_the_last_value(qtbot, window, default_codec, crop):
    doc = window.document
    restores_before = window.scheduler.restore_stage.started
    for quality in range(20, 81, 5):
        window.encode.quality.slider.setValue(quality)
        qtbot.wait(2)
    qtbot.waitUntil(lambda: doc.restored.quality == 80 and doc.jpeg.quality == 80, timeout=WAIT_MS)
    wait_idle(qtbot, window)
    assert doc.restored.quality == 80 and doc.jpeg.quality == 80
    assert window.scheduler.restore_stage.started - restores_before < 13
    assert np.array_equal(doc.restored.jpeg, encode_jpeg(crop, 80))
    assert "q80" in overlay(window, Role.JPEG)


def test_lambda_and_blind_toggle_change_the_restore(qtbot, window):
    doc = window.document
    window.encode.lam.spin.setValue(512.0)
    qtbot.waitUntil(lambda: doc.restored.lam == 512.0, timeout=WAIT_MS)
    assert "λ 512.0" in overlay(window, Role.RESTORED)
    window.encode.side.group.button(1).click()
    qtbot.waitUntil(lambda: doc.restored.blind, timeout=WAIT_MS)
    assert doc.restored.rates.side == 0
    assert "blind" in overlay(window, Role.RESTORED)


def test_overlays_toggle_with_o(qtbot, window):
    window.activateWindow()
    assert "PSNR" in overlay(window, Role.RESTORED)
    qtbot.keyClick(window, Qt.Key.Key_O)
    assert "PSNR" not in overlay(window, Role.RESTORED)
    assert "Restored" in overlay(window, Role.RESTORED)
    qtbot.keyClick(window, Qt.Key.Key_O)
    assert "PSNR" in overlay(window, Role.RESTORED)


def test_d_cycles_descriptor_map_bits_map_difference_and_none(qtbot, window, default_codec):
    window.activateWindow()
    layer = window.panes[Role.RESTORED].map_layer
    out = window.document.restored
    assert not layer.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_D)
    assert window.view.map_mode == "descriptors" and layer.isVisible()
    assert layer.image.shape == (6, 8, 4)
    assert (layer.boundingRect().width(), layer.mapRectToParent(layer.boundingRect()).height()) == (8, 96)
    counts = [int(label.text().split()[1]) for label in window.legend.counts]
    assert counts == np.bincount(out.symbols.ravel(), minlength=default_codec.config.symbols).tolist()
    window.view_controls.opacity.spin.setValue(80)
    assert layer.opacity() == pytest.approx(0.8)
    qtbot.keyClick(window, Qt.Key.Key_D)
    assert window.view.map_mode == "bits" and layer.isVisible()
    assert "bits/block" in window.legend.scale.text()
    qtbot.keyClick(window, Qt.Key.Key_D)
    assert window.view.map_mode == "difference"
    qtbot.keyClick(window, Qt.Key.Key_D)
    assert window.view.map_mode == "none" and not layer.isVisible()


def test_hover_reports_the_block_symbol_and_cost(window):
    out = window.document.restored
    window._show_hover(37.5, 20.2)
    message = window.statusBar().currentMessage()
    assert "block (1, 2)" in message
    assert f"descriptor {out.symbols[1, 2]}" in message
    assert f"{out.block_bits[1, 2]:.2f} bits" in message


def test_zoom_keys_are_linked_and_pixels_stay_crisp(qtbot, window):
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_4)
    panes = list(window.panes.values())
    for pane in panes:
        assert pane.vb.viewPixelSize()[0] == pytest.approx(0.25, rel=0.02)
    assert np.ravel(panes[0].vb.viewRange()) == pytest.approx(np.ravel(panes[2].vb.viewRange()))
    window.panes[Role.RESTORED].zoom_to(8)
    qtbot.wait(50)
    for pane in panes:
        assert pane.vb.viewPixelSize()[0] == pytest.approx(0.125, rel=0.02)
    grab = window.panes[Role.RESTORED].grab().toImage()
    pixels = np.array(grab.convertToFormat(grab.Format.Format_RGB888).constBits()).reshape(grab.height(), -1)
    centre = pixels[grab.height() // 3 : 2 * grab.height() // 3, : grab.width() * 3].reshape(-1, grab.width(), 3)
    same_as_right = np.all(centre[:, 1:] == centre[:, :-1], axis=2).mean()
    assert same_as_right > 0.8
    qtbot.keyClick(window, Qt.Key.Key_F)
    qtbot.waitUntil(lambda: panes[2].vb.viewPixelSize()[0] > 0.125 * 1.5)


def test_split_view_compares_the_chosen_pair(qtbot, window):
    window.view_controls.layout_choice.group.button(1).click()
    assert window.views.currentWidget() is window.split
    window.view_controls.before.setCurrentIndex(window.view_controls.before.findData(Role.ORIGINAL))
    doc = window.document
    assert np.array_equal(window.split.before.image, doc.image(Role.ORIGINAL))
    assert np.array_equal(window.split.image.image, doc.image(Role.RESTORED))
    assert window.split.clip.rect().width() == pytest.approx(64)
    window.split.line.setValue(100)
    assert window.split.clip.rect().width() == pytest.approx(100)
    assert "Original" in window.split.overlay.text() and "Restored" in window.split.overlay_right.text()


def test_cancel_stops_the_restore_and_the_window_recovers(qtbot, codecs, crop_png):
    window = MainWindow(codecs)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.document.source_changed, timeout=WAIT_MS):
        window.open_path(SAMPLE_IMAGE)
    assert window.statusBar().cancel_button.isEnabled()
    window.statusBar().cancel_button.click()
    wait_idle(qtbot, window)
    assert window.document.restored is None
    assert not window.statusBar().cancel_button.isEnabled()
    open_and_wait(qtbot, window, crop_png)
    assert window.document.restored is not None


def test_reopening_keeps_working(qtbot, window, crop_png):
    open_and_wait(qtbot, window, crop_png)
    assert window.document.restored is not None


def test_only_presets_with_weights_are_selectable(window, codecs):
    combo = window.encode.preset
    usable = set(codecs.available_presets())
    assert {"fast", "fast-context"} <= usable
    for i in range(combo.count()):
        enabled = combo.model().item(i).isEnabled()
        assert enabled == (combo.itemData(i) in usable)
    assert combo.currentData() == window.document.settings.preset
    assert window.encode.device.itemText(0) == "cpu"


def test_digits_typed_into_a_spin_box_do_not_zoom(qtbot, window):
    window.activateWindow()
    spin = window.encode.quality.spin
    spin.setFocus()
    spin.selectAll()
    before = window.panes[Role.RESTORED].vb.viewRange()
    qtbot.keyClicks(spin, "42")
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    assert spin.value() == 42
    assert window.panes[Role.RESTORED].vb.viewRange() == before
    qtbot.waitUntil(lambda: window.document.restored.quality == 42, timeout=WAIT_MS)


def previews_of_quality_move(qtbot, window, quality: int) -> list[tuple[object, np.ndarray, str]]:
    """Move the quality slider and wait for everything; each preview with the restored pane's image and
    caption at the moment it was shown."""
    shown = []
    window.scheduler.restore_stage.partial.connect(
        lambda p: shown.append((p, window.panes[Role.RESTORED].image.image.copy(), overlay(window, Role.RESTORED)))
    )
    window.encode.quality.slider.setValue(quality)
    qtbot.waitUntil(lambda: window.document.restored.quality == quality, timeout=WAIT_MS)
    wait_idle(qtbot, window)
    return shown


def test_with_the_sidecar_the_view_is_the_decoders_image_never_worse_than_the_jpeg(qtbot, window, default_codec, crop):
    """With the sidecar on, a slider move first shows the encoder's prediction, labelled as one and not worse
    than the JPEG, then the image the decoder restores from the exported pair (the encoder checked it), not
    worse than the JPEG either."""
    doc = window.document
    shown = previews_of_quality_move(qtbot, window, 45)
    assert [p.note for p, _, _ in shown] == [PREDICTION_NOTE]
    preview, image, caption_text = shown[0]
    assert preview.box == (0, 0, *crop.shape[:2]) and np.array_equal(image, preview.pixels)
    assert "preview" in caption_text and "prediction" in caption_text
    outcome = doc.restored
    assert psnr(crop, preview.pixels) >= outcome.jpeg_psnr - 0.01
    decoded = default_codec.restore(outcome.jpeg, outcome.sidecar).image
    assert np.array_equal(outcome.restored, decoded)
    assert np.array_equal(window.panes[Role.RESTORED].image.image, decoded)
    assert outcome.psnr >= outcome.jpeg_psnr - 0.01


def test_zoomed_in_and_blind_the_visible_region_is_restored_first(qtbot, window, default_codec, crop):
    """Blind and zoomed in, the visible region is restored first (the JPEG around it), then the whole image is
    shown before the sidecar for the maps is computed."""
    doc = window.document
    window.encode.side.group.button(1).click()
    qtbot.waitUntil(lambda: doc.restored is not None and doc.restored.blind, timeout=WAIT_MS)
    wait_idle(qtbot, window)
    window.panes[Role.RESTORED].zoom_to(8)
    qtbot.wait(50)
    shown = previews_of_quality_move(qtbot, window, 45)
    assert [p.note for p, _, _ in shown] == [REGION_NOTE, BLIND_NOTE]
    preview, image, caption_text = shown[0]
    top, left, bottom, right = preview.box
    assert (bottom - top) * (right - left) < 0.5 * crop.shape[0] * crop.shape[1]
    assert np.array_equal(image, preview.composed()) and "visible region" in caption_text
    jpeg = decode_jpeg(encode_jpeg(crop, 45))
    outside = np.ones(crop.shape[:2], bool)
    outside[top:bottom, left:right] = False
    assert np.array_equal(image[outside], jpeg[outside])
    final = doc.restored.restored[top:bottom, left:right].astype(int)
    assert np.abs(final - preview.pixels.astype(int)).mean() < 0.5
    assert np.array_equal(shown[1][0].pixels, doc.restored.restored)
    assert np.array_equal(window.panes[Role.RESTORED].image.image, doc.restored.restored)


def test_blind_the_restored_image_comes_before_the_descriptor_maps(qtbot, window):
    """Blind, with the whole image in view, the restored image is shown once, complete, before the sidecar
    (maps, export) is computed."""
    doc = window.document
    window.encode.side.group.button(1).click()
    qtbot.waitUntil(lambda: doc.restored is not None and doc.restored.blind, timeout=WAIT_MS)
    wait_idle(qtbot, window)
    shown = previews_of_quality_move(qtbot, window, 35)
    assert len(shown) == 1
    preview, image, caption_text = shown[0]
    assert preview.note == BLIND_NOTE and "blind" in caption_text
    assert np.array_equal(image, doc.restored.restored) and doc.restored.symbols is not None


def test_progress_says_how_long_is_left() -> None:
    assert time_left(0.2, 1, 10) == "10 %"
    assert time_left(4.0, 2, 10) == "20 % · about 16 s left"
    assert time_left(4.0, 99, 100) == "99 % · under 1 s left"
    assert time_left(4.0, 10, 10) == "100 %"


def test_the_progress_bar_shows_the_time_left_of_the_running_job(qtbot, window, monkeypatch):
    wait_idle(qtbot, window)
    times = [100.0, 102.0, 104.0]
    monkeypatch.setattr("gui.status_bar.time.monotonic", lambda: times.pop(0) if times else 104.0)
    window.statusBar().progress.show_progress(0, 4)
    window.statusBar().progress.show_progress(1, 4)
    assert window.statusBar().progress.format() == "25 % · about 6 s left"
    window.statusBar().progress.show_progress(0, 4)
    assert window.statusBar().progress.format() == "0 %", "a job that starts over restarts the clock"
