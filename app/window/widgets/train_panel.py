"""The meta-train panel: choose algorithm, family, settings and device; start, pause, resume, stop a run.

Training runs in a child process (:class:`agents.training.background.TrainingProcess`); a GUI-thread timer
drains its event queue without blocking and turns the events into curves, the progress bar and
the log. Pause asks the child to stop after its current iteration; Stop ends it now (SIGTERM,
which it turns into a clean exit). Both leave the run directory resumable from its last checkpoint.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from agents.algorithms import ALGORITHMS, get_algorithm
from agents.core.learner import IterationStats
from agents.storage.runs import RunDir
from agents.training.background import TrainingEnded, TrainingEvent, TrainingFailed, TrainingNote, TrainingProcess
from agents.training.train import TrainSettings, start_run
from app.window.dialogs import FileDialogs
from app.window.widgets.config_form import ConfigForm
from app.window.widgets.family_editor import FamilyEditor
from app.window.widgets.train_curves import TrainCurvesWidget
from sim.tasks import TaskDistribution, family_names, load_family

OPEN_FAMILY = "Open family JSON..."


def format_eta(seconds: float) -> str:
    """``1h 02m``, ``3m 20s`` or ``45s``."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


class TrainPanel(QWidget):
    """Starts and watches one training run at a time."""

    status_changed = Signal(str)
    """A one-line status for the window's status bar."""

    def __init__(
        self,
        *,
        runs_root: Path,
        dialogs: FileDialogs | None = None,
        env_kind: str = "locomotion",
        poll_ms: int = 100,
        parent: QWidget | None = None,
    ) -> None:
        """Build the panel; runs are created under ``runs_root`` (``env_kind="point_mass"`` for smoke tests)."""
        super().__init__(parent)
        self.runs_root, self.dialogs, self.env_kind = runs_root, dialogs or FileDialogs(), env_kind
        self._process: TrainingProcess | None = None
        self._run: RunDir | None = None
        self._family: TaskDistribution = load_family(family_names()[0])
        self.family_editor: FamilyEditor | None = None
        """made on the first "Edit family...", then kept (its file jobs must outlive each showing)"""
        self._iteration_seconds: list[float] = []
        self.state = "idle"
        """idle, running, pausing, paused, stopping, stopped, finished or failed"""
        self._build()
        self._poll = QTimer(self)
        self._poll.timeout.connect(self.poll)
        self._poll.start(poll_ms)
        self._set_state("idle")

    # --- building ---------------------------------------------------------------------------------
    def _build(self) -> None:
        self.algorithm = QComboBox()
        for name, algorithm in ALGORITHMS.items():
            self.algorithm.addItem(name, name)
            self.algorithm.setItemData(self.algorithm.count() - 1, algorithm.summary, 3)  # Qt.ToolTipRole
        self.preset = QComboBox()
        self.preset.addItems(["quick", "paper"])
        self.family = QComboBox()
        self.family.addItems([*family_names(), OPEN_FAMILY])
        self.edit_family_button = QPushButton("Edit family...")
        self.edit_family_button.setToolTip("edit the family of the next run: what varies, each range, the test set")
        self.edit_family_button.clicked.connect(self.edit_family)
        family_row = QWidget()
        family_layout = QHBoxLayout(family_row)
        family_layout.setContentsMargins(0, 0, 0, 0)
        family_layout.addWidget(self.family, 1)
        family_layout.addWidget(self.edit_family_button)
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda"])
        self.iterations, self.seed, self.workers = QSpinBox(), QSpinBox(), QSpinBox()
        self.iterations.setRange(1, 100_000)
        self.iterations.setValue(100)
        self.seed.setRange(0, 2**31 - 1)
        self.workers.setRange(1, 64)
        self.workers.setValue(2)
        self.settings_form = ConfigForm()
        self.algorithm.currentIndexChanged.connect(self._on_algorithm_chosen)
        self.preset.currentIndexChanged.connect(self._on_algorithm_chosen)
        self.family.activated.connect(self._on_family_chosen)
        self.settings_form.config_changed.connect(self._update_buttons)

        choices = QFormLayout()
        for label, widget in (
            ("algorithm", self.algorithm),
            ("preset", self.preset),
            ("task family", family_row),
            ("device", self.device),
            ("iterations", self.iterations),
            ("seed", self.seed),
            ("sampler processes", self.workers),
        ):
            choices.addRow(label, widget)
        settings_box = QGroupBox("Algorithm settings")
        scroll = QScrollArea()
        scroll.setWidget(self.settings_form)
        scroll.setWidgetResizable(True)
        scroll.setMinimumHeight(180)  # several settings rows stay visible on a 900-pixel-high screen
        QVBoxLayout(settings_box).addWidget(scroll)

        self.start_button, self.pause_button = QPushButton("Start"), QPushButton("Pause")
        self.resume_button, self.stop_button = QPushButton("Resume"), QPushButton("Stop")
        self.open_button = QPushButton("Open run...")
        self.start_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self.pause)
        self.resume_button.clicked.connect(self.resume)
        self.stop_button.clicked.connect(self.stop)
        self.open_button.clicked.connect(self._open_run)
        buttons = QHBoxLayout()
        for button in (self.start_button, self.pause_button, self.resume_button, self.stop_button, self.open_button):
            buttons.addWidget(button)
        self.progress = QProgressBar()
        self.eta = QLabel()
        self.run_label = QLabel("no run")
        self.run_label.setWordWrap(True)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        self.curves = TrainCurvesWidget()

        controls = QWidget()
        controls_layout = QVBoxLayout(controls)
        controls_layout.addLayout(choices)
        controls_layout.addWidget(settings_box, 1)
        controls_layout.addLayout(buttons)
        controls_layout.addWidget(self.progress)
        controls_layout.addWidget(self.eta)
        controls_layout.addWidget(self.run_label)
        # Stacked, not side by side: the panel lives in the window's narrow right-hand column.
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(controls)
        split.addWidget(self.curves)
        split.addWidget(self.log)
        split.setSizes([520, 300, 80])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)
        self._on_algorithm_chosen()

    # --- choices ----------------------------------------------------------------------------------
    @Slot()
    def _on_algorithm_chosen(self) -> None:
        self.settings_form.set_algorithm(get_algorithm(self.algorithm.currentData()), preset=self.preset.currentText())

    @Slot(int)
    def _on_family_chosen(self, index: int) -> None:
        edited = self.family.itemData(index)
        if isinstance(edited, TaskDistribution):  # a family from the editor
            self._family = edited
            return
        if self.family.itemText(index) != OPEN_FAMILY:
            self._family = load_family(self.family.itemText(index))
            return
        path = self.dialogs.open_file(self, "Open a task family", "Task family (*.json)")
        try:
            if path is not None:
                self._family = load_family(str(path))
                self.family.insertItem(0, str(path))
        except (OSError, ValueError) as err:
            self._say(f"could not open the family: {err}", error=True)
        self.family.setCurrentIndex(self._family_index() if path is None else 0)

    def _family_index(self) -> int:
        """The combo item of the current family: the editor's item holding it, else the item of its name."""
        for index in range(self.family.count()):
            if self.family.itemData(index) == self._family:
                return index
        return self.family.findText(self._family.name)

    @Slot()
    def edit_family(self) -> None:
        """Open the family editor on the current family; accepting it makes the result the next run's family."""
        if self.family_editor is None:
            self.family_editor = FamilyEditor(dialogs=self.dialogs, parent=self)
            self.family_editor.accepted.connect(self.on_family_edited)
        self.family_editor.set_family(self._family)
        self.family_editor.open()

    @Slot()
    def on_family_edited(self) -> None:
        """The editor was accepted: its family trains next, listed first in the combo as "<name> (edited)"."""
        assert self.family_editor is not None
        family = self.family_editor.family()
        label = f"{family.name} (edited)"
        if self.family.findText(label) < 0:
            self.family.insertItem(0, label)
        index = self.family.findText(label)
        self.family.setItemData(index, family)
        self.family.setItemData(index, family.description, Qt.ItemDataRole.ToolTipRole)
        self.family.setCurrentIndex(index)
        self._family = family
        self._say(f"the next run trains on the edited family {family.name!r}")

    def family_distribution(self) -> TaskDistribution:
        """The family the next run trains on."""
        return self._family

    # --- run control ------------------------------------------------------------------------------
    @Slot()
    def start(self) -> None:
        """Create a run directory from the choices and start training it."""
        config = self.settings_form.config()
        if config is None:
            self._say(f"fix the settings first: {self.settings_form.error()}", error=True)
            return
        try:
            settings = TrainSettings(
                algorithm=self.algorithm.currentData(),
                seed=self.seed.value(),
                iterations=self.iterations.value(),
                device=self.device.currentText(),
                num_workers=self.workers.value(),
                env=self.env_kind,
                config=config,
            )
            stamp = time.strftime("%Y%m%d-%H%M%S")
            path = self.runs_root / f"{self._family.name}-{settings.algorithm}-seed{settings.seed}-{stamp}"
            self._run = start_run(path, settings=settings, family=self._family)
        except (OSError, ValueError) as err:
            self._say(f"could not start: {err}", error=True)
            return
        self.curves.clear()
        self._launch(resume=False)

    @Slot()
    def resume(self) -> None:
        """Continue the current run from its last checkpoint."""
        if self._run is not None:
            self._launch(resume=True)

    @Slot()
    def pause(self) -> None:
        """Stop after the current iteration (its checkpoint is written first)."""
        if self._process is not None:
            self._process.request_stop()
            self._set_state("pausing")

    @Slot()
    def stop(self) -> None:
        """End the run now; its last checkpoint stays, and Resume continues it."""
        if self._process is not None:
            self._process.request_stop()
            self._process.terminate()
            self._set_state("stopping")

    def _launch(self, *, resume: bool) -> None:
        assert self._run is not None
        self._process = TrainingProcess(self._run.path, resume=resume)
        self._process.start()
        self._iteration_seconds.clear()
        total = int(self._run.settings["iterations"])
        self.progress.setRange(0, total)
        self.run_label.setText(f"run: {self._run.path}")
        self._say(f"{'resumed' if resume else 'started'} {self._run.path.name}")
        self._set_state("running")

    def _open_run(self) -> None:
        path = self.dialogs.directory(self, "Open a run directory", self.runs_root)
        if path is None:
            return
        try:
            self._run = RunDir.open(path)
        except ValueError as err:
            self._say(str(err), error=True)
            return
        metrics = self._run.metrics()
        self.curves.clear()
        for row in metrics:
            self.curves.on_iteration_done(IterationStats.from_dict(row))
        self.progress.setRange(0, int(self._run.settings["iterations"]))
        self.progress.setValue(len(metrics))
        self.run_label.setText(f"run: {self._run.path}")
        self._set_state("paused")

    def is_running(self) -> bool:
        """Whether a training child is alive."""
        return self._process is not None and self._process.is_alive()

    def shutdown(self) -> None:
        """Stop training for good (window closing): waits for the child, which keeps its checkpoint."""
        self._poll.stop()
        if self.family_editor is not None:
            self.family_editor.jobs.shutdown()
        if self._process is not None:
            self._process.stop(grace_s=0.5)
            self._process = None

    # --- events -----------------------------------------------------------------------------------
    @Slot()
    def poll(self) -> None:
        """Drain the child's events (never blocks) and notice a child that has gone."""
        if self._process is None:
            return
        for event in self._process.events():
            self._on_event(event)
        if self._process is not None and not self._process.is_alive():
            for event in self._process.events():  # what it sent just before it ended
                self._on_event(event)
            if self._process is not None:
                self._process = None
                self._set_state("stopped")

    def _on_event(self, event: TrainingEvent) -> None:
        if isinstance(event, IterationStats):
            self.curves.on_iteration_done(event)
            self._iteration_seconds.append(event.total_seconds)
            self.progress.setValue(event.iteration + 1)
            remaining = self.progress.maximum() - event.iteration - 1
            mean = sum(self._iteration_seconds[-10:]) / len(self._iteration_seconds[-10:])
            self.eta.setText(
                f"iteration {event.iteration + 1}/{self.progress.maximum()}, ETA {format_eta(remaining * mean)}"
            )
            post = "" if event.post_return is None else f", after adaptation {event.post_return:.1f}"
            self._say(f"iteration {event.iteration}: return {event.pre_return:.1f}{post}, {event.env_steps} env steps")
        elif isinstance(event, TrainingNote):
            self._say(f"note: {event.text}")
        elif isinstance(event, TrainingFailed):
            self._say(f"training failed: {event.message}", error=True)
            self.log.appendPlainText(event.details)
            self._process = None
            self._set_state("failed")
        elif isinstance(event, TrainingEnded):
            self._say("training finished" if event.completed else f"paused after iteration {event.iterations}")
            self._process = None
            self._set_state("finished" if event.completed else "paused")

    # --- state ------------------------------------------------------------------------------------
    def _set_state(self, state: str) -> None:
        self.state = state
        self._update_buttons()

    @Slot()
    def _update_buttons(self) -> None:
        active = self.state in ("running", "pausing", "stopping")
        self.start_button.setEnabled(not active and self.settings_form.config() is not None)
        self.pause_button.setEnabled(self.state == "running")
        self.stop_button.setEnabled(self.state in ("running", "pausing"))
        self.resume_button.setEnabled(self.state in ("paused", "stopped") and self._run is not None)
        self.open_button.setEnabled(not active)
        for widget in (
            self.algorithm,
            self.preset,
            self.family,
            self.edit_family_button,
            self.device,
            self.iterations,
            self.seed,
            self.workers,
        ):
            widget.setEnabled(not active)
        self.settings_form.setEnabled(not active)

    def _say(self, text: str, *, error: bool = False) -> None:
        self.log.appendPlainText(text)
        self.status_changed.emit(("error: " if error else "training: ") + text)
