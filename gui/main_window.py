"""The main window: assembles views, controls, RD plot and status bar, and schedules the background stages."""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, Qt, QThreadPool, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QWidget,
)

from engine import (
    GPU_PRESET,
    PRESETS,
    SIDECAR_SUFFIX,
    ImageMetadata,
    SideJPEGError,
    available_devices,
    measured_side_vs_blind,
    sidecar_path,
)
from gui import files, preferences
from gui.about import AboutDialog
from gui.batch_dialog import BatchDialog
from gui.captions import caption, file_size, setting_label, time_left
from gui.controls import EncodeControls, SidePanel, SliderField, ViewControls
from gui.descriptor_map import MapLegend, bits_rgba, descriptor_rgba
from gui.difference_map import difference_rgba, mean_absolute_difference
from gui.document import BLOCK, Document, Role, Settings, Source
from gui.jobs import (
    CodecCache,
    JobContext,
    RegionPreview,
    compress_and_restore,
    encode_preview,
    load_source,
    measure_ssim,
    preview_box,
    restore_received,
    sidecar_preset,
)
from gui.rd_plot import RdPlot
from gui.rd_sweep import RD_QUALITIES, Curve, RdCurves, RdPoint, curve_keys, rd_sweep, sweep_image, sweep_size
from gui.shortcuts import NumberFieldKeys, ShortcutsDialog, shortcut_rows
from gui.target_size import Fit, fit_to_size
from gui.theme import MUTED
from gui.views import ImagePane, PaneGroup, SplitPane, caption_html, zoom_step
from gui.workers import Stage

ZOOM_KEYS = {"1": 1.0, "2": 2.0, "4": 4.0}
RD_SHARE = 0.32
"""Height of the RD plot as a share of the window's, the first time it is shown (then the user's)."""
"""Key -> screen pixels per image pixel."""
Preview = tuple[np.ndarray, str, list[str]]
"""A preview in the restored view: image, caption title and lines."""


def default_settings(presets: list[str], devices: list[str], remembered: str | None = None) -> Settings:
    """The remembered preset, else the fast one on a CPU and the better one where CUDA makes it interactive;
    sidecar on where it pays."""
    base = Settings()
    device = "cuda" if "cuda" in devices else "cpu"
    preferred = [GPU_PRESET] if device == "cuda" else []
    preset = next(p for p in [remembered, *preferred, base.preset, *presets] if p in presets)
    return dataclasses.replace(base, preset=preset, device=device, use_sidecar=side_pays(preset) is not False)


def side_pays(preset: str) -> bool | None:
    """Whether the preset's measured side information beats blind decoding (None: not measured)."""
    measured = measured_side_vs_blind(preset)
    return None if not measured else all(v < 0 for v in measured.values())


