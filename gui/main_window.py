"""The main window: assembles views, controls, RD plot and status bar, connects them to the document and its
scheduler, and displays what they hold."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QDockWidget,
    QFileDialog,
    QMainWindow,
    QMenu,
    QMessageBox,
    QScrollArea,
    QWidget,
)

from engine import PRESETS, SideJPEGError, available_devices
from gui import files, preferences
from gui.about import AboutDialog
from gui.batch_dialog import BatchDialog
from gui.captions import file_size, hover_text, setting_label, view_caption
from gui.controls import EncodeControls, SidePanel, SliderField, ViewControls
from gui.descriptor_map import MapLegend
from gui.document import Document
from gui.exports import Exports
from gui.jobs import CodecCache, RegionPreview
from gui.maps import map_layers
from gui.rd_plot import RdPlot
from gui.rd_sweep import Curve, rd_title, shown_points
from gui.scheduler import Scheduler, ViewRect
from gui.shortcuts import NumberFieldKeys, ShortcutsDialog, shortcut_rows
from gui.state import Role, Settings, Source, ViewState, default_settings, fit_applies, view_image
from gui.status_bar import StatusBar
from gui.target_size import Fit
from gui.view_area import ViewArea
from gui.views import caption_html

ZOOM_KEYS = {"1": 1.0, "2": 2.0, "4": 4.0}
"""Key -> screen pixels per image pixel."""
RD_SHARE = 0.32
"""Height of the RD plot as a share of the window's, the first time it is shown (then the user's)."""


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
        current = [p for p in self.presets if p in PRESETS]  # an earlier release is chosen by its sidecars only
        kept = preferences.remembered_settings(self.store, current) if remember else {}
        self.document = Document(
            dataclasses.replace(default_settings(self.presets, devices, kept.pop("preset", None)), **kept)
        )
        self.scheduler = Scheduler(self.document, self.codecs, self.presets, self._visible_rect, self)
        self.recent = preferences.RecentFiles(self.store)
        self.view = ViewState()
        self.exports = Exports(self.document, self, lambda text: self.statusBar().showMessage(text, 8000))
        self._docks_sized = False
        """Whether the docks got their sizes (from the last run, or at the first show)."""

        self.views = ViewArea()
        self.panes, self.split = self.views.panes, self.views.split
        usable = {p: p in self.presets for p in dict.fromkeys([*PRESETS, *self.presets])}
        self.encode = EncodeControls(self.document.settings, usable, devices)
        self.view_controls = ViewControls()
        self.legend = MapLegend()
        self.rd_plot = RdPlot()
        self._build_layout()
        self.setStatusBar(StatusBar())
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
        self.setCentralWidget(self.views)
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
            self._action(file_menu, "Export JPEG + &sidecar…", self.exports.pair, QKeySequence.StandardKey.Save),
            self._action(file_menu, "Export JPEG with &embedded side info…", self.exports.embedded, "Ctrl+Shift+S"),
            self._action(file_menu, "Export restored &PNG…", self.exports.png, "Ctrl+E"),
        ]
        file_menu.addSeparator()
        self._action(file_menu, "&Batch: compress or restore a folder…", self.show_batch, "Ctrl+B")
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        edit_menu = self.menuBar().addMenu("&Edit")
        self._action(edit_menu, "&Copy view", self.copy_view, QKeySequence.StandardKey.Copy)
        view_menu = self.menuBar().addMenu("&View")
        self._action(view_menu, "&Fit", self.views.fit, "F")
        for key, factor in ZOOM_KEYS.items():
            self._action(view_menu, f"Zoom {100 * factor:.0f} %", lambda f=factor: self.views.zoom_to(f), key)
        self._action(view_menu, "Zoom &in", lambda: self.views.zoom_by(1), "+", "=", "Ctrl+=", "Ctrl++")
        self._action(view_menu, "Zoom o&ut", lambda: self.views.zoom_by(-1), "-", "Ctrl+-")
        self.grid_action = self._action(view_menu, "8×8 &grid", lambda: self.set_grid(not self.view.grid_shown), "G")
        self.grid_action.setCheckable(True)
        self._action(view_menu, "Toggle &overlays", self.view_controls.overlays.toggle, "O")
        self._action(
            view_menu, "Cycle &map (none / descriptors / bits / difference)", self.view_controls.cycle_map_mode, "D"
        )
        self.flip_action = self._action(
            view_menu, "Flip: show the JPEG in the restored view", lambda: self.set_flipped(not self.view.flipped), "B",
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
        self.views.active_pane().setFocus(Qt.FocusReason.OtherFocusReason)

    def _connect(self) -> None:
        doc, scheduler = self.document, self.scheduler
        doc.source_changed.connect(self._on_source_changed)
        doc.settings_changed.connect(self._on_settings_changed)
        doc.jpeg_changed.connect(self._on_jpeg_changed)
        doc.restored_changed.connect(self._on_restored_changed)
        doc.ssim_changed.connect(self._on_ssim_changed)
        self.encode.changed.connect(lambda changes: doc.update_settings(**changes))
        self.encode.target.requested.connect(self.fit_to_size)
        self.view_controls.layout_changed.connect(self.views.set_split)
        self.view_controls.split_changed.connect(lambda *_: (self._refresh_split(), self._refresh_maps()))
        self.view_controls.overlays_toggled.connect(self._set_details)
        self.view_controls.map_mode_changed.connect(self._set_map_mode)
        self.view_controls.opacity_changed.connect(self.views.set_map_opacity)
        scheduler.preview_dropped.connect(self._drop_preview)
        scheduler.curves_changed.connect(self._on_curves_changed)
        scheduler.model_switched.connect(self._on_model_switched)
        for stage, title in ((scheduler.load_stage, "Cannot open file"), (scheduler.jpeg_stage, "JPEG encoding failed"),
                             (scheduler.ssim_stage, "SSIM failed"), (scheduler.rd_stage, "RD sweep failed"),
                             (scheduler.fit_stage, "Target size search failed")):
            stage.failed.connect(lambda _seq, message, title=title: self.show_error(title, message))
        scheduler.restore_stage.failed.connect(lambda _seq, message: self._on_restore_failed(message))
        scheduler.restore_stage.progress.connect(self.statusBar().progress.show_progress)
        scheduler.restore_stage.partial.connect(self._on_restore_preview)
        scheduler.restore_stage.busy_changed.connect(self._on_restore_busy)
        scheduler.rd_stage.progress.connect(lambda done, total: self.rd_plot.set_status(f"sweep {done}/{total}…"))
        scheduler.rd_stage.busy_changed.connect(self._on_rd_busy)
        scheduler.fit_stage.result.connect(lambda _seq, found: self._on_fit(*found))
        scheduler.fit_stage.progress.connect(self.statusBar().progress.show_progress)
        scheduler.fit_stage.busy_changed.connect(self._on_fit_busy)
        self.statusBar().cancel_button.clicked.connect(self.cancel)
        self.views.hovered.connect(self._show_hover)
        self.views.zoom_changed.connect(self._show_zoom)

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
        self.view.requested = path
        self.statusBar().showMessage(f"Opening {path.name}…")
        self.scheduler.open(path, as_received)

    def open_neighbour(self, step: int) -> None:
        """Open the next (``step`` 1) or previous (-1) image in the folder, with the same settings."""
        requested = self.view.requested
        target = files.neighbour(requested, step) if requested else None
        if target is None:
            self.statusBar().showMessage(f"No {'next' if step > 0 else 'previous'} image in this folder", 5000)
        else:
            self.open_path(target)

    def _on_model_switched(self, old: str, new: str) -> None:
        self.statusBar().showMessage(
            f"Opened {self.document.source.path.name}: its sidecar was made with the {new} model, so the model "
            f"switched from {old} to {new}", 15000,
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

    def _set_exports_enabled(self, enabled: bool) -> None:
        has_side = enabled and self.document.restored.sidecar is not None
        for action, usable in zip(self.export_actions, (has_side, has_side, enabled), strict=True):
            action.setEnabled(usable)

    # --- background work -> status ------------------------------------------------------------------------------

    def _visible_rect(self) -> ViewRect:
        rect = self.views.active_pane().vb.viewRect()
        return rect.left(), rect.top(), rect.right(), rect.bottom()

    def fit_to_size(self, limit: int) -> None:
        """Choose the highest quality whose file (JPEG + sidecar, or the JPEG alone when blind) is at most ``limit``
        bytes, searching in the background with the current settings."""
        if self.scheduler.fit_to_size(limit):
            self.encode.show_target_note(f"Searching the quality for at most {file_size(limit)}…")

    def _on_fit(self, searched: Settings, fit: Fit) -> None:
        doc = self.document
        if not fit_applies(searched, doc.settings):
            self.encode.show_target_note("The settings changed during the search: fit again.")
            return
        if fit.quality is None:
            self.encode.show_target_note("")
            self.show_error("Target size too small", (
                f"Even at quality 1 this image's file is {file_size(fit.total_bytes)}, more than "
                f"{file_size(fit.limit)}. Allow a larger size, or choose Blind to leave the sidecar out."))
            return
        self.view.fitted = dataclasses.replace(searched, quality=fit.quality)
        doc.update_settings(quality=fit.quality)
        self.encode.show_settings(doc.settings, doc.source)
        what = "JPEG + sidecar" if searched.use_sidecar else "JPEG alone, blind"
        self.encode.show_target_note(
            f"Quality {fit.quality}: {file_size(fit.total_bytes)} ({what}), at most {file_size(fit.limit)}"
        )

    def _on_fit_busy(self, busy: bool) -> None:
        self.statusBar().show_working(busy or self.scheduler.restore_stage.busy)
        self.encode.target.button.setEnabled(not busy)

    def cancel(self) -> None:
        """Stop the restore, the RD sweep and a target size search; the restored view keeps its last result,
        captioned as such."""
        if self.scheduler.fit_stage.busy:
            self.encode.show_target_note("Target size search cancelled.")
        self.scheduler.cancel()
        self._drop_preview()
        self.statusBar().showMessage("Cancelled", 5000)

    def _on_restore_failed(self, message: str) -> None:
        """The restored view says so; a received sidecar that cannot be used may be left out for a blind restore.
        The dialog waits until the stage has ended, so that the caption behind it no longer says restoring."""
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

    def _on_restore_busy(self, busy: bool) -> None:
        self.statusBar().show_working(busy or self.scheduler.fit_stage.busy)
        self.statusBar().progress.restart()
        self._refresh_captions()

    def _on_curves_changed(self) -> None:
        self.rd_plot.set_title(rd_title(self.document))
        self._redraw_rd()

    def _redraw_rd(self) -> None:
        curves = {curve: self.scheduler.rd_curves.points(curve) for curve in Curve}
        self.rd_plot.show_points(curves, shown_points(self.document))

    def _on_rd_busy(self, busy: bool) -> None:
        if not busy:
            n = len(self.scheduler.rd_curves.points(Curve.JPEG))
            self.rd_plot.set_status(f"{n} qualities · ◯ the views' setting, with their numbers" if n else "")

    # --- document -> views ---------------------------------------------------------------------------------------

    def _on_source_changed(self) -> None:
        source = self.document.source
        self.view.preview = None
        self.view.fitted = None
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
        self.views.fit()

    def _on_settings_changed(self, _old: Settings, new: Settings) -> None:
        if self.view.fitted is not None and new != self.view.fitted:
            self.view.fitted = None
            self.encode.show_target_note("")
        self._refresh_captions()

    def _on_jpeg_changed(self) -> None:
        self._show(Role.JPEG)
        self._redraw_rd()
        if self.view.flipped:
            self._show(Role.RESTORED)
        self._refresh_split()
        self._refresh_differences()

    def _on_restored_changed(self) -> None:
        self.view.preview = None
        self._show(Role.RESTORED)
        if self.document.source.received:
            self._show(Role.JPEG)
        self._refresh_split()
        self._refresh_maps()
        self._set_exports_enabled(True)
        self._redraw_rd()

    def _on_restore_preview(self, preview: RegionPreview) -> None:
        """Show a preview of the restored image (of the current setting) while the decoder's pass still runs."""
        label = setting_label(self.document.settings, self.document.source)
        self.view.preview = (preview.composed(), f"Restored · preview · {label}", [preview.note])
        self._show_restored()

    def _drop_preview(self) -> None:
        """Show the restored result again instead of a preview whose job will not finish."""
        if self.view.preview is not None:
            self.view.preview = None
            self._show_restored()

    def _show_restored(self) -> None:
        self._show(Role.RESTORED)
        if Role.RESTORED in self.view_controls.split_pair():
            self._refresh_split()
        self._refresh_differences()

    def _refresh_differences(self) -> None:
        """A difference map follows the image under it."""
        if self.view.map_mode == "difference":
            self._refresh_maps()

    def set_flipped(self, flipped: bool) -> None:
        """Show the JPEG in the restored view (before / after at the same place), or the restored image again."""
        self.view.flipped = flipped
        self.flip_action.setChecked(flipped)
        self._show_restored()

    def _on_ssim_changed(self, role: Role) -> None:
        self.panes[role].set_caption(self._caption(role))
        self._refresh_split()

    def _view_image(self, role: Role) -> np.ndarray | None:
        return view_image(self.document, self.view, role)

    def _caption(self, role: Role) -> str:
        restoring = self.scheduler.restore_stage.busy
        return caption_html(*view_caption(role, self.document, self.view, restoring), self.view.details)

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
        self.view.details = on
        self._refresh_captions()

    def _show_zoom(self) -> None:
        self.statusBar().show_zoom(self.views.active_pane().zoom())

    def set_grid(self, shown: bool) -> None:
        """The 8x8 grid of JPEG blocks over every view."""
        self.view.grid_shown = shown
        self.grid_action.setChecked(shown)
        self.views.set_grid(shown)

    def copy_view(self) -> None:
        """The active view as it is on screen (image, maps, grid, overlay) to the clipboard."""
        QApplication.clipboard().setImage(self.views.active_pane().grab().toImage())
        self.statusBar().showMessage("Copied the view to the clipboard", 5000)

    def _set_map_mode(self, mode: str) -> None:
        self.view.map_mode = mode
        self._refresh_maps()

    def _refresh_maps(self) -> None:
        """The chosen map over the JPEG and restored views (and either side of the split view)."""
        self.legend.setVisible(self.view.map_mode != "none")
        maps = map_layers(self.document, self.view, self.legend)
        for role in (Role.JPEG, Role.RESTORED):
            self.panes[role].map_layer.show_map(*maps[role])
        before, after = self.view_controls.split_pair()
        self.split.show_maps(maps[before], maps[after])

    def _show_hover(self, x: float, y: float) -> None:
        if self.document.source is None:
            return
        text = hover_text(self.document, x, y)
        if text:
            self.statusBar().showMessage(text)
        else:
            self.statusBar().clearMessage()

    # --- lifetime ------------------------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """True while any background work is running or waiting."""
        return self.scheduler.busy

    def show_batch(self) -> None:
        """File > Batch, with the current settings (window-modal, the batch runs in the background)."""
        self.batch_dialog = BatchDialog(self.codecs, self.document.settings, self.scheduler.pool, self)
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
            self.views.set_split(True)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._docks_sized:
            self._docks_sized = True
            self.resizeDocks([self.rd_dock], [round(RD_SHARE * self.height())], Qt.Orientation.Vertical)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.remember:
            split = self.views.is_split()
            preferences.remember(self.store, self.document.settings, split, self.saveGeometry(), self.saveState())
        self.scheduler.shutdown()
        super().closeEvent(event)
