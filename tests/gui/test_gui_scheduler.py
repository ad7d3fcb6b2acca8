"""What the scheduler recomputes when the file or a setting changes, with stand-in jobs (no model runs)."""

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from gui import scheduler as scheduling
from gui.document import Document
from gui.rd_sweep import RD_QUALITIES, Curve, RdPoint
from gui.scheduler import Scheduler
from gui.state import JpegOutcome, Rates, RestoreOutcome, Role, Settings, Source

WAIT_MS = 10_000
ZOOMED_IN = (10.0, 10.0, 20.0, 20.0)
"""A view of a small part of the 64x64 image."""


@dataclass
class Jobs:
    """Stand-ins for the engine's jobs that record what they were asked; restores wait while ``hold`` is clear."""

    boxes: list = field(default_factory=list)
    sweeps: list = field(default_factory=list)
    hold: threading.Event = field(default_factory=threading.Event)

    def encode(self, codec, original, settings, ctx) -> JpegOutcome:
        return JpegOutcome(settings.quality, settings.subsampling, b"jpeg", original.copy(), Rates(100, 0, 4096), 30.0)

    def restore(self, codec, original, box, settings, ctx) -> RestoreOutcome:
        self.boxes.append(box)
        self.hold.wait(WAIT_MS / 1000)
        return RestoreOutcome(b"jpeg", b"side", original, original.copy(), False, None, None, Rates(100, 10, 4096),
                              30.0, 31.0, settings.quality, settings.lam, settings)

    def sweep(self, codec, image, missing, keys, settings, ctx) -> None:
        self.sweeps.append(missing)
        for curve, qualities in missing.items():
            for quality in qualities:
                ctx.partial((curve, keys[curve], RdPoint(quality, 1.0, 30.0)))


class Codecs:
    def get(self, preset: str, device: str) -> object:
        return object()


@pytest.fixture
def jobs(monkeypatch) -> Jobs:
    jobs = Jobs()
    jobs.hold.set()
    monkeypatch.setattr(scheduling, "encode_preview", jobs.encode)
    monkeypatch.setattr(scheduling, "compress_and_restore", jobs.restore)
    monkeypatch.setattr(scheduling, "rd_sweep", jobs.sweep)
    return jobs


@pytest.fixture
def scheduler(qtbot, jobs) -> Scheduler:
    scheduler = Scheduler(Document(Settings()), Codecs(), ["fast"], lambda: ZOOMED_IN)
    yield scheduler
    scheduler.shutdown()


def open_original(qtbot, scheduler: Scheduler) -> None:
    rng = np.random.default_rng(0)
    scheduler.document.set_source(Source(Path("photo.png"), rng.integers(0, 256, (64, 64, 3), np.uint8)))
    qtbot.waitUntil(lambda: not scheduler.busy, timeout=WAIT_MS)


def settle(qtbot, scheduler: Scheduler, **changes: object) -> None:
    scheduler.document.update_settings(**changes)
    qtbot.waitUntil(lambda: not scheduler.busy, timeout=WAIT_MS)


def test_a_new_file_computes_everything_and_restores_it_whole(qtbot, scheduler, jobs):
    open_original(qtbot, scheduler)
    doc = scheduler.document
    assert doc.jpeg is not None and doc.restored is not None
    assert doc.ssim(Role.JPEG) is not None and doc.ssim(Role.RESTORED) is not None
    assert jobs.boxes == [None], "a new file is shown whole: no region first"
    assert all(len(scheduler.rd_curves.points(curve)) == len(RD_QUALITIES) for curve in Curve)


def test_a_setting_change_restores_the_region_in_view_first(qtbot, scheduler, jobs):
    open_original(qtbot, scheduler)
    settle(qtbot, scheduler, use_sidecar=False)
    assert jobs.boxes[-1] == (10, 10, 20, 20)


def test_lambda_reencodes_no_jpeg_and_sweeps_only_the_side_information_curve(qtbot, scheduler, jobs):
    open_original(qtbot, scheduler)
    encodes, restores = scheduler.jpeg_stage.started, scheduler.restore_stage.started
    settle(qtbot, scheduler, lam=128.0)
    assert scheduler.jpeg_stage.started == encodes
    assert scheduler.restore_stage.started == restores + 1
    assert list(jobs.sweeps[-1]) == [Curve.SIDE]
    settle(qtbot, scheduler, quality=50)
    assert scheduler.jpeg_stage.started == encodes + 1
    assert scheduler.document.jpeg.quality == 50


def test_a_setting_computed_before_is_shown_again_without_a_job(qtbot, scheduler, jobs):
    open_original(qtbot, scheduler)
    first = scheduler.document.restored
    settle(qtbot, scheduler, lam=128.0)
    restores, sweeps = scheduler.restore_stage.started, scheduler.rd_stage.started
    settle(qtbot, scheduler, lam=64.0)
    assert scheduler.document.restored is first
    assert (scheduler.restore_stage.started, scheduler.rd_stage.started) == (restores, sweeps)


def test_ssim_and_the_rd_sweep_wait_for_the_restored_view(qtbot, scheduler, jobs):
    open_original(qtbot, scheduler)
    ssims, sweeps = scheduler.ssim_stage.started, scheduler.rd_stage.started
    jobs.hold.clear()
    scheduler.document.update_settings(lam=128.0)
    assert scheduler.restore_stage.busy
    assert (scheduler.ssim_stage.started, scheduler.rd_stage.started) == (ssims, sweeps)
    jobs.hold.set()
    qtbot.waitUntil(lambda: not scheduler.busy, timeout=WAIT_MS)
    assert scheduler.ssim_stage.started > ssims and scheduler.rd_stage.started == sweeps + 1


def test_cancel_stops_the_restore_and_drops_what_waited_for_it(qtbot, scheduler, jobs):
    open_original(qtbot, scheduler)
    shown, ssims, sweeps = scheduler.document.restored, scheduler.ssim_stage.started, scheduler.rd_stage.started
    jobs.hold.clear()
    scheduler.document.update_settings(lam=128.0)
    scheduler.cancel()
    jobs.hold.set()
    qtbot.waitUntil(lambda: not scheduler.busy, timeout=WAIT_MS)
    assert scheduler.document.restored is shown
    assert (scheduler.ssim_stage.started, scheduler.rd_stage.started) == (ssims, sweeps)
