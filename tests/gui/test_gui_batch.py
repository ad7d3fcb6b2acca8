"""File > Batch: a folder compressed and restored with the command line's batch mode, progress, Cancel, summary."""

import threading
from pathlib import Path

import numpy as np
import pytest
from gui_helpers import WAIT_MS
from PIL import Image

from engine import decode_jpeg, insert_metadata, load_image, psnr
from gui.batch import BatchRequest, Mode, run_request
from gui.jobs import JobContext
from gui.state import Settings


@pytest.fixture
def folder(tmp_path: Path, crop: np.ndarray) -> Path:
    """Two images and a file that only looks like one."""
    images = tmp_path / "photos"
    images.mkdir()
    exif = Image.Exif()
    exif[0x010F] = "Batch Camera"
    Image.fromarray(crop).save(images / "a.png", exif=exif.tobytes())
    Image.fromarray(np.ascontiguousarray(crop[:64, :80])).save(images / "b.png")
    (images / "broken.png").write_bytes(b"not a PNG at all")
    return images


def run_batch_dialog(qtbot, window, folder: Path, mode: Mode, out_dir: Path | None = None) -> list[tuple[str, str]]:
    reports = []
    window.show_batch()
    dialog = window.batch_dialog
    dialog.report = lambda title, text: reports.append((title, text))
    (dialog.compress_choice if mode is Mode.COMPRESS else dialog.restore_choice).setChecked(True)
    dialog.folder.setText(str(folder))
    dialog.out_dir.setText(str(out_dir or ""))
    dialog.start.click()
    qtbot.waitUntil(lambda: bool(reports), timeout=WAIT_MS)
    assert not dialog.stage.busy and dialog.start.isEnabled()
    return reports


def test_compress_then_restore_a_folder_from_the_app(qtbot, window, folder, crop, default_codec):
    reports = run_batch_dialog(qtbot, window, folder, Mode.COMPRESS)
    title, text = reports[0]
    assert title == "Batch done"
    assert text.startswith("3 files: 2 done, 0 skipped (outputs exist), 1 failed")
    assert "broken.png: " in text and "mean PSNR" in text
    settings = window.document.settings
    res = default_codec.compress(crop, settings.quality, settings.lam, settings.subsampling)
    meta = load_image(folder / "a.png").metadata
    assert (folder / "a.jpg").read_bytes() == insert_metadata(res.jpeg, meta)  # what the CLI writes too
    assert meta.kinds == ("EXIF",)
    assert (folder / "a.jpg.side").read_bytes() == res.sidecar
    assert (folder / "b.jpg").is_file() and not (folder / "broken.jpg").exists()
    assert window.batch_dialog.progress.value() == window.batch_dialog.progress.maximum() == 3

    out = folder.parent / "restored"
    out.mkdir()
    title, text = run_batch_dialog(qtbot, window, folder, Mode.RESTORE, out)[0]
    assert title == "Batch done" and text.startswith("2 files: 2 done")
    restored = np.array(Image.open(out / "a.png"))
    assert np.array_equal(restored, default_codec.restore(res.jpeg, res.sidecar).image)
    assert load_image(out / "a.png").metadata.kinds == ("EXIF",)
    assert psnr(crop, restored) > psnr(crop, decode_jpeg(res.jpeg))

    title, text = run_batch_dialog(qtbot, window, folder, Mode.COMPRESS)[0]  # a rerun skips what is done
    assert text.startswith("3 files: 0 done, 2 skipped (outputs exist), 1 failed")


def test_cancel_stops_between_and_within_files_with_a_summary(default_codec, folder, codecs):
    ctx = JobContext(threading.Event(), lambda done, total: ctx.cancel.set(), lambda name: None)
    report = run_request(codecs, BatchRequest(Mode.COMPRESS, folder, None, Settings()), ctx)
    assert report.planned == 3 and report.cancelled == 2
    assert report.summary.count("done") == 1 and "2 not done (cancelled)" in report.text()
    assert len(list(folder.glob("*.jpg"))) == 1

    stop_at_once = JobContext(threading.Event(), lambda done, total: None, lambda name: stop_at_once.cancel.set())
    report = run_request(codecs, BatchRequest(Mode.COMPRESS, folder, None, Settings(), force=True), stop_at_once)
    assert report.summary.count("done") == 0 and report.cancelled == 3 and report.failures == []


def test_bad_folders_are_messages_not_tracebacks(qtbot, window, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    title, text = run_batch_dialog(qtbot, window, empty, Mode.RESTORE)[0]
    assert title == "Batch failed" and "no JPEG files" in text
    reports = []
    window.show_batch()
    window.batch_dialog.report = lambda title, text: reports.append((title, text))
    window.batch_dialog.folder.setText(str(tmp_path / "missing"))
    window.batch_dialog.start.click()
    assert reports and "is not one" in reports[0][1] and not window.batch_dialog.stage.busy
