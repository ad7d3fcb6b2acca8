"""Slider-to-view latency of the app: ``python -m benchmarks.gui_latency`` (offscreen Qt, no display needed).

Opens the bundled 768x512 sample in the real main window, waits until everything is computed, then
moves the quality slider (and, separately, the lambda slider) to new values one at a time and
measures the wall time from the move to the updated JPEG view, to the first restored preview, to the
first view of the whole image restored and to the final view. With the sidecar on, the first preview
is the encoder's prediction of the whole restored image and the final view the decoder's; with the
blind decoder, zoomed in, the visible region comes first, then the whole restored image, then the
descriptor maps (the final view). The window starts with the app's defaults (the default preset on a CPU),
whatever an earlier run remembered.
Medians over the moves are printed and written as JSON.
Targets (issue #5, 2-core CPU): JPEG view at most 100 ms, restored view at most 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable, Iterable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication

from gui.app import SAMPLE_IMAGE
from gui.document import Role
from gui.jobs import RegionPreview
from gui.main_window import MainWindow

TIMEOUT_S = 600.0
QUALITIES = (22, 38, 27, 44, 31, 50, 25, 41)
ZOOMED_QUALITIES = (24, 36, 29, 47, 33, 52, 26, 43)
BLIND_QUALITIES = (23, 39, 28, 45, 32, 51, 21, 42)
"""Every value differs from the one before it (a move to the current value changes nothing)."""
LAMBDAS = (16.0, 128.0, 32.0, 256.0, 8.0, 64.0)
COLUMNS = {"jpeg": "JPEG view", "preview": "first preview", "whole": "whole restored", "restored": "final view"}
"""Marks of a move: "whole" is the first time the whole image is shown restored (a preview or the final
view), "restored" the final view with the descriptor maps (the app's ``restored_changed``)."""


def _pump_until(app: QApplication, done: Callable[[], bool], what: str = "the window") -> None:
    end = time.perf_counter() + TIMEOUT_S
    while not done():
        if time.perf_counter() > end:
            raise TimeoutError(f"{what} did not come within {TIMEOUT_S:.0f} s")
        app.processEvents()
        time.sleep(0.0005)


def _one_move(app: QApplication, window: MainWindow, move: Callable[[float], None], value: float) -> dict[str, float]:
    """Seconds from one move to the JPEG view, the first preview, the first view of the whole image restored
    (a preview or the final view) and the final restored view."""
    marks: dict[str, float] = {}
    width, height = window.document.source.size

    def on_preview(preview: RegionPreview) -> None:
        now = time.perf_counter()
        marks.setdefault("preview", now)
        if preview.box == (0, 0, height, width):
            marks.setdefault("whole", now)

    def on_restored() -> None:
        now = time.perf_counter()
        marks.setdefault("whole", now)
        marks.setdefault("restored", now)

    hooks = [
        (window.document.jpeg_changed, lambda: marks.setdefault("jpeg", time.perf_counter())),
        (window.scheduler.restore_stage.partial, on_preview),
        (window.document.restored_changed, on_restored),
    ]
    for signal, slot in hooks:
        signal.connect(slot)
    start = time.perf_counter()
    move(value)
    _pump_until(app, lambda: "restored" in marks)
    _pump_until(app, lambda: not window.busy, what=f"the background work after moving to {value}")
    for signal, slot in hooks:
        signal.disconnect(slot)
    return {key: stamp - start for key, stamp in marks.items()}


def _measure(
    app: QApplication, window: MainWindow, move: Callable[[float], None], values: Iterable[float]
) -> dict[str, list[float]]:
    """Move a control through ``values``; per kind of view the seconds of every move."""
    times: dict[str, list[float]] = {key: [] for key in COLUMNS}
    for value in values:
        moved = _one_move(app, window, move, value)
        print(f"  moved to {value:g}: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in moved.items()), flush=True)
        for key, seconds in moved.items():
            times[key].append(seconds)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the medians to this JSON file")
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    window = MainWindow(remember=False)  # the app's defaults, not what the last run left in QSettings
    window.resize(1600, 1000)
    window.show()
    window.open_path(SAMPLE_IMAGE)
    _pump_until(app, lambda: window.document.restored is not None and not window.busy)
    window.document.update_settings(use_sidecar=True)
    _pump_until(app, lambda: not window.busy)
    rows = {}
    rows["quality, fitted"] = _measure(app, window, window.encode.quality.slider.setValue, QUALITIES)
    rows["lambda, fitted"] = _measure(app, window, window.encode.lam.spin.setValue, LAMBDAS)
    window.panes[Role.RESTORED].zoom_to(4)
    app.processEvents()
    rows["quality, zoomed 4x"] = _measure(app, window, window.encode.quality.slider.setValue, ZOOMED_QUALITIES)
    window.document.update_settings(use_sidecar=False)
    _pump_until(app, lambda: not window.busy)
    rows["quality, zoomed, blind"] = _measure(app, window, window.encode.quality.slider.setValue, BLIND_QUALITIES)
    medians = {
        name: {key: round(statistics.median(v) * 1000, 1) for key, v in times.items() if v}
        for name, times in rows.items()
    }
    print(f"median milliseconds from the move to the view (768x512 sample, preset {window.document.settings.preset})")
    print(f"{'move':22s} " + " ".join(f"{title:>14s}" for title in COLUMNS.values()))
    for name, row in medians.items():
        cells = [f"{row[k]:14.1f}" if k in row else f"{'-':>14s}" for k in COLUMNS]
        print(f"{name:22s} {' '.join(cells)}")
    if args.out:
        args.out.write_text(json.dumps(medians, indent=2))
    window.close()


if __name__ == "__main__":
    main()
