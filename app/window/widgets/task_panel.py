"""The task editor: the schema-generated form, with presets, Randomise and task files around it.

- Presets: each bundled family's base and held-out test tasks, then the user's own presets (task
  files in :func:`app.runtime.task_files.user_presets_dir`), re-read each time the menu opens.
- Randomise draws a task from the family chosen beside it.
- Load / Save read and write task JSON files; Save as preset writes into the presets folder.

Files are read and written in job threads (:class:`app.window.jobs.JobRunner`). A file the schema rejects
shows the schema's message, naming the field, and changes nothing. The catalogue and the draws live in
a Qt-free :class:`~app.runtime.task_control.TaskController`; like every panel, this one speaks through
``status_changed`` and ``error_occurred``.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.runtime.task_control import TaskController
from app.runtime.task_files import PresetCatalogue, load_catalogue, read_task_file, user_presets_dir, write_task_file
from app.window.dialogs import FileDialogs
from app.window.jobs import JobRunner
from app.window.widgets.params_form import ParamsForm
from sim.params import TaskParams

TASK_FILTER = "Task (*.json);;All (*)"


class TaskPanel(QWidget):
    """A :class:`ParamsForm` with presets, Randomise, Load and Save; emits every new valid task."""

    task_changed = Signal(object)
    """The new :class:`TaskParams`, from an edit, a preset, Randomise or a loaded file."""
    error_occurred = Signal(str)
    """A failure to show in the status bar and the log."""
    status_changed = Signal(str)
    """A line of news (a file saved) for the status bar and the log."""

    def __init__(
        self,
        *,
        dialogs: FileDialogs | None = None,
        jobs: JobRunner | None = None,
        seed: int = 0,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.dialogs = dialogs or FileDialogs()
        self.jobs = jobs or JobRunner(self)
        self.controller = TaskController(seed=seed)

        self.form = ParamsForm(dialogs=self.dialogs)
        self.form.params_changed.connect(self.task_changed)
        scroll = QScrollArea()
        scroll.setWidget(self.form)
        scroll.setWidgetResizable(True)

        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._build_file_row())
        layout.addLayout(self._build_family_row())
        layout.addWidget(self.message)
        layout.addWidget(scroll, 1)

    def _build_file_row(self) -> QHBoxLayout:
        self.presets_button = QToolButton()
        self.presets_button.setText("Presets")
        self.presets_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.presets_menu = QMenu(self.presets_button)
        self.presets_menu.aboutToShow.connect(self.reload_presets)
        self.presets_button.setMenu(self.presets_menu)
        load = QPushButton("Load...")
        load.clicked.connect(self.load_task)
        save = QPushButton("Save...")
        save.clicked.connect(self.save_task)
        save_preset = QPushButton("Save as preset...")
        save_preset.clicked.connect(self.save_preset)
        row = QHBoxLayout()
        for widget in (self.presets_button, load, save, save_preset):
            row.addWidget(widget)
        row.addStretch(1)
        return row

    def _build_family_row(self) -> QHBoxLayout:
        self.families = QComboBox()
        self.families.setToolTip("the task family Randomise draws from")
        self.randomise_button = QPushButton("Randomise")
        self.randomise_button.setToolTip("draw a task from the family")
        self.randomise_button.clicked.connect(self.randomise)
        self.randomise_button.setEnabled(False)
        row = QHBoxLayout()
        row.addWidget(QLabel("family"))
        row.addWidget(self.families, 1)
        row.addWidget(self.randomise_button)
        return row

    # --- the task -------------------------------------------------------------------------------------
    def task(self) -> TaskParams:
        """The editor's last valid task."""
        return self.form.task()

    def set_task(self, task: TaskParams) -> None:
        """Show ``task`` and emit it (a preset, a draw or a loaded file)."""
        changed = task != self.form.task()
        self.form.set_task(task)
        self._show_message("")
        if changed:
            self.task_changed.emit(task)

    # --- presets --------------------------------------------------------------------------------------
    @Slot()
    def reload_presets(self) -> None:
        """Re-read the families and the user's presets (in a job thread); the menu follows."""
        self.jobs.call(load_catalogue, on_done=self._on_catalogue, on_failed=self._fail)

    @property
    def catalogue(self) -> PresetCatalogue | None:
        """The families and presets last read."""
        return self.controller.catalogue

    def _on_catalogue(self, catalogue: PresetCatalogue) -> None:
        offered = self.controller.set_catalogue(catalogue, current=self.families.currentText(), task=self.form.task())
        self.families.clear()
        self.families.addItems(list(catalogue.families))
        if offered is not None:
            self.families.setCurrentText(offered)
        self.randomise_button.setEnabled(self.controller.can_randomise())
        self._fill_menu(catalogue)
        for problem in catalogue.problems:
            self.error_occurred.emit(f"preset skipped: {problem}")

    def _fill_menu(self, catalogue: PresetCatalogue) -> None:
        menu = self.presets_menu
        menu.clear()  # removes the actions; the submenus are child widgets, deleted here
        for submenu in menu.findChildren(QMenu):
            submenu.deleteLater()
        groups: dict[str, QMenu] = {}
        for preset in catalogue.builtin:
            if preset.group not in groups:
                groups[preset.group] = menu.addMenu(preset.group)
            action = groups[preset.group].addAction(preset.name)
            action.triggered.connect(lambda _checked=False, task=preset.task: self.set_task(task))
        menu.addSection("My presets")
        if not catalogue.user:
            placeholder = menu.addAction(f"(none yet in {user_presets_dir()})")
            placeholder.setEnabled(False)
        for preset in catalogue.user:
            action = menu.addAction(preset.name)
            action.triggered.connect(lambda _checked=False, task=preset.task: self.set_task(task))

    def preset_names(self) -> list[str]:
        """Every enabled entry of the presets menu, as ``group/name`` (user presets: ``My presets/name``)."""
        names = []
        for action in self.presets_menu.actions():
            submenu = action.menu()
            if isinstance(submenu, QMenu):
                names += [f"{action.text()}/{sub.text()}" for sub in submenu.actions()]
            elif action.isEnabled() and not action.isSeparator():
                names.append(f"My presets/{action.text()}")
        return names

    def trigger_preset(self, name: str) -> None:
        """Choose the menu entry ``group/name`` (as :meth:`preset_names` lists it)."""
        group, _, entry = name.partition("/")
        for action in self.presets_menu.actions():
            submenu = action.menu()
            if isinstance(submenu, QMenu) and action.text() == group:
                candidates = submenu.actions()
            elif group == "My presets" and not isinstance(submenu, QMenu):
                candidates = [action]
            else:
                continue
            for candidate in candidates:
                if candidate.text() == entry:
                    candidate.trigger()
                    return
        raise KeyError(name)

    @Slot()
    def randomise(self) -> None:
        """Draw a task from the chosen family."""
        task = self.controller.randomise(self.families.currentText())
        if task is not None:
            self.set_task(task)

    # --- files ----------------------------------------------------------------------------------------
    @Slot()
    def load_task(self) -> None:
        """Ask for a task file and load it (a rejected file changes nothing)."""
        path = self.dialogs.open_file(self, "Load a task", TASK_FILTER)
        if path is not None:
            self.jobs.call(lambda: read_task_file(path), on_done=self.set_task, on_failed=self._fail)

    @Slot()
    def save_task(self) -> None:
        """Ask for a file and write the task to it."""
        path = self.dialogs.save_file(self, "Save the task", TASK_FILTER)
        if path is not None:
            self._write(path if path.suffix else path.with_suffix(".json"))

    @Slot()
    def save_preset(self) -> None:
        """Ask for a name in the presets folder and write the task there."""
        folder = user_presets_dir()
        path = self.dialogs.save_file(self, "Save the task as a preset", TASK_FILTER, folder)
        if path is not None:
            self._write(path if path.suffix else path.with_suffix(".json"), reload=True)

    def _write(self, path: Path, *, reload: bool = False) -> None:
        task = self.form.task()

        def done(written: object) -> None:
            self._show_message("")
            self.status_changed.emit(f"saved {written}")
            if reload:
                self.reload_presets()

        self.jobs.call(lambda: write_task_file(path, task), on_done=done, on_failed=self._fail)

    # --- messages -------------------------------------------------------------------------------------
    def _show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #d32f2f;" if text else "")
        self.message.setVisible(bool(text))

    @Slot(str)
    def _fail(self, message: str) -> None:
        self._show_message(message)
        self.error_occurred.emit(message)
