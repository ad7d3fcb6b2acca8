"""Maps over the images: the descriptor map (categorical colours; the keep symbol clear), the coded bits per block,
and the legend of each (the difference map's included)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPixmap
from PySide6.QtWidgets import QGridLayout, QGroupBox, QLabel, QStackedWidget, QVBoxLayout, QWidget

from gui.difference_map import DIFFERENCE_COLORMAP, DIFFERENCE_RANGE
from gui.state import BLOCK

DESCRIPTOR_COLOURS = (
    "#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6",
    "#bcf60c", "#fabebe", "#008080", "#e6beff", "#9a6324", "#fffac8", "#800000", "#aaffc3",
)
"""One fixed, distinct colour per correction symbol."""
KEEP_COLOUR = "#9e9e9e"
"""The legend's swatch of the keep symbol (the last one), which the map leaves clear: those blocks show the
JPEG (decoded anew from its coefficients)."""
BITS_COLORMAP = "inferno"
_PALETTE = np.array(
    [[*QColor(c).getRgb()[:3], 255] for c in DESCRIPTOR_COLOURS] + [[*QColor(KEEP_COLOUR).getRgb()[:3], 0]],
    dtype=np.uint8,
)


def descriptor_rgba(symbols: np.ndarray) -> np.ndarray:
    """(H16, W16, 4) uint8 colours of a descriptor map."""
    return _PALETTE[np.asarray(symbols) % len(_PALETTE)]


def bits_rgba(bits: np.ndarray) -> np.ndarray:
    """(H16, W16, 4) uint8 colours of the bits per block, from 0 to the map's maximum."""
    top = float(bits.max()) or 1.0
    return pg.colormap.get(BITS_COLORMAP).map(np.clip(bits / top, 0, 1), mode="byte")


class BlockMapItem(pg.ImageItem):
    """A map stretched onto image coordinates (by 16 for a block map, 1 for a pixel map), drawn over an image."""

    def __init__(self) -> None:
        super().__init__(axisOrder="row-major")
        self.setZValue(10)
        self.setOpacity(0.55)
        self.setVisible(False)

    def show_map(self, rgba: np.ndarray | None, scale: int = BLOCK) -> None:
        """Show a map whose entries cover ``scale`` x ``scale`` image pixels (or hide the layer for None)."""
        if rgba is None:
            self.setVisible(False)
            return
        rows, cols = rgba.shape[:2]
        self.setImage(rgba, autoLevels=False, levels=(0, 255))
        self.setRect(QRectF(0, 0, cols * scale, rows * scale))
        self.setVisible(True)


def _swatch(colour: QColor, size: int = 12) -> QLabel:
    label = QLabel()
    pixmap = QPixmap(size, size)
    pixmap.fill(colour)
    label.setPixmap(pixmap)
    return label


def _scale_page(colormap: pg.ColorMap) -> tuple[QWidget, QLabel]:
    """A colour bar with a text line under it: the page and its text label."""
    page = QWidget()
    layout = QVBoxLayout(page)
    layout.setContentsMargins(0, 0, 0, 0)
    bar = QLabel()
    bar.setScaledContents(True)
    bar.setFixedHeight(14)
    bar.setPixmap(_gradient(colormap))
    text = QLabel()
    text.setStyleSheet("font-family: monospace;")
    text.setWordWrap(True)
    layout.addWidget(bar)
    layout.addWidget(text)
    return page, text


def _gradient(colormap: pg.ColorMap, width: int = 256) -> QPixmap:
    rgba = colormap.map(np.linspace(0, 1, width), mode="byte")
    row = np.ascontiguousarray(np.repeat(rgba[None], 2, axis=0))
    image = QImage(row.data, width, 2, 4 * width, QImage.Format.Format_RGBA8888)
    return QPixmap.fromImage(image.copy())


class MapLegend(QGroupBox):
    """Per-symbol counts for the descriptor map, or the colour scale of the bits or difference map."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Map legend", parent)
        self.pages = QStackedWidget()
        self.empty = QLabel()
        self.empty.setWordWrap(True)
        self.symbols_page = QWidget()
        grid = QGridLayout(self.symbols_page)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(2)
        self.counts: list[QLabel] = []
        for i, colour in enumerate((*DESCRIPTOR_COLOURS, KEEP_COLOUR)):
            row, col = (i % 8, 2 * (i // 8)) if i < len(DESCRIPTOR_COLOURS) else (8, 0)
            grid.addWidget(_swatch(QColor(colour)), row, col)
            count = QLabel()
            count.setStyleSheet("font-family: monospace;")
            grid.addWidget(count, row, col + 1, 1, 1 if i < len(DESCRIPTOR_COLOURS) else 3)  # keep: a long line
            self.counts.append(count)
        self.usage = QLabel()
        grid.addWidget(self.usage, 9, 0, 1, 4)
        self.bits_page, self.scale = _scale_page(pg.colormap.get(BITS_COLORMAP))
        self.difference_page, self.difference = _scale_page(DIFFERENCE_COLORMAP)
        for page in (self.empty, self.symbols_page, self.bits_page, self.difference_page):
            self.pages.addWidget(page)
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages)

    def show_none(self, note: str) -> None:
        self.empty.setText(note)
        self.pages.setCurrentWidget(self.empty)

    def show_descriptors(self, symbols: np.ndarray) -> None:
        counts = np.bincount(symbols.ravel(), minlength=len(self.counts))
        total = int(counts.sum())
        for i, (label, n) in enumerate(zip(self.counts, counts, strict=False)):
            name = "keep" if i == len(DESCRIPTOR_COLOURS) else f"{i:2d}"
            label.setText(f"{name} {n:6d} {100 * n / total:5.1f}%" + (" (JPEG pixels)" if name == "keep" else ""))
        p = counts[counts > 0] / total
        perplexity = float(np.exp(-(p * np.log(p)).sum()))
        used = f"{np.count_nonzero(counts)} of {len(self.counts)} symbols used"
        self.usage.setText(f"{used} · perplexity {perplexity:.2f}")
        self.pages.setCurrentWidget(self.symbols_page)

    def show_bits(self, bits: np.ndarray) -> None:
        self.scale.setText(
            f"0 … {bits.max():.1f} bits/block\nmean {bits.mean():.2f} · total {bits.sum() / 8:.0f} bytes"
        )
        self.scale.setAlignment(Qt.AlignmentFlag.AlignLeft)
        self.pages.setCurrentWidget(self.bits_page)

    def show_difference(self, errors: dict[str, float]) -> None:
        """The difference map's scale and, per view, the mean absolute difference from the original."""
        means = "\n".join(f"{name} − original: mean |Δ| {value:.2f}" for name, value in errors.items())
        scale = f"darker −{DIFFERENCE_RANGE} … 0 … +{DIFFERENCE_RANGE} brighter (levels, mean of R G B)"
        self.difference.setText(f"{scale}\n{means}")
        self.pages.setCurrentWidget(self.difference_page)
