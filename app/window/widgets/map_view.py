"""The Map tab's plot: a heatmap with a colour bar over two task fields, or a curve with intervals over one.

It only draws what it is handed (the rules live in :class:`~app.runtime.map_control.MapController`):
:meth:`MapView.start` lays a new map out (axes, the family's training range), then :meth:`show_grid`
or :meth:`show_curve` redraw it as cells arrive. A cell not measured yet is NaN, which pyqtgraph's
ImageItem leaves transparent, so the grid fills in visibly. A left click inside the plot emits
``point_clicked`` with the point in the fields' units; the panel decides which cell that is.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from numpy.typing import NDArray
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

MAX_LABELLED_CELLS = 64
"""grids up to 8 x 8 print each cell's value on it (more would hide the colours)"""
RANGE_PEN = pg.mkPen("r", width=2, style=Qt.PenStyle.DashLine)


class MapView(QWidget):
    """One plot, rebuilt for each map: an ImageItem with a ColorBarItem, or a curve with error bars."""

    point_clicked = Signal(float, float)
    """A left click inside the plot, at ``(x, y)`` in the fields' units."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.graphics = pg.GraphicsLayoutWidget()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)
        self.plot: Any = None
        self.image: Any = None
        self.bar: Any = None
        self.curve: Any = None
        self.error_bars: Any = None
        self.chosen: Any = None
        """the outline of the cell last loaded into the task editor (a curve: a line at its x)"""
        self._labels: list[Any] = []
        self._cells: tuple[NDArray[np.float64], NDArray[np.float64]] = (np.zeros(0), np.zeros(0))
        self.graphics.scene().sigMouseClicked.connect(self._on_clicked)
        self.start(None, None, title="Run a map: its cells appear here as they finish")

    def start(
        self,
        xs: tuple[float, ...] | None,
        ys: tuple[float, ...] | None,
        *,
        title: str,
        x_label: str = "",
        y_label: str = "",
        span_x: tuple[float, float] | None = None,
        span_y: tuple[float, float] | None = None,
    ) -> None:
        """Lay out a new, empty map at grid values ``xs`` (and ``ys``; None: a curve), with the training range."""
        self.graphics.clear()
        self.plot = self.graphics.addPlot(title=title)
        self.plot.setLabel("bottom", x_label)
        self.plot.setLabel("left", y_label)
        self.plot.setMenuEnabled(False)
        self.image = self.bar = self.curve = self.error_bars = self.chosen = None
        self._labels = []
        if xs is None:
            return
        chosen_pen = pg.mkPen("w", width=3)
        self.chosen = pg.PlotDataItem([], [], pen=chosen_pen) if ys is not None else pg.InfiniteLine(pen=chosen_pen)
        self.chosen.setVisible(False)
        self.chosen.setZValue(30)
        self.plot.addItem(self.chosen)
        self._cells = (np.asarray(xs), np.asarray(ys if ys is not None else ()))
        if ys is None:
            self._start_curve(span_x)
        else:
            self._start_heatmap(span_x, span_y)

    def _start_heatmap(self, span_x: tuple[float, float] | None, span_y: tuple[float, float] | None) -> None:
        xs, ys = self._cells
        dx, dy = (xs[-1] - xs[0]) / (len(xs) - 1), (ys[-1] - ys[0]) / (len(ys) - 1)
        self.image = pg.ImageItem(np.full((len(xs), len(ys)), math.nan), autoLevels=False, levels=(0.0, 1.0))
        self.image.setRect(QRectF(xs[0] - dx / 2, ys[0] - dy / 2, dx * len(xs), dy * len(ys)))
        self.plot.addItem(self.image)
        self.bar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=pg.colormap.get("viridis"), interactive=False)
        self.bar.setImageItem(self.image, insert_in=self.plot)
        if span_x is not None and span_y is not None:
            (x0, x1), (y0, y1) = span_x, span_y
            point = "x" if (x0, y0) == (x1, y1) else None  # trained at one task: a mark, not a box
            box = pg.PlotDataItem([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0], pen=RANGE_PEN, symbol=point)
            box.setZValue(10)
            self.plot.addItem(box)

    def _start_curve(self, span_x: tuple[float, float] | None) -> None:
        if span_x is not None:
            low, high = span_x
            if low < high:
                self.plot.addItem(pg.LinearRegionItem((low, high), movable=False, brush=pg.mkBrush(255, 0, 0, 30)))
            for end in {low, high}:
                self.plot.addItem(pg.InfiniteLine(end, angle=90, pen=RANGE_PEN))
        self.curve = self.plot.plot([], [], pen=pg.mkPen("#1f77b4", width=2), symbol="o", symbolBrush="#1f77b4")
        self.error_bars = pg.ErrorBarItem(x=np.zeros(0), y=np.zeros(0), height=np.zeros(0), pen=pg.mkPen("#1f77b4"))
        self.plot.addItem(self.error_bars)

    def show_grid(self, grid: NDArray[np.float64], *, levels: tuple[float, float], colour_map: str, label: str) -> None:
        """Draw ``grid`` (``[rows = y, columns = x]``, NaN: not measured yet) on the heatmap."""
        if self.image is None:
            return
        self.bar.setColorMap(pg.colormap.get(colour_map))
        self.bar.getAxis("left").setLabel(label)  # where ColorBarItem puts its own label
        self.image.setImage(grid.T, autoLevels=False)  # pyqtgraph's images are [x, y]
        self.bar.setLevels(levels)
        for text in self._labels:
            self.plot.removeItem(text)
        self._labels = []
        if grid.size > MAX_LABELLED_CELLS:
            return
        xs, ys = self._cells
        for (iy, ix), value in np.ndenumerate(grid):
            if math.isfinite(value):
                text = pg.TextItem(f"{value:.2f}", color="k", fill=pg.mkBrush(255, 255, 255, 170), anchor=(0.5, 0.5))
                text.setPos(xs[ix], ys[iy])
                text.setZValue(20)  # above the training range's dashes
                self.plot.addItem(text)
                self._labels.append(text)

    def show_curve(
        self, xs: NDArray[np.float64], means: NDArray[np.float64], cis: NDArray[np.float64], *, label: str
    ) -> None:
        """Draw the finished points over x, each with its 95 % interval (none with one seed)."""
        if self.curve is None:
            return
        self.plot.setLabel("left", label)
        self.curve.setData(xs, means)
        self.error_bars.setData(x=xs, y=means, height=2 * np.nan_to_num(cis))

    def mark(self, x: float, y: float | None) -> None:
        """Outline the cell at grid point ``(x, y)`` (the one loaded into the task editor); a curve: its x."""
        if self.chosen is None:
            return
        self.chosen.setVisible(True)
        if y is None:
            self.chosen.setValue(x)
            return
        xs, ys = self._cells
        dx, dy = (xs[-1] - xs[0]) / (len(xs) - 1) / 2, (ys[-1] - ys[0]) / (len(ys) - 1) / 2
        self.chosen.setData([x - dx, x + dx, x + dx, x - dx, x - dx], [y - dy, y - dy, y + dy, y + dy, y - dy])

    def image_values(self) -> NDArray[np.float64] | None:
        """The heatmap's values as drawn, ``[rows = y, columns = x]`` (None for a curve)."""
        return None if self.image is None or self.image.image is None else np.asarray(self.image.image).T

    def curve_points(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The curve's x and y as drawn (empty for a heatmap)."""
        if self.curve is None or self.curve.xData is None:
            return np.zeros(0), np.zeros(0)
        return np.asarray(self.curve.xData), np.asarray(self.curve.yData)

    def _on_clicked(self, event: Any) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self.plot is None:
            return
        box = self.plot.vb
        if box.sceneBoundingRect().contains(event.scenePos()):
            point = box.mapSceneToView(event.scenePos())
            self.point_clicked.emit(float(point.x()), float(point.y()))
