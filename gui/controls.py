"""Side-panel controls: slider + spin box pairs (linear or log scale), the encode settings, the view options."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QButtonGroup,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine import LAMBDA_MAX, LAMBDA_MIN, measured_side_vs_blind
from gui.state import Role, Settings, Source
from gui.theme import MUTED

LOG_STEPS = 1000
"""Slider positions of a log-scale field."""
SUBSAMPLINGS = ("4:2:0", "4:4:4")
MAP_MODES = ("none", "descriptors", "bits", "difference")
UNKNOWN = "unknown"
"""What a field shows for a value the received file does not record."""


class SliderField(QWidget):
    """A slider and a typed-in spin box that always agree; linear or logarithmic, with a unit."""

    value_changed = Signal(float)
    committed = Signal()
    """Enter was pressed in the spin box: the typed value is in, the keys may go back to the views."""

    def __init__(
        self, minimum: float, maximum: float, value: float, unit: str = "", *,
        log: bool = False, decimals: int = 0, parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.minimum, self.maximum, self.log = minimum, maximum, log
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(*((0, LOG_STEPS) if log else (int(minimum), int(maximum))))
        self.spin = QDoubleSpinBox() if decimals else QSpinBox()
        if decimals:
            self.spin.setDecimals(decimals)
        self.spin.setRange(minimum, maximum)
        self.spin.setSuffix(f" {unit}" if unit else "")
        self.spin.setKeyboardTracking(False)
        self.spin.setAccelerated(True)
        self.spin.setStepType(QAbstractSpinBox.StepType.AdaptiveDecimalStepType)
        self.spin.setMinimumWidth(118)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.spin)
        self.set_value(value)
        self.slider.valueChanged.connect(self._slider_moved)
        self.spin.valueChanged.connect(self._spin_changed)
        self.spin.editingFinished.connect(self._editing_finished)

    def value(self) -> float:
        return float(self.spin.value())

    def set_value(self, value: float | None) -> None:
        """Show ``value`` without emitting ``value_changed``; None shows "unknown" (a file that does not say)."""
        known = value is not None
        self.spin.blockSignals(True)
        self.slider.blockSignals(True)
        self.spin.setSpecialValueText("" if known else UNKNOWN)
        self.spin.setMinimum(self.minimum if known else 0)
        self.spin.setValue(value if known else 0)
        self.slider.setValue(self._position(value if known else self.minimum))
        self.spin.blockSignals(False)
        self.slider.blockSignals(False)

    def _editing_finished(self) -> None:
        """Also emitted when the spin box loses focus; only Enter (focus still here) is a commit."""
        if self.spin.hasFocus():
            self.committed.emit()

    def _position(self, value: float) -> int:
        if not self.log:
            return round(value)
        span = math.log(self.maximum / self.minimum)
        return round(LOG_STEPS * math.log(value / self.minimum) / span)

    def _value_at(self, position: int) -> float:
        if not self.log:
            return float(position)
        return self.minimum * (self.maximum / self.minimum) ** (position / LOG_STEPS)

    def _slider_moved(self, position: int) -> None:
        self.spin.blockSignals(True)
        self.spin.setValue(self._value_at(position))
        self.spin.blockSignals(False)
        self.value_changed.emit(self.value())

    def _spin_changed(self, value: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(self._position(value))
        self.slider.blockSignals(False)
        self.value_changed.emit(float(value))


class Segmented(QWidget):
    """Mutually exclusive checkable buttons, e.g. "With sidecar | Blind"."""

    changed = Signal(int)

    def __init__(self, labels: tuple[str, ...], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.group = QButtonGroup(self)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        for i, label in enumerate(labels):
            button = QPushButton(label)
            button.setCheckable(True)
            self.group.addButton(button, i)
            layout.addWidget(button)
        self.group.button(0).setChecked(True)
        self.group.idClicked.connect(self.changed)

    def index(self) -> int:
        return self.group.checkedId()

    def set_index(self, index: int) -> None:
        self.group.button(index).setChecked(True)


def _form(box: QGroupBox) -> QFormLayout:
    form = QFormLayout(box)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    form.setVerticalSpacing(8)
    return form


def file_values(source: Source) -> tuple[int | None, float | None]:
    """(quality, λ) a received JPEG's sidecar records; None where it does not say (no sidecar, quality 0)."""
    header = source.header
    return (header.quality or None, header.lam) if header else (None, None)


