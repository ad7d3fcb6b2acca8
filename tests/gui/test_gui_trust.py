"""A viewer a photographer can trust: every view says which setting it shows, nothing stale passes for current,
framing is right, the right model restores a received sidecar, and blind decoding never shows a worse image."""

from pathlib import Path

import numpy as np
import pytest
from gui_helpers import WAIT_MS, open_and_wait, overlay, wait_idle
from PySide6.QtCore import QRectF, Qt

from engine import DEFAULT_PRESET, Cancelled, decode_jpeg, earlier_releases, encode_jpeg, psnr
from engine.constraint import Constraint
from engine.encoding import Encoded
from gui import scheduler
from gui.jobs import DECODED_ANEW_NOTE, NO_GAIN_NOTE, PASS_THROUGH_NOTE, SHOWN_BLIND_NOTE, shared_note
from gui.state import Role


def restore_until_cancelled(monkeypatch) -> None:
    """From now on a restore of an original runs until it is cancelled (a slow recompute, deterministically)."""

    def work(codec, original, box, settings, ctx):
        ctx.cancel.wait(WAIT_MS / 1000)
        raise Cancelled()

    monkeypatch.setattr(scheduler, "compress_and_restore", work)


def move_quality_and_start(qtbot, window, quality: int) -> None:
    window.encode.quality.slider.setValue(quality)
    qtbot.waitUntil(lambda: window.scheduler.restore_stage.busy, timeout=WAIT_MS)


def write_pair(folder: Path, jpeg: bytes, sidecar: bytes, name: str = "photo.jpg") -> Path:
    path = folder / name
    path.write_bytes(jpeg)
    (folder / f"{name}.side").write_bytes(sidecar)
    return path


# --- 1. stale results ---------------------------------------------------------------------------------------------


def test_while_recomputing_and_after_cancel_the_restored_view_says_it_shows_the_previous_setting(
    qtbot, window, monkeypatch
):
    doc = window.document
    shown = doc.restored
    assert f"Restored · q30 · 4:2:0 · λ 64.0 · sidecar · {DEFAULT_PRESET}" in overlay(window, Role.RESTORED)
    assert "previous" not in overlay(window, Role.RESTORED)
    restore_until_cancelled(monkeypatch)
    move_quality_and_start(qtbot, window, 45)
    text = overlay(window, Role.RESTORED)
    assert "q30" in text and "previous" in text and "restoring q45" in text
    window.statusBar().cancel_button.click()
    wait_idle(qtbot, window)
    assert doc.restored is shown
    assert np.array_equal(window.panes[Role.RESTORED].image.image, shown.restored)
    text = overlay(window, Role.RESTORED)
    assert f"Restored · q30 · 4:2:0 · λ 64.0 · sidecar · {DEFAULT_PRESET} · previous" in text
    assert f"q45 · 4:2:0 · λ 64.0 · sidecar · {DEFAULT_PRESET} not computed (cancelled)" in text
    assert "JPEG · q45 · 4:2:0" in overlay(window, Role.JPEG)  # the JPEG view did follow
    window.view_controls.overlays.setChecked(False)  # the title alone still says it
    assert "previous" in overlay(window, Role.RESTORED) and "not computed" not in overlay(window, Role.RESTORED)


def test_export_while_recomputing_writes_and_names_the_setting_shown(qtbot, window, monkeypatch, tmp_path):
    shown = window.document.restored
    titles = []
    monkeypatch.setattr(
        window, "ask_save_path", lambda title, suggested, name_filter: titles.append(title) or tmp_path / "now.jpg"
    )
    assert window.exports.pair()
    assert f"q30 · 4:2:0 · λ 64.0 · sidecar · {DEFAULT_PRESET}" in titles[-1] and "not computed" not in titles[-1]
    restore_until_cancelled(monkeypatch)
    move_quality_and_start(qtbot, window, 45)
    monkeypatch.setattr(
        window, "ask_save_path", lambda title, suggested, name_filter: titles.append(title) or tmp_path / "stale.jpg"
    )
    assert window.exports.pair()
    assert f"q30 · 4:2:0 · λ 64.0 · sidecar · {DEFAULT_PRESET}" in titles[-1] and "not computed" in titles[-1]
    assert (tmp_path / "stale.jpg").read_bytes() == shown.jpeg
    assert (tmp_path / "stale.jpg.side").read_bytes() == shown.sidecar
    window.cancel()
    wait_idle(qtbot, window)


