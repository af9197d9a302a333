"""The reward of each step, and its named terms, over the last few thousand steps.

Data arrival is decoupled from repainting (pyqtgraph idiom): the slot appends to bounded deques,
and a GUI-thread QTimer at 30 Hz pushes them to the curves and asks the viewport to repaint
(under Xvfb, a curve fed straight from a worker's signal often stops repainting: MEASURED.md).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer, Slot
from PySide6.QtWidgets import QVBoxLayout, QWidget

from app.runtime.preview import StepStat

TOTAL = "reward"
LEGEND_BRUSH = (0, 0, 0, 170)
"""Translucent black behind legends: the curves under them stay visible and the labels readable."""


class RewardPlotWidget(QWidget):
    """A pyqtgraph plot of ``StepStat.reward`` and each ``reward_terms`` entry against the step."""

    def __init__(self, *, history: int = 3000, refresh_hz: float = 30.0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot_widget = pg.PlotWidget()
        self.plot_widget.setLabel("bottom", "step")
        self.plot_widget.setLabel("left", "reward")
        # No showGrid(): measured offscreen, its lines cost ~8 ms per repaint, more than the curves.
        self.plot_widget.addLegend(offset=(-10, 10), brush=LEGEND_BRUSH)  # top right
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget)

        self._history = history
        self._steps: deque[int] = deque(maxlen=history)
        self._series: dict[str, deque[float]] = {}
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._dirty = False
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.refresh)
        self._timer.start(max(1, round(1000 / refresh_hz)))

    def _series_for(self, name: str) -> deque[float]:
        series = self._series.get(name)
        if series is None:  # a term seen for the first time: no value at the earlier steps
            series = deque([math.nan] * len(self._steps), maxlen=self._history)
            self._series[name] = series
            width = 2 if name == TOTAL else 1
            pen = pg.mkPen(pg.intColor(len(self._curves), hues=9), width=width)
            self._curves[name] = self.plot_widget.plot(name=name, pen=pen, connect="finite")
            if name == TOTAL:  # on top: a term that makes up most of the reward would hide it otherwise
                self._curves[name].setZValue(1)
        return series

    @Slot(object)
    def on_step_done(self, stat: StepStat) -> None:
        """Record one step; the curves catch up at the next refresh."""
        values = {TOTAL: stat.reward, **stat.reward_terms}
        for name in values:
            self._series_for(name)
        self._steps.append(stat.step)
        for name, series in self._series.items():
            series.append(values.get(name, math.nan))
        self._dirty = True

    def point_count(self) -> int:
        """How many steps are held (at most ``history``)."""
        return len(self._steps)

    @Slot()
    def refresh(self) -> None:
        """Push the buffered data to the curves and repaint; cheap when nothing arrived."""
        if not self._dirty:
            return
        self._dirty = False
        steps = np.fromiter(self._steps, dtype=float, count=len(self._steps))
        for name, series in self._series.items():
            self._curves[name].setData(steps, np.fromiter(series, dtype=float, count=len(series)))
        self.plot_widget.viewport().update()

    def clear(self) -> None:
        """Forget all data and curves."""
        for curve in self._curves.values():
            self.plot_widget.removeItem(curve)
        self._curves.clear()
        self._series.clear()
        self._steps.clear()
        legend = self.plot_widget.plotItem.legend
        if legend is not None:
            legend.clear()
        self._dirty = False
