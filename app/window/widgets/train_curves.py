"""Live curves of a training run, one point per iteration: returns, loss and env steps per second.

Iterations arrive as :class:`~agents.core.learner.IterationStats`; a GUI-thread timer pushes them to the
curves (the pyqtgraph idiom the reward plot uses, and the Xvfb repaint trap in MEASURED.md).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer, Slot
from PySide6.QtWidgets import QVBoxLayout, QWidget

from agents.core.learner import IterationStats
from app.window.widgets.reward_plot import LEGEND_BRUSH

SERIES = ("pre_return", "post_return", "loss", "steps_per_s")


class TrainCurvesWidget(QWidget):
    """Three plots against the iteration: returns on top, loss and env steps per second below."""

    def __init__(self, *, refresh_hz: float = 5.0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.graphics = pg.GraphicsLayoutWidget()
        # Returns across the top, loss and speed side by side below: three plots stacked in the window's
        # right-hand column were too short to read (their axis labels ran into each other).
        returns = self.graphics.addPlot(row=0, col=0, colspan=2, title="return per iteration")
        returns.addLegend(offset=(-10, 10), brush=LEGEND_BRUSH)
        loss = self.graphics.addPlot(row=1, col=0, title="loss")
        speed = self.graphics.addPlot(row=1, col=1, title="env steps / s")
        for plot in (loss, speed):  # not x-linked: pyqtgraph aligns linked views by pixel, wrong side by side
            plot.setLabel("bottom", "iteration")
        self._curves = {
            "pre_return": returns.plot(
                name="before adaptation", pen=pg.mkPen("#90caf9", width=2), symbol="o", symbolSize=4
            ),
            "post_return": returns.plot(
                name="after adaptation", pen=pg.mkPen("#ffb74d", width=2), symbol="o", symbolSize=4
            ),
            "loss": loss.plot(pen=pg.mkPen("#e57373")),
            "steps_per_s": speed.plot(pen=pg.mkPen("#81c784")),
        }
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)
        self._iterations: list[int] = []
        self._values: dict[str, list[float]] = {name: [] for name in SERIES}
        self._dirty = False
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.refresh)
        self._timer.start(max(1, round(1000 / refresh_hz)))

    @Slot(object)
    def on_iteration_done(self, stats: IterationStats) -> None:
        """Record one iteration; drawn at the next refresh."""
        self._iterations.append(stats.iteration)
        self._values["pre_return"].append(stats.pre_return)
        self._values["post_return"].append(math.nan if stats.post_return is None else stats.post_return)
        self._values["loss"].append(stats.loss)
        self._values["steps_per_s"].append(stats.env_steps / max(stats.total_seconds, 1e-9))
        self._dirty = True

    def point_count(self) -> int:
        """Iterations recorded."""
        return len(self._iterations)

    def series(self, name: str) -> list[float]:
        """The recorded values of one series (see :data:`SERIES`)."""
        return list(self._values[name])

    @Slot()
    def refresh(self) -> None:
        """Push new points to the curves and repaint."""
        if not self._dirty:
            return
        self._dirty = False
        x = np.asarray(self._iterations, dtype=float)
        for name, curve in self._curves.items():
            curve.setData(x, np.asarray(self._values[name], dtype=float), connect="finite")
        self.graphics.viewport().update()

    def clear(self) -> None:
        """Forget every point."""
        self._iterations.clear()
        for values in self._values.values():
            values.clear()
        for curve in self._curves.values():
            curve.setData([], [])
