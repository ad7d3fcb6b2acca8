"""Opening, exporting and re-opening files through the window, checked by reading them back with the engine."""

import os
from pathlib import Path

import numpy as np
import pytest
from gui_helpers import WAIT_MS, open_and_wait
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent

from engine import encode_jpeg, load_image, read_metadata, split_embedded
from gui.files import export_pair, export_png
from gui.state import Role


def save_to(monkeypatch, window, path: Path) -> None:
    monkeypatch.setattr(window, "ask_save_path", lambda title, suggested, name_filter: path)


def test_export_pair_embedded_and_png_read_back(window, monkeypatch, tmp_path, default_codec):
    out = window.document.restored
    save_to(monkeypatch, window, tmp_path / "photo.jpg")
    assert window.exports.pair()
    jpeg, side = (tmp_path / "photo.jpg").read_bytes(), (tmp_path / "photo.jpg.side").read_bytes()
    assert (jpeg, side) == (out.jpeg, out.sidecar)
    back = default_codec.restore(jpeg, side)
    assert not back.blind and np.array_equal(back.image, out.restored)

    save_to(monkeypatch, window, tmp_path / "single")
    assert window.exports.embedded()
    single = (tmp_path / "single.jpg").read_bytes()
    assert split_embedded(single) == (out.jpeg, out.sidecar)
    assert np.array_equal(default_codec.restore(single).image, out.restored)

    save_to(monkeypatch, window, tmp_path / "restored.png")
    assert window.exports.png()
    assert np.array_equal(load_image(tmp_path / "restored.png").rgb, out.restored)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_nothing_is_overwritten_without_asking(window, monkeypatch, tmp_path):
    (tmp_path / "photo.jpg.side").write_bytes(b"keep me")
    (tmp_path / "plain.png").write_bytes(b"keep me too")
    asked = []
    monkeypatch.setattr(window, "confirm", lambda title, message: asked.append(message) or False)
    save_to(monkeypatch, window, tmp_path / "photo.jpg")
    assert not window.exports.pair()
    save_to(monkeypatch, window, tmp_path / "plain")
    assert not window.exports.png()
    assert (tmp_path / "photo.jpg.side").read_bytes() == b"keep me"
    assert (tmp_path / "plain.png").read_bytes() == b"keep me too"
    assert not (tmp_path / "photo.jpg").exists()
    assert len(asked) == 2 and "photo.jpg.side" in asked[0]


def test_received_jpeg_with_sidecar_or_embedded_is_shown_restored(qtbot, window, monkeypatch, tmp_path, default_codec):
    out = window.document.restored
    for name, export in (("pair.jpg", window.exports.pair), ("embedded.jpg", window.exports.embedded)):
        save_to(monkeypatch, window, tmp_path / name)
        assert export()
    for name in ("pair.jpg", "embedded.jpg"):
        open_and_wait(qtbot, window, tmp_path / name)
        doc = window.document
        assert doc.source.received and doc.source.original is None
        assert not doc.restored.blind and np.array_equal(doc.restored.restored, out.restored)
        assert not window.encode.quality.isEnabled()
        assert "no original" in window.panes[Role.ORIGINAL].overlay.text()
        assert "PSNR  —" in window.panes[Role.RESTORED].overlay.text()
        assert "PSNR  —" in window.panes[Role.JPEG].overlay.text()
        assert doc.restored.rates.total == pytest.approx(out.rates.total)
    window.encode.side.group.button(1).click()
    qtbot.waitUntil(lambda: window.document.restored.blind, timeout=WAIT_MS)
    assert np.array_equal(window.document.restored.restored, default_codec.restore(out.jpeg, None).image)


def test_bad_files_show_an_error_and_keep_the_image(qtbot, window, errors, tmp_path):
    shown = window.document.source
    garbage = tmp_path / "broken.png"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(window.document.restored.jpeg[:40])
    for path in (garbage, truncated, tmp_path / "missing.webp"):
        count = len(errors)
        window.open_path(path)
        qtbot.waitUntil(lambda count=count: len(errors) > count, timeout=WAIT_MS)
        assert errors[-1][0] == "Cannot open file" and errors[-1][1]
    assert window.document.source is shown


