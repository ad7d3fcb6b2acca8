"""The window's state without Qt: which results count as current, what is kept, what each view shows."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from gui.state import (
    DocumentState,
    JpegOutcome,
    Kept,
    Rates,
    RestoreOutcome,
    Role,
    Settings,
    Source,
    ViewState,
    fit_applies,
    view_image,
)

PIXELS = np.zeros((16, 16, 3), np.uint8)


@pytest.fixture(autouse=True)
def isolated_settings() -> None:
    """No QApplication here: the state is plain Python (this replaces the GUI tests' Qt fixture)."""


def original() -> Source:
    return Source(Path("photo.png"), PIXELS.copy())


def received() -> Source:
    return Source(Path("photo.jpg"), None, b"jpeg", b"side", PIXELS.copy())


def restored(settings: Settings) -> RestoreOutcome:
    rates = Rates(100, 10, 256)
    return RestoreOutcome(b"jpeg", b"side", PIXELS, PIXELS.copy(), False, None, None, rates, 30.0, 31.0, None, None,
                          settings)


def opened(source: Source) -> DocumentState:
    doc = DocumentState(Settings())
    doc.set_source(source)
    return doc


def test_an_original_restored_under_other_settings_is_not_current_but_a_received_jpeg_only_minds_the_decoder():
    doc = opened(original())
    doc.set_restored(restored(doc.settings))
    assert doc.restored_is_current()
    doc.update_settings(lam=128.0)
    assert not doc.restored_is_current()
    doc = opened(received())
    doc.set_restored(restored(doc.settings))
    doc.update_settings(quality=80, lam=128.0, subsampling="4:4:4")
    assert doc.restored_is_current(), "a received file is restored at its own quality and lambda"
    doc.update_settings(use_sidecar=False)
    assert not doc.restored_is_current()


def test_the_jpeg_is_current_for_its_quality_and_subsampling_only():
    doc = opened(original())
    doc.set_jpeg(JpegOutcome(30, "4:2:0", b"jpeg", PIXELS, Rates(100, 0, 256), 30.0))
    doc.update_settings(lam=10.0, use_sidecar=False)
    assert doc.jpeg_is_current()
    doc.update_settings(subsampling="4:4:4")
    assert not doc.jpeg_is_current()


def test_settings_report_the_previous_ones_only_when_something_changed():
    doc = opened(original())
    before = doc.settings
    assert doc.update_settings(quality=before.quality) is None
    assert doc.update_settings(quality=55) == before and doc.settings.quality == 55


def test_a_failure_belongs_to_the_setting_that_failed():
    doc = opened(original())
    doc.fail_restore("out of memory")
    doc.update_settings(quality=50)
    assert doc.restore_failure() is None
    doc.update_settings(quality=30)
    assert doc.restore_failure() == "out of memory"


def test_ssim_belongs_to_the_very_image_it_was_measured_on():
    doc = opened(original())
    first = restored(doc.settings)
    doc.set_restored(first)
    assert doc.set_ssim(Role.RESTORED, first.restored, 0.9)
    assert doc.ssim(Role.RESTORED) == 0.9
    doc.set_restored(restored(doc.settings))  # equal pixels, another result
    assert doc.ssim(Role.RESTORED) is None
    assert not doc.set_ssim(Role.RESTORED, first.restored, 0.8), "no longer the image shown"
    doc.set_restored(first)
    assert doc.ssim(Role.RESTORED) == 0.8


def test_a_new_file_starts_with_no_results():
    doc = opened(original())
    doc.set_restored(restored(doc.settings))
    doc.set_ssim(Role.RESTORED, doc.restored.restored, 0.9)
    doc.fail_restore("failed")
    settings = replace(doc.settings, preset="paper")
    doc.set_source(original(), settings)
    assert (doc.jpeg, doc.restored, doc.restore_failure(), doc.ssim(Role.ORIGINAL)) == (None, None, None, None)
    assert doc.settings is settings


def test_kept_drops_the_least_recently_stored():
    kept: Kept[str, int] = Kept(2)
    kept.put("a", 1)
    kept.put("b", 2)
    kept.put("a", 3)
    kept.put("c", 4)
    assert (kept.get("a"), kept.get("b"), kept.get("c")) == (3, None, 4)


def test_the_restored_view_shows_the_jpeg_when_flipped_else_a_preview_else_the_result():
    doc = opened(original())
    doc.set_jpeg(JpegOutcome(30, "4:2:0", b"jpeg", PIXELS.copy(), Rates(100, 0, 256), 30.0))
    doc.set_restored(restored(doc.settings))
    preview = PIXELS.copy()
    view = ViewState(preview=(preview, "Restored · preview", []))
    assert view_image(doc, view, Role.RESTORED) is preview
    view.flipped = True
    assert view_image(doc, view, Role.RESTORED) is doc.jpeg.decoded
    assert view_image(doc, ViewState(), Role.RESTORED) is doc.restored.restored
    assert view_image(doc, view, Role.JPEG) is doc.jpeg.decoded


def test_a_size_fit_applies_while_only_the_quality_differs():
    searched = Settings(quality=30)
    assert fit_applies(searched, replace(searched, quality=71))
    assert not fit_applies(searched, replace(searched, lam=8.0))
