"""Stopping a run early and cleanly: at a wall-clock budget, or when asked by a signal.

SIGTERM is what ``timeout``, job schedulers and torchrun's agent send, SIGINT what Ctrl-C sends. Either makes
the loop finish its step, write a checkpoint and return, so that ``--resume`` continues from exactly there
instead of from the last periodic checkpoint. A second signal of the same kind acts as it would have without
this (Ctrl-C twice interrupts at once). A signal the process ignores stays ignored.
"""

from __future__ import annotations

import signal
import threading
import time
from types import FrameType

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopRequests:
    """A context manager that notes a stop request; ``requested()`` polls it once per step."""

    def __init__(self, minutes: float = 0.0) -> None:
        self.minutes = minutes
        self.signalled: int | None = None
        self._deadline = float("inf")
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopRequests:
        if self.minutes > 0:
            self._deadline = time.monotonic() + self.minutes * 60
        if threading.current_thread() is not threading.main_thread():  # Python handles signals there only
            return self
        for sig in SIGNALS:
            if signal.getsignal(sig) is not signal.SIG_IGN:  # a background job's SIGINT stays ignored
                self._previous[sig] = signal.signal(sig, self._note)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _note(self, signum: int, frame: FrameType | None) -> None:
        if self.signalled == signum:
            previous = self._previous[signum]
            if callable(previous):
                previous(signum, frame)
            else:
                signal.signal(signum, signal.SIG_DFL)
                signal.raise_signal(signum)
            return
        self.signalled = signum

    def requested(self) -> bool:
        return self.signalled is not None or time.monotonic() > self._deadline

    def reason(self) -> str:
        if self.signalled is not None:
            return signal.Signals(self.signalled).name
        return f"{self.minutes:g} minutes"