def test_a_sidecar_that_does_not_belong_is_reported(qtbot, window, errors, monkeypatch, tmp_path):
    save_to(monkeypatch, window, tmp_path / "photo.jpg")
    assert window.exports.pair()
    (tmp_path / "photo.jpg.side").write_bytes(b"SJPS garbage")
    window.open_path(tmp_path / "photo.jpg")
    qtbot.waitUntil(lambda: bool(errors), timeout=WAIT_MS)
    assert errors[-1][0] == "Restoration failed"


def test_drop_opens_the_file_and_it_becomes_recent(qtbot, window, tmp_path, crop):
    other = tmp_path / "other.png"
    Image.fromarray(crop[:64, :64]).save(other)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(other))])
    event = QDropEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.document.source_changed, timeout=WAIT_MS):
        window.dropEvent(event)
    assert window.document.source.original.shape == (64, 64, 3)
    assert window.recent.paths()[0] == other.resolve()
    assert window.recent_menu.actions()[0].text() == str(other.resolve())


def test_exports_replace_whole_files_with_the_modes_the_cli_gives(tmp_path):
    """Exports go through the engine's one writer: whole files, no temporaries left, and the mode a plainly
    created file gets (the CLI's), not a temporary file's 0600."""
    jpeg = tmp_path / "a.jpg"
    first, second = (encode_jpeg(np.zeros((8, 8, 3), np.uint8), q) for q in (50, 60))
    export_pair(jpeg, first, b"side")
    export_pair(jpeg, second, b"side 2")
    assert jpeg.read_bytes() == second and (tmp_path / "a.jpg.side").read_bytes() == b"side 2"
    png = export_png(tmp_path / "b.png", np.zeros((4, 4, 3), np.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg", "a.jpg.side", "b.png"]
    umask = os.umask(0)
    os.umask(umask)
    assert {p.stat().st_mode & 0o777 for p in (jpeg, png)} == {0o666 & ~umask}


def test_a_plain_jpeg_opened_as_received_is_restored_blind(qtbot, window, tmp_path, default_codec, crop):
    path = tmp_path / "plain.jpg"
    path.write_bytes(encode_jpeg(crop, 25))
    open_and_wait(qtbot, window, path)
    assert not window.document.source.received
    with qtbot.waitSignal(window.document.source_changed, timeout=WAIT_MS):
        window.open_path(path, as_received=True)
    qtbot.waitUntil(lambda: window.document.restored is not None, timeout=WAIT_MS)
    assert window.document.source.received and window.document.restored.blind
    assert "blind" in window.panes[Role.RESTORED].overlay.text()
    assert np.array_equal(window.document.restored.restored, default_codec.restore(path.read_bytes()).image)


def test_exports_keep_the_originals_metadata_and_the_sidecar_still_belongs(
    qtbot, window, monkeypatch, tmp_path, crop, default_codec
):
    exif = Image.Exif()
    exif[0x010F] = "SideJPEG Test Camera"
    source = tmp_path / "camera.png"
    Image.fromarray(crop).save(source, exif=exif.tobytes())
    open_and_wait(qtbot, window, source)
    assert window.document.source.metadata.exif
    out = window.document.restored
    save_to(monkeypatch, window, tmp_path / "photo.jpg")
    assert window.exports.pair()
    jpeg, side = (tmp_path / "photo.jpg").read_bytes(), (tmp_path / "photo.jpg.side").read_bytes()
    assert read_metadata(jpeg).kinds == ("EXIF",) and b"SideJPEG Test Camera" in jpeg
    assert np.array_equal(default_codec.restore(jpeg, side).image, out.restored)
    save_to(monkeypatch, window, tmp_path / "single")
    assert window.exports.embedded()
    assert read_metadata((tmp_path / "single.jpg").read_bytes()).kinds == ("EXIF",)
    save_to(monkeypatch, window, tmp_path / "restored.png")
    assert window.exports.png()
    assert load_image(tmp_path / "restored.png").metadata.kinds == ("EXIF",)