class TargetSize(QWidget):
    """"Make this file at most N KB": a size and a button that asks for the quality that fits it."""

    requested = Signal(int)
    """The limit in bytes."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kb = QSpinBox()
        self.kb.setRange(1, 1_000_000)
        self.kb.setValue(50)
        self.kb.setSuffix(" KB")
        self.kb.setKeyboardTracking(False)
        self.kb.setToolTip("The largest file allowed, JPEG and sidecar together (1 KB = 1000 bytes)")
        self.button = QPushButton("Fit quality")
        self.button.setToolTip("Choose the highest quality whose file is at most this size (Enter in the field)")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.kb, 1)
        row.addWidget(self.button)
        self.button.clicked.connect(self._request)
        self.kb.lineEdit().returnPressed.connect(self._request)

    def _request(self) -> None:
        self.requested.emit(self.kb.value() * 1000)


class EncodeControls(QGroupBox):
    """Quality, lambda, side information or blind, chroma subsampling, model preset and device, and the target
    size that chooses the quality."""

    changed = Signal(dict)
    """Only the settings that changed, as keyword arguments for ``Document.update_settings``."""

    def __init__(self, settings: Settings, presets: dict[str, bool], devices: list[str]) -> None:
        super().__init__("Encode")
        form = self.form = _form(self)
        self.quality = SliderField(1, 100, settings.quality, "/ 100")
        self.quality.setToolTip("JPEG quality factor (libjpeg scale)")
        self.lam = SliderField(LAMBDA_MIN, LAMBDA_MAX, settings.lam, "MSE/bpp", log=True, decimals=1)
        self.lam.setToolTip(
            "Rate-distortion trade-off of the side information (8-bit MSE per bpp), log scale: "
            "larger λ = fewer side bits"
        )
        self.side = Segmented(("With sidecar", "Blind"))
        self.side.set_index(0 if settings.use_sidecar else 1)
        self.subsampling = QComboBox()
        self.subsampling.addItems(SUBSAMPLINGS)
        self.subsampling.setCurrentText(settings.subsampling)
        self.preset = QComboBox()
        for name, usable in presets.items():
            self.preset.addItem(name if usable else f"{name} (no weights)", name)
            self.preset.model().item(self.preset.count() - 1).setEnabled(usable)
        self.preset.setCurrentIndex(self.preset.findData(settings.preset))
        self.preset.setToolTip(
            "fast-context: half-resolution trunk with a U-Net context stage, interactive on a CPU (the default)\n"
            "fast: the same trunk without the context stage, the previous default; "
            "it decodes the sidecars made with it\n"
            "paper: the paper's full-resolution EDSR-baseline* trunk: no better than fast-context, "
            "about 15x slower on a CPU; the reference\n"
            "unet: a U-Net trunk for 69 % of fast's work, for training (sidejpeg train --preset unet); "
            "no weights ship with it yet\n"
            "fast@…: an earlier release of a preset, kept so that the sidecars made with it still decode"
        )
        self.device = QComboBox()
        self.device.addItems(devices)
        self.device.setCurrentText(settings.device)
        self.target = TargetSize()
        self.target_note = QLabel()
        self.target_note.setWordWrap(True)
        self.target_note.setStyleSheet(f"color: {MUTED}; font-size: 11px;")
        form.addRow("Quality", self.quality)
        form.addRow("Target size", self.target)
        form.addRow("", self.target_note)
        form.setRowVisible(self.target_note, False)
        form.addRow("Lambda λ", self.lam)
        form.addRow("Decoder", self.side)
        self.side_note = QLabel()
        self.side_note.setWordWrap(True)
        self.side_note.setStyleSheet(f"color: {MUTED}; font-size: 11px;")
        form.addRow("", self.side_note)
        self.show_side_verdict(settings.preset)
        form.addRow("Chroma", self.subsampling)
        form.addRow("Model", self.preset)
        form.addRow("Device", self.device)
        self.quality.value_changed.connect(lambda v: self.changed.emit({"quality": round(v)}))
        self.lam.value_changed.connect(lambda v: self.changed.emit({"lam": v}))
        self.side.changed.connect(lambda i: self.changed.emit({"use_sidecar": i == 0}))
        self.subsampling.currentTextChanged.connect(lambda t: self.changed.emit({"subsampling": t}))
        self.preset.currentIndexChanged.connect(lambda i: self.changed.emit({"preset": self.preset.itemData(i)}))
        self.preset.currentIndexChanged.connect(lambda i: self.show_side_verdict(self.preset.itemData(i)))
        self.device.currentTextChanged.connect(lambda t: self.changed.emit({"device": t}))

    def show_target_note(self, text: str) -> None:
        """What the target size search did (its row is hidden while there is nothing to say)."""
        self.target_note.setText(text)
        self.form.setRowVisible(self.target_note, bool(text))

    def show_side_verdict(self, preset: str) -> None:
        """Say what the side information measurably buys with this model, so nobody is misled."""
        measured = measured_side_vs_blind(preset)
        if not measured:
            self.side_note.setText("Side information gain not measured for this model.")
            return
        rates = ", ".join(f"{name} {value:+.1f} %" for name, value in measured.items())
        verdict = "pays for its bits" if all(v < 0 for v in measured.values()) else "does NOT beat blind decoding yet"
        self.side_note.setText(f"Side info {verdict} (BD-rate vs blind, q10-40: {rates}).")

    def show_settings(self, settings: Settings, source: Source | None) -> None:
        """Show ``settings`` without emitting ``changed``. A received JPEG is restored as it is: only the decoder
        choices apply, and the disabled quality and λ show the file's own values (from its sidecar)."""
        received = source is not None and source.received
        quality, lam = file_values(source) if received else (settings.quality, settings.lam)
        self.quality.set_value(quality)
        self.lam.set_value(lam)
        for combo, text in ((self.subsampling, settings.subsampling), (self.device, settings.device)):
            combo.blockSignals(True)
            combo.setCurrentText(text)
            combo.blockSignals(False)
        self.preset.blockSignals(True)
        self.preset.setCurrentIndex(self.preset.findData(settings.preset))
        self.preset.blockSignals(False)
        self.show_side_verdict(settings.preset)
        self.side.set_index(0 if settings.use_sidecar else 1)
        for widget in (self.quality, self.target, self.lam, self.subsampling):
            widget.setEnabled(not received)


