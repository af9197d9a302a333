"""The main window: task editor on the left, the live viewport in the middle, job panels on the right.

The right side is a tab widget (Adapt, Meta-train, Map, Log). The window owns the preview worker and
coordinates it with the other jobs: the preview stops while an adaptation renders (the EGL renderer
serves one client per process, and both would share 2 cores) and comes back when the run ends, and it
pauses while a training child or a map runs (so they are as fast as from the command line). A map
cell clicked on the Map tab loads its task into the task editor.
Every job that simulates, trains or draws plot files (previews, adaptations, maps, a map's Save,
training runs) is made by the one :class:`~app.runtime.launcher.JobLauncher` given to the window;
short file reads and writes run in :class:`~app.window.jobs.JobRunner` threads. The status bar shows
the current jobs, the torch device and the renderer; every panel speaks through the same two signals,
``status_changed`` (news: status bar and Log tab) and ``error_occurred`` (failures: the same, kept on
the status bar), and the window keeps working after any error.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QLabel, QMainWindow, QPlainTextEdit, QSplitter, QTabWidget, QWidget

from app.runtime.adapt_control import AdaptState
from app.runtime.launcher import JobLauncher
from app.runtime.preview import Frame, StepStat
from app.runtime.task_files import user_home
from app.runtime.train_control import TrainState
from app.window.dialogs import FileDialogs
from app.window.jobs import JobRunner
from app.window.widgets.adapt_panel import AdaptPanel
from app.window.widgets.map_panel import MapPanel
from app.window.widgets.reward_plot import RewardPlotWidget
from app.window.widgets.task_panel import TaskPanel
from app.window.widgets.train_panel import TrainPanel
from app.window.widgets.viewport import ViewportWidget
from app.window.workers import PreviewWorker, WorkerThread
from sim.metrics import ENDINGS
from sim.params import TaskParams
from sim.render import Camera
from sim.tasks import AGENTS_DIR

LOG_LINES = 2000


def describe(task: TaskParams) -> str:
    """A short name for a task, for the status bar."""
    return f"{task.robot.name} on {task.terrain.kind} ground"


def _resolve_default_device() -> str:
    from agents.core.device import resolve_device

    return str(resolve_device("auto"))


class MainWindow(QMainWindow):
    """Edits a task, previews it live, adapts agents to it; joins every worker thread on close."""

    def __init__(
        self,
        task: TaskParams,
        *,
        launcher: JobLauncher | None = None,
        fps: float = 25.0,
        dialogs: FileDialogs | None = None,
        agents_dir: Path = AGENTS_DIR,
        runs_root: Path | None = None,
        train_env_kind: str = "locomotion",
        parent: QWidget | None = None,
    ) -> None:
        """``launcher`` makes every job (default: child processes with the real envs); ``train_env_kind``
        ``"point_mass"`` trains the toy env (smoke tests)."""
        super().__init__(parent)
        self.setWindowTitle("sim2adapt")
        self.launcher = launcher or JobLauncher()
        self._fps = fps
        self._preview: WorkerThread[PreviewWorker] | None = None
        self.jobs = JobRunner(self)
        self.dialogs = dialogs or FileDialogs()

        self.task_panel = TaskPanel(dialogs=self.dialogs, jobs=self.jobs)
        self.task_panel.setMinimumWidth(340)
        self.form = self.task_panel.form
        self.form.set_task(task)
        self.task_panel.task_changed.connect(self.on_params_changed)
        self.task_panel.error_occurred.connect(self.on_error_occurred)
        self.task_panel.status_changed.connect(self.on_status_changed)

        self.viewport = ViewportWidget(Camera())
        self.viewport.camera_changed.connect(self.on_camera_changed)
        self.reward_plot = RewardPlotWidget()
        self.adapt_panel = self._build_adapt_panel(agents_dir)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(LOG_LINES)
        self.train_panel = TrainPanel(
            runs_root=runs_root or user_home() / "runs",
            dialogs=self.dialogs,
            launcher=self.launcher,
            env_kind=train_env_kind,
        )
        self.train_panel.status_changed.connect(self.on_status_changed)
        self.train_panel.error_occurred.connect(self.on_error_occurred)
        self.train_panel.state_changed.connect(self.on_training_state)
        self.task_panel.families.currentTextChanged.connect(self.train_panel.follow_family)
        self.map_panel = self._build_map_panel()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.adapt_panel, "Adapt")
        self.tabs.addTab(self.train_panel, "Meta-train")
        self.tabs.addTab(self.map_panel, "Map")
        self.tabs.addTab(self.log, "Log")
        self.setCentralWidget(self._build_layout())
        self._build_status_bar()

    def _build_adapt_panel(self, agents_dir: Path) -> AdaptPanel:
        panel = AdaptPanel(
            self.task_panel.task, dialogs=self.dialogs, jobs=self.jobs, launcher=self.launcher, agents_dir=agents_dir
        )
        panel.adaptation_starting.connect(self.on_adaptation_starting)
        panel.adaptation_ended.connect(self.on_adaptation_ended)
        panel.frame_rendered.connect(self.viewport.on_frame_rendered)
        panel.frame_rendered.connect(self.on_frame_rendered)
        panel.status_changed.connect(self.on_status_changed)
        panel.error_occurred.connect(self.on_error_occurred)
        panel.device_resolved.connect(self.on_device_resolved)
        panel.worker_created.connect(self.on_adaptation_created)
        return panel

    def _build_map_panel(self) -> MapPanel:
        # the Adapt tab's checkpoint list is the Map tab's too; a clicked cell's task goes to the task editor
        panel = MapPanel(
            agents=self.adapt_panel.chooser.model(), dialogs=self.dialogs, jobs=self.jobs, launcher=self.launcher
        )
        panel.task_chosen.connect(self.task_panel.set_task)
        panel.running_changed.connect(self.on_mapping)
        panel.status_changed.connect(self.on_status_changed)
        panel.error_occurred.connect(self.on_error_occurred)
        return panel

    def _build_layout(self) -> QSplitter:
        centre = QSplitter(Qt.Orientation.Vertical)
        centre.addWidget(self.viewport)
        centre.addWidget(self.reward_plot)
        centre.setSizes([480, 200])
        main = QSplitter(Qt.Orientation.Horizontal)
        main.addWidget(self.task_panel)
        main.addWidget(centre)
        main.addWidget(self.tabs)
        main.setStretchFactor(1, 1)
        main.setSizes([360, 660, 480])
        return main

    def _build_status_bar(self) -> None:
        self.job_label = QLabel("idle")
        self.device_label = QLabel("device: ...")
        self.device_label.setToolTip("torch device of adaptation runs (auto: CUDA when present)")
        self.renderer_label = QLabel("renderer: ...")
        self.renderer_label.setToolTip("egl: OpenGL through EGL (Mesa llvmpipe without a GPU); tiny: TinyRenderer")
        bar = self.statusBar()
        for label in (self.job_label, self.device_label, self.renderer_label):
            bar.addPermanentWidget(label)

    # --- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the preview and the background reads: presets, checkpoints, the default device."""
        self.start_preview()
        self.task_panel.reload_presets()
        self.adapt_panel.chooser.scan()
        self.jobs.call(_resolve_default_device, on_done=self.on_device_resolved, on_failed=self.on_error_occurred)

    def is_previewing(self) -> bool:
        """Whether a preview worker is running."""
        return self._preview is not None and self._preview.is_running()

    def start_preview(self) -> None:
        """(Re)start the live preview on the form's task, in a worker thread."""
        self.stop_preview()
        task = self.form.task()
        worker = PreviewWorker(self.launcher.preview(task, camera=self.viewport.camera, fps=self._fps))
        worker.set_paused(self._cores_taken())  # a training run or a map keeps the cores to itself
        worker.frame_rendered.connect(self.viewport.on_frame_rendered)
        worker.frame_rendered.connect(self.on_frame_rendered)
        worker.step_done.connect(self.reward_plot.on_step_done)
        worker.step_done.connect(self.on_preview_step)
        worker.failed.connect(self.on_preview_failed)
        self.reward_plot.clear()
        self._preview = WorkerThread(worker)
        self._preview.start()
        self.update_job_label()

    def stop_preview(self) -> None:
        """Stop the preview and join its thread."""
        preview, self._preview = self._preview, None
        if preview is not None and not preview.stop():
            self._preview = preview  # still running: keep the QThread alive rather than abort
            self.on_error_occurred("the preview did not stop in time")

    def shutdown(self) -> None:
        """Stop every worker and join its thread (also run when Qt quits)."""
        self.stop_preview()
        self.adapt_panel.shutdown()
        self.train_panel.shutdown()  # the child keeps its last checkpoint; Resume continues it next time
        self.map_panel.shutdown()
        self.jobs.shutdown()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)

    # --- slots --------------------------------------------------------------------------------------
    @Slot(object)
    def on_params_changed(self, task: TaskParams) -> None:
        """Send a valid edit to the running adaptation, else to the running preview, or restart a preview that ended."""
        if self.adapt_panel.is_running():
            self.adapt_panel.edit_task(task)  # its dynamics fields reach the running episode
            return  # the preview comes back with the newest task when the run ends
        if self._preview is not None and self._preview.is_running():
            self._preview.worker.set_task(task)
            self.update_job_label()
        else:
            self.start_preview()

    @Slot(object)
    def on_camera_changed(self, camera: Camera) -> None:
        """Pass the viewport's camera to whichever worker renders."""
        if self._preview is not None:
            self._preview.worker.set_camera(camera)
        self.adapt_panel.set_camera(camera)

    @Slot(object)
    def on_frame_rendered(self, frame: Frame) -> None:
        """Name the renderer that drew the frames."""
        text = f"renderer: {frame.renderer or '?'}"
        if self.renderer_label.text() != text:
            self.renderer_label.setText(text)

    @Slot(str)
    def on_preview_failed(self, message: str) -> None:
        """Show why the preview ended; editing the task restarts it."""
        self.on_error_occurred(f"preview stopped: {message}")
        self.update_job_label()

    @Slot()
    def on_adaptation_starting(self) -> None:
        """A run is about to render: the preview gives the renderer (and the CPU) up."""
        self.stop_preview()
        self.viewport.clear()
        self.update_job_label()

    @Slot(object)
    def on_adaptation_created(self, worker: object) -> None:
        """A run's worker exists (its thread starts next): the status bar says so."""
        self.update_job_label()

    @Slot()
    def on_adaptation_ended(self) -> None:
        """The run's thread ended: back to the idle preview."""
        self.start_preview()

    @Slot(object)
    def on_training_state(self, state: TrainState) -> None:
        """A training child runs: the preview pauses (no steps, no frames), and resumes when it ends."""
        if self._preview is not None:
            self._preview.worker.set_paused(self._cores_taken())
        self.update_job_label()

    @Slot(bool)
    def on_mapping(self, running: bool) -> None:
        """A map measures its cells: the preview pauses, as for training, and resumes when it ends."""
        self.on_training_state(self.train_panel.state)

    def _cores_taken(self) -> bool:
        """Whether a training run or a map is using the cores (the preview then pauses)."""
        return self.train_panel.state.active or self.map_panel.is_running()

    def update_job_label(self) -> None:
        """The status bar's job field: what runs now ("idle" when nothing does)."""
        jobs = []
        if self.adapt_panel.controller.state is not AdaptState.IDLE:  # its thread may not have started yet
            jobs.append("adapting")
        elif self.is_previewing():
            paused = " (paused)" if self._cores_taken() else ""
            jobs.append(f"previewing {describe(self.form.task())}{paused}")
        if self.train_panel.state.active:
            jobs.append(f"training ({self.train_panel.state.value})")
        if self.map_panel.is_running():
            jobs.append("mapping")
        self.job_label.setText(" · ".join(jobs) or "idle")

    @Slot(object)
    def on_preview_step(self, stat: StepStat) -> None:
        """Say why the preview restarted when its episode ended in a special way (it left the world...)."""
        if stat.ending:
            self.on_status_changed(f"preview: episode {stat.episode + 1} {ENDINGS[stat.ending]}; restarted")

    @Slot(str)
    def on_device_resolved(self, device: str) -> None:
        """The status bar's device field."""
        self.device_label.setText(f"device: {device}")

    @Slot(str)
    def on_error_occurred(self, message: str) -> None:
        """Show an error in the status bar and append it to the Log tab."""
        self.statusBar().showMessage(message)
        self.log.appendPlainText(f"{time.strftime('%H:%M:%S')}  error: {message}")

    @Slot(str)
    def on_status_changed(self, message: str) -> None:
        """A panel's news: shown for a few seconds and logged."""
        if message:
            self.statusBar().showMessage(message, 5000)
            self.log.appendPlainText(f"{time.strftime('%H:%M:%S')}  {message}")
