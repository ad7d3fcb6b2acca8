"""The coalescing scheduler, the slider fields, the cancellable SSIM and garbage collection on the GUI thread."""

import gc
import math
import threading
import weakref

import pytest
from PySide6.QtCore import QThreadPool

from engine import LAMBDA_MAX, LAMBDA_MIN, Cancelled, decode_jpeg, encode_jpeg, ssim
from gui.controls import LOG_STEPS, SliderField
from gui.jobs import banded_ssim
from gui.workers import Stage, garbage_collected_on_gui_thread


@pytest.fixture
def pool(qapp):
    pool = QThreadPool()
    yield pool
    pool.waitForDone()


def test_burst_runs_first_and_last_only_and_shows_last(qtbot, pool):
    stage = Stage(pool)
    gate = threading.Event()
    ran, shown = [], []
    stage.result.connect(lambda seq, value: shown.append(value))

    def job(value):
        def work(ctx):
            ran.append(value)
            if value == 0:
                gate.wait(10)
                if ctx.cancel.is_set():
                    raise Cancelled()
            return value

        return work

    for value in range(6):
        stage.submit(job(value))
    gate.set()
    qtbot.waitUntil(lambda: not stage.busy, timeout=10_000)
    assert ran == [0, 5]
    assert shown == [5]
    assert stage.started == 2


def test_stale_result_is_dropped_even_when_not_cancellable(qtbot, pool):
    stage = Stage(pool)
    gate = threading.Event()
    shown = []
    stage.result.connect(lambda seq, value: shown.append(value))
    stage.submit(lambda ctx: gate.wait(10) and "old")
    stage.submit(lambda ctx: "new")
    gate.set()
    qtbot.waitUntil(lambda: not stage.busy, timeout=10_000)
    assert shown == ["new"]


def test_failure_is_reported_as_a_message(qtbot, pool):
    stage = Stage(pool)
    with qtbot.waitSignal(stage.failed, timeout=10_000) as failed:
        stage.submit(lambda ctx: 1 / 0)
    assert "ZeroDivisionError" in failed.args[1]
    qtbot.waitUntil(lambda: not stage.busy)


def test_cancel_drops_the_running_result(qtbot, pool):
    stage = Stage(pool)
    gate = threading.Event()
    shown = []
    stage.result.connect(lambda seq, value: shown.append(value))
    stage.submit(lambda ctx: gate.wait(10) and "late")
    stage.cancel()
    gate.set()
    qtbot.waitUntil(lambda: not stage.busy, timeout=10_000)
    assert shown == []


def test_only_the_newest_requests_partial_results_are_passed_on(qtbot, pool):
    """A preview from a job that a newer request replaced would show a setting that is no longer current."""
    stage = Stage(pool)
    gate = threading.Event()
    shown = []
    stage.partial.connect(shown.append)

    def old(ctx):
        gate.wait(10)
        ctx.partial("old preview")
        return "old"

    stage.submit(old)
    stage.submit(lambda ctx: ctx.partial("new preview") or "new")
    gate.set()
    qtbot.waitUntil(lambda: not stage.busy, timeout=10_000)
    assert shown == ["new preview"]


def test_log_slider_spans_lambda_range_and_agrees_with_its_spin_box(qtbot):
    field = SliderField(LAMBDA_MIN, LAMBDA_MAX, 64.0, "MSE/bpp", log=True, decimals=1)
    qtbot.addWidget(field)
    values = []
    field.value_changed.connect(values.append)
    field.slider.setValue(0)
    field.slider.setValue(LOG_STEPS)
    field.slider.setValue(LOG_STEPS // 2)
    assert values[:2] == [LAMBDA_MIN, LAMBDA_MAX]
    assert values[2] == pytest.approx(math.sqrt(LAMBDA_MIN * LAMBDA_MAX), rel=1e-3)
    field.spin.setValue(100.0)
    assert values[-1] == 100.0
    assert field.slider.value() == round(LOG_STEPS * math.log(100 / LAMBDA_MIN) / math.log(LAMBDA_MAX / LAMBDA_MIN))
    assert field.spin.suffix() == " MSE/bpp"


def test_banded_ssim_is_the_engines_ssim(crop):
    decoded = decode_jpeg(encode_jpeg(crop, 20))
    for band in (1, 4, 37):
        assert banded_ssim(crop, decoded, threading.Event(), band) == pytest.approx(ssim(crop, decoded), abs=1e-12)
    cancelled = threading.Event()
    cancelled.set()
    with pytest.raises(Cancelled):
        banded_ssim(crop, decoded, cancelled)


def test_preview_box_is_the_visible_part_when_it_is_small():
    from gui.jobs import preview_box

    assert preview_box((-10.0, -5.0, 810.0, 600.0), 800, 600) is None  # whole image in view
    assert preview_box((100.2, 50.7, 300.5, 200.1), 800, 600) == (50, 100, 201, 301)
    assert preview_box((700.0, 500.0, 900.0, 700.0), 800, 600) == (500, 700, 600, 800)  # clipped to the image
    assert preview_box((900.0, 0.0, 1000.0, 100.0), 800, 600) is None  # beside the image


class _Cycle:
    """An object that refers to itself: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def _churn() -> None:
    """Allocations enough to start several automatic collections, were they enabled."""
    for _ in range(50_000):
        garbage = []
        garbage.append(garbage)


def test_garbage_is_collected_on_the_gui_thread_not_in_a_worker(qtbot):
    assert not gc.isenabled()  # the module runs as the app does (tests/gui/conftest.py)
    cycle = weakref.ref(_Cycle())
    worker = threading.Thread(target=_churn)
    worker.start()
    worker.join()
    assert cycle() is not None
    qtbot.waitUntil(lambda: cycle() is None, timeout=5000)


@pytest.mark.parametrize("found_enabled", [True, False], ids=["alone", "nested"])
def test_leaving_collects_and_leaves_automatic_collection_as_found(qapp, found_enabled: bool):
    """Alone it turns automatic collection back on; nested in this module's own (tests/gui/conftest.py) it
    leaves it off, for the outer one's timer to go on collecting on the GUI thread."""
    if found_enabled:
        gc.enable()
    try:
        with garbage_collected_on_gui_thread():
            cycle = weakref.ref(_Cycle())
            assert not gc.isenabled()
        assert gc.isenabled() is found_enabled and cycle() is None
    finally:
        gc.disable()  # this module's own collection on the GUI thread
