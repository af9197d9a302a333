"""Adaptation curves: the reward of each step of the current episode, and the return of each episode.

Several runs are overlaid, each in its own colour with a legend entry ("algorithm · task"); the
return plot draws each run's pre-adaptation level (its episode 0 return) as a dashed line. Slots
append to per-run buffers and a GUI-thread QTimer (~25 Hz) pushes them to the curves and asks the
viewport to repaint (the Xvfb repaint trap: MEASURED.md). Both plots export to PNG and CSV with
pyqtgraph's own exporters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
import pyqtgraph.exporters
from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import QVBoxLayout, QWidget

from app.window.widgets.reward_plot import LEGEND_BRUSH

PLOTS = ("returns", "rewards")
"""Names of the two plots, for :meth:`AdaptPlotWidget.export`."""


@dataclass
class _Run:
    """One run's buffers and curves."""

    label: str
    pen: Any
    episode: int = -1
    step_x: list[float] = field(default_factory=list)
    step_y: list[float] = field(default_factory=list)
    return_x: list[float] = field(default_factory=list)
    return_y: list[float] = field(default_factory=list)
    curves: dict[str, pg.PlotDataItem] = field(default_factory=dict)
    dirty: bool = True


class AdaptPlotWidget(QWidget):
    """Two stacked plots of adaptation runs; call :meth:`start_run` before feeding a run's events."""

    def __init__(self, *, refresh_hz: float = 25.0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.returns_plot = pg.PlotWidget()
        self.returns_plot.setLabel("bottom", "episode")
        self.returns_plot.setLabel("left", "return")
        self.returns_plot.setTitle("return per episode (dashed: before adapting)")
        self.returns_plot.addLegend(offset=(-10, 10), brush=LEGEND_BRUSH)
        self.rewards_plot = pg.PlotWidget()
        self.rewards_plot.setLabel("bottom", "step of the current episode")
        self.rewards_plot.setLabel("left", "reward")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.returns_plot, 1)
        layout.addWidget(self.rewards_plot, 1)
        self._runs: list[_Run] = []
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.refresh)
        self._timer.start(max(1, round(1000 / refresh_hz)))

    # --- feeding --------------------------------------------------------------------------------------
    def start_run(self, label: str) -> int:
        """A new run in the next colour, named ``label`` in the legend; returns its index."""
        pen = pg.mkPen(pg.intColor(len(self._runs), hues=8), width=2)
        run = _Run(label=label, pen=pen)
        run.curves["returns"] = self.returns_plot.plot(
            name=label, pen=pen, symbol="o", symbolSize=7, symbolBrush=pen.color()
        )
        dashed = pg.mkPen(pen.color(), width=1, style=Qt.PenStyle.DashLine)
        run.curves["baseline"] = self.returns_plot.plot(pen=dashed)
        run.curves["rewards"] = self.rewards_plot.plot(pen=pen)
        self._runs.append(run)
        self._title_rewards(label)
        return len(self._runs) - 1

    def rename_run(self, index: int, label: str) -> None:
        """Change a run's legend entry (the algorithm is known only once its checkpoint is loaded)."""
        run = self._runs[index]
        run.label = label
        legend = self.returns_plot.plotItem.legend
        if legend is not None:
            legend.removeItem(run.curves["returns"])
            legend.addItem(run.curves["returns"], label)
        self._title_rewards(label)

    def _title_rewards(self, label: str) -> None:
        """Title the reward plot with the run's number and algorithm (the legend above has the whole label)."""
        self.rewards_plot.setTitle(f"reward per step: {label.split(' · ')[0]}")

    def add_step(self, index: int, episode: int, step: int, reward: float) -> None:
        """One step of a run; a new episode restarts the reward curve."""
        run = self._runs[index]
        if episode != run.episode:
            run.episode = episode
            run.step_x.clear()
            run.step_y.clear()
        run.step_x.append(float(step))
        run.step_y.append(float(reward))
        run.dirty = True

    def add_episode(self, index: int, episode: int, episode_return: float) -> None:
        """The return of one finished episode of a run."""
        run = self._runs[index]
        run.return_x.append(float(episode))
        run.return_y.append(float(episode_return))
        run.dirty = True

    def clear(self) -> None:
        """Forget every run."""
        for run in self._runs:
            self.returns_plot.removeItem(run.curves["returns"])
            self.returns_plot.removeItem(run.curves["baseline"])
            self.rewards_plot.removeItem(run.curves["rewards"])
        self._runs.clear()
        legend = self.returns_plot.plotItem.legend
        if legend is not None:
            legend.clear()
        self.rewards_plot.setTitle("")

    # --- reading --------------------------------------------------------------------------------------
    def run_count(self) -> int:
        """Runs drawn."""
        return len(self._runs)

    def run_label(self, index: int) -> str:
        """A run's legend entry."""
        return self._runs[index].label

    def returns(self, index: int) -> tuple[list[float], list[float]]:
        """A run's (episode, return) points."""
        run = self._runs[index]
        return list(run.return_x), list(run.return_y)

    def rewards(self, index: int) -> tuple[list[float], list[float]]:
        """A run's (step, reward) points of its current (or last) episode."""
        run = self._runs[index]
        return list(run.step_x), list(run.step_y)

    def curve_data(self, index: int, name: str) -> tuple[np.ndarray, np.ndarray]:
        """What a run's curve (``returns``, ``baseline`` or ``rewards``) shows now."""
        x, y = self._runs[index].curves[name].getData()
        return (np.asarray([]), np.asarray([])) if x is None else (np.asarray(x), np.asarray(y))

    # --- drawing --------------------------------------------------------------------------------------
    @Slot()
    def refresh(self) -> None:
        """Push new points to the curves and repaint; nothing to do when no run changed."""
        changed = [run for run in self._runs if run.dirty]
        for run in changed:
            run.dirty = False
            run.curves["rewards"].setData(run.step_x, run.step_y)
            run.curves["returns"].setData(run.return_x, run.return_y)
            if run.return_y:  # the level before adapting, across the episodes so far
                last = max(run.return_x[-1], 1.0)
                run.curves["baseline"].setData([0.0, last], [run.return_y[0]] * 2)
        if changed:
            self.returns_plot.viewport().update()
            self.rewards_plot.viewport().update()

    def export(self, plot: str, path: Path) -> None:
        """Write ``plot`` (one of :data:`PLOTS`) as PNG or CSV, chosen by ``path``'s suffix."""
        self.refresh()
        widget = {"returns": self.returns_plot, "rewards": self.rewards_plot}[plot]
        suffix = path.suffix.lower()
        if suffix == ".png":
            exporter: Any = pyqtgraph.exporters.ImageExporter(widget.plotItem)
        elif suffix == ".csv":
            exporter = pyqtgraph.exporters.CSVExporter(widget.plotItem)
        else:
            raise ValueError(f"plot file {path.name!r} is not allowed: it must end in .png or .csv")
        exporter.export(str(path))
