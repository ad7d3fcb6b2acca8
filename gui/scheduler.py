"""The background work behind the window: which stages run when the file or a setting changes, what the caches
already hold, and which jobs a change makes stale.

The scheduler listens to the document and puts results back into it; the window listens to both (and to the
stages' progress, previews and failures) to display.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, QThreadPool, Signal

from engine import Codec
from gui.document import Document
from gui.jobs import (
    CodecCache,
    JobContext,
    compress_and_restore,
    encode_preview,
    load_source,
    measure_ssim,
    preview_box,
    restore_received,
    sidecar_preset,
)
from gui.rd_sweep import RD_QUALITIES, Curve, RdCurves, RdPoint, curve_keys, rd_sweep, sweep_image
from gui.state import Kept, RestoreOutcome, Role, Settings, Source
from gui.target_size import Fit, fit_to_size
from gui.workers import Stage

KEPT_OUTCOMES = 4
"""Restored results kept per image, so that toggling back to a setting shows it at once."""

ViewRect = tuple[float, float, float, float]
"""(left, top, right, bottom) of the region in view, in image pixels."""


class Scheduler(QObject):
    """Owns the worker stages and the caches of one document, and decides what to (re)compute."""

    preview_dropped = Signal()
    """A preview in the restored view belongs to a job that will not finish (a kept result is shown instead)."""
    curves_changed = Signal()
    """The RD curves to show were selected, cleared or got a point."""
    model_switched = Signal(str, str)
    """(from, to) preset: the opened file's sidecar was made with another installed model, which now restores it."""

    def __init__(
        self, document: Document, codecs: CodecCache, presets: list[str], visible: Callable[[], ViewRect],
        parent: QObject | None = None,
    ) -> None:
        """``visible``: the region in view, whose restoration is shown first when it is a small part."""
        super().__init__(parent)
        self.document, self.codecs, self.presets, self._visible = document, codecs, presets, visible
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(4)
        self.load_stage, self.jpeg_stage, self.restore_stage, self.ssim_stage, self.rd_stage, self.fit_stage = (
            Stage(self.pool, self) for _ in range(6)
        )
        self.rd_curves = RdCurves()
        self._outcomes: Kept[tuple, RestoreOutcome] = Kept(KEPT_OUTCOMES)
        self._rd_running: dict[Curve, tuple] | None = None
        """The curve keys of the sweep in flight."""
        self._deferred: set[Callable[[], None]] = set()
        """What waits until the restored view is in (so that it gets the CPU first)."""
        self._sources = itertools.count()
        self._source_token = 0
        self._connect()

    def _connect(self) -> None:
        doc = self.document
        doc.source_changed.connect(self._on_source_changed)
        doc.settings_changed.connect(self._on_settings_changed)
        doc.jpeg_changed.connect(self._schedule_ssim)
        doc.restored_changed.connect(self._schedule_ssim)
        self.load_stage.result.connect(lambda _seq, source: self._on_loaded(source))
        self.jpeg_stage.result.connect(lambda _seq, outcome: doc.set_jpeg(outcome))
        self.restore_stage.result.connect(lambda _seq, outcome: self._show_restored(outcome))
        self.restore_stage.failed.connect(lambda _seq, message: doc.fail_restore(message))
        self.restore_stage.busy_changed.connect(self._on_restore_busy)
        self.ssim_stage.partial.connect(lambda result: doc.set_ssim(*result))
        self.rd_stage.partial.connect(self._on_rd_point)
        self.rd_stage.busy_changed.connect(self._on_rd_busy)

    @property
    def busy(self) -> bool:
        """True while any background work is running or waiting."""
        return bool(self._deferred) or any(stage.busy for stage in self._stages())

    def _stages(self) -> tuple[Stage, ...]:
        return self.load_stage, self.jpeg_stage, self.restore_stage, self.ssim_stage, self.rd_stage, self.fit_stage

    # --- requests ------------------------------------------------------------------------------------------------

    def open(self, path: Path, as_received: bool = False) -> None:
        """Open a file in the background; the document shows it once it is read."""
        self.load_stage.submit(lambda ctx: load_source(path, as_received))

    def fit_to_size(self, limit: int) -> bool:
        """Search the highest quality whose file is at most ``limit`` bytes with the current settings; the
        ``fit_stage`` reports (searched settings, Fit). False when there is no original to compress."""
        source = self.document.source
        if source is None or source.received:
            return False
        original = source.original

        def search(codec: Codec, settings: Settings, ctx: JobContext) -> tuple[Settings, Fit]:
            return settings, fit_to_size(codec, original, limit, settings, ctx)

        self._submit(self.fit_stage, search)
        return True

    def cancel(self) -> None:
        """Stop the restore, the SSIM, the RD sweep and a target size search (the JPEG preview is quick: it stays)."""
        for stage in (self.load_stage, self.restore_stage, self.ssim_stage, self.rd_stage, self.fit_stage):
            stage.cancel()
        self._deferred.clear()

    def shutdown(self) -> None:
        """Cancel all background work and wait for it to stop."""
        for stage in self._stages():
            stage.cancel()
        self.pool.waitForDone()

    # --- what a change recomputes ------------------------------------------------------------------------------

    def _on_loaded(self, source: Source) -> None:
        """A received sidecar made with another installed model switches to that model, as the command line does."""
        settings = self.document.settings
        preset = sidecar_preset(source)
        switch = preset is not None and preset != settings.preset and preset in self.presets
        self.document.set_source(source, replace(settings, preset=preset) if switch else None)
        if switch:
            self.model_switched.emit(settings.preset, preset)

    def _on_source_changed(self) -> None:
        """Everything, for a new file; it is shown whole, so no region is restored first."""
        self._source_token = next(self._sources)
        self._outcomes.clear()
        self._schedule_jpeg()
        self._schedule_restore(visible_first=False)
        self._schedule_rd()

    def _on_settings_changed(self, old: Settings, new: Settings) -> None:
        """The JPEG only when its quality or subsampling moved; the restoration and the RD curves always."""
        if (old.quality, old.subsampling) != (new.quality, new.subsampling):
            self._schedule_jpeg()
        self._schedule_restore()
        self._schedule_rd()

    def _submit(self, stage: Stage, compute: Callable[..., object], *args: object) -> None:
        """Run ``compute(codec, *args, settings, ctx)`` on ``stage`` with a snapshot of the current settings."""
        settings, codecs = self.document.settings, self.codecs

        def work(ctx: JobContext) -> object:
            return compute(codecs.get(settings.preset, settings.device), *args, settings, ctx)

        stage.submit(work)

    def _schedule_jpeg(self) -> None:
        source = self.document.source
        if source is not None and not source.received:
            self._submit(self.jpeg_stage, encode_preview, source.original)

    def _schedule_restore(self, visible_first: bool = True) -> None:
        """Restore the current setting (the region in view first, when it is a small part of the image), or show it
        at once when it was computed for this file before."""
        doc, source = self.document, self.document.source
        if source is None:
            return
        kept = self._outcomes.get(doc.key_of(doc.settings))
        if kept is not None:
            self.restore_stage.cancel()
            self.preview_dropped.emit()
            if kept is not doc.restored:
                self._show_restored(kept)
            return
        box = preview_box(self._visible(), *source.size) if visible_first else None
        if source.received:
            self._submit(self.restore_stage, restore_received, source, box)
        else:
            self._submit(self.restore_stage, compress_and_restore, source.original, box)

    def _show_restored(self, outcome: RestoreOutcome) -> None:
        self._outcomes.put(self.document.key_of(outcome.settings), outcome)
        self.document.set_restored(outcome)

    def _after_restore(self, schedule: Callable[[], None]) -> bool:
        """True when ``schedule`` may run now; otherwise it runs once the restored view is in."""
        if self.restore_stage.busy:
            self._deferred.add(schedule)
            return False
        self._deferred.discard(schedule)
        return True

    def _on_restore_busy(self, busy: bool) -> None:
        if not busy:
            for schedule in list(self._deferred):
                schedule()

    def _schedule_ssim(self) -> None:
        """SSIM of the JPEG and restored views that lack it (slow on large images, so it follows them)."""
        doc = self.document
        if doc.source is None or doc.source.received or not self._after_restore(self._schedule_ssim):
            return
        images = [(role, doc.image(role)) for role in (Role.RESTORED, Role.JPEG)]
        missing = [(role, image) for role, image in images if image is not None and doc.ssim(role) is None]
        if missing:
            original = doc.source.original
            self.ssim_stage.submit(lambda ctx: measure_ssim(original, missing, ctx))

    def _schedule_rd(self) -> None:
        """Sweep the points the shown curves lack, after the restored view is in; curves that the change left valid
        (all but the side-information curve, when only lambda moved) are kept, and a sweep of curves no longer
        shown stops."""
        source, settings = self.document.source, self.document.settings
        if source is None or source.received:
            self.rd_stage.cancel()
            self.rd_curves.clear()
            self.curves_changed.emit()
            return
        keys = curve_keys(self._source_token, settings)
        self.rd_curves.select(keys)
        self.curves_changed.emit()
        missing = self.rd_curves.missing(RD_QUALITIES)
        if not missing:
            if self._rd_running is not None and self._rd_running != keys:
                self.rd_stage.cancel()
            return
        if (self._rd_running == keys and self.rd_stage.busy) or not self._after_restore(self._schedule_rd):
            return
        original = source.original
        self._rd_running = keys

        def work(codec: Codec, settings: Settings, ctx: JobContext) -> None:
            rd_sweep(codec, sweep_image(original), missing, keys, settings, ctx)

        self._submit(self.rd_stage, work)

    def _on_rd_point(self, reported: tuple[Curve, tuple, RdPoint]) -> None:
        if self.rd_curves.add(*reported):
            self.curves_changed.emit()

    def _on_rd_busy(self, busy: bool) -> None:
        if not busy:
            self._rd_running = None
