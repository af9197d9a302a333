"""The Map tab: where does the chosen agent fail over one or two task fields, before and after adapting?

Run starts a :class:`MapWorker` on a map job from the window's :class:`~app.runtime.launcher.JobLauncher`
(:func:`~app.runtime.map_control.map_job`, a child process in the app) and draws each cell in
:class:`~app.window.widgets.map_view.MapView` as it finishes: a heatmap with a colour bar over two
fields, a curve with 95 % intervals over one, the agent's training range marked. Measure and view
(before / after / gain) redraw what has arrived. Clicking a cell emits its task in ``task_chosen``
(the window loads it into the task editor, so the Adapt tab can run that case). Stop ends the job
after the cell in hand. Save writes the CSV and PNGs of ``sim2adapt bench map`` in a child process
from the same launcher (:mod:`app.window.widgets.map_jobs`). The rules live in the Qt-free
:class:`~app.runtime.map_control.MapController`; like every panel, this one speaks through
``status_changed`` and ``error_occurred``.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QAbstractItemModel, QTimer, Signal, Slot
from PySide6.QtWidgets import QComboBox, QFormLayout, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from agents.core.task_map import MAX_AXIS_CELLS, CellResult
from app.runtime.launcher import JobLauncher
from app.runtime.map_control import MEASURES, VIEWS, MapController, MapStarted, numeric_fields
from app.window.dialogs import FileDialogs
from app.window.jobs import JobRunner
from app.window.widgets.adapt_panel import CONTROL_DT_S, DEFAULT_EPISODE_S
from app.window.widgets.map_jobs import MapWorker, run_save, save_job
from app.window.widgets.map_view import MapView
from app.window.workers import RunSlot

DEFAULT_FIELDS = ("robot.payload_kg", "terrain.friction")
COLOUR_MAPS = {"tracking_error_mps": "viridis", "fall_share": "inferno", "return": "viridis", "gain": "CET-D1"}
REDRAW_MS = 40
"""cells are drawn at most 25 times a second, however fast they arrive"""
NO_Y = "none (a curve over X)"


class MapPanel(QWidget):
    """Agent, fields, grid and budget; Run / Stop / Save; the map, drawn as its cells arrive."""

    running_changed = Signal(bool)
    """A map's job started (True) or its thread ended (False): the window pauses the preview meanwhile."""
    task_chosen = Signal(object)
    """The :class:`~sim.params.TaskParams` of a clicked cell, for the task editor."""
    status_changed = Signal(str)
    """A line of news (each cell, stopping, saved) for the status bar and the log."""
    error_occurred = Signal(str)
    """A failure to show (status bar and log)."""

    def __init__(
        self,
        *,
        agents: QAbstractItemModel | None = None,
        dialogs: FileDialogs | None = None,
        jobs: JobRunner | None = None,
        launcher: JobLauncher | None = None,
        parent: QWidget | None = None,
    ) -> None:
        """``agents``: the checkpoints the Adapt tab offers (its chooser's model), so both tabs list the same."""
        super().__init__(parent)
        self.dialogs = dialogs or FileDialogs()
        self.jobs = jobs or JobRunner(self)
        self.launcher = launcher or JobLauncher()
        self.controller = MapController()
        self._run: RunSlot[MapWorker] = RunSlot()
        self._redraw = QTimer(self, singleShot=True, interval=REDRAW_MS)
        self._redraw.timeout.connect(self.redraw)

        self.agent = QComboBox()
        if agents is not None:
            self.agent.setModel(agents)
        self.agent.setToolTip("the checkpoints the Adapt tab lists (its Browse... adds one to both)")
        self.agent.currentIndexChanged.connect(lambda _index: self._update_buttons())
        self.view = MapView()
        self.view.point_clicked.connect(self.on_point_clicked)
        self.message = QLabel("Choose the fields and Run: each cell adapts a fresh agent to its task.")
        self.message.setWordWrap(True)
        self.message.setMinimumHeight(3 * self.message.fontMetrics().lineSpacing())  # a wrapped label gets 1 line
        layout = QVBoxLayout(self)
        layout.addLayout(self._build_form())
        layout.addLayout(self._build_buttons())
        layout.addWidget(self.message)
        layout.addWidget(self.view, 1)
        self._update_buttons()

    # --- building ---------------------------------------------------------------------------------------
    def _build_form(self) -> QFormLayout:
        self.x_field, self.y_field = QComboBox(), QComboBox()
        self.x_field.addItems(numeric_fields())
        self.y_field.addItems([NO_Y, *numeric_fields()])
        self.x_field.setCurrentText(DEFAULT_FIELDS[0])
        self.y_field.setCurrentText(DEFAULT_FIELDS[1])
        self.y_field.currentIndexChanged.connect(lambda _index: self._update_buttons())
        self.x_points = _spin(2, MAX_AXIS_CELLS, 5, "points along X, both ends of its range included")
        self.y_points = _spin(2, MAX_AXIS_CELLS, 5, "points along Y, both ends of its range included")
        self.shots = _spin(1, 20, 1, "adaptation episodes after the first, unadapted one")
        self.seeds = _spin(1, 20, 1, "runs per cell: more give intervals")
        self.steps = _spin(1, 6000, round(DEFAULT_EPISODE_S / CONTROL_DT_S), "steps per episode at most")
        self.steps.setSuffix(" steps")
        self.workers = _spin(1, os.cpu_count() or 1, min(2, os.cpu_count() or 1), "processes measuring cells")
        form = QFormLayout()
        for label, widget in (("agent", self.agent), ("X field", self.x_field), ("Y field", self.y_field)):
            widget.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            widget.setMinimumContentsLength(16)  # long checkpoint paths must not widen the tab
            form.addRow(label, widget)
        form.addRow("grid", _row(self.x_points, QLabel("x"), self.y_points, QLabel("shots"), self.shots))
        form.addRow("seeds", _row(self.seeds, QLabel("episode"), self.steps, QLabel("workers"), self.workers))
        return form

    def _build_buttons(self) -> QVBoxLayout:
        self.run_button, self.stop_button = QPushButton("Run"), QPushButton("Stop")
        self.save_button = QPushButton("Save...")
        self.save_button.setToolTip("write the map's CSV and heatmap PNGs (as sim2adapt bench map does) to a folder")
        self.run_button.clicked.connect(self.run)
        self.stop_button.clicked.connect(self.stop)
        self.save_button.clicked.connect(self.save)
        self.measure, self.view_choice = QComboBox(), QComboBox()
        for key, label in MEASURES.items():
            self.measure.addItem(label, key)
        self.view_choice.addItems(list(VIEWS))
        self.view_choice.setCurrentText("after")
        self.view_choice.setToolTip("before adapting, after the last adaptation episode, or the gain (> 0: it helped)")
        for choice in (self.measure, self.view_choice):
            choice.currentIndexChanged.connect(lambda _index: self.redraw())
        buttons = _row(self.run_button, self.stop_button, self.save_button)
        show = _row(QLabel("show"), self.measure, self.view_choice)
        show.addStretch(1)
        column = QVBoxLayout()
        column.addLayout(buttons)
        column.addLayout(show)
        return column

    # --- the agent --------------------------------------------------------------------------------------
    def checkpoint(self) -> Path | None:
        """The chosen agent's checkpoint."""
        data = self.agent.currentData()
        return Path(data) if data else None

    def add_checkpoint(self, path: Path) -> None:
        """Offer ``path`` (once; the Adapt tab's list shows it too) and choose it."""
        index = self.agent.findData(str(path))
        if index < 0:
            self.agent.addItem(str(path), str(path))
            index = self.agent.count() - 1
        self.agent.setCurrentIndex(index)

    # --- running ----------------------------------------------------------------------------------------
    def is_running(self) -> bool:
        """Whether a map is going: from its start until this panel has handled its end."""
        return self._run.is_running()

    @Slot()
    def run(self) -> None:
        """Measure the chosen map in a new worker thread (the job itself: from the launcher)."""
        checkpoint = self.checkpoint()
        if checkpoint is None or not self.controller.can("run", checkpoint=checkpoint):
            return
        y = None if self.y_field.currentText() == NO_Y else self.y_field.currentText()
        try:
            request = self.controller.request(
                checkpoint=checkpoint, x=self.x_field.currentText(), y=y,
                counts=(self.x_points.value(), self.y_points.value()), shots=self.shots.value(),
                seeds=self.seeds.value(), max_steps=self.steps.value(), workers=self.workers.value(),
            )  # fmt: skip
        except ValueError as err:
            self._fail(str(err))
            return
        self._status(self.controller.begin(request))
        self.view.start(None, None, title=f"loading {checkpoint.name}...")
        worker = MapWorker(self.launcher.map(request))
        worker.map_started.connect(self.on_map_started)
        worker.cell_done.connect(self.on_cell_done)
        worker.failed.connect(self.on_map_failed)
        worker.finished.connect(self.on_finished)
        self._run.start(worker)
        self.running_changed.emit(True)
        self._update_buttons()

    @Slot()
    def stop(self) -> None:
        """Ask the map to end after the cell in hand (its cell workers are stopped with it)."""
        status = self.controller.request_stop()
        if status is not None and self._run.stop():
            self._status(status)
            self._update_buttons()

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Stop the map and join its thread (the window is closing)."""
        return self._run.shutdown(timeout_ms)

    @Slot(object)
    def on_map_started(self, started: MapStarted) -> None:
        """The grid is known: lay the map out with the agent's training range."""
        self._status(self.controller.on_started(started))
        spec = started.spec
        span_x, span_y = self.controller.training_ranges()
        title = f"{started.algorithm} agent, {spec.seeds} seed(s) per cell"  # short: a long title widens the plot
        self.message.setText("Red dashes: the range the agent trained on. Click a cell to load its task.")
        self.view.start(
            spec.x.values(), None if spec.y is None else spec.y.values(), title=title,
            x_label=spec.x.path, y_label="" if spec.y is None else spec.y.path, span_x=span_x, span_y=span_y,
        )  # fmt: skip
        self.redraw()

    @Slot(object)
    def on_cell_done(self, result: CellResult) -> None:
        """A cell finished: say so, and draw it at the next redraw tick."""
        self._status(self.controller.on_cell(result))
        if not self._redraw.isActive():
            self._redraw.start()

    @Slot(str)
    def on_map_failed(self, message: str) -> None:
        """The job raised (a bad checkpoint, a field its robot refuses, a worker that died): one line."""
        self._fail(f"the map failed: {message}")

    @Slot()
    def on_finished(self) -> None:
        """The map's thread is ending: join it and say how far the map got."""
        text = self.controller.ended(stopped=self._run.end())
        self.message.setText(text)
        self._status(text)
        self.redraw()
        self._update_buttons()
        self.running_changed.emit(False)

    # --- drawing and clicking ---------------------------------------------------------------------------
    @Slot()
    def redraw(self) -> None:
        """Draw the finished cells in the chosen measure and view."""
        if self.controller.started is None:
            return
        measure, view = self.measure.currentData(), self.view_choice.currentText()
        label = f"{MEASURES[measure]}, {view}" + (" (> 0: adapting helped)" if view == "gain" else "")
        if self.controller.spec.y is None:
            self.view.show_curve(*self.controller.curve(measure, view), label=label)
            return
        colour_map = COLOUR_MAPS["gain" if view == "gain" else measure]
        levels = self.controller.levels(measure, view)
        self.view.show_grid(self.controller.grid(measure, view), levels=levels, colour_map=colour_map, label=label)

    @Slot(float, float)
    def on_point_clicked(self, x: float, y: float) -> None:
        """Load the clicked cell's task into the task editor (through ``task_chosen``) and say which it is."""
        if self.controller.started is None:
            return
        cell = self.controller.cell_at(x, y)
        if cell is None:
            return
        where = self.controller.describe(cell, self.measure.currentData())
        text = f"loaded the map's cell {where} into the task editor"
        self.message.setText(f"{text}: Run on the Adapt tab to watch this case adapt.")
        self.view.mark(cell.x, cell.y)
        self.task_chosen.emit(cell.task)
        self._status(text)

    # --- saving -----------------------------------------------------------------------------------------
    @Slot()
    def save(self) -> None:
        """Ask for a folder and write the map's CSV and PNGs there (in a child process, each file atomically)."""
        request, started = self.controller.request_made, self.controller.started
        if not self.controller.can("save") or request is None or started is None:
            return
        folder = self.dialogs.directory(self, "Save the map's CSV and PNGs to")
        if folder is None:
            return
        self.save_to(folder)

    def save_to(self, folder: Path) -> None:
        """Write ``map-AGENT-X[-Y].csv`` and its PNGs into ``folder``."""
        request, started = self.controller.request_made, self.controller.started
        assert request is not None and started is not None
        job = save_job(self.launcher, request, started, self.controller.sorted_results(), folder)
        self.save_button.setEnabled(False)
        self._status(f"saving the map to {folder}")
        self.jobs.call(lambda: run_save(job), on_done=self._on_saved, on_failed=self._on_save_failed)

    def _on_saved(self, written: list[Path]) -> None:
        names = ", ".join(path.name for path in written)
        self.message.setText(f"saved {names} in {written[0].parent}" if written else "nothing to save")
        self._status(f"saved the map: {names}")
        self._update_buttons()

    def _on_save_failed(self, message: str) -> None:
        self._fail(f"saving the map failed: {message}")

    # --- helpers ----------------------------------------------------------------------------------------
    def _update_buttons(self) -> None:
        can = self.controller.can
        self.run_button.setEnabled(can("run", checkpoint=self.checkpoint()))
        self.stop_button.setEnabled(can("stop"))
        self.save_button.setEnabled(can("save"))
        self.y_points.setEnabled(self.y_field.currentText() != NO_Y)

    def _status(self, text: str) -> None:
        self.status_changed.emit(text)

    @Slot(str)
    def _fail(self, message: str) -> None:
        self.message.setText(message)
        self._update_buttons()
        self.error_occurred.emit(message)


def _row(*widgets: QWidget) -> QHBoxLayout:
    row = QHBoxLayout()
    for widget in widgets:
        row.addWidget(widget)
    return row


def _spin(low: int, high: int, value: int, help_text: str) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setValue(value)
    spin.setToolTip(help_text)
    return spin