# --- 3. framing ---------------------------------------------------------------------------------------------------


def assert_fitted(pane, width: int, height: int) -> None:
    """The image is centred in the view and fills it along one axis (up to the view's padding)."""
    rect = pane.vb.viewRect()
    assert (rect.center().x(), rect.center().y()) == pytest.approx((width / 2, height / 2), abs=1)
    assert rect.contains(QRectF(0, 0, width, height))
    assert min(rect.width() / width, rect.height() / height) == pytest.approx(1, abs=0.1)


def test_a_received_jpeg_opened_after_another_image_is_framed_and_f_keeps_it(
    qtbot, window, default_codec, crop, tmp_path
):
    big = np.ascontiguousarray(np.tile(crop, (3, 2, 1)))
    res = default_codec.compress(big, 30, 64.0)
    open_and_wait(qtbot, window, write_pair(tmp_path, res.jpeg, res.sidecar))
    qtbot.wait(50)
    for _ in range(3):
        for role in (Role.JPEG, Role.RESTORED):
            assert_fitted(window.panes[role], 256, 288)
        qtbot.keyClick(window, Qt.Key.Key_F)
        qtbot.wait(50)


# --- 4. received sidecars -------------------------------------------------------------------------------------------


def opens_with_the_model_that_made_it(qtbot, window, codecs, crop, tmp_path, errors, model: str) -> None:
    """A pair made with ``model`` (not the default) opens with that model, restored as its encoder predicted, and
    the status bar says the model switched."""
    assert model != DEFAULT_PRESET
    res = codecs.get(model, "cpu").compress(crop, 30, 64.0)
    open_and_wait(qtbot, window, write_pair(tmp_path, res.jpeg, res.sidecar))
    doc = window.document
    assert not errors
    assert doc.settings.preset == model and window.encode.preset.currentData() == model
    assert not doc.restored.blind and np.array_equal(doc.restored.restored, res.restored)
    assert f"switched from {DEFAULT_PRESET} to {model}" in window.statusBar().currentMessage()


def test_a_sidecar_made_with_the_other_model_switches_to_it_and_says_so(qtbot, window, codecs, crop, tmp_path, errors):
    if "paper" not in codecs.available_presets():
        pytest.skip("the paper preset has no weights here")
    opens_with_the_model_that_made_it(qtbot, window, codecs, crop, tmp_path, errors, "paper")
    assert "received · sidecar · paper" in overlay(window, Role.RESTORED)


def test_a_sidecar_of_the_previous_default_model_is_restored_by_it(qtbot, window, codecs, crop, tmp_path, errors):
    opens_with_the_model_that_made_it(qtbot, window, codecs, crop, tmp_path, errors, "fast")


def test_a_sidecar_of_an_earlier_release_is_restored_by_it(qtbot, window, codecs, crop, tmp_path, errors):
    (release,) = earlier_releases()
    opens_with_the_model_that_made_it(qtbot, window, codecs, crop, tmp_path, errors, release)


def test_a_sidecar_of_another_jpeg_is_reported_and_blind_is_offered(
    qtbot, window, default_codec, crop, tmp_path, errors, monkeypatch
):
    jpeg = encode_jpeg(crop, 50)
    path = write_pair(tmp_path, jpeg, default_codec.compress(crop, 30, 64.0).sidecar)
    window.open_path(path)
    qtbot.waitUntil(lambda: bool(errors), timeout=WAIT_MS)
    wait_idle(qtbot, window)
    title, question = errors[-1]
    assert title == "Restoration failed" and "different JPEG" in question and "blind" in question
    text = overlay(window, Role.RESTORED)
    assert "restoring" not in text and "failed" in text and "different JPEG" in text
    monkeypatch.setattr(window, "confirm", lambda title, message: True)
    window.open_path(path)
    qtbot.waitUntil(lambda: window.document.restored is not None and window.document.restored.blind, timeout=WAIT_MS)
    assert np.array_equal(window.document.restored.restored, default_codec.restore(jpeg).image)
    assert window.encode.side.index() == 1 and "received · blind" in overlay(window, Role.RESTORED)


