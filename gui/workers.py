"""Background jobs (QRunnable on a QThreadPool) and the coalescing stage that keeps sliders live.

Each ``Stage`` runs at most one job at a time. A new request gets the next sequence number, cancels
the job in flight (its result would be stale) and waits as the single pending request; a newer request
replaces it. Results whose sequence number is not the newest are dropped, so after a burst of slider
moves only the last setting is computed and shown.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pyqtgraph.util.garbage_collector import GarbageCollector
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from engine import Cancelled, SideJPEGError
from gui.jobs import JobContext

log = logging.getLogger(__name__)

Work = Callable[[JobContext], object]

GC_INTERVAL_S = 1.0


@contextmanager
def garbage_collected_on_gui_thread(interval_s: float = GC_INTERVAL_S) -> Iterator[None]:
    """Python's cyclic garbage collection, while inside, only on the GUI thread, on a timer; on leaving, one
    collection there and automatic collection as it was found (on, unless an outer one holds it off).

    Whichever thread starts a collection (any allocation may) destroys the Qt objects found in garbage cycles.
    In a worker that deadlocks: destroying a widget holds a Qt lock while it waits for the GIL, which the GUI
    thread holds while it waits for that lock (seen in the tests: a closed window's menus collected inside a
    compress job while the GUI thread painted a plot).
    """
    was_enabled = gc.isenabled()
    collector = GarbageCollector(interval=interval_s)
    try:
        yield
    finally:
        collector.timer.stop()
        gc.collect()
        if was_enabled:
            gc.enable()


class JobSignals(QObject):
    """Signals a job emits from its worker thread; every one carries the job's sequence number."""

    finished = Signal(int, object)
    failed = Signal(int, str)
    cancelled = Signal(int)
    progress = Signal(int, int, int)
    partial = Signal(int, object)


class Job(QRunnable):
    """Runs one piece of work and reports its outcome through ``signals``."""

    def __init__(self, seq: int, work: Work, signals: JobSignals, cancel: threading.Event) -> None:
        super().__init__()
        self.seq, self.work, self.signals = seq, work, signals
        self.context = JobContext(
            cancel,
            lambda done, total: signals.progress.emit(seq, done, total),
            lambda data: signals.partial.emit(seq, data),
        )

    def run(self) -> None:
        try:
            result = self.work(self.context)
        except Cancelled:
            self.signals.cancelled.emit(self.seq)
        except SideJPEGError as exc:
            self.signals.failed.emit(self.seq, str(exc))
        except Exception as exc:  # a worker must report, never take the app down
            log.exception("job %d failed", self.seq)
            self.signals.failed.emit(self.seq, f"{type(exc).__name__}: {exc}")
        else:
            self.signals.finished.emit(self.seq, result)


class Stage(QObject):
    """One kind of background work with at most one job in flight and the newest request pending."""

    result = Signal(int, object)
    failed = Signal(int, str)
    progress = Signal(int, int)
    partial = Signal(object)
    busy_changed = Signal(bool)

    def __init__(self, pool: QThreadPool, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = pool
        self.latest = 0
        self.started = 0
        """How many jobs actually ran (tests check that bursts are coalesced)."""
        self._pending: tuple[int, Work] | None = None
        self._running: tuple[int, threading.Event] | None = None
        self._signals = JobSignals(self)
        self._signals.finished.connect(self._on_finished)
        self._signals.failed.connect(self._on_failed)
        self._signals.cancelled.connect(self._on_ended)
        self._signals.progress.connect(self._on_progress)
        self._signals.partial.connect(self._on_partial)

    @property
    def busy(self) -> bool:
        return self._running is not None or self._pending is not None

    def submit(self, work: Work) -> int:
        """Queue ``work`` as the newest request and return its sequence number."""
        self.latest += 1
        self._pending = (self.latest, work)
        if self._running is not None:
            self._running[1].set()
        else:
            self._start_pending()
        return self.latest

    def cancel(self) -> None:
        """Drop the pending request and stop the running job; nothing in flight will be shown."""
        self.latest += 1
        self._pending = None
        if self._running is not None:
            self._running[1].set()

    def _start_pending(self) -> None:
        seq, work = self._pending
        self._pending = None
        cancel = threading.Event()
        was_busy = self._running is not None
        self._running = (seq, cancel)
        self.started += 1
        self.pool.start(Job(seq, work, self._signals, cancel))
        if not was_busy:
            self.busy_changed.emit(True)

    def _on_finished(self, seq: int, result: object) -> None:
        if seq == self.latest:
            self.result.emit(seq, result)
        self._on_ended(seq)

    def _on_failed(self, seq: int, message: str) -> None:
        if seq == self.latest:
            self.failed.emit(seq, message)
        self._on_ended(seq)

    def _on_ended(self, seq: int) -> None:
        if self._running is None or self._running[0] != seq:
            return
        if self._pending is not None:
            self._start_pending()
        else:
            self._running = None
            self.busy_changed.emit(False)

    def _on_progress(self, seq: int, done: int, total: int) -> None:
        if seq == self.latest:
            self.progress.emit(done, total)

    def _on_partial(self, seq: int, data: object) -> None:
        """Only the newest request's partial results: a preview of a replaced or cancelled job is stale."""
        if seq == self.latest:
            self.partial.emit(data)
