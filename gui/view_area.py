"""The image area: the three views side by side (zoom and pan linked) or one split view, with what applies to all
of them (fit, zoom, the grid, the map opacity)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QStackedWidget, QWidget

from gui.state import Role
from gui.views import ImagePane, PaneGroup, SplitPane, zoom_step


class ViewArea(QStackedWidget):
    """Side by side or split; the active view (whose zoom the keys set) is the split view or the restored one."""

    hovered = Signal(float, float)
    """Image coordinates under the mouse, in any view."""
    zoom_changed = Signal()
    """The active view's zoom may have changed (it zoomed, or the layout switched)."""

    def __init__(self) -> None:
        super().__init__()
        self.panes = {role: ImagePane() for role in Role}
        self.group = PaneGroup(list(self.panes.values()))
        self.split = SplitPane()
        side_by_side = QWidget()
        row = QHBoxLayout(side_by_side)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(3)
        for pane in self.panes.values():
            row.addWidget(pane)
        self.addWidget(side_by_side)
        self.addWidget(self.split)
        for pane in self.all_panes():
            pane.hovered.connect(self.hovered)
            pane.zoom_changed.connect(lambda _zoom: self.zoom_changed.emit())

    def all_panes(self) -> list[ImagePane]:
        return [*self.panes.values(), self.split]

    def is_split(self) -> bool:
        return self.currentWidget() is self.split

    def active_pane(self) -> ImagePane:
        return self.split if self.is_split() else self.panes[Role.RESTORED]

    def set_split(self, split: bool) -> None:
        """Switch layouts keeping the region in view."""
        shown = self.active_pane()
        self.setCurrentIndex(1 if split else 0)
        self.active_pane().vb.setRange(shown.vb.viewRect(), padding=0)
        self.zoom_changed.emit()

    def fit(self) -> None:
        self.group.fit()
        self.split.fit()

    def zoom_to(self, factor: float) -> None:
        self.active_pane().zoom_to(factor)

    def zoom_by(self, step: int) -> None:
        """One step of the zoom ladder in (1) or out (-1)."""
        pane = self.active_pane()
        pane.zoom_to(zoom_step(pane.zoom(), step))

    def set_grid(self, shown: bool) -> None:
        """The 8x8 grid of JPEG blocks over every view."""
        for pane in self.all_panes():
            pane.grid.setVisible(shown)

    def set_map_opacity(self, opacity: float) -> None:
        for role in (Role.JPEG, Role.RESTORED):
            self.panes[role].map_layer.setOpacity(opacity)
        self.split.set_map_opacity(opacity)
