"""File > Batch: choose a folder, compress or restore all of it in the background, see a summary."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QThreadPool
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from gui.batch import BatchReport, BatchRequest, Mode, run_request
from gui.jobs import CodecCache
from gui.state import Settings
from gui.theme import MUTED
from gui.workers import Stage

NOTE = (
    "Outputs are named as the command line names them (STEM.jpg + STEM.jpg.side; STEM.png in an output folder, "
    "else STEM.restored.png). Files whose outputs exist are skipped, so a stopped batch resumes. "
    "EXIF, XMP and colour profiles are kept."
)


def _folder_field(placeholder: str) -> tuple[QWidget, QLineEdit, QPushButton]:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    edit = QLineEdit()
    edit.setPlaceholderText(placeholder)
    browse = QPushButton("Browse…")
    layout.addWidget(edit, 1)
    layout.addWidget(browse)
    return row, edit, browse


class BatchDialog(QDialog):
    """Compress a folder's images with the current settings, or restore its JPEGs, with progress and Cancel."""

    def __init__(
        self, codecs: CodecCache, settings: Settings, pool: QThreadPool, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Batch: compress or restore a folder")
        self.codecs, self.settings = codecs, settings
        self.last_report: BatchReport | None = None
        self.stage = Stage(pool, self)
        self.compress_choice = QRadioButton("Compress images to JPEG + sidecar")
        self.restore_choice = QRadioButton("Restore JPEGs to PNG")
        self.modes = QButtonGroup(self)
        for button in (self.compress_choice, self.restore_choice):
            self.modes.addButton(button)
        self.compress_choice.setChecked(True)
        folder_row, self.folder, folder_browse = _folder_field("the folder whose files to do")
        out_row, self.out_dir, out_browse = _folder_field("beside each file")
        self.force = QCheckBox("Do files whose outputs exist again (replace them)")
        self.setting = QLabel()
        self.setting.setWordWrap(True)
        note = QLabel(NOTE)
        note.setWordWrap(True)
        note.setStyleSheet(f"color: {MUTED}; font-size: 11px;")
        self.progress = QProgressBar()
        self.current = QLabel()
        self.current.setStyleSheet(f"color: {MUTED};")
        self.buttons = QDialogButtonBox()
        self.start = self.buttons.addButton("Start", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        form = QFormLayout()
        form.addRow("Do", self.compress_choice)
        form.addRow("", self.restore_choice)
        form.addRow("Folder", folder_row)
        form.addRow("Output folder", out_row)
        form.addRow("", self.force)
        form.addRow("Settings", self.setting)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(self.progress)
        layout.addWidget(self.current)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(560)
        folder_browse.clicked.connect(lambda: self._browse(self.folder))
        out_browse.clicked.connect(lambda: self._browse(self.out_dir))
        self.modes.buttonToggled.connect(lambda *_: self._show_setting())
        self.start.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.stage.cancel)
        self.close_button.clicked.connect(self.reject)
        self.stage.result.connect(lambda _seq, report: self._finished(report))
        self.stage.failed.connect(lambda _seq, message: self._failed(message))
        self.stage.progress.connect(self._progress)
        self.stage.partial.connect(lambda name: self.current.setText(f"{name}…"))
        self.stage.busy_changed.connect(self._busy)
        self._busy(False)
        self._show_setting()

    def mode(self) -> Mode:
        return Mode.COMPRESS if self.compress_choice.isChecked() else Mode.RESTORE

    def _show_setting(self) -> None:
        if self.mode() is Mode.COMPRESS:
            s = self.settings
            text = f"quality {s.quality} · {s.subsampling} · λ {s.lam:.1f} · {s.preset} (the window's settings)"
        else:
            sidecar = "with each JPEG's side information (blind without)" if self.settings.use_sidecar else "blind"
            text = f"{sidecar}; the model that made each sidecar, else {self.settings.preset}"
        self.setting.setText(text)

    def _browse(self, edit: QLineEdit) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Choose a folder", edit.text())
        if chosen:
            edit.setText(chosen)

    def request(self) -> BatchRequest | None:
        """What the fields ask for; None (and a message) when a folder is missing."""
        folder, out_dir = self.folder.text().strip(), self.out_dir.text().strip()
        if not folder or not Path(folder).is_dir():
            self.report("Batch", f"Choose a folder of files to do{f' ({folder} is not one)' if folder else ''}.")
            return None
        if out_dir and not Path(out_dir).is_dir():
            self.report("Batch", f"The output folder {out_dir} does not exist.")
            return None
        out = Path(out_dir) if out_dir else None
        return BatchRequest(self.mode(), Path(folder), out, self.settings, self.force.isChecked())

    def run(self) -> None:
        request = self.request()
        if request is not None:
            self.progress.setValue(0)
            self.stage.submit(lambda ctx: run_request(self.codecs, request, ctx))

    def _progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    def _busy(self, busy: bool) -> None:
        self.start.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        self.close_button.setEnabled(not busy)
        if not busy:
            self.current.setText("")

    def _finished(self, report: BatchReport) -> None:
        self.last_report = report
        self.report("Batch cancelled" if report.cancelled else "Batch done", report.text())

    def _failed(self, message: str) -> None:
        self.report("Batch failed", message)

    def report(self, title: str, text: str) -> None:
        """A message box (tests replace it)."""
        QMessageBox.information(self, title, text)

    def reject(self) -> None:
        """Closing the dialog stops the batch."""
        self.stage.cancel()
        super().reject()
