"""Image views: panes with linked zoom and pan, a before/after split view, corner overlays, block maps."""

from __future__ import annotations

import html
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QLineF, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsRectItem,
    QGridLayout,
    QLabel,
    QStyleOptionGraphicsItem,
    QWidget,
)

from gui.descriptor_map import BlockMapItem
from gui.theme import ACCENT, OVERLAY_STYLE

OVERLAY_MARGIN = 10
TOP = Qt.AlignmentFlag.AlignTop
GRID = 8
"""Pixels between the lines of the grid overlay: JPEG's DCT blocks."""
GRID_MIN_SPACING = 8
"""Screen pixels between grid lines below which the grid is not drawn (it would hide the image)."""
ZOOM_STEPS = (1 / 16, 1 / 8, 1 / 4, 1 / 3, 1 / 2, 2 / 3, 1, 3 / 2, 2, 3, 4, 6, 8, 12, 16, 24, 32)
"""What the + and - keys step through (screen pixels per image pixel)."""


def zoom_step(current: float, step: int) -> float:
    """The zoom one step in (``step`` 1) or out (-1) from ``current``, which need not be a step itself."""
    if step > 0:
        return next((z for z in ZOOM_STEPS if z > current * 1.01), ZOOM_STEPS[-1])
    return next((z for z in reversed(ZOOM_STEPS) if z < current / 1.01), ZOOM_STEPS[0])


class GridItem(QGraphicsItem):
    """Lines every ``GRID`` image pixels over an image, one screen pixel wide at any zoom; only the visible part is
    drawn, and only from 100 % on (seen whole, a large image would vanish under the lines)."""

    def __init__(self) -> None:
        super().__init__()
        self.size = (0, 0)
        self.pen = QPen(QColor(255, 255, 255, 110), 0)
        self.pen.setCosmetic(True)
        self.setZValue(15)
        self.setVisible(False)

    def set_size(self, width: int, height: int) -> None:
        self.prepareGeometryChange()
        self.size = (width, height)

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, *self.size)

    def lines(self, exposed: QRectF) -> list[QLineF]:
        """The grid's lines that cross ``exposed`` (image coordinates), clipped to the image."""
        area = exposed.intersected(self.boundingRect())
        if area.isEmpty():
            return []
        first_x, last_x = math.ceil(area.left() / GRID) * GRID, math.floor(area.right() / GRID) * GRID
        first_y, last_y = math.ceil(area.top() / GRID) * GRID, math.floor(area.bottom() / GRID) * GRID
        return [QLineF(x, area.top(), x, area.bottom()) for x in range(first_x, last_x + 1, GRID)] + [
            QLineF(area.left(), y, area.right(), y) for y in range(first_y, last_y + 1, GRID)
        ]

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        if GRID * abs(painter.worldTransform().m11()) < GRID_MIN_SPACING:
            return
        painter.setPen(self.pen)
        painter.drawLines(self.lines(option.exposedRect))


def _overlay(parent: QWidget) -> QLabel:
    label = QLabel(parent)
    label.setStyleSheet(OVERLAY_STYLE)
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setWordWrap(True)  # a narrow view wraps the text rather than cut it off
    label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
    return label


def caption_html(title: str, lines: list[str], details: bool) -> str:
    """Overlay text: a bold title, then (when details are on) one line per measurement."""
    body = "".join(f"<br>{html.escape(line)}" for line in lines) if details else ""
    return f"<div style='white-space:pre-wrap'><b>{html.escape(title)}</b>{body}</div>"


def _image_item() -> pg.ImageItem:
    return pg.ImageItem(axisOrder="row-major")


