"""The task-family editor: a base task, which of its fields vary and over what, and the held-out test set.

Generated from the one schema (:func:`sim.params.task_fields`), as the task form is: the base task is
a :class:`ParamsForm`; every field gets a row (:class:`~app.window.widgets.vary_row.VaryRow`): a "vary"
check box, a number a low/high pair of spin boxes bounded by the schema's bounds (with its unit), a
choice field one check box per allowed value. Every
edit rebuilds the :class:`TaskDistribution` and draws its held-out test tasks for the preview, so a
bad range is reported by the family and the schema themselves (naming the field, the value and what
is allowed); while there is one, the family can be neither accepted nor saved.

The editor keeps the exact ranges it was given (a spin box shows a rounded number, but an untouched
bound round-trips unchanged). Families are saved and loaded as JSON in job threads; a file the family
rejects shows its message and changes nothing.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.runtime.task_files import read_family_file, user_families_dir, write_family_file
from app.window.dialogs import FileDialogs
from app.window.jobs import JobRunner
from app.window.widgets.params_form import ParamsForm
from app.window.widgets.vary_row import VaryRow, describe_test_task
from sim.params import ParamField, TaskParamError, field_by_path, get_value, task_fields
from sim.tasks import ChoiceSet, FieldDistribution, TaskDistribution, UniformRange

FAMILY_FILTER = "Task family (*.json);;All (*)"
PREVIEW_TASKS = 50
"""The preview lists at most this many of the held-out test tasks."""
MAX_TEST_TASKS = 1000


class FamilyEditor(QDialog):
    """Edits a :class:`TaskDistribution`; emits ``family_changed`` on every edit that forms a valid one."""

    family_changed = Signal(object)
    """The new :class:`TaskDistribution` after an edit or a load (not after :meth:`set_family`)."""
    family_saved = Signal(object)
    """The :class:`~pathlib.Path` a family was written to."""
    family_loaded = Signal(object)
    """The :class:`TaskDistribution` read from a file (also shown in the editor)."""
    error_occurred = Signal(str)
    """A file could not be read or written (the message names the field where the schema is at fault)."""

    def __init__(
        self,
        family: TaskDistribution | None = None,
        *,
        dialogs: FileDialogs | None = None,
        jobs: JobRunner | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Task family")
        self.dialogs = dialogs or FileDialogs()
        self.jobs = jobs or JobRunner(self)
        self._leaves = task_fields()
        self._family = family or TaskDistribution(name="my-family")
        self._ranges: dict[str, FieldDistribution] = {}
        self._varied: list[str] = []
        self._error: str | None = None
        self._rows: dict[str, VaryRow] = {}
        self._marked: VaryRow | None = None
        self._build()
        self.resize(1280, 760)
        self.set_family(self._family)

    # --- building ---------------------------------------------------------------------------------
    def _build(self) -> None:
        self.name_edit, self.description_edit = QLineEdit(), QLineEdit()
        self.name_edit.setToolTip("names the family's files and the run folders trained on it")
        self.num_test_tasks = QSpinBox()
        self.num_test_tasks.setRange(1, MAX_TEST_TASKS)
        self.num_test_tasks.setToolTip("size of the fixed held-out test set drawn from the family")
        self.name_edit.textEdited.connect(self._rebuild)
        self.description_edit.textEdited.connect(self._rebuild)
        self.num_test_tasks.valueChanged.connect(self._rebuild)
        header = QFormLayout()
        header.addRow("name", self.name_edit)
        header.addRow("description", self.description_edit)

        self.form = ParamsForm(dialogs=self.dialogs)
        self.form.params_changed.connect(self._rebuild)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self._boxed("Base task", self.form))
        vary_box = self._boxed("What varies (each varied field is drawn independently)", self._build_vary())
        self._vary_scroll = vary_box.findChild(QScrollArea)
        split.addWidget(vary_box)
        split.addWidget(self._build_preview())
        split.setSizes([370, 540, 330])

        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #d32f2f;")
        self.message.hide()
        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(split, 1)
        layout.addWidget(self.message)
        layout.addWidget(self._build_buttons())

    @staticmethod
    def _boxed(title: str, content: QWidget) -> QGroupBox:
        scroll = QScrollArea()
        scroll.setWidget(content)
        scroll.setWidgetResizable(True)
        box = QGroupBox(title)
        QVBoxLayout(box).addWidget(scroll)
        return box

    def _build_vary(self) -> QWidget:
        content = QWidget()
        grid = QGridLayout(content)
        line = 0
        for section, leaves in itertools.groupby(self._leaves, key=lambda leaf: leaf.path.split(".")[0]):
            grid.addWidget(QLabel(f"<b>{section.capitalize()}</b>"), line, 0, 1, 2)
            line += 1
            for leaf in leaves:
                row = self._rows[leaf.path] = VaryRow(leaf)
                grid.addWidget(row.check, line, 0)
                grid.addWidget(row.editors, line, 1)
                self._connect(row)
                line += 1
        grid.setColumnStretch(1, 1)
        grid.setRowStretch(line, 1)
        return content

    def _connect(self, row: VaryRow) -> None:
        path = row.leaf.path
        row.check.toggled.connect(lambda checked: self._on_vary_toggled(path, checked))
        if row.low is not None and row.high is not None:
            row.low.valueChanged.connect(lambda value: self._on_bound_edited(path, low=float(value)))
            row.high.valueChanged.connect(lambda value: self._on_bound_edited(path, high=float(value)))
        for box in row.choices.values():
            box.toggled.connect(lambda _checked: self._on_choices_edited(path))

    def _build_preview(self) -> QWidget:
        self.preview = QListWidget()
        self.preview.setWordWrap(True)
        self.preview.setAlternatingRowColors(True)
        self.preview.setToolTip("the held-out test tasks drawn from the family (the same every time)")
        box = QGroupBox("Held-out test tasks")
        layout = QVBoxLayout(box)
        count = QFormLayout()
        count.addRow("number of test tasks", self.num_test_tasks)
        layout.addLayout(count)
        layout.addWidget(self.preview, 1)
        return box

    def _build_buttons(self) -> QWidget:
        self.load_button, self.save_button = QPushButton("Load JSON..."), QPushButton("Save JSON...")
        self.load_button.clicked.connect(self.load)
        self.save_button.clicked.connect(self.save)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.addButton(self.load_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.addButton(self.save_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        assert ok_button is not None
        self.ok_button = ok_button
        return self.buttons

    # --- public API -------------------------------------------------------------------------------
    def family(self) -> TaskDistribution:
        """The last valid family: what was set, plus the edits since that formed a valid family."""
        return self._family

    def error(self) -> str | None:
        """The message about the current edits (a bad range, base task or name), or None."""
        return self._error

    def row(self, path: str) -> VaryRow:
        """The vary check box and range editors of the field at ``path`` (for tests and scripts)."""
        return self._rows[path]

    def preview_lines(self) -> list[str]:
        """The preview's lines."""
        return [self.preview.item(i).text() for i in range(self.preview.count())]

    def set_family(self, family: TaskDistribution) -> None:
        """Show ``family`` in the editors (emits nothing) and clear any error."""
        self._family = family
        self._ranges = dict(family.vary)
        self._varied = list(family.vary)
        for widget in (self.name_edit, self.description_edit, self.num_test_tasks):
            widget.blockSignals(True)
        self.name_edit.setText(family.name)
        self.description_edit.setText(family.description)
        self.num_test_tasks.setValue(family.num_test_tasks)
        for widget in (self.name_edit, self.description_edit, self.num_test_tasks):
            widget.blockSignals(False)
        self.form.set_task(family.base)
        for path, row in self._rows.items():
            row.show(path in self._varied, self._ranges.get(path))
            self._enable_base_editor(path)
        self._show_error(None)
        self._show_preview(family)

    # --- editing ----------------------------------------------------------------------------------
    def _on_vary_toggled(self, path: str, checked: bool) -> None:
        if checked:
            self._varied.append(path)
            if path not in self._ranges:
                self._ranges[path] = self._default_range(self._rows[path].leaf)
        else:
            self._varied.remove(path)
        self._rows[path].show(checked, self._ranges[path])
        self._enable_base_editor(path)
        self._rebuild()

    def _default_range(self, leaf: ParamField) -> FieldDistribution:
        """Numbers: the schema's whole range; choices: the base task's value (add more from there)."""
        if leaf.spec.choices is not None:
            return ChoiceSet((get_value(self.form.task(), leaf.path),))
        assert leaf.spec.low is not None and leaf.spec.high is not None
        return UniformRange(float(leaf.spec.low), float(leaf.spec.high))

    def _on_bound_edited(self, path: str, *, low: float | None = None, high: float | None = None) -> None:
        current = self._ranges[path]
        assert isinstance(current, UniformRange)
        self._ranges[path] = UniformRange(current.low if low is None else low, current.high if high is None else high)
        self._rebuild()

    def _on_choices_edited(self, path: str) -> None:
        row = self._rows[path]
        self._ranges[path] = ChoiceSet(tuple(value for value, box in row.choices.items() if box.isChecked()))
        self._rebuild()

    def _enable_base_editor(self, path: str) -> None:
        """A varied field's base value is never used: its editor in the base form is greyed out."""
        self.form.editor(path).setEnabled(path not in self._varied)

    @Slot()
    def _rebuild(self) -> None:
        """Build the family from the editors; show it and emit it, or show what the family rejects."""
        if (form_error := self.form.error()) is not None:
            self._show_error(f"base task: {form_error}")
            return
        vary = {leaf.path: self._ranges[leaf.path] for leaf in self._leaves if leaf.path in self._varied}
        try:
            family = TaskDistribution(
                name=self.name_edit.text(),
                description=self.description_edit.text(),
                base=self.form.task(),
                vary=vary,
                num_test_tasks=self.num_test_tasks.value(),
            )
            self._show_preview(family)  # draws the test tasks: a range the schema rejects fails here
        except TaskParamError as err:
            self._show_error(str(err), err.path)
            return
        self._show_error(None)
        if family != self._family:
            self._family = family
            self.family_changed.emit(family)

    def _show_preview(self, family: TaskDistribution) -> None:
        varied = [field_by_path(path) for path in family.vary]
        lines = [describe_test_task(i, task, varied) for i, task in enumerate(family.test_tasks(PREVIEW_TASKS))]
        if family.num_test_tasks > PREVIEW_TASKS:
            lines.append(f"... and {family.num_test_tasks - PREVIEW_TASKS} more")
        self.preview.clear()
        self.preview.addItems(lines)

    def _show_error(self, message: str | None, path: str | None = None, *, blocks: bool = True) -> None:
        """Show ``message`` (None: clear it), outlining the row of ``path``; ``blocks``: the edits are invalid."""
        self._error = message if blocks else None
        self.message.setText(message or "")
        self.message.setVisible(message is not None)
        if self._marked is not None:
            self._marked.mark(None)
        self._marked = self._rows.get((path or "").removeprefix("vary."))
        if self._marked is not None:
            self._marked.mark(message)
        for widget in (self.ok_button, self.save_button, self.preview):  # the preview shows the last valid family
            widget.setEnabled(self._error is None)

    def showEvent(self, event: QShowEvent) -> None:
        """Scroll the first varied field into view (the rows have their geometry only once shown)."""
        super().showEvent(event)
        if self._varied and isinstance(self._vary_scroll, QScrollArea):
            self._vary_scroll.ensureWidgetVisible(self._rows[self._varied[0]].editors)

    def accept(self) -> None:
        """Close with the family, unless the edits do not form one (then the message stays)."""
        self._rebuild()
        if self._error is None:
            super().accept()

    # --- files ------------------------------------------------------------------------------------
    @Slot()
    def save(self) -> None:
        """Ask for a file (in the user's families folder at first) and write the family to it."""
        self._rebuild()
        if self._error is not None:
            return
        folder = user_families_dir()
        folder.mkdir(parents=True, exist_ok=True)
        family = self._family
        path = self.dialogs.save_file(self, "Save the task family", FAMILY_FILTER, folder / f"{family.name}.json")
        if path is None:
            return
        path = path if path.suffix else path.with_suffix(".json")
        self.jobs.call(lambda: write_family_file(path, family), on_done=self._on_saved, on_failed=self._on_failed)

    @Slot()
    def load(self) -> None:
        """Ask for a family file and show it (a file the family rejects changes nothing)."""
        path = self.dialogs.open_file(self, "Load a task family", FAMILY_FILTER, user_families_dir())
        if path is not None:
            self.jobs.call(lambda: read_family_file(path), on_done=self._on_loaded, on_failed=self._on_failed)

    def _on_saved(self, path: Path) -> None:
        self._show_error(None)
        self.family_saved.emit(path)

    def _on_loaded(self, family: TaskDistribution) -> None:
        self.set_family(family)
        self.family_loaded.emit(family)
        self.family_changed.emit(family)

    def _on_failed(self, message: str) -> None:
        self._show_error(message, blocks=False)  # the family shown is still the valid one it was
        self.error_occurred.emit(message)