# --- 5. honest output -----------------------------------------------------------------------------------------------


def test_a_blind_restoration_that_measures_worse_is_not_shown(qtbot, window, default_codec, crop, monkeypatch):
    """A restorer that makes the JPEG worse (as blind models can at very high qualities) is not shown."""

    def worse(decoded, conditioning, symbols, box, progress, cancel, **_):
        top, left, bottom, right = box
        return np.clip(decoded[top:bottom, left:right].astype(int) + 6, 0, 255).astype(np.uint8)

    monkeypatch.setattr(default_codec, "blind_min_step", 0.0)
    monkeypatch.setattr(default_codec.inference, "restore", worse)
    jpeg = encode_jpeg(crop, 98)
    decoded = decode_jpeg(jpeg)
    assert psnr(crop, default_codec.restore(jpeg).image) < psnr(crop, decoded)  # the case this test is about
    doc = window.document
    window.encode.side.group.button(1).click()
    window.encode.quality.spin.setValue(98)
    qtbot.waitUntil(lambda: doc.restored.blind and doc.restored.quality == 98, timeout=WAIT_MS)
    wait_idle(qtbot, window)
    assert doc.restored.note == NO_GAIN_NOTE and doc.restored.psnr == doc.restored.jpeg_psnr
    assert np.array_equal(window.panes[Role.RESTORED].image.image, decoded)
    text = overlay(window, Role.RESTORED)
    assert text.count("JPEG as it is") == 1 and "blind restoration would not improve this JPEG" in text
    assert "Restored ·" not in text


def test_a_passed_through_jpeg_whose_coefficients_cannot_be_read_is_captioned_as_shown_as_it_is(
    qtbot, window, default_codec, crop, tmp_path, monkeypatch
):
    monkeypatch.setattr(default_codec, "blind_min_step", float("inf"))
    monkeypatch.setattr(default_codec, "blind_shares", [])
    monkeypatch.setattr(Constraint, "of", classmethod(lambda cls, jpeg: None))
    path = tmp_path / "fine.jpg"
    jpeg = encode_jpeg(crop, 96, "4:4:4")
    decoded = decode_jpeg(jpeg)
    path.write_bytes(jpeg)
    with qtbot.waitSignal(window.document.source_changed, timeout=WAIT_MS):
        window.open_path(path, as_received=True)
    qtbot.waitUntil(lambda: window.document.restored is not None, timeout=WAIT_MS)
    assert window.document.restored.note == PASS_THROUGH_NOTE
    assert np.array_equal(window.panes[Role.RESTORED].image.image, decoded)
    text = overlay(window, Role.RESTORED)
    assert "JPEG as it is · received · blind" in text and "the JPEG is shown as it is" in text


@pytest.mark.parametrize("subsampling", ["4:2:0", "4:4:4"])
def test_a_jpeg_that_blind_decoding_passes_through_is_shown_decoded_anew(
    qtbot, window, default_codec, crop, tmp_path, monkeypatch, subsampling
):
    monkeypatch.setattr(default_codec, "blind_min_step", float("inf"))
    monkeypatch.setattr(default_codec, "blind_shares", [])
    path = tmp_path / "fine.jpg"
    jpeg = encode_jpeg(crop, 96, subsampling)
    path.write_bytes(jpeg)
    with qtbot.waitSignal(window.document.source_changed, timeout=WAIT_MS):
        window.open_path(path, as_received=True)
    qtbot.waitUntil(lambda: window.document.restored is not None, timeout=WAIT_MS)
    assert window.document.restored.note == DECODED_ANEW_NOTE
    shown = window.panes[Role.RESTORED].image.image
    assert np.array_equal(shown, default_codec.restore(jpeg).image)
    assert not np.array_equal(shown, decode_jpeg(jpeg))
    text = overlay(window, Role.RESTORED)
    assert "JPEG decoded anew · received · blind" in text and "decoded anew from its coefficients" in text


# --- 6. the controls of a received JPEG -----------------------------------------------------------------------------