class ViewControls(QGroupBox):
    """Layout (side by side or split), what the split compares, overlays and block maps."""

    layout_changed = Signal(bool)
    """True for the split view."""
    split_changed = Signal(object, object)
    """(before Role, after Role)."""
    overlays_toggled = Signal(bool)
    map_mode_changed = Signal(str)
    opacity_changed = Signal(float)

    def __init__(self) -> None:
        super().__init__("View")
        form = _form(self)
        self.layout_choice = Segmented(("Side by side", "Split"))
        self.before, self.after = QComboBox(), QComboBox()
        for combo, default in ((self.before, Role.JPEG), (self.after, Role.RESTORED)):
            for role in Role:
                combo.addItem(role.value, role)
            combo.setCurrentIndex(combo.findData(default))
        pair = QWidget()
        row = QHBoxLayout(pair)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.before, 1)
        row.addWidget(QLabel("|"))
        row.addWidget(self.after, 1)
        self.overlays = QPushButton("Overlays  (O)")
        self.overlays.setCheckable(True)
        self.overlays.setChecked(True)
        self.map_mode = QComboBox()
        self.map_mode.addItems(MAP_MODES)
        self.map_mode.setToolTip(
            "Maps over the JPEG and restored views: the descriptor of each block, its coded bits, or the image "
            "minus the original, per pixel  (D cycles)"
        )
        self.opacity = SliderField(0, 100, 55, "%")
        form.addRow("Layout", self.layout_choice)
        form.addRow("Split", pair)
        form.addRow("", self.overlays)
        form.addRow("Map  (D)", self.map_mode)
        form.addRow("Opacity", self.opacity)
        self.layout_choice.changed.connect(lambda i: self.layout_changed.emit(i == 1))
        self.before.currentIndexChanged.connect(self._emit_split)
        self.after.currentIndexChanged.connect(self._emit_split)
        self.overlays.toggled.connect(self.overlays_toggled)
        self.map_mode.currentTextChanged.connect(self.map_mode_changed)
        self.opacity.value_changed.connect(lambda v: self.opacity_changed.emit(v / 100))

    def split_pair(self) -> tuple[Role, Role]:
        return self.before.currentData(), self.after.currentData()

    def _emit_split(self) -> None:
        self.split_changed.emit(*self.split_pair())

    def cycle_map_mode(self) -> None:
        self.map_mode.setCurrentIndex((self.map_mode.currentIndex() + 1) % self.map_mode.count())


class SidePanel(QWidget):
    """The column of control groups beside the images."""

    def __init__(self, encode: EncodeControls, view: ViewControls, legend: QWidget) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 8)
        layout.setSpacing(6)
        for widget in (encode, view, legend):
            layout.addWidget(widget)
        layout.addStretch(1)
