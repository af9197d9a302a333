"""The meta-train panel, a view: algorithm, family, settings and device; Start, Pause, Resume, Stop, Open run.

What it does lives in :class:`app.runtime.train_control.TrainController` (Qt-free: the run directory,
the training child, the ETA and the state machine); this panel reads the choices from its widgets,
polls the controller from a GUI-thread timer and draws what it reports: curves, the progress bar
and the log. Pause asks the child to stop after its current iteration; Stop ends it now (SIGTERM,
which it turns into a clean exit). Both leave the run directory resumable from its last checkpoint.
Like every panel it speaks through ``status_changed`` and ``error_occurred``.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
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
from app.runtime.launcher import JobLauncher
from app.runtime.train_control import Progress, TrainController, TrainState, format_eta
from app.window.dialogs import FileDialogs
from app.window.widgets.config_form import ConfigForm
from app.window.widgets.family_editor import FamilyEditor
from app.window.widgets.train_curves import TrainCurvesWidget
from sim.tasks import TaskDistribution, family_names

__all__ = ["OPEN_FAMILY", "TrainPanel", "format_eta"]

OPEN_FAMILY = "Open family JSON..."


class TrainPanel(QWidget):
    """Starts and watches one training run at a time (a view of its :class:`TrainController`)."""

    status_changed = Signal(str)
    """A line of news (started, each iteration, paused, finished) for the status bar and the log."""
    error_occurred = Signal(str)
    """A failure to show (status bar and log)."""
    state_changed = Signal(object)
    """The controller's new :class:`TrainState`."""

    def __init__(
        self,
        *,
        runs_root: Path,
        dialogs: FileDialogs | None = None,
        launcher: JobLauncher | None = None,
        env_kind: str = "locomotion",
        poll_ms: int = 100,
        parent: QWidget | None = None,
    ) -> None:
        """Build the panel; runs are created under ``runs_root`` (``env_kind="point_mass"`` for smoke tests)."""
        super().__init__(parent)
        self.dialogs = dialogs or FileDialogs()
        launcher = launcher or JobLauncher()
        self.controller = TrainController(
            runs_root=runs_root,
            launch=lambda path, resume, sampling: launcher.training(path, resume=resume, sampling=sampling),
            view=self,
            env_kind=env_kind,
        )
        self._family_chosen_here = False
        """the user picked a family in this tab: it no longer follows the one beside Randomise"""
        self.family_editor: FamilyEditor | None = None
        """made on the first "Edit family...", then kept (its file jobs must outlive each showing)"""
        self._build()
        self._poll = QTimer(self)
        self._poll.timeout.connect(self.controller.poll)
        self._poll.start(poll_ms)
        self.show_state(TrainState.IDLE)

    @property
    def state(self) -> TrainState:
        """The controller's state."""
        return self.controller.state

    # --- building ---------------------------------------------------------------------------------
    def _build(self) -> None:
        controls = QWidget()
        controls_layout = QVBoxLayout(controls)
        controls_layout.addLayout(self._build_choices())
        controls_layout.addWidget(self._build_settings_box(), 1)
        controls_layout.addLayout(self._build_buttons())
        self.progress = QProgressBar()
        self.eta = QLabel()
        self.run_label = QLabel("no run")
        self.run_label.setWordWrap(True)
        for widget in (self.progress, self.eta, self.run_label):
            controls_layout.addWidget(widget)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        self.curves = TrainCurvesWidget()
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

    def _build_choices(self) -> QFormLayout:
        self.algorithm = QComboBox()
        for name, algorithm in ALGORITHMS.items():
            self.algorithm.addItem(name, name)
            self.algorithm.setItemData(self.algorithm.count() - 1, algorithm.summary, Qt.ItemDataRole.ToolTipRole)
        self.preset = QComboBox()
        self.preset.addItems(["quick", "paper"])
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda"])
        self.iterations, self.seed, self.workers = QSpinBox(), QSpinBox(), QSpinBox()
        self.iterations.setRange(1, 100_000)
        self.iterations.setValue(100)
        self.seed.setRange(0, 2**31 - 1)
        self.workers.setRange(1, 64)
        self.workers.setValue(2)
        self.algorithm.currentIndexChanged.connect(self._on_algorithm_chosen)
        self.preset.currentIndexChanged.connect(self._on_algorithm_chosen)
        choices = QFormLayout()
        for label, widget in (
            ("algorithm", self.algorithm),
            ("preset", self.preset),
            ("task family", self._build_family_row()),
            ("device", self.device),
            ("iterations", self.iterations),
            ("seed", self.seed),
            ("sampler workers", self.workers),
            ("sampled by", self._build_sampling_row()),
        ):
            choices.addRow(label, widget)
        return choices

    def _build_sampling_row(self) -> QWidget:
        """Processes on this machine, or Ray actors (a local Ray, or a cluster's address)."""
        self.backend = QComboBox()
        self.backend.addItem("processes", "process")
        self.backend.addItem("Ray", "ray")
        self.backend.setToolTip(
            "Ray: one actor per worker, on this machine or a cluster (pip install sim2adapt[cluster])"
        )
        self.ray_address = QLineEdit()
        self.ray_address.setPlaceholderText("local Ray, or auto / HOST:PORT")
        self.ray_address.setToolTip(
            "a running Ray cluster to join (auto, or the head's HOST:PORT); empty starts a local Ray "
            "with one CPU per worker. Sampling scales with the cluster; the learner stays in this machine."
        )
        self.backend.currentIndexChanged.connect(self._on_backend_chosen)
        self._on_backend_chosen()
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.backend)
        layout.addWidget(self.ray_address, 1)
        return row

    @Slot()
    def _on_backend_chosen(self) -> None:
        self.ray_address.setEnabled(self.backend.currentData() == "ray" and not self.state.active)

    def _build_family_row(self) -> QWidget:
        self.family = QComboBox()
        self.family.addItems([*family_names(), OPEN_FAMILY])
        self.family.activated.connect(self._on_family_chosen)
        self.edit_family_button = QPushButton("Edit family...")
        self.edit_family_button.setToolTip("edit the family of the next run: what varies, each range, the test set")
        self.edit_family_button.clicked.connect(self.edit_family)
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.family, 1)
        layout.addWidget(self.edit_family_button)
        return row

    def _build_settings_box(self) -> QGroupBox:
        self.settings_form = ConfigForm()
        self.settings_form.config_changed.connect(self._update_buttons)
        scroll = QScrollArea()
        scroll.setWidget(self.settings_form)
        scroll.setWidgetResizable(True)
        scroll.setMinimumHeight(180)  # several settings rows stay visible on a 900-pixel-high screen
        box = QGroupBox("Algorithm settings")
        QVBoxLayout(box).addWidget(scroll)
        return box

    def _build_buttons(self) -> QHBoxLayout:
        self.start_button, self.pause_button = QPushButton("Start"), QPushButton("Pause")
        self.resume_button, self.stop_button = QPushButton("Resume"), QPushButton("Stop")
        self.open_button = QPushButton("Open run...")
        self.start_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self.controller.pause)
        self.resume_button.clicked.connect(self._resume)
        self.stop_button.clicked.connect(self.controller.stop)
        self.open_button.clicked.connect(self._open_run)
        buttons = QHBoxLayout()
        for button in (self.start_button, self.pause_button, self.resume_button, self.stop_button, self.open_button):
            buttons.addWidget(button)
        return buttons

    # --- choices ----------------------------------------------------------------------------------
    @Slot()
    def _on_algorithm_chosen(self) -> None:
        self.settings_form.set_algorithm(get_algorithm(self.algorithm.currentData()), preset=self.preset.currentText())

    @Slot(str)
    def follow_family(self, name: str) -> None:
        """Make the bundled family ``name`` the next run's, unless the user chose one here or a run goes.

        The window calls it with the family shown beside Randomise, so that the tab starts on the
        family the user is looking at (not the first name in the alphabet).
        """
        index = self.family.findText(name)
        if self._family_chosen_here or self.state.active or index < 0:
            return
        self.family.setCurrentIndex(index)
        self.controller.choose_family(name)

    @Slot(int)
    def _on_family_chosen(self, index: int) -> None:
        self._family_chosen_here = True
        edited, text = self.family.itemData(index), self.family.itemText(index)
        try:
            if isinstance(edited, TaskDistribution) or text != OPEN_FAMILY:  # the editor's family, a name or a file
                self.controller.choose_family(edited if isinstance(edited, TaskDistribution) else text)
                return
            path = self.dialogs.open_file(self, "Open a task family", "Task family (*.json)")
            if path is not None:
                self.controller.choose_family(path)
                self.family.insertItem(0, str(path))
                self.family.setCurrentIndex(0)
                return
        except (OSError, ValueError) as err:
            self.show_error(f"could not open the family: {err}", "")
        self.family.setCurrentIndex(self._family_index())

    def _family_index(self) -> int:
        """The combo item of the current family: the editor's item holding it, else the item of its name."""
        for index in range(self.family.count()):
            if self.family.itemData(index) == self.controller.family:
                return index
        return self.family.findText(self.controller.family.name)

    @Slot()
    def edit_family(self) -> None:
        """Open the family editor on the current family; accepting it makes the result the next run's family."""
        if self.family_editor is None:
            self.family_editor = FamilyEditor(dialogs=self.dialogs, parent=self)
            self.family_editor.accepted.connect(self.on_family_edited)
        self.family_editor.set_family(self.controller.family)
        self.family_editor.open()

    @Slot()
    def on_family_edited(self) -> None:
        """The editor was accepted: its family trains next, listed first in the combo as "<name> (edited)"."""
        assert self.family_editor is not None
        family = self.controller.choose_family(self.family_editor.family())
        label = f"{family.name} (edited)"
        if self.family.findText(label) < 0:
            self.family.insertItem(0, label)
        index = self.family.findText(label)
        self.family.setItemData(index, family)
        self.family.setItemData(index, family.description, Qt.ItemDataRole.ToolTipRole)
        self.family.setCurrentIndex(index)
        self.show_status(f"the next run trains on the edited family {family.name!r}")

    def family_distribution(self) -> TaskDistribution:
        """The family the next run trains on."""
        return self.controller.family

    # --- run control ------------------------------------------------------------------------------
    @Slot()
    def start(self) -> None:
        """Create a run directory from the choices and start training it."""
        config = self.settings_form.config()
        if config is None:
            self.show_error(f"fix the settings first: {self.settings_form.error()}", "")
            return
        if not self._choose_sampling():
            return
        self.curves.clear()
        self.controller.start(
            algorithm=self.algorithm.currentData(),
            seed=self.seed.value(),
            iterations=self.iterations.value(),
            device=self.device.currentText(),
            num_workers=self.workers.value(),
            config=config,
        )

    @Slot()
    def _resume(self) -> None:
        """Continue the current run, sampled where the choices now say (a run keeps no backend)."""
        if self._choose_sampling():
            self.controller.resume()

    def _choose_sampling(self) -> bool:
        return self.controller.choose_sampling(self.backend.currentData(), self.ray_address.text())

    @Slot()
    def _open_run(self) -> None:
        path = self.dialogs.directory(self, "Open a run directory", self.controller.runs_root)
        if path is not None:
            self.curves.clear()
            self.controller.open_run(path)

    def is_running(self) -> bool:
        """Whether a training child is alive."""
        return self.controller.is_running()

    def shutdown(self) -> None:
        """Stop training for good (window closing): waits for the child, which keeps its checkpoint."""
        self._poll.stop()
        if self.family_editor is not None:
            self.family_editor.jobs.shutdown()
        self.controller.shutdown()

    # --- the controller's view (TrainView) ---------------------------------------------------------
    def show_state(self, state: TrainState) -> None:
        """Enable what the state allows, lock the choices while a child runs."""
        self._update_buttons()
        self.state_changed.emit(state)

    def show_status(self, text: str) -> None:
        """Log a line and pass it on."""
        self.log.appendPlainText(text)
        self.status_changed.emit(f"training: {text}")

    def show_error(self, message: str, details: str) -> None:
        """Log a failure (with its traceback) and pass it on."""
        self.log.appendPlainText(message)
        if details:
            self.log.appendPlainText(details)
        self.error_occurred.emit(message)

    def show_iteration(self, stats: IterationStats, progress: Progress) -> None:
        """A point on the curves, the progress bar, the ETA."""
        self.curves.on_iteration_done(stats)
        self.progress.setValue(progress.done)
        self.eta.setText(progress.text())

    def show_run(self, run: RunDir, progress: Progress) -> None:
        """The run directory the controls act on."""
        self.progress.setRange(0, progress.total)
        self.progress.setValue(progress.done)
        self.run_label.setText(f"run: {run.path}")

    @Slot()
    def _update_buttons(self) -> None:
        controller, active = self.controller, self.controller.state.active
        self.start_button.setEnabled(controller.can("start") and self.settings_form.config() is not None)
        self.pause_button.setEnabled(controller.can("pause"))
        self.stop_button.setEnabled(controller.can("stop"))
        self.resume_button.setEnabled(controller.can("resume"))
        self.open_button.setEnabled(controller.can("open"))
        choices: tuple[QWidget, ...] = (self.algorithm, self.preset, self.family, self.edit_family_button, self.device)
        for widget in (*choices, self.iterations, self.seed, self.workers, self.backend, self.settings_form):
            widget.setEnabled(not active)
        self._on_backend_chosen()