def test_a_received_jpeg_shows_its_own_quality_and_lambda(qtbot, window, default_codec, crop, tmp_path, crop_png):
    quality, lam = window.encode.quality, window.encode.lam
    res = default_codec.compress(crop, 70, 256.0)
    open_and_wait(qtbot, window, write_pair(tmp_path, res.jpeg, res.sidecar))
    assert (quality.spin.value(), lam.spin.value()) == (70, 256.0)
    assert not quality.isEnabled() and not lam.isEnabled()
    assert quality.slider.value() == 70
    plain = tmp_path / "plain.jpg"
    plain.write_bytes(res.jpeg)
    with qtbot.waitSignal(window.document.source_changed, timeout=WAIT_MS):
        window.open_path(plain, as_received=True)
    assert quality.spin.text() == "unknown" and lam.spin.text() == "unknown"
    open_and_wait(qtbot, window, crop_png)
    assert (quality.spin.value(), lam.spin.value()) == (30, 64.0) and quality.isEnabled()
    assert window.document.settings.quality == 30 and window.document.restored.quality == 30


# --- 7. cached results ----------------------------------------------------------------------------------------------


def test_toggling_back_to_a_computed_setting_shows_it_without_recomputing(qtbot, window):
    doc = window.document
    with_sidecar = doc.restored
    window.encode.side.group.button(1).click()
    qtbot.waitUntil(lambda: doc.restored.blind, timeout=WAIT_MS)
    wait_idle(qtbot, window)
    blind, started = doc.restored, window.scheduler.restore_stage.started
    window.encode.side.group.button(0).click()
    assert doc.restored is with_sidecar and not window.scheduler.restore_stage.busy
    assert np.array_equal(window.panes[Role.RESTORED].image.image, with_sidecar.restored)
    assert "sidecar" in overlay(window, Role.RESTORED) and "previous" not in overlay(window, Role.RESTORED)
    window.encode.side.group.button(1).click()
    assert doc.restored is blind
    wait_idle(qtbot, window)
    assert window.scheduler.restore_stage.started == started
    assert doc.ssim(Role.RESTORED) is not None  # its SSIM is kept too



def test_a_jpeg_given_a_share_of_the_network_says_how_much(qtbot, window, default_codec, crop, tmp_path, monkeypatch):
    monkeypatch.setattr(default_codec, "blind_min_step", float("inf"))
    monkeypatch.setattr(default_codec, "blind_shares", [(1.0, "4:4:4", 0.375)])
    path = tmp_path / "fine.jpg"
    jpeg = encode_jpeg(crop, 96, "4:4:4")
    path.write_bytes(jpeg)
    with qtbot.waitSignal(window.document.source_changed, timeout=WAIT_MS):
        window.open_path(path, as_received=True)
    qtbot.waitUntil(lambda: window.document.restored is not None, timeout=WAIT_MS)
    assert window.document.restored.note == shared_note(0.375)
    assert np.array_equal(window.panes[Role.RESTORED].image.image, default_codec.restore(jpeg).image)
    text = overlay(window, Role.RESTORED)
    assert "Restored at 38% · received · blind" in text and "moved 38% of the way" in text


def test_a_sidecar_that_asks_for_the_blind_image_says_so(qtbot, window, default_codec, crop, tmp_path, monkeypatch):
    """A fine JPEG whose encoder found blind decoding's image closer than its map's (``SHOWS_BLIND``)."""
    made = default_codec.compress(crop, 98, 64.0, "4:2:2")
    worse = Encoded(made.symbols, np.clip(made.jpeg_decoded.astype(int) + 9, 0, 255).astype(np.uint8))
    with monkeypatch.context() as patch:
        patch.setattr(default_codec.encoder, "encode", lambda *args, **kwargs: worse)
        res = default_codec.compress(crop, 98, 64.0, "4:2:2")
    assert res.received().shown_blind
    open_and_wait(qtbot, window, write_pair(tmp_path, res.jpeg, res.sidecar))
    doc = window.document
    assert not doc.restored.blind and doc.restored.note == SHOWN_BLIND_NOTE
    assert np.array_equal(window.panes[Role.RESTORED].image.image, default_codec.restore(res.jpeg).image)
    assert "Restored as blind" in overlay(window, Role.RESTORED)
