"""Rate-distortion plot of the current image: PSNR vs bpp for JPEG, blind and side-information restore."""

from __future__ import annotations

from collections.abc import Hashable, Iterable

import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from gui.jobs import RdPoint

CURVES = (
    ("JPEG", "#9aa0a6", "o", lambda p: (p.bpp_jpeg, p.psnr_jpeg)),
    ("Blind restore", "#f0a04b", "t", lambda p: (p.bpp_jpeg, p.psnr_blind)),
    ("With side info", "#4ac3df", "s", lambda p: (p.bpp_total, p.psnr_side)),
)
"""Name, colour, symbol and (bpp, PSNR) of each curve."""


class RdPoints:
    """The sweep's points for one (image, lambda, subsampling, model); a new key starts empty."""

    def __init__(self) -> None:
        self.key: Hashable = None
        self.points: dict[int, RdPoint] = {}

    def reset(self, key: Hashable) -> bool:
        """Switch to ``key``; True when it differs from the current one (the points are then dropped)."""
        if key == self.key:
            return False
        self.key, self.points = key, {}
        return True

    def missing(self, qualities: Iterable[int]) -> list[int]:
        return [q for q in dict.fromkeys(qualities) if q not in self.points]

    def add(self, key: Hashable, point: RdPoint) -> bool:
        """Keep a point computed for ``key``; False (and ignored) when the key is no longer current."""
        if key != self.key:
            return False
        self.points[point.quality] = point
        return True


class RdPlot(QWidget):
    """The plot, with the current quality marked on every curve."""

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
        legend = self.plot.addLegend(offset=(-10, -10), labelTextSize="9pt")
        legend.setBrush(pg.mkBrush(20, 20, 24, 200))
        self.curves = []
        self.markers = []
        for name, colour, symbol, _ in CURVES:
            self.curves.append(
                self.plot.plot(
                    [], [], name=name, pen=pg.mkPen(colour, width=2), symbol=symbol, symbolSize=6,
                    symbolBrush=colour, symbolPen=None,
                )
            )
            marker = pg.ScatterPlotItem(
                size=14, symbol=symbol, brush=pg.mkBrush(None), pen=pg.mkPen("#ffffff", width=2)
            )
            self.plot.addItem(marker)
            self.markers.append(marker)
        self.status = QLabel()
        self.status.setStyleSheet("color: #8b8d94;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 4)
        layout.addWidget(self.plot)
        layout.addWidget(self.status)

    def set_title(self, text: str) -> None:
        self.plot.setTitle(text, size="10pt", color="#c8c8cc")

    def show_points(self, points: dict[int, RdPoint], current: int | None) -> None:
        """Draw the curves (sorted by quality) and ring the point at ``current`` quality."""
        ordered = [points[q] for q in sorted(points)]
        for curve, marker, (*_, coords) in zip(self.curves, self.markers, CURVES, strict=True):
            xy = [coords(p) for p in ordered]
            curve.setData([x for x, _ in xy], [y for _, y in xy])
            marker.setData(pos=[coords(points[current])] if current in points else [])

    def set_status(self, text: str) -> None:
        self.status.setText(text)