class MainWindow(QMainWindow):
    """SideJPEG's viewer and compressor."""

    def __init__(
        self, codecs: CodecCache | None = None, settings: QSettings | None = None, remember: bool = True,
    ) -> None:
        """``remember``: start with the settings, layout and geometry of the last run, and save them on close."""
        super().__init__()
        self.codecs = codecs or CodecCache()
        self.presets = self.codecs.available_presets()
        if not self.presets:
            raise SideJPEGError("no model weights installed (resources/models/*.safetensors)")
        devices = available_devices()
        self.store, self.remember = settings or QSettings(), remember
        kept = preferences.remembered_settings(self.store, self.presets) if remember else {}
        self.document = Document(
            dataclasses.replace(default_settings(self.presets, devices, kept.pop("preset", None)), **kept)
        )
        self.recent = files.RecentFiles(self.store)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(4)
        self.load_stage, self.jpeg_stage, self.restore_stage, self.ssim_stage, self.rd_stage, self.fit_stage = (
            Stage(self.pool, self) for _ in range(6)
        )
        self._fitted: Settings | None = None
        """The settings whose quality the target size search chose, while they are the current ones."""
        self.rd_curves = RdCurves()
        self._rd_running: dict[Curve, tuple] | None = None
        """The curve keys of the sweep in flight."""
        self._deferred: set[Callable[[], None]] = set()
        self._sources = itertools.count()
        self._source_token = 0
        self._requested: Path | None = None
        """The file asked for last (next / previous image step from it, even before it is open)."""
        self._preview: Preview | None = None
        self.details = True
        self.flipped = False
        self.grid_shown = False
        self._docks_sized = False
        """Whether the docks got their sizes (from the last run, or at the first show)."""
        self.map_mode = "none"

        self.panes = {role: ImagePane() for role in Role}
        self.group = PaneGroup(list(self.panes.values()))
        self.split = SplitPane()
        self.encode = EncodeControls(self.document.settings, {p: p in self.presets for p in PRESETS}, devices)
        self.view_controls = ViewControls()
        self.legend = MapLegend()
        self.rd_plot = RdPlot()
        self._build_layout()
        self._build_status_bar()
        self._build_menus()
        self._connect()
        self._route_keys()
        self.setAcceptDrops(True)
        self.setWindowTitle("SideJPEG")
        self.resize(1600, 1000)
        if remember:
            self._restore_window()

    # --- assembly -------------------------------------------------------------------------------------------

    def _build_layout(self) -> None:
        side_by_side = QWidget()
        row = QHBoxLayout(side_by_side)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(3)
        for pane in self.panes.values():
            row.addWidget(pane)
        self.stack = QStackedWidget()
        self.stack.addWidget(side_by_side)
        self.stack.addWidget(self.split)
        self.setCentralWidget(self.stack)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        # Always there, so that the panel's width never changes with its height: word-wrapped notes are then
        # given the height they need at the width they get.
        scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        scroll.setWidget(SidePanel(self.encode, self.view_controls, self.legend))
        scroll.setMinimumWidth(340)
        self.controls_dock = self._dock("Controls", scroll, Qt.DockWidgetArea.RightDockWidgetArea)
        self.rd_dock = self._dock("Rate–distortion", self.rd_plot, Qt.DockWidgetArea.BottomDockWidgetArea)

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        features = QDockWidget.DockWidgetFeature
        dock.setFeatures(features.DockWidgetMovable | features.DockWidgetClosable)
        self.addDockWidget(area, dock)
        return dock

    def _build_status_bar(self) -> None:
        self.progress = QProgressBar()
        self.progress.setFixedWidth(240)
        self.progress.setTextVisible(True)
        self._progress_started: float | None = None
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        hint = QLabel("Drop an image to open it  ·  F fit  ·  + / − zoom  ·  ← / → folder  ·  B flip  ·  F1 shortcuts")
        hint.setStyleSheet(f"color: {MUTED};")
        self.zoom_label = QLabel()
        self.zoom_label.setToolTip("Zoom of the views: + / − step, 1 / 2 / 4 set, F fits")
        self.statusBar().addWidget(hint)
        self.statusBar().addPermanentWidget(self.zoom_label)
        self.statusBar().addPermanentWidget(self.progress)
        self.statusBar().addPermanentWidget(self.cancel_button)

    def _action(
        self, menu: QMenu, text: str, slot: Callable[[], object], *shortcuts: str | QKeySequence.StandardKey,
    ) -> QAction:
        """A menu entry; its shortcuts work wherever focus is in the application (outside modal dialogs)."""
        action = QAction(text, self)
        action.setShortcuts([QKeySequence(keys) for keys in shortcuts])
        action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        self.addAction(action)
        return action

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "&Open image…", self.open_dialog, QKeySequence.StandardKey.Open)
        self._action(file_menu, "Open &received JPEG…", lambda: self.open_dialog(as_received=True), "Ctrl+Shift+O")
        self.recent_menu = file_menu.addMenu("Open &recent")
        self._rebuild_recent_menu()
        self._action(file_menu, "&Next image in folder", lambda: self.open_neighbour(1), "Right", "PgDown")
        self._action(file_menu, "Pre&vious image in folder", lambda: self.open_neighbour(-1), "Left", "PgUp")
        file_menu.addSeparator()
        self.export_actions = [
            self._action(file_menu, "Export JPEG + &sidecar…", self.export_pair, QKeySequence.StandardKey.Save),
            self._action(file_menu, "Export JPEG with &embedded side info…", self.export_embedded, "Ctrl+Shift+S"),
            self._action(file_menu, "Export restored &PNG…", self.export_png, "Ctrl+E"),
        ]
        file_menu.addSeparator()
        self._action(file_menu, "&Batch: compress or restore a folder…", self.show_batch, "Ctrl+B")
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        edit_menu = self.menuBar().addMenu("&Edit")
        self._action(edit_menu, "&Copy view", self.copy_view, QKeySequence.StandardKey.Copy)
        view_menu = self.menuBar().addMenu("&View")
        self._action(view_menu, "&Fit", self.fit, "F")
        for key, factor in ZOOM_KEYS.items():
            self._action(view_menu, f"Zoom {100 * factor:.0f} %", lambda f=factor: self.zoom_to(f), key)
        self._action(view_menu, "Zoom &in", lambda: self.zoom_by(1), "+", "=", "Ctrl+=", "Ctrl++")
        self._action(view_menu, "Zoom o&ut", lambda: self.zoom_by(-1), "-", "Ctrl+-")
        self.grid_action = self._action(view_menu, "8×8 &grid", lambda: self.set_grid(not self.grid_shown), "G")
        self.grid_action.setCheckable(True)
        self._action(view_menu, "Toggle &overlays", self.view_controls.overlays.toggle, "O")
        self._action(
            view_menu, "Cycle &map (none / descriptors / bits / difference)", self.view_controls.cycle_map_mode, "D"
        )
        self.flip_action = self._action(
            view_menu, "Flip: show the JPEG in the restored view", lambda: self.set_flipped(not self.flipped), "B",
        )
        self.flip_action.setCheckable(True)
        view_menu.addSeparator()
        view_menu.addAction(self.controls_dock.toggleViewAction())
        view_menu.addAction(self.rd_dock.toggleViewAction())
        help_menu = self.menuBar().addMenu("&Help")
        self._action(help_menu, "&Shortcuts…", self.show_shortcuts, QKeySequence.StandardKey.HelpContents)
        self._action(help_menu, "&About SideJPEG…", self.show_about)
        self.shortcuts_dialog = ShortcutsDialog(shortcut_rows(self.actions()), self)
        self._set_exports_enabled(False)

    def _route_keys(self) -> None:
        """Letters reach the shortcuts from a number field, and Enter there hands the keys back to the views
        (so that 1 / 2 / 4 zoom again instead of typing into the field)."""
        self.number_keys = NumberFieldKeys(self)
        for spin in self.findChildren(QAbstractSpinBox):
            spin.installEventFilter(self.number_keys)
        for field in self.findChildren(SliderField):
            field.committed.connect(self._focus_views)

    def _focus_views(self) -> None:
        self._active_pane().setFocus(Qt.FocusReason.OtherFocusReason)

    def _connect(self) -> None:
        doc = self.document
        doc.source_changed.connect(self._on_source_changed)
        doc.settings_changed.connect(self._on_settings_changed)
        doc.jpeg_changed.connect(self._on_jpeg_changed)
        doc.restored_changed.connect(self._on_restored_changed)
        doc.ssim_changed.connect(self._on_ssim_changed)
        self.encode.changed.connect(lambda changes: doc.update_settings(**changes))
        self.view_controls.layout_changed.connect(self._set_split_layout)
        self.view_controls.split_changed.connect(lambda *_: (self._refresh_split(), self._refresh_maps()))
        self.view_controls.overlays_toggled.connect(self._set_details)
        self.view_controls.map_mode_changed.connect(self._set_map_mode)
        self.view_controls.opacity_changed.connect(self._set_map_opacity)
        self.load_stage.result.connect(lambda _seq, source: self._on_loaded(source))
        self.jpeg_stage.result.connect(lambda _seq, outcome: doc.set_jpeg(outcome))
        self.restore_stage.result.connect(lambda _seq, outcome: doc.set_restored(outcome))
        self.restore_stage.failed.connect(lambda _seq, message: self._on_restore_failed(message))
        for stage, title in ((self.load_stage, "Cannot open file"), (self.jpeg_stage, "JPEG encoding failed"),
                             (self.ssim_stage, "SSIM failed"), (self.rd_stage, "RD sweep failed")):
            stage.failed.connect(lambda _seq, message, title=title: self.show_error(title, message))
        self.restore_stage.progress.connect(self._on_progress)
        self.restore_stage.partial.connect(self._on_restore_preview)
        self.restore_stage.busy_changed.connect(self._on_restore_busy)
        self.ssim_stage.partial.connect(lambda result: doc.set_ssim(*result))
        self.rd_stage.partial.connect(self._on_rd_point)
        self.rd_stage.progress.connect(lambda done, total: self.rd_plot.set_status(f"sweep {done}/{total}…"))
        self.rd_stage.busy_changed.connect(self._on_rd_busy)
        self.encode.target.requested.connect(self.fit_to_size)
        self.fit_stage.result.connect(lambda _seq, found: self._on_fit(*found))
        self.fit_stage.failed.connect(lambda _seq, message: self.show_error("Target size search failed", message))
        self.fit_stage.progress.connect(self._on_progress)
        self.fit_stage.busy_changed.connect(self._on_fit_busy)
        self.cancel_button.clicked.connect(self.cancel)
        for pane in [*self.panes.values(), self.split]:
            pane.hovered.connect(self._show_hover)
            pane.zoom_changed.connect(self._show_zoom)

    # --- dialogs (tests monkeypatch these) ---------------------------------------------------------------------

    def show_error(self, title: str, message: str) -> None:
        self.statusBar().showMessage(f"{title}: {message}", 10000)
        QMessageBox.critical(self, title, message)

    def confirm(self, title: str, message: str) -> bool:
        answer = QMessageBox.question(self, title, message)
        return answer == QMessageBox.StandardButton.Yes

    def ask_open_path(self, title: str) -> Path | None:
        name, _ = QFileDialog.getOpenFileName(self, title, "", files.OPEN_FILTER)
        return Path(name) if name else None

    def ask_save_path(self, title: str, suggested: Path, name_filter: str) -> Path | None:
        name, _ = QFileDialog.getSaveFileName(self, title, str(suggested), name_filter)
        return Path(name) if name else None

    # --- files -------------------------------------------------------------------------------------------------

    def open_path(self, path: str | Path, as_received: bool = False) -> None:
        """Open an image (or a received JPEG) in the background; errors come back as a dialog."""
        path = Path(path)
        self._requested = path
        self.statusBar().showMessage(f"Opening {path.name}…")
        self.load_stage.submit(lambda ctx: load_source(path, as_received))

    def open_neighbour(self, step: int) -> None:
        """Open the next (``step`` 1) or previous (-1) image in the folder, with the same settings."""
        target = files.neighbour(self._requested, step) if self._requested else None
        if target is None:
            self.statusBar().showMessage(f"No {'next' if step > 0 else 'previous'} image in this folder", 5000)
        else:
            self.open_path(target)

    def _on_loaded(self, source: Source) -> None:
        """Show an opened file. A received sidecar made with another installed model switches to that model,
        as the command line does, and the status bar says so."""
        settings = self.document.settings
        preset = sidecar_preset(source)
        switch = preset is not None and preset != settings.preset and preset in self.presets
        self.document.set_source(source, dataclasses.replace(settings, preset=preset) if switch else None)
        if switch:
            self.statusBar().showMessage(
                f"Opened {source.path.name}: its sidecar was made with the {preset} model, so the model switched "
                f"from {settings.preset} to {preset}", 15000,
            )

    def open_dialog(self, as_received: bool = False) -> None:
        path = self.ask_open_path("Open received JPEG" if as_received else "Open image")
        if path is not None:
            self.open_path(path, as_received)

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self.recent.paths():
            action = self.recent_menu.addAction(str(path))
            action.triggered.connect(lambda _checked=False, p=path: self.open_path(p))
        self.recent_menu.setEnabled(not self.recent_menu.isEmpty())

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        local = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if local:
            event.acceptProposedAction()
            self.open_path(local[0])

    def _export_title(self, what: str) -> str:
        """Export dialogs name the setting they write: the one the restored view shows, which may be a previous
        one while the current one is computed or after Cancel."""
        doc = self.document
        title = f"{what} · {setting_label(doc.restored.settings, doc.source)}"
        return title if doc.restored_is_current() else f"{title} (shown; the current setting is not computed)"

    def _suggested(self, suffix: str) -> Path:
        source, out = self.document.source, self.document.restored
        folder = source.path.parent if source and source.path else Path.cwd()
        stem = source.path.stem if source and source.path else "image"
        tag = f"_q{out.quality}" if out and out.quality and not source.received else "_restored"
        return folder / f"{stem}{tag}{suffix}"

    def _save_target(self, title: str, suffixes: tuple[str, ...], name_filter: str) -> Path | None:
        """Ask where to save; the dialog confirms overwriting its own choice, we confirm any other name."""
        chosen = self.ask_save_path(self._export_title(title), self._suggested(suffixes[0]), name_filter)
        if chosen is None:
            return None
        path = files.with_suffix(chosen, suffixes)
        return path if path == chosen or self._may_overwrite(path) else None

    def _may_overwrite(self, path: Path) -> bool:
        return not path.exists() or self.confirm("Replace file?", f"{path.name} already exists. Replace it?")

    def _write(self, what: str, write: Callable[[], object]) -> bool:
        try:
            write()
        except (OSError, SideJPEGError) as exc:
            self.show_error("Export failed", f"{what}: {exc}")
            return False
        self.statusBar().showMessage(f"Exported {what}", 8000)
        return True

    def export_pair(self) -> bool:
        """``photo.jpg`` plus ``photo.jpg.side``."""
        out = self.document.restored
        path = self._save_target("Export JPEG + sidecar", (".jpg", ".jpeg"), files.JPEG_FILTER)
        if path is None or not self._may_overwrite(sidecar_path(path)):
            return False
        meta = self._added_metadata()
        return self._write(f"{path.name} + {path.name}{SIDECAR_SUFFIX}",
                           lambda: files.export_pair(path, out.jpeg, out.sidecar, meta))

    def export_embedded(self) -> bool:
        """One JPEG that carries its side information."""
        out = self.document.restored
        path = self._save_target("Export JPEG with embedded side info", (".jpg", ".jpeg"), files.JPEG_FILTER)
        meta = self._added_metadata()
        return path is not None and self._write(
            path.name, lambda: files.export_embedded(path, out.jpeg, out.sidecar, meta)
        )

    def _added_metadata(self) -> ImageMetadata:
        """What a JPEG export adds: the original's EXIF, XMP and profile (a received JPEG carries its own)."""
        source = self.document.source
        return files.NO_METADATA if source.received else source.metadata

    def export_png(self) -> bool:
        out = self.document.restored
        path = self._save_target("Export restored PNG", (".png",), files.PNG_FILTER)
        meta = self.document.source.metadata
        return path is not None and self._write(path.name, lambda: files.export_png(path, out.restored, meta))

    def _set_exports_enabled(self, enabled: bool) -> None:
        has_side = enabled and self.document.restored.sidecar is not None
        for action, usable in zip(self.export_actions, (has_side, has_side, enabled), strict=True):
            action.setEnabled(usable)

    # --- scheduling ----------------------------------------------------------------------------------------------

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

    def _schedule_restore(self) -> None:
        """Restore the current setting, or show it at once when it was computed for this file before."""
        source, doc = self.document.source, self.document
        if source is None:
            return
        cached = doc.cached_restore()
        if cached is not None:
            self.restore_stage.cancel()
            self._drop_preview()
            if cached is not doc.restored:
                doc.set_restored(cached)
            return
        rect = self._active_pane().vb.viewRect()
        box = preview_box((rect.left(), rect.top(), rect.right(), rect.bottom()), *source.size)
        if source.received:
            self._submit(self.restore_stage, restore_received, source, box)
        else:
            self._submit(self.restore_stage, compress_and_restore, source.original, box)

    def _after_restore(self, schedule: Callable[[], None]) -> bool:
        """True when ``schedule`` may run now; otherwise it runs once the restored view is in."""
        if self.restore_stage.busy:
            self._deferred.add(schedule)
            return False
        self._deferred.discard(schedule)
        return True

    def _schedule_ssim(self) -> None:
        """SSIM of the JPEG and restored views (slow on large images, so it follows them)."""
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
        (all but the side-information curve, when only lambda moved) are kept."""
        source, settings = self.document.source, self.document.settings
        if source is None or source.received:
            self.rd_stage.cancel()
            self.rd_curves.clear()
            self._redraw_rd()
            self.rd_plot.set_title("RD plot needs an original image")
            return
        keys = curve_keys(self._source_token, settings)
        self.rd_curves.select(keys)
        width, height = sweep_size(*source.size)
        sweep = "whole image" if (width, height) == source.size else f"copy scaled to {width}×{height}"
        self.rd_plot.set_title(
            f"PSNR vs bpp · {sweep} · λ {settings.lam:.1f} · {settings.subsampling} · {settings.preset}"
        )
        self._redraw_rd()
        missing = self.rd_curves.missing(RD_QUALITIES)
        if not missing:
            if self._rd_running is not None and self._rd_running != keys:
                self.rd_stage.cancel()
            return
        if (self._rd_running == keys and self.rd_stage.busy) or not self._after_restore(self._schedule_rd):
            return
        original = source.original
        self._rd_running = keys

        def work(codec, settings: Settings, ctx: JobContext) -> None:
            rd_sweep(codec, sweep_image(original), missing, keys, settings, ctx)

        self._submit(self.rd_stage, work)

    def _on_rd_point(self, reported: tuple[Curve, tuple, RdPoint]) -> None:
        if self.rd_curves.add(*reported):
            self._redraw_rd()

    def _current_rd_points(self) -> dict[Curve, RdPoint]:
        """The points the views show, with the overlays' own numbers (whole image, never a scaled copy)."""
        doc, current = self.document, {}
        if doc.source is None or doc.source.received:
            return current
        if doc.jpeg_is_current() and doc.jpeg.psnr is not None:
            current[Curve.JPEG] = RdPoint(doc.jpeg.quality, doc.jpeg.rates.jpeg, doc.jpeg.psnr)
        out = doc.restored
        if doc.restored_is_current() and out.psnr is not None:
            curve = Curve.BLIND if out.blind else Curve.SIDE
            current[curve] = RdPoint(out.settings.quality, out.rates.total, out.psnr)
        return current

    def _redraw_rd(self) -> None:
        curves = {curve: self.rd_curves.points(curve) for curve in Curve}
        self.rd_plot.show_points(curves, self._current_rd_points())

    def _on_rd_busy(self, busy: bool) -> None:
        if not busy:
            self._rd_running = None
            n = len(self.rd_curves.points(Curve.JPEG))
            self.rd_plot.set_status(f"{n} qualities · ◯ the views' setting, with their numbers" if n else "")

    def fit_to_size(self, limit: int) -> None:
        """Choose the highest quality whose file (JPEG + sidecar, or the JPEG alone when blind) is at most ``limit``
        bytes, searching in the background with the current settings."""
        source = self.document.source
        if source is None or source.received:
            return
        original = source.original
        self.encode.show_target_note(f"Searching the quality for at most {file_size(limit)}…")

        def search(codec, settings: Settings, ctx: JobContext) -> tuple[Settings, Fit]:
            return settings, fit_to_size(codec, original, limit, settings, ctx)

        self._submit(self.fit_stage, search)

    def _on_fit(self, searched: Settings, fit: Fit) -> None:
        doc = self.document
        if dataclasses.replace(searched, quality=doc.settings.quality) != doc.settings:
            self.encode.show_target_note("The settings changed during the search: fit again.")
            return
        if fit.quality is None:
            self.encode.show_target_note("")
            self.show_error("Target size too small", (
                f"Even at quality 1 this image's file is {file_size(fit.total_bytes)}, more than "
                f"{file_size(fit.limit)}. Allow a larger size, or choose Blind to leave the sidecar out."))
            return
        self._fitted = dataclasses.replace(searched, quality=fit.quality)
        doc.update_settings(quality=fit.quality)
        self.encode.show_settings(doc.settings, doc.source)
        what = "JPEG + sidecar" if searched.use_sidecar else "JPEG alone, blind"
        self.encode.show_target_note(
            f"Quality {fit.quality}: {file_size(fit.total_bytes)} ({what}), at most {file_size(fit.limit)}"
        )

    def _on_fit_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy or self.restore_stage.busy)
        self.cancel_button.setEnabled(busy or self.restore_stage.busy)
        self.encode.target.button.setEnabled(not busy)

    def cancel(self) -> None:
        """Stop the restore, the RD sweep and a target size search; the restored view keeps its last result,
        captioned as such."""
        if self.fit_stage.busy:
            self.encode.show_target_note("Target size search cancelled.")
        for stage in (self.load_stage, self.restore_stage, self.ssim_stage, self.rd_stage, self.fit_stage):
            stage.cancel()
        self._deferred.clear()
        self._drop_preview()
        self.statusBar().showMessage("Cancelled", 5000)

    def _on_restore_failed(self, message: str) -> None:
        """The restored view says so; a received sidecar that cannot be used may be left out for a blind restore.
        The dialog waits until the stage has ended, so that the caption behind it no longer says restoring."""
        self.document.fail_restore(message)
        self.statusBar().showMessage(f"Restoration failed: {message}", 10000)
        source = self.document.source
        QTimer.singleShot(0, self, lambda: self._report_restore_failure(source, message))

    def _report_restore_failure(self, source: Source, message: str) -> None:
        settings = self.document.settings
        if source is not self.document.source:
            return
        if not (source.received and source.received_sidecar is not None and settings.use_sidecar):
            self.show_error("Restoration failed", message)
        elif self.confirm("Restoration failed", f"{message}.\n\nRestore the JPEG blind, without its side information?"):
            self.document.update_settings(use_sidecar=False)
            self.encode.show_settings(self.document.settings, source)

    def _on_progress(self, done: int, total: int) -> None:
        """Progress of the running job, with the time left estimated from its pace so far (a job that starts
        over, as after a slider move, restarts the clock)."""
        now = time.monotonic()
        if done < self.progress.value() or self.progress.maximum() != total or self._progress_started is None:
            self._progress_started = now
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress.setFormat(time_left(now - self._progress_started, done, total))

    def _on_restore_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy or self.fit_stage.busy)
        self.progress.setValue(0)
        self._progress_started = None
        self.cancel_button.setEnabled(busy or self.fit_stage.busy)
        self._refresh_captions()
        if not busy:
            for schedule in list(self._deferred):
                schedule()

    # --- document -> views ---------------------------------------------------------------------------------------

    def _on_source_changed(self) -> None:
        source = self.document.source
        self._source_token = next(self._sources)
        self._preview = None
        self._fitted = None
        self.encode.show_target_note("")
        self.encode.show_settings(self.document.settings, source)
        if source.path is not None:
            self.recent.add(source.path)
            self._rebuild_recent_menu()
            self.setWindowTitle(f"SideJPEG — {source.path.name}")
        notes = f" ({'; '.join(source.notes)})" if source.notes else ""
        self.statusBar().showMessage(f"Opened {source.path.name if source.path else 'image'}{notes}", 8000)
        for role in Role:
            self._show(role)
        self._refresh_split()
        self._refresh_maps()
        self._set_exports_enabled(False)
        self.fit()
        self._schedule_jpeg()
        self._schedule_restore()
        self._schedule_rd()

    def _on_settings_changed(self, old: Settings, new: Settings) -> None:
        if self._fitted is not None and new != self._fitted:
            self._fitted = None
            self.encode.show_target_note("")
        if (old.quality, old.subsampling) != (new.quality, new.subsampling):
            self._schedule_jpeg()
        self._schedule_restore()
        self._schedule_rd()
        self._refresh_captions()

    def _on_jpeg_changed(self) -> None:
        self._show(Role.JPEG)
        self._redraw_rd()
        if self.flipped:
            self._show(Role.RESTORED)
        self._refresh_split()
        self._refresh_differences()
        self._schedule_ssim()

    def _on_restored_changed(self) -> None:
        self._preview = None
        self._show(Role.RESTORED)
        if self.document.source.received:
            self._show(Role.JPEG)
        self._refresh_split()
        self._refresh_maps()
        self._set_exports_enabled(True)
        self._redraw_rd()
        self._schedule_ssim()

    def _on_restore_preview(self, preview: RegionPreview) -> None:
        """Show a preview of the restored image (of the current setting) while the decoder's pass still runs."""
        label = setting_label(self.document.settings, self.document.source)
        self._preview = (preview.composed(), f"Restored · preview · {label}", [preview.note])
        self._show_restored()

    def _drop_preview(self) -> None:
        """Show the restored result again instead of a preview whose job will not finish."""
        if self._preview is not None:
            self._preview = None
            self._show_restored()

    def _show_restored(self) -> None:
        self._show(Role.RESTORED)
        if Role.RESTORED in self.view_controls.split_pair():
            self._refresh_split()
        self._refresh_differences()

    def _refresh_differences(self) -> None:
        """A difference map follows the image under it."""
        if self.map_mode == "difference":
            self._refresh_maps()

    def set_flipped(self, flipped: bool) -> None:
        """Show the JPEG in the restored view (before / after at the same place), or the restored image again."""
        self.flipped = flipped
        self.flip_action.setChecked(flipped)
        self._show_restored()

    def _on_ssim_changed(self, role: Role) -> None:
        self.panes[role].set_caption(self._caption(role))
        self._refresh_split()

    def _view_image(self, role: Role) -> np.ndarray | None:
        """What the view of ``role`` shows: the restored view may show a preview, or the JPEG while flipped."""
        if role is Role.RESTORED and self.flipped:
            return self.document.image(Role.JPEG)
        if role is Role.RESTORED and self._preview is not None:
            return self._preview[0]
        return self.document.image(role)

    def _caption(self, role: Role) -> str:
        if role is Role.RESTORED and self.flipped:
            title, lines = caption(Role.JPEG, self.document)
            return caption_html(f"{title} · flipped (B: restored)", lines, self.details)
        if role is Role.RESTORED and self._preview is not None:
            return caption_html(*self._preview[1:], self.details)
        return caption_html(*caption(role, self.document, self.restore_stage.busy), self.details)

    def _show(self, role: Role) -> None:
        pane = self.panes[role]
        pane.set_image(self._view_image(role), "no original" if role is Role.ORIGINAL else "")
        pane.set_caption(self._caption(role))

    def _refresh_split(self) -> None:
        before, after = self.view_controls.split_pair()
        self.split.set_pair(self._view_image(before), self._view_image(after))
        self.split.set_captions(self._caption(before), self._caption(after))

    def _refresh_captions(self) -> None:
        for role, pane in self.panes.items():
            pane.set_caption(self._caption(role))
        self.split.set_captions(*(self._caption(role) for role in self.view_controls.split_pair()))

    def _set_details(self, on: bool) -> None:
        self.details = on
        self._refresh_captions()

    def _set_split_layout(self, split: bool) -> None:
        """Switch layouts keeping the region in view."""
        shown = self._active_pane()
        self.stack.setCurrentIndex(1 if split else 0)
        self._active_pane().vb.setRange(shown.vb.viewRect(), padding=0)
        self._show_zoom()

    def _active_pane(self) -> ImagePane:
        return self.split if self.stack.currentWidget() is self.split else self.panes[Role.RESTORED]

    def fit(self) -> None:
        self.group.fit()
        self.split.fit()

    def zoom_to(self, factor: float) -> None:
        self._active_pane().zoom_to(factor)

    def zoom_by(self, step: int) -> None:
        """One step of the zoom ladder in (1) or out (-1)."""
        pane = self._active_pane()
        pane.zoom_to(zoom_step(pane.zoom(), step))

    def _show_zoom(self) -> None:
        self.zoom_label.setText(f"Zoom {100 * self._active_pane().zoom():.0f} %")

    def set_grid(self, shown: bool) -> None:
        """The 8x8 grid of JPEG blocks over every view."""
        self.grid_shown = shown
        self.grid_action.setChecked(shown)
        for pane in [*self.panes.values(), self.split]:
            pane.grid.setVisible(shown)

    def copy_view(self) -> None:
        """The active view as it is on screen (image, maps, grid, overlay) to the clipboard."""
        QApplication.clipboard().setImage(self._active_pane().grab().toImage())
        self.statusBar().showMessage("Copied the view to the clipboard", 5000)

    def _set_map_mode(self, mode: str) -> None:
        self.map_mode = mode
        self._refresh_maps()

    def _set_map_opacity(self, opacity: float) -> None:
        for role in (Role.JPEG, Role.RESTORED):
            self.panes[role].map_layer.setOpacity(opacity)
        self.split.set_map_opacity(opacity)

    def _refresh_maps(self) -> None:
        """The chosen map over the JPEG and restored views (and either side of the split view)."""
        self.legend.setVisible(self.map_mode != "none")
        maps = self._difference_maps() if self.map_mode == "difference" else self._block_maps()
        for role in (Role.JPEG, Role.RESTORED):
            self.panes[role].map_layer.show_map(*maps[role])
        before, after = self.view_controls.split_pair()
        self.split.show_maps(maps[before], maps[after])

    def _block_maps(self) -> dict[Role, tuple[np.ndarray | None, int]]:
        """The descriptor or bits map of the restored result, the same over every view."""
        out, rgba = self.document.restored, None
        if out is None:
            self.legend.show_none("The map appears once the restored view is in.")
        elif self.map_mode == "descriptors" and out.symbols is not None:
            rgba = descriptor_rgba(out.symbols)
            self.legend.show_descriptors(out.symbols)
        elif self.map_mode == "bits" and out.block_bits is not None:
            rgba = bits_rgba(out.block_bits)
            self.legend.show_bits(out.block_bits)
        elif self.map_mode != "none":
            self.legend.show_none(f"No {self.map_mode} map: " + (
                "the JPEG came without side information." if out.symbols is None
                else "bit costs are known only when compressing an original."))
        return {role: (rgba, BLOCK) for role in Role}

    def _difference_maps(self) -> dict[Role, tuple[np.ndarray | None, int]]:
        """Each view's image minus the original, pixel by pixel (the restored view's as it is shown: flipped or a
        preview included)."""
        original = self.document.image(Role.ORIGINAL)
        maps: dict[Role, tuple[np.ndarray | None, int]] = {role: (None, 1) for role in Role}
        if original is None:
            self.legend.show_none("No difference map: a received JPEG has no original to compare with.")
            return maps
        errors = {}
        for role in (Role.JPEG, Role.RESTORED):
            image = self._view_image(role)
            if image is not None:
                maps[role] = (difference_rgba(image, original), 1)
                errors[self._caption_title(role)] = mean_absolute_difference(image, original)
        self.legend.show_difference(errors)
        return maps

    def _caption_title(self, role: Role) -> str:
        """What the view of ``role`` shows, in a word or two."""
        return "JPEG (flipped)" if role is Role.RESTORED and self.flipped else role.value

    def _show_hover(self, x: float, y: float) -> None:
        source = self.document.source
        if source is None:
            return
        width, height = source.size
        if not (0 <= x < width and 0 <= y < height):
            self.statusBar().clearMessage()
            return
        col, row = int(x), int(y)
        parts = [f"x {col}  y {row}"]
        for role in Role:
            image = self.document.image(role)
            if image is not None:
                parts.append(f"{role.value} {' '.join(str(v) for v in image[row, col])}")
        parts.append(f"block ({row // BLOCK}, {col // BLOCK})")
        out = self.document.restored
        if out is not None and out.symbols is not None:
            parts.append(f"descriptor {out.symbols[row // BLOCK, col // BLOCK]}")
        if out is not None and out.block_bits is not None:
            parts.append(f"{out.block_bits[row // BLOCK, col // BLOCK]:.2f} bits")
        self.statusBar().showMessage("   ·   ".join(parts))

    # --- lifetime ------------------------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """True while any background work is running or waiting."""
        return bool(self._deferred) or any(stage.busy for stage in self._stages())

    def _stages(self) -> tuple[Stage, ...]:
        return self.load_stage, self.jpeg_stage, self.restore_stage, self.ssim_stage, self.rd_stage, self.fit_stage

    def show_batch(self) -> None:
        """File > Batch, with the current settings (window-modal, the batch runs in the background)."""
        self.batch_dialog = BatchDialog(self.codecs, self.document.settings, self.pool, self)
        self.batch_dialog.open()

    def show_about(self) -> None:
        """Help > About: the app and the card of each installed model, beside the window (not modal)."""
        self.about_dialog = AboutDialog(self.codecs, self.presets, self.document.settings.device, self)
        self.about_dialog.show()

    def show_shortcuts(self) -> None:
        """Help > Shortcuts, beside the window (not modal)."""
        self.shortcuts_dialog.show()
        self.shortcuts_dialog.raise_()

    def _restore_window(self) -> None:
        split, geometry, state = preferences.remembered_window(self.store)
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self._docks_sized = self.restoreState(state)
        if split:
            self.view_controls.layout_choice.set_index(1)
            self._set_split_layout(True)

    def shutdown(self) -> None:
        """Cancel all background work and wait for it to stop."""
        for stage in self._stages():
            stage.cancel()
        self.pool.waitForDone()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._docks_sized:
            self._docks_sized = True
            self.resizeDocks([self.rd_dock], [round(RD_SHARE * self.height())], Qt.Orientation.Vertical)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.remember:
            split = self.stack.currentWidget() is self.split
            preferences.remember(self.store, self.document.settings, split, self.saveGeometry(), self.saveState())
        self.shutdown()
        super().closeEvent(event)