class ImagePane(pg.GraphicsView):
    """One image in a ViewBox (y down, square pixels) with a block map, an 8x8 grid and a corner overlay. Below
    100 % the image is scaled smoothly (nearest pixels alias at fit); from 100 % on its pixels are crisp squares."""

    hovered = Signal(float, float)
    """Image coordinates under the mouse."""
    zoom_changed = Signal(float)
    """Screen pixels per image pixel."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vb = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False, defaultPadding=0.01)
        self.setCentralItem(self.vb)
        self.image = _image_item()
        self.map_layer = BlockMapItem()
        self.grid = GridItem()
        self.vb.addItem(self.image)
        self.vb.addItem(self.map_layer, ignoreBounds=True)
        self.vb.addItem(self.grid, ignoreBounds=True)
        self.vb.sigRangeChanged.connect(self._on_transform)
        self.vb.sigResized.connect(self._on_transform)
        self.overlay = _overlay(self)
        self.placeholder = QLabel(self)
        self.placeholder.setStyleSheet("color: #8b8d94; font-size: 15px;")
        self.placeholder.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.corners = QGridLayout(self)
        self.corners.setContentsMargins(*(OVERLAY_MARGIN,) * 4)
        self.corners.setColumnStretch(0, 1)
        self.corners.setColumnStretch(1, 1)
        self.corners.addWidget(self.overlay, 0, 0, 1, 2, TOP | Qt.AlignmentFlag.AlignLeft)
        self.corners.addWidget(self.placeholder, 0, 0, 1, 2, Qt.AlignmentFlag.AlignCenter)
        self.scene().sigMouseMoved.connect(self._mouse_moved)

    def set_image(self, rgb: np.ndarray | None, placeholder: str = "") -> None:
        """Show pixels 1:1 in image coordinates (levels fixed at 0..255), or a placeholder text.

        An empty pane hides its image item: a cleared one still has bounds at the origin, and fitting the
        linked panes would then frame the origin instead of the image the others show."""
        if rgb is None:
            self.image.clear()
        else:
            self.image.setImage(rgb, autoLevels=False, levels=(0, 255))
        self.image.setVisible(rgb is not None)
        self.grid.set_size(*((rgb.shape[1], rgb.shape[0]) if rgb is not None else (0, 0)))
        self.placeholder.setText("" if rgb is not None else placeholder)

    def set_caption(self, html: str) -> None:
        self.overlay.setText(html)

    def fit(self) -> None:
        """Fit the image in the view and keep it fitted while the window resizes."""
        self.vb.enableAutoRange()

    def zoom_to(self, factor: float) -> None:
        """Show ``factor`` screen pixels per image pixel, around the current centre."""
        centre = self.vb.viewRect().center()
        width, height = self.vb.width() / factor, self.vb.height() / factor
        self.vb.setRange(QRectF(centre.x() - width / 2, centre.y() - height / 2, width, height), padding=0)

    def zoom(self) -> float:
        """Screen pixels per image pixel."""
        shown = self.vb.viewRect().width()
        return self.vb.width() / shown if shown > 0 and self.vb.width() > 0 else 1.0

    def _on_transform(self) -> None:
        zoom = self.zoom()
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, zoom < 1.0 - 1e-6)
        self.zoom_changed.emit(zoom)

    def _mouse_moved(self, pos: QPointF) -> None:
        if self.vb.sceneBoundingRect().contains(pos):
            point = self.vb.mapSceneToView(pos)
            self.hovered.emit(point.x(), point.y())


class SplitPane(ImagePane):
    """Before / after on one view: left of the draggable line shows ``before``, right shows ``after``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.clip = QGraphicsRectItem()
        self.clip.setFlag(QGraphicsItem.GraphicsItemFlag.ItemClipsChildrenToShape)
        self.clip.setPen(QPen(Qt.PenStyle.NoPen))
        self.clip.setZValue(self.map_layer.zValue() + 1)  # the left side's image and map cover the right side's
        self.before = _image_item()
        self.before.setParentItem(self.clip)
        self.before_map = BlockMapItem()
        self.before_map.setParentItem(self.clip)
        self.vb.addItem(self.clip, ignoreBounds=True)
        self.line = pg.InfiniteLine(
            angle=90, movable=True, pen=pg.mkPen("#f2f2f2", width=2), hoverPen=pg.mkPen(ACCENT, width=3),
            label="◀ ▶", labelOpts={"position": 0.5, "color": "#f2f2f2", "fill": (20, 20, 24, 200)},
        )
        self.line.setZValue(20)
        self.vb.addItem(self.line, ignoreBounds=True)
        self.line.sigPositionChanged.connect(self._update_clip)
        self.overlay_right = _overlay(self)
        self.corners.removeWidget(self.overlay)  # each overlay gets its half of the view
        self.corners.addWidget(self.overlay, 0, 0, TOP | Qt.AlignmentFlag.AlignLeft)
        self.corners.addWidget(self.overlay_right, 0, 1, TOP | Qt.AlignmentFlag.AlignRight)
        self._size: tuple[int, int] | None = None

    def set_pair(self, before: np.ndarray | None, after: np.ndarray | None) -> None:
        """Images on either side of the line; the line starts in the middle whenever the size changes."""
        self.set_image(after, "")
        if before is None:
            self.before.clear()
        else:
            self.before.setImage(before, autoLevels=False, levels=(0, 255))
        shown = after if after is not None else before
        size = None if shown is None else (shown.shape[1], shown.shape[0])
        if size != self._size and size is not None:
            self.line.setBounds((0, size[0]))
            self.line.setValue(size[0] / 2)
        self._size = size
        self._update_clip()

    def show_maps(self, before: tuple[np.ndarray | None, int], after: tuple[np.ndarray | None, int]) -> None:
        """A map (rgba, image pixels per entry) over each side of the line."""
        self.before_map.show_map(*before)
        self.map_layer.show_map(*after)

    def set_map_opacity(self, opacity: float) -> None:
        self.map_layer.setOpacity(opacity)
        self.before_map.setOpacity(opacity)

    def set_captions(self, left: str, right: str) -> None:
        self.set_caption(left)
        self.overlay_right.setText(right)

    def _update_clip(self) -> None:
        height = self._size[1] if self._size else 0
        self.clip.setRect(QRectF(0, 0, max(self.line.value(), 0), height))


class PaneGroup:
    """Side-by-side panes whose zoom and pan are linked."""

    def __init__(self, panes: list[ImagePane]) -> None:
        self.panes = panes
        for pane in panes[1:]:
            pane.vb.setXLink(panes[0].vb)
            pane.vb.setYLink(panes[0].vb)

    def fit(self) -> None:
        for pane in self.panes:
            pane.fit()

    def zoom_to(self, factor: float) -> None:
        self.panes[0].zoom_to(factor)
