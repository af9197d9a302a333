"""Adaptation curves: the return of each episode, the reward of each step of the current episode, and
the agent's running estimate of the task (:mod:`~app.window.widgets.estimate_plot`).

Several runs are overlaid, each in its own colour with a legend entry ("algorithm · task"); the
return plot draws each run's pre-adaptation level (its episode 0 return) as a dashed line. A change
of the task during a run (an edit of the task form) is a vertical line in the run's colour, labelled
with the change, on every plot: on the step plots at its step (until the next episode starts over),
on the return plot at ``episode + step / steps per episode``, between that episode's point and the
next one's. Slots append to per-run buffers and a GUI-thread QTimer (~25 Hz) pushes them to the
curves and asks the viewports to repaint (the Xvfb repaint trap: MEASURED.md). Every plot exports to
PNG and CSV with pyqtgraph's own exporters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
import pyqtgraph.exporters
from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import QVBoxLayout, QWidget

from app.window.widgets.estimate_plot import EstimatePlotWidget
from app.window.widgets.reward_plot import LEGEND_BRUSH

PLOTS = ("returns", "rewards", "estimates")
"""Names of the three plots, for :meth:`AdaptPlotWidget.export`."""
LABEL_ROWS = 4
"""marker labels take turns over this many heights, so changes close together stay readable"""


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
    episode_steps: int = 0
    """steps per episode at most: places a change on the return plot's episode axis"""
    markers: dict[str, list[pg.InfiniteLine]] = field(default_factory=dict)
    """change markers per plot name; the step plots' are the current episode's"""


