"""The main window: the task form on the left, the live preview and its reward plot on the right."""

from __future__ import annotations

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QMainWindow, QScrollArea, QSplitter, QWidget

from app.widgets.params_form import ParamsForm
from app.widgets.reward_plot import RewardPlotWidget
from app.widgets.viewport import ViewportWidget
from app.workers import EnvFactory, PreviewWorker, WorkerThread, make_preview_env
from sim.params import TaskParams


def describe(task: TaskParams) -> str:
    """A short name for a task, for the status bar."""
    return f"{task.robot.name} on {task.terrain.kind} ground"


class MainWindow(QMainWindow):
    """Edits a task and previews it live; owns the preview worker's thread and joins it on close."""

    def __init__(
        self,
        task: TaskParams,
        *,
        env_factory: EnvFactory = make_preview_env,
        fps: float = 25.0,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("sim2adapt")
        self._env_factory = env_factory
        self._fps = fps
        self._preview: WorkerThread | None = None

        self.form = ParamsForm()
        self.form.set_task(task)
        self.form.params_changed.connect(self.on_params_changed)
        self.viewport = ViewportWidget()
        self.reward_plot = RewardPlotWidget()

        scroll = QScrollArea()
        scroll.setWidget(self.form)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(340)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.viewport)
        right.addWidget(self.reward_plot)
        right.setSizes([480, 240])
        main = QSplitter(Qt.Orientation.Horizontal)
        main.addWidget(scroll)
        main.addWidget(right)
        main.setStretchFactor(1, 1)
        self.setCentralWidget(main)
        self.statusBar().showMessage("ready")

    def is_previewing(self) -> bool:
        """Whether a preview worker is running."""
        return self._preview is not None and self._preview.is_running()

    def start_preview(self) -> None:
        """(Re)start the live preview on the form's task, in a worker thread."""
        self.stop_preview()
        task = self.form.task()
        worker = PreviewWorker(task, env_factory=self._env_factory, fps=self._fps)
        worker.frame_rendered.connect(self.viewport.on_frame_rendered)
        worker.step_done.connect(self.reward_plot.on_step_done)
        worker.failed.connect(self.on_preview_failed)
        self.reward_plot.clear()
        self._preview = WorkerThread(worker)
        self._preview.start()
        self.statusBar().showMessage(f"previewing {describe(task)}")

    def stop_preview(self) -> None:
        """Stop the preview and join its thread."""
        preview, self._preview = self._preview, None
        if preview is not None and not preview.stop():
            self._preview = preview  # still running: keep the QThread alive rather than abort
            self.statusBar().showMessage("the preview did not stop in time")

    @Slot(object)
    def on_params_changed(self, task: TaskParams) -> None:
        """Send a valid edit to the running preview, or restart a preview that ended."""
        if self._preview is not None and self._preview.is_running():
            self._preview.worker.set_task(task)
            self.statusBar().showMessage(f"previewing {describe(task)}")
        else:
            self.start_preview()

    @Slot(str)
    def on_preview_failed(self, message: str) -> None:
        """Show why the preview ended; editing the task restarts it."""
        self.statusBar().showMessage(f"preview stopped: {message}")

    def closeEvent(self, event: QCloseEvent) -> None:
        self.stop_preview()
        super().closeEvent(event)
