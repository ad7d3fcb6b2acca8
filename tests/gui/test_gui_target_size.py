"""Target size: the highest quality whose file (JPEG + sidecar) is at most N KB, by bisection with the engine."""

import threading

import pytest
from gui_helpers import WAIT_MS, reopen_as_received, wait_idle

from engine import Cancelled, encode_jpeg
from gui.captions import file_size
from gui.jobs import JobContext
from gui.target_size import PROBES, fit_quality, fit_to_size


def test_bisection_finds_the_highest_quality_that_fits_in_few_probes():
    asked = []

    def size(quality: int) -> int:
        asked.append(quality)
        return 1000 + 37 * quality

    fit = fit_quality(size, 1000 + 37 * 64 + 20)
    assert (fit.quality, fit.total_bytes) == (64, 1000 + 37 * 64)
    assert len(asked) <= PROBES
    assert fit_quality(size, 10**9).quality == 100
    too_small = fit_quality(size, 500)
    assert too_small.quality is None and too_small.total_bytes == 1037


def test_the_answer_is_measured_even_where_size_is_not_monotonic():
    sizes = {q: 100 * q for q in range(1, 101)}
    sizes[50] = 10**6  # a bump the bisection steps on
    fit = fit_quality(sizes.__getitem__, 6000)
    assert fit.total_bytes <= 6000 and fit.total_bytes == sizes[fit.quality]


def test_the_search_counts_the_sidecar_and_blind_the_jpeg_alone(window, default_codec, crop):
    settings = window.document.settings
    ctx = JobContext(threading.Event(), lambda done, total: None, lambda data: None)
    res = default_codec.compress(crop, 40, settings.lam, settings.subsampling)
    limit = len(res.jpeg) + len(res.sidecar)
    fit = fit_to_size(default_codec, crop, limit, settings, ctx)
    assert fit.quality >= 40 and fit.total_bytes <= limit
    over = default_codec.compress(crop, fit.quality + 1, settings.lam, settings.subsampling)
    assert len(over.jpeg) + len(over.sidecar) > limit or fit.quality == 100
    blind = fit_to_size(default_codec, crop, limit, settings.__class__(use_sidecar=False), ctx)
    assert blind.quality > fit.quality and blind.total_bytes == len(encode_jpeg(crop, blind.quality))
    ctx.cancel.set()
    with pytest.raises(Cancelled):
        fit_to_size(default_codec, crop, limit, settings, ctx)


def test_fit_quality_in_the_window_sets_the_quality_and_says_so(qtbot, window, default_codec, crop):
    doc = window.document
    window.encode.target.kb.setValue(3)
    window.encode.target.button.click()
    qtbot.waitUntil(lambda: doc.settings.quality != 30, timeout=WAIT_MS)
    wait_idle(qtbot, window)
    quality = doc.settings.quality
    out = doc.restored
    assert out.quality == quality and out.rates.total_bytes <= 3000
    assert window.encode.quality.value() == quality
    assert window.encode.target_note.text() == (
        f"Quality {quality}: {file_size(out.rates.total_bytes)} (JPEG + sidecar), at most {file_size(3000)}"
    )
    if quality < 100:
        res = default_codec.compress(crop, quality + 1, doc.settings.lam, doc.settings.subsampling)
        assert len(res.jpeg) + len(res.sidecar) > 3000
    window.encode.quality.slider.setValue(quality - 5)
    assert window.encode.target_note.text() == ""  # no longer the fitted quality


def test_a_size_no_quality_reaches_is_a_dialog(qtbot, window, errors):
    window.fit_to_size(300)  # a JPEG's headers alone are larger
    qtbot.waitUntil(lambda: bool(errors), timeout=WAIT_MS)
    title, message = errors[0]
    assert title == "Target size too small" and "Even at quality 1" in message
    assert window.document.settings.quality == 30


def test_a_received_jpeg_has_no_target_size(qtbot, window, tmp_path):
    reopen_as_received(qtbot, window, tmp_path)
    assert not window.encode.target.isEnabled()
    window.fit_to_size(10_000)
    assert not window.scheduler.fit_stage.busy
