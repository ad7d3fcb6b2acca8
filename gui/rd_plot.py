"""Rate-distortion plot of the current image: PSNR vs bpp for JPEG, blind and side-information restore, every
point labelled with its quality and the views' own setting marked."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from gui.rd_sweep import Curve, RdPoint
from gui.theme import MUTED, TEXT


@dataclass(frozen=True)
class CurveStyle:
    colour: str
    symbol: str
    line: Qt.PenStyle


STYLES = {
    Curve.JPEG: CurveStyle("#9aa0a6", "o", Qt.PenStyle.DotLine),
    Curve.BLIND: CurveStyle("#f0a04b", "t", Qt.PenStyle.DashLine),
    Curve.SIDE: CurveStyle("#4ac3df", "s", Qt.PenStyle.SolidLine),
}
"""Colour, marker and line of each curve: told apart without colour too."""


class RdPlot(QWidget):
    """The curves, a quality label under each JPEG point (the blind point of a quality sits straight above it), and
    a ring with its numbers on the points the views show."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget()
        self.plot.setAntialiasing(True)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.plot.setLabel("bottom", "rate", units="bpp")
        self.plot.setLabel("left", "PSNR", units="dB")
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        # one row, bottom right: under the curves, which rise to the right
        legend = self.plot.addLegend(offset=(-10, -10), labelTextSize="9pt", colCount=len(Curve))
        legend.setBrush(pg.mkBrush(20, 20, 24, 200))
        self.curves: dict[Curve, pg.PlotDataItem] = {}
        self.markers: dict[Curve, pg.ScatterPlotItem] = {}
        for curve, style in STYLES.items():
            self.curves[curve] = self.plot.plot(
                [], [], name=curve.value, pen=pg.mkPen(style.colour, width=2, style=style.line), symbol=style.symbol,
                symbolSize=8, symbolBrush=style.colour, symbolPen=None,
            )
            marker = pg.ScatterPlotItem(size=18, symbol="o", brush=pg.mkBrush(None), pen=pg.mkPen("#ffffff", width=2))
            marker.setZValue(5)
            self.plot.addItem(marker)
            self.markers[curve] = marker
        self.labels: list[pg.TextItem] = []
        self.current_label = pg.TextItem(color=TEXT, anchor=(1, 1), fill=pg.mkBrush(20, 20, 24, 200))
        """Above and left of its point: the curves rise to the right, so that corner is free."""
        self.current_label.setZValue(6)
        self.plot.addItem(self.current_label)
        self.status = QLabel()
        self.status.setStyleSheet(f"color: {MUTED};")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 4)
        layout.addWidget(self.plot)
        layout.addWidget(self.status)

    def set_title(self, text: str) -> None:
        self.plot.setTitle(text, size="10pt", color="#c8c8cc")

    def show_points(self, curves: dict[Curve, dict[int, RdPoint]], current: dict[Curve, RdPoint]) -> None:
        """Draw each curve (sorted by quality) and ring the ``current`` points: the views' own numbers."""
        for curve, item in self.curves.items():
            ordered = sorted(curves.get(curve, {}).values(), key=lambda p: p.quality)
            item.setData([p.bpp for p in ordered], [p.psnr for p in ordered])
            shown = current.get(curve)
            self.markers[curve].setData(pos=[(shown.bpp, shown.psnr)] if shown else [])
        self._label_qualities(curves.get(Curve.JPEG, {}))
        self._fit_range([p.psnr for points in curves.values() for p in points.values() if math.isfinite(p.psnr)])
        restored = current.get(Curve.SIDE) or current.get(Curve.BLIND)
        if restored is None:
            self.current_label.setText("")
        else:
            self.current_label.setText(f"q{restored.quality} · {restored.bpp:.3f} bpp · {restored.psnr:.2f} dB")
            self.current_label.setPos(restored.bpp, restored.psnr)

    def _fit_range(self, psnrs: list[float]) -> None:
        """PSNR range of the (finite) points, with room under the lowest for its quality label."""
        if psnrs:
            low, high = min(psnrs), max(psnrs)
            span = max(high - low, 1.0)
            self.plot.setYRange(low - 0.3 * span, high + 0.08 * span, padding=0)
        else:
            self.plot.enableAutoRange(axis="y")

    def _label_qualities(self, points: dict[int, RdPoint]) -> None:
        for label in self.labels:
            self.plot.removeItem(label)
        self.labels = []
        for quality, point in sorted(points.items()):
            label = pg.TextItem(f"q{quality}", color=MUTED, anchor=(0.5, -0.1))
            label.setPos(point.bpp, point.psnr)
            self.plot.addItem(label)
            self.labels.append(label)

    def set_status(self, text: str) -> None:
        self.status.setText(text)
