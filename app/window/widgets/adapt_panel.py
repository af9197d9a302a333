"""The Adapt panel: choose a checkpoint, adapt it to the editor's task, compare runs, export.

The checkpoint comes from a :class:`~app.window.widgets.checkpoint_chooser.CheckpointChooser` (the
agents folder, or Browse...). Run starts an :class:`~app.window.jobs.AdaptWorker` on a job from the window's
:class:`~app.runtime.launcher.JobLauncher`; its events feed
:class:`~app.window.widgets.adapt_plot.AdaptPlotWidget`, and its frames are passed on in
``frame_rendered`` for the viewport. While a run goes, :meth:`AdaptPanel.edit_task` takes the task
form's edits: dynamics fields go to the running episode through the worker's control channel (they
come back as task changes, marked on the plots), and a field that would rebuild the world is refused
in one line. The rules (what is allowed, what the status says, the last outcome, which edits reach
the run) live in a Qt-free :class:`~app.runtime.adapt_control.AdaptController`; like every panel,
this one speaks through ``status_changed`` and ``error_occurred``. Stop asks the worker to close the
generator (within one step). Export writes the last run's adapted policy in a job thread through
:func:`agents.storage.export_adapted.export_adapted`; the plots export with pyqtgraph's exporters.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.runtime.adapt_control import AdaptController, AdaptState, describe_task
from app.runtime.adapt_job import AdaptOutcome, AdaptRequest, AdaptStarted
from app.runtime.launcher import JobLauncher
from app.window.dialogs import FileDialogs
from app.window.jobs import AdaptWorker, JobRunner
from app.window.widgets.adapt_plot import PLOTS, AdaptPlotWidget
from app.window.widgets.checkpoint_chooser import CheckpointChooser
from app.window.workers import RunSlot
from sim.envs.locomotion import EnvConfig
from sim.params import TaskParams
from sim.render import Camera
from sim.tasks import AGENTS_DIR

__all__ = ["AdaptPanel", "AdaptState", "describe_task"]

DEVICES = ("auto", "cpu", "cuda")
CONTROL_DT_S = EnvConfig().control_dt
"""seconds of simulated time per env step (the agents' envs keep the default control rate)"""
DEFAULT_EPISODE_S = 10.0
"""what a person watches: agents are judged over 10 s of simulated time (600 steps at 60 Hz)"""


class AdaptPanel(QWidget):
    """Checkpoint, budget, Run / Stop / Clear / Export, and the adaptation plots."""

    adaptation_starting = Signal()
    """Run was pressed: the window frees the renderer (stops the preview) before the worker starts."""
    adaptation_ended = Signal()
    """The run's thread ended (completed, stopped or failed)."""
    frame_rendered = Signal(object)
    """A :class:`~app.window.workers.Frame` of the adapting episode."""
    status_changed = Signal(str)
    """A line of news about the run (loading, each episode, stopping) for the status bar and the log."""
    error_occurred = Signal(str)
    """A failure to show (status bar and log)."""
    device_resolved = Signal(str)
    """The torch device a run uses."""
    worker_created = Signal(object)
    """A run's :class:`~app.window.jobs.AdaptWorker`, before its thread starts (for observers that must not miss
    an event, such as tests connecting directly to its signals)."""

    def __init__(
        self,
        task_source: Callable[[], TaskParams],
        *,
        dialogs: FileDialogs | None = None,
        jobs: JobRunner | None = None,
        launcher: JobLauncher | None = None,
        agents_dir: Path = AGENTS_DIR,
        parent: QWidget | None = None,
    ) -> None:
        """``agents_dir``: where the chooser looks for checkpoints (:meth:`CheckpointChooser.scan`)."""
        super().__init__(parent)
        self._task_source = task_source
        self.dialogs = dialogs or FileDialogs()
        self.jobs = jobs or JobRunner(self)
        self.launcher = launcher or JobLauncher()
        self.camera: Camera | None = None
        self.controller = AdaptController()
        self._run: RunSlot[AdaptWorker] = RunSlot()
        self._run_index = -1

        self.plot = AdaptPlotWidget()
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.chooser = CheckpointChooser(dialogs=self.dialogs, jobs=self.jobs, agents_dir=agents_dir)
        self.chooser.checkpoint_changed.connect(self._update_buttons)
        self.chooser.hint_changed.connect(self.message.setText)
        self.chooser.error_occurred.connect(self._fail)
        layout = QVBoxLayout(self)
        layout.addWidget(self.chooser)
        layout.addLayout(self._build_budget_form())
        layout.addLayout(self._build_buttons())
        layout.addWidget(self.message)
        layout.addWidget(self.plot, 1)
        self._update_buttons()

    # --- building ---------------------------------------------------------------------------------------
    def _build_budget_form(self) -> QFormLayout:
        self.shots = self._spin(1, 100, 3, "episodes on the task")
        default_steps = round(DEFAULT_EPISODE_S / CONTROL_DT_S)
        self.steps = self._spin(1, 6000, default_steps, "steps per episode at most")
        self.steps.setSuffix(f" steps = {DEFAULT_EPISODE_S:g} s")
        self.steps.valueChanged.connect(lambda steps: self.steps.setSuffix(f" steps = {steps * CONTROL_DT_S:.3g} s"))
        self.updates = self._spin(0, 99, 2, "adaptation updates, one after each of the first episodes (< shots)")
        self.shots.valueChanged.connect(lambda shots: self.updates.setMaximum(shots - 1))
        self.updates.setMaximum(self.shots.value() - 1)
        self.device = QComboBox()
        self.device.addItems(list(DEVICES))
        self.device.setToolTip("torch device of the adapting agent")
        self.show_frames = QCheckBox("show the adapting episode in the viewport")
        self.show_frames.setChecked(True)
        form = QFormLayout()
        form.addRow("shots", self.shots)
        form.addRow("steps per episode", self.steps)
        form.addRow("updates", self.updates)
        form.addRow("device", self.device)
        form.addRow(self.show_frames)
        return form

    @staticmethod
    def _spin(low: int, high: int, value: int, help_text: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(low, high)
        spin.setValue(value)
        spin.setToolTip(help_text)
        return spin

    def _build_buttons(self) -> QHBoxLayout:
        self.run_button = QPushButton("Run")
        self.run_button.clicked.connect(self.run)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop)
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(self.clear)
        self.export_button = QPushButton("Export policy...")
        self.export_button.setToolTip("write the last run's adapted policy as TorchScript, ONNX and a JSON sidecar")
        self.export_button.clicked.connect(self.export_policy)
        self.plots_button = QToolButton()
        self.plots_button.setText("Save plots")
        self.plots_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.plots_button)
        for plot in PLOTS:
            for suffix in ("png", "csv"):
                action = menu.addAction(f"{plot} as {suffix.upper()}...")
                action.triggered.connect(lambda _checked=False, p=plot, s=suffix: self.save_plot(p, s))
        self.plots_button.setMenu(menu)
        row = QHBoxLayout()
        for button in (self.run_button, self.stop_button, self.clear_button, self.export_button, self.plots_button):
            row.addWidget(button)
        return row

    # --- checkpoints --------------------------------------------------------------------------------------
    def checkpoint(self) -> Path | None:
        """The chosen checkpoint."""
        return self.chooser.checkpoint()

    def add_checkpoint(self, path: Path, *, select: bool = True) -> None:
        """Offer ``path`` in the chooser (once), and select it."""
        self.chooser.add(path, select=select)

    # --- running --------------------------------------------------------------------------------------------
    def is_running(self) -> bool:
        """Whether a run is going: from its start until this panel has handled its end."""
        return self._run.is_running()

    @property
    def last_outcome(self) -> AdaptOutcome | None:
        """The last completed run (Export writes its adapted policy)."""
        return self.controller.last_outcome

    @Slot()
    def run(self) -> None:
        """Adapt the checkpoint's agent to the editor's task, in a new worker thread."""
        checkpoint = self.checkpoint()
        if checkpoint is None or not self.controller.can("run", checkpoint=checkpoint):
            return
        try:
            request = self.controller.request(
                checkpoint=checkpoint,
                task=self._task_source(),
                shots=self.shots.value(),
                max_steps=self.steps.value(),
                updates=self.updates.value(),
                show_frames=self.show_frames.isChecked(),
                device=self.device.currentText(),
            )
        except ValueError as err:
            self._fail(str(err))
            return
        self.adaptation_starting.emit()
        self._start_worker(request)

    def _start_worker(self, request: AdaptRequest) -> None:
        status = self.controller.begin(request, number=self.plot.run_count() + 1)
        label = f"{self.controller.run_label} ({request.checkpoint.stem})"
        self._run_index = self.plot.start_run(label, episode_steps=request.config.max_steps)
        worker = AdaptWorker(self.launcher.adapt(request, camera=self.camera), request)
        worker.adaptation_started.connect(self.on_adaptation_started)
        worker.step_done.connect(self.on_step_done)
        worker.episode_done.connect(self.on_episode_done)
        worker.task_changed.connect(self.on_task_changed)
        worker.task_estimated.connect(self.on_task_estimated)
        worker.frame_rendered.connect(self.frame_rendered)
        worker.adaptation_finished.connect(self.on_adaptation_finished)
        worker.failed.connect(self._fail)
        worker.finished.connect(self.on_finished)
        self.worker_created.emit(worker)
        self._run.start(worker)
        self._status(status)
        self._update_buttons()

    @Slot()
    def stop(self) -> None:
        """Ask the run to end; it closes its generator before the next step."""
        status = self.controller.request_stop()
        if status is not None and self._run.stop():
            self._status(status)
            self._update_buttons()

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Stop the run and join its thread (the window is closing)."""
        return self._run.shutdown(timeout_ms)

    def set_camera(self, camera: Camera) -> None:
        """The viewport's camera: used by the next run, and passed to the running one."""
        self.camera = camera
        if self._run.worker is not None:
            self._run.worker.set_camera(camera)

    def edit_task(self, task: TaskParams) -> None:
        """The task form now shows ``task`` while a run goes: its edited dynamics fields reach the running
        episode at its next step; a field that would rebuild the world is refused, saying why in one line
        (the form keeps it, for the next run). Does nothing when no run goes."""
        edit = self.controller.live_edit(task)
        if edit.task is not None and self._run.worker is not None:
            self._run.worker.set_task(edit.task)
        if edit.refused is not None:
            self.error_occurred.emit(edit.refused)

    @Slot(object)
    def on_adaptation_started(self, started: AdaptStarted) -> None:
        """The checkpoint loaded: name the run by its algorithm, and say whether it reports an estimate."""
        legend, status = self.controller.started(started)
        self.plot.rename_run(self._run_index, legend)
        self.plot.expect_estimates(self._run_index, started.estimates)
        self.device_resolved.emit(started.device)
        self._status(status)

    @Slot(object)
    def on_step_done(self, event: Any) -> None:
        """One step: into the reward curve."""
        self.plot.add_step(self._run_index, event.episode, event.step, event.reward)

    @Slot(object)
    def on_task_changed(self, event: Any) -> None:
        """An edit reached the running episode: a marker on the plots, and a status line."""
        self.plot.add_change(self._run_index, episode=event.episode, step=event.step, label=event.label)
        self._status(self.controller.task_changed(event))

    @Slot(object)
    def on_task_estimated(self, event: Any) -> None:
        """The agent's running estimate of the task: into the estimate plot."""
        self.plot.add_estimate(
            self._run_index, episode=event.episode, step=event.step, estimate=event.estimate, reference=event.reference
        )

    @Slot(object)
    def on_episode_done(self, event: Any) -> None:
        """One episode: into the return curve."""
        self.plot.add_episode(self._run_index, event.episode, event.episode_return)
        status = self.controller.episode_done(event)
        if status is not None:
            self._status(status)

    @Slot(object)
    def on_adaptation_finished(self, outcome: AdaptOutcome) -> None:
        """Keep the adapted policy for Export and say how the return moved."""
        self.message.setText(self.controller.finished(outcome))

    @Slot()
    def on_finished(self) -> None:
        """The run's thread is ending: join it and hand the renderer back."""
        message = self.controller.ended(stopped=self._run.end())
        if message is not None:
            self.message.setText(message)
        self._update_buttons()
        self.adaptation_ended.emit()

    @Slot()
    def clear(self) -> None:
        """Forget every drawn run (disabled while a run is going)."""
        if self.controller.can("clear"):
            self.plot.clear()
            self.message.clear()

    # --- exporting --------------------------------------------------------------------------------------------
    @Slot()
    def export_policy(self) -> None:
        """Export the last run's adapted policy to a chosen folder, in a job thread."""
        outcome = self.last_outcome
        if outcome is None:
            return
        folder = self.dialogs.directory(self, "Export the adapted policy to")
        if folder is None:
            return
        self.export_to(folder, outcome)

    def export_to(self, folder: Path, outcome: AdaptOutcome) -> None:
        """Write ``policy.pt2``, ``policy.onnx`` and ``policy.json`` for ``outcome`` into ``folder``."""

        def export() -> Any:
            from agents.storage.export_adapted import export_adapted

            return export_adapted(outcome.result, folder, algorithm=outcome.algorithm, checkpoint=outcome.checkpoint)

        self.export_button.setEnabled(False)
        self._status(f"exporting to {folder}")
        self.jobs.call(export, on_done=self._on_exported, on_failed=self._on_export_failed)

    def _on_exported(self, exported: Any) -> None:
        worst = max(exported.torch_max_abs_diff, exported.onnx_max_abs_diff)
        self.message.setText(
            f"exported {exported.torch_path.name}, {exported.onnx_path.name} and {exported.sidecar_path.name} "
            f"to {exported.sidecar_path.parent} (max action difference {worst:.1e})"
        )
        self._status(f"exported to {exported.sidecar_path.parent}")
        self._update_buttons()

    def _on_export_failed(self, message: str) -> None:
        self._fail(f"export failed: {message}")

    def save_plot(self, plot: str, suffix: str) -> None:
        """Ask for a file and write ``plot`` to it (PNG or CSV)."""
        chosen = self.dialogs.save_file(self, f"Save the {plot} plot", f"{suffix.upper()} (*.{suffix})")
        if chosen is None:
            return
        path = chosen if chosen.suffix.lower() == f".{suffix}" else chosen.with_name(chosen.name + f".{suffix}")
        try:
            self.plot.export(plot, path)
        except (OSError, ValueError) as err:
            self._fail(f"saving the plot failed: {err}")
            return
        self.message.setText(f"saved {path}")

    # --- helpers ---------------------------------------------------------------------------------------------
    def _update_buttons(self) -> None:
        can = self.controller.can
        self.run_button.setEnabled(can("run", checkpoint=self.checkpoint()))
        self.stop_button.setEnabled(can("stop"))
        self.clear_button.setEnabled(can("clear"))
        self.export_button.setEnabled(can("export"))

    def _status(self, text: str) -> None:
        self.status_changed.emit(text)

    @Slot(str)
    def _fail(self, message: str) -> None:
        self.message.setText(message)
        self._update_buttons()
        self.error_occurred.emit(message)
