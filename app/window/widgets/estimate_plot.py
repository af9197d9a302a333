"""The agent's running estimate of the hidden task, over the steps of the current episode.

An agent that adapts within the episode (RMA: ``z_hat`` from its last steps) reports what it believes
every few steps (:class:`agents.core.adaptation.EstimateEvent`): each component of the estimate is a
solid curve, and the same component computed from the true current task (RMA: the teacher's ``z``),
where the agent can say it, is a dashed curve of the same colour. A change of the task during the
episode shows as the solid curves moving towards the dashed ones, which jump at the change.

Only the newest run is drawn (one colour per component, not per run). An agent that adapts between
episodes (MAML, PEARL, the multi-task baseline) reports nothing: the plot gives way to a line that
says so. Like the other adaptation plots, slots only fill buffers; a GUI-thread QTimer of the owner
calls :meth:`EstimatePlotWidget.refresh`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QStackedLayout, QWidget

NO_RUN_TEXT = "The running estimate of the task appears here when an agent that adapts within the episode runs."
WAITING_TEXT = "waiting for the agent's first estimate"
NO_ESTIMATE_TEXT = "this agent adapts between episodes: no running estimate"
TITLE = "running estimate of the task"
MIN_HUES = 8
"""colours are spread over at least this many hues, so neighbouring components stay apart"""


@dataclass
class _Estimates:
    """The current episode's estimates of the newest run."""

    episode: int = -1
    steps: list[float] = field(default_factory=list)
    estimate: list[tuple[float, ...]] = field(default_factory=list)
    reference: list[tuple[float, ...] | None] = field(default_factory=list)
    dirty: bool = False


class EstimatePlotWidget(QWidget):
    """A plot of the newest run's task estimate per step, or a line saying why there is none."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "step of the current episode")
        self.plot.setLabel("left", "z (dashed: of the true task)")
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).enableAutoSIPrefix(False)
        self.plot.setTitle(TITLE)
        self.message = QLabel(NO_RUN_TEXT)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setFrameShape(QLabel.Shape.StyledPanel)
        self._stack = QStackedLayout(self)
        self._stack.addWidget(self.message)
        self._stack.addWidget(self.plot)
        self._data = _Estimates()
        self._solid: list[pg.PlotDataItem] = []
        self._dashed: list[pg.PlotDataItem] = []

    # --- feeding --------------------------------------------------------------------------------------
    def start_run(self, label: str) -> None:
        """A new run replaces the drawn one; until it says whether it estimates, the plot waits."""
        self._reset_curves()
        self.plot.setTitle(f"{TITLE}: {label.split(' · ')[0]}")
        self._show_message(WAITING_TEXT)

    def set_estimates(self, reports: bool) -> None:
        """Whether the running agent reports estimates (known once its checkpoint is loaded)."""
        if not reports:
            self._show_message(NO_ESTIMATE_TEXT)

    def add(self, episode: int, step: int, estimate: Sequence[float], reference: Sequence[float] | None) -> None:
        """One estimate of the newest run; a new episode restarts the curves."""
        data = self._data
        if episode != data.episode:
            data.episode = episode
            data.steps.clear()
            data.estimate.clear()
            data.reference.clear()
        data.steps.append(float(step))
        data.estimate.append(tuple(float(v) for v in estimate))
        data.reference.append(None if reference is None else tuple(float(v) for v in reference))
        data.dirty = True
        if self._stack.currentWidget() is not self.plot:
            self._stack.setCurrentWidget(self.plot)

    def clear(self) -> None:
        """Forget the drawn run."""
        self._reset_curves()
        self.plot.setTitle(TITLE)
        self._show_message(NO_RUN_TEXT)

    # --- reading --------------------------------------------------------------------------------------
    def empty_text(self) -> str | None:
        """The line shown instead of the plot, or None while the plot shows."""
        return None if self._stack.currentWidget() is self.plot else self.message.text()

    def curves(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """What each component's solid curve (the agent's estimate) shows now."""
        return [_data_of(curve) for curve in self._solid]

    def reference_curves(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """What each component's dashed curve (from the true task) shows now (empty where none was given)."""
        return [_data_of(curve) for curve in self._dashed]

    # --- drawing --------------------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Push new estimates to the curves; whether anything changed (the owner repaints then)."""
        data = self._data
        if not data.dirty:
            return False
        data.dirty = False
        width = len(data.estimate[0]) if data.estimate else 0
        self._ensure_curves(width)
        values = np.asarray(data.estimate, dtype=float).reshape(len(data.steps), width)
        known = [i for i, ref in enumerate(data.reference) if ref is not None and len(ref) == width]
        reference = np.asarray([data.reference[i] for i in known], dtype=float).reshape(len(known), width)
        ref_steps = [data.steps[i] for i in known]
        for component in range(width):
            self._solid[component].setData(data.steps, values[:, component])
            self._dashed[component].setData(ref_steps, reference[:, component])
        self.plot.viewport().update()
        return True

    def _ensure_curves(self, width: int) -> None:
        """One solid and one dashed curve per component (the first estimate tells how many)."""
        if len(self._solid) == width:
            return
        self._remove_curves()
        hues = max(width, MIN_HUES)
        for component in range(width):
            colour = pg.intColor(component, hues=hues)
            # No legend: latent components have no names, and 8 entries would cover the curves.
            self._solid.append(self.plot.plot(pen=pg.mkPen(colour, width=2)))
            dashed = pg.mkPen(colour, width=1, style=Qt.PenStyle.DashLine)
            self._dashed.append(self.plot.plot(pen=dashed))

    def _reset_curves(self) -> None:
        """No curves and no data: a new run, or none."""
        self._remove_curves()
        self._data = _Estimates()

    def _remove_curves(self) -> None:
        for curve in self._solid + self._dashed:
            self.plot.removeItem(curve)
        self._solid, self._dashed = [], []

    def _show_message(self, text: str) -> None:
        self.message.setText(text)
        self._stack.setCurrentWidget(self.message)


def _data_of(curve: pg.PlotDataItem) -> tuple[np.ndarray, np.ndarray]:
    x, y = curve.getData()
    return (np.asarray([]), np.asarray([])) if x is None else (np.asarray(x), np.asarray(y))