class AdaptPlotWidget(QWidget):
    """Three stacked plots of adaptation runs; call :meth:`start_run` before feeding a run's events."""

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
        for plot in (self.returns_plot, self.rewards_plot):
            for axis in ("left", "bottom"):
                plot.getAxis(axis).enableAutoSIPrefix(False)  # a reward of 0.2 reads as 0.2, not 200 (x0.001)
        self.estimates = EstimatePlotWidget()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.returns_plot, 1)
        layout.addWidget(self.rewards_plot, 1)
        layout.addWidget(self.estimates, 1)
        self._plots = {"returns": self.returns_plot, "rewards": self.rewards_plot, "estimates": self.estimates.plot}
        self._runs: list[_Run] = []
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.refresh)
        self._timer.start(max(1, round(1000 / refresh_hz)))

    # --- feeding --------------------------------------------------------------------------------------
    def start_run(self, label: str, *, episode_steps: int = 0) -> int:
        """A new run in the next colour, named ``label`` in the legend; returns its index.

        ``episode_steps`` (steps per episode at most) places its task changes on the return plot.
        """
        pen = pg.mkPen(pg.intColor(len(self._runs), hues=8), width=2)
        run = _Run(label=label, pen=pen, episode_steps=episode_steps, markers={name: [] for name in PLOTS})
        run.curves["returns"] = self.returns_plot.plot(
            name=label, pen=pen, symbol="o", symbolSize=7, symbolBrush=pen.color()
        )
        dashed = pg.mkPen(pen.color(), width=1, style=Qt.PenStyle.DashLine)
        run.curves["baseline"] = self.returns_plot.plot(pen=dashed)
        run.curves["rewards"] = self.rewards_plot.plot(pen=pen)
        self._runs.append(run)
        self._title_rewards(label)
        self._clear_markers("estimates")  # the estimate plot shows the newest run only
        self.estimates.start_run(label)
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
        if index == len(self._runs) - 1:
            self.estimates.start_run(label)

    def _title_rewards(self, label: str) -> None:
        """Title the reward plot with the run's number and algorithm (the legend above has the whole label)."""
        self.rewards_plot.setTitle(f"reward per step: {label.split(' · ')[0]}")

    def add_step(self, index: int, episode: int, step: int, reward: float) -> None:
        """One step of a run; a new episode restarts the reward curve."""
        run = self._runs[index]
        if episode != run.episode:
            self._start_episode(index, episode)
        run.step_x.append(float(step))
        run.step_y.append(float(reward))
        run.dirty = True

    def add_episode(self, index: int, episode: int, episode_return: float) -> None:
        """The return of one finished episode of a run."""
        run = self._runs[index]
        run.return_x.append(float(episode))
        run.return_y.append(float(episode_return))
        run.dirty = True

    def add_change(self, index: int, *, episode: int, step: int, label: str) -> None:
        """A change of a run's task before the action of ``step`` of ``episode``: a labelled line on every plot.

        The step plots show the current episode: a change arriving before that episode's first step
        (the change came first) starts the episode there, so the marker is not wiped by it.
        """
        run = self._runs[index]
        if episode != run.episode:
            self._start_episode(index, episode)
        position = episode + step / run.episode_steps if run.episode_steps else float(episode)
        self._mark(run, "returns", position, label)
        self._mark(run, "rewards", float(step), label)
        if index == len(self._runs) - 1:
            self._mark(run, "estimates", float(step), label)

    def _start_episode(self, index: int, episode: int) -> None:
        """Start ``episode`` on the step plots of a run (its curves and markers of the last one go)."""
        run = self._runs[index]
        run.episode = episode
        run.step_x.clear()
        run.step_y.clear()
        run.dirty = True
        self._remove_markers(run, "rewards")
        if index == len(self._runs) - 1:
            self._remove_markers(run, "estimates")

    def expect_estimates(self, index: int, reports: bool) -> None:
        """Whether a run's agent reports a running estimate of the task (the newest run's fills the third plot)."""
        if index == len(self._runs) - 1:
            self.estimates.set_estimates(reports)

    def add_estimate(
        self, index: int, *, episode: int, step: int, estimate: Sequence[float], reference: Sequence[float] | None
    ) -> None:
        """The agent's estimate of the task at ``step`` (and the one from the true task, or None)."""
        if index == len(self._runs) - 1:
            self.estimates.add(episode, step, estimate, reference)

    def clear(self) -> None:
        """Forget every run."""
        for run in self._runs:
            self.returns_plot.removeItem(run.curves["returns"])
            self.returns_plot.removeItem(run.curves["baseline"])
            self.rewards_plot.removeItem(run.curves["rewards"])
            for name in PLOTS:
                self._remove_markers(run, name)
        self._runs.clear()
        legend = self.returns_plot.plotItem.legend
        if legend is not None:
            legend.clear()
        self.rewards_plot.setTitle("")
        self.estimates.clear()

    def _mark(self, run: _Run, plot: str, x: float, label: str) -> None:
        markers = run.markers[plot]
        colour = run.pen.color()
        line = pg.InfiniteLine(
            pos=x,
            angle=90,
            pen=pg.mkPen(colour, width=2, style=Qt.PenStyle.DashLine),
            label=label,
            labelOpts={
                "position": 0.92 - 0.14 * (len(markers) % LABEL_ROWS),
                "color": "w",
                "fill": LEGEND_BRUSH,
                "border": pg.mkPen(colour),
                "movable": False,
            },
        )
        line.setZValue(5)
        self._plots[plot].addItem(line)
        markers.append(line)
        self._place_label(plot, line)
        self._plots[plot].viewport().update()

    def _place_label(self, plot: str, line: pg.InfiniteLine) -> None:
        """Put a marker's label on the side of its line with more room (a change is drawn at the newest
        step, the plot's right edge: there the label reads leftwards), so it is not cut at the edge."""
        (low, high), _ = self._plots[plot].plotItem.viewRange()
        side = (1.0, 0.5) if line.value() > (low + high) / 2 else (0.0, 0.5)
        if line.label.anchors[0] != side:
            line.label.anchors = [side, side]
            line.label.updatePosition()

    def _remove_markers(self, run: _Run, plot: str) -> None:
        for line in run.markers.get(plot, []):
            self._plots[plot].removeItem(line)
        run.markers[plot] = []

    def _clear_markers(self, plot: str) -> None:
        for run in self._runs:
            self._remove_markers(run, plot)

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

    def markers(self, index: int, plot: str) -> list[tuple[float, str]]:
        """A run's change markers on ``plot`` (one of :data:`PLOTS`) as (x, label)."""
        return [(float(line.value()), line.label.format) for line in self._runs[index].markers[plot]]

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
            for run in self._runs:  # the views follow the data: a label may now have room on the other side
                for plot, lines in run.markers.items():
                    for line in lines:
                        self._place_label(plot, line)
        self.estimates.refresh()

    def export(self, plot: str, path: Path) -> None:
        """Write ``plot`` (one of :data:`PLOTS`) as PNG or CSV, chosen by ``path``'s suffix."""
        self.refresh()
        widget = self._plots[plot]
        suffix = path.suffix.lower()
        if suffix == ".png":
            exporter: Any = pyqtgraph.exporters.ImageExporter(widget.plotItem)
        elif suffix == ".csv":
            exporter = pyqtgraph.exporters.CSVExporter(widget.plotItem)
        else:
            raise ValueError(f"plot file {path.name!r} is not allowed: it must end in .png or .csv")
        exporter.export(str(path))
