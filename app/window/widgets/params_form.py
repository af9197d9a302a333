"""A form for every task parameter, generated from the schema (``sim.params.task_fields``).

One editor per leaf, grouped by section: a combo box for choices (each item's data is the schema's
value), a spin box with the schema's bounds and unit for numbers, a line edit with "Browse..." for
file paths. Tooltips are the schema's help. The form keeps the exact values it was given (a spin box
shows a rounded number, but an untouched field round-trips unchanged) and emits a new
:class:`TaskParams` only when the edited values form a valid task; otherwise it marks the field the
schema names and shows its message.

One pair of fields gets a shortcut: the robot chooser's ``urdf`` item reads "open URDF..." and asks
for the file at once (the schema wants ``robot.urdf_path`` set exactly when ``robot.name`` is
``urdf``), and choosing a built-in robot again empties the path.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.window.dialogs import FileDialogs
from app.window.widgets.invalid_mark import mark_invalid
from sim.params import ParamField, TaskParamError, TaskParams, get_value, task_fields, with_values

ROBOT_NAME, URDF_PATH, URDF_CHOICE = "robot.name", "robot.urdf_path", "urdf"
"""The robot chooser, the path field it depends on, and the choice that needs the path."""
URDF_FILTER = "URDF (*.urdf);;All (*)"


def _section(leaf: ParamField) -> str:
    return leaf.path.split(".", 1)[0]


def _label(leaf: ParamField) -> str:
    return leaf.path.split(".", 1)[1].replace("_", " ")


def float_step_and_decimals(low: float, high: float) -> tuple[float, int]:
    """A spin box step of about a tenth of the range's order of magnitude, and decimals to show it."""
    magnitude = math.floor(math.log10(high - low)) if high > low else 0
    step = 10.0 ** (magnitude - 1)
    return step, max(2, 1 - (magnitude - 1))


def bounded_spin_box(leaf: ParamField) -> QSpinBox | QDoubleSpinBox:
    """A spin box for a numeric field: the schema's bounds, a step that suits them, its unit as suffix.

    It emits only when typing is done (no keyboard tracking), not once per keystroke.
    """
    spec = leaf.spec
    assert spec.low is not None and spec.high is not None
    spin: QSpinBox | QDoubleSpinBox
    if leaf.type is int:
        spin = QSpinBox()
        spin.setRange(int(spec.low), int(spec.high))
    else:
        spin = QDoubleSpinBox()
        step, decimals = float_step_and_decimals(spec.low, spec.high)
        spin.setDecimals(decimals)
        spin.setRange(spec.low, spec.high)
        spin.setSingleStep(step)
    if spec.unit:
        spin.setSuffix(f" {spec.unit}")
    spin.setKeyboardTracking(False)
    return spin


class ParamsForm(QWidget):
    """Editors for every field of :class:`TaskParams`; emits ``params_changed`` on valid edits."""

    params_changed = Signal(object)
    """The new :class:`TaskParams` after an edit that forms a valid task."""

    def __init__(self, parent: QWidget | None = None, *, dialogs: FileDialogs | None = None) -> None:
        super().__init__(parent)
        self.dialogs = dialogs or FileDialogs()
        self._leaves = {leaf.path: leaf for leaf in task_fields()}
        self._task = TaskParams()
        self._values: dict[str, Any] = {path: get_value(self._task, path) for path in self._leaves}
        self._editors: dict[str, QWidget] = {}
        self._invalid_path: str | None = None

        layout = QVBoxLayout(self)
        for section, leaves in itertools.groupby(self._leaves.values(), key=_section):
            box = QGroupBox(section.capitalize())
            rows = QFormLayout(box)
            for leaf in leaves:
                label = QLabel(_label(leaf))
                label.setToolTip(leaf.spec.help)
                rows.addRow(label, self._make_editor(leaf))
            layout.addWidget(box)
        self._message = QLabel()
        self._message.setWordWrap(True)
        self._message.setStyleSheet("color: #d32f2f;")
        self._message.hide()
        layout.addWidget(self._message)
        layout.addStretch(1)
        self.set_task(self._task)

    # --- building ---------------------------------------------------------------------------------
    def _make_editor(self, leaf: ParamField) -> QWidget:
        """The editor of one leaf; the returned widget may wrap the input (path + Browse button)."""
        spec, path = leaf.spec, leaf.path
        if spec.choices is not None:
            combo = QComboBox()
            for value in spec.choices:
                combo.addItem(value, value)
            combo.currentIndexChanged.connect(lambda index: self._on_choice(path, combo.itemData(index)))
            return self._register(leaf, combo)
        if leaf.type in (float, int):
            spin = bounded_spin_box(leaf)
            cast = leaf.type
            spin.valueChanged.connect(lambda value: self._on_edited(path, cast(value)))
            return self._register(leaf, spin)
        return self._make_path_editor(leaf)

    def _make_path_editor(self, leaf: ParamField) -> QWidget:
        line = QLineEdit()
        line.setPlaceholderText(leaf.spec.help)
        line.editingFinished.connect(lambda: self._on_edited(leaf.path, line.text()))
        self._register(leaf, line)
        browse = QPushButton("Browse...")
        browse.clicked.connect(lambda: self._browse(leaf.path, line))
        row = QWidget()
        row_layout = QHBoxLayout(row)
        row_layout.setContentsMargins(0, 0, 0, 0)
        row_layout.addWidget(line, 1)
        row_layout.addWidget(browse)
        return row

    def _register(self, leaf: ParamField, editor: QWidget) -> QWidget:
        editor.setToolTip(leaf.spec.help)
        self._editors[leaf.path] = editor
        return editor

    def _browse(self, path: str, line: QLineEdit) -> None:
        chosen = self._ask_urdf(line.text())
        if chosen:
            line.setText(chosen)
            self._on_edited(path, chosen)

    def _ask_urdf(self, current: str) -> str | None:
        start = Path(current).parent if current else None
        chosen = self.dialogs.open_file(self, "Choose a URDF file", URDF_FILTER, start)
        return str(chosen) if chosen is not None else None

    def _on_choice(self, path: str, value: str) -> None:
        """A combo box pick; the robot chooser keeps ``robot.urdf_path`` consistent with it."""
        if path != ROBOT_NAME or value == self._values.get(ROBOT_NAME):
            self._on_edited(path, value)
        elif value == URDF_CHOICE:
            chosen = self._ask_urdf(str(self._values.get(URDF_PATH, "")))
            if chosen is None:  # cancelled: back to the robot shown before
                self._show_value(self._editors[ROBOT_NAME], self._values[ROBOT_NAME])
                return
            self._show_value(self._editors[URDF_PATH], chosen)
            self._edit({ROBOT_NAME: value, URDF_PATH: chosen})
        else:
            self._show_value(self._editors[URDF_PATH], "")
            self._edit({ROBOT_NAME: value, URDF_PATH: ""})

    # --- public API -------------------------------------------------------------------------------
    def editor(self, path: str) -> QWidget:
        """The input widget of the field at ``path`` (a combo box, spin box or line edit)."""
        return self._editors[path]

    def value(self, path: str) -> Any:
        """What the editor of ``path`` holds now (valid or not)."""
        return self._values[path]

    def task(self) -> TaskParams:
        """The last valid task: what was set, plus the edits since that formed a valid task."""
        return self._task

    def error(self) -> str | None:
        """The schema's message about the current edits, or None while they form a valid task."""
        return self._message.text() if self._invalid_path is not None else None

    def set_task(self, task: TaskParams) -> None:
        """Show ``task`` in the editors (emits nothing) and clear any error."""
        self._task = task
        self._values = {path: get_value(task, path) for path in self._leaves}
        for path, value in self._values.items():
            self._show_value(self._editors[path], value)
        self._clear_error()

    def _show_value(self, editor: QWidget, value: Any) -> None:
        editor.blockSignals(True)
        try:
            if isinstance(editor, QComboBox):
                editor.setCurrentIndex(editor.findData(value))
            elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
                editor.setValue(value)
            elif isinstance(editor, QLineEdit):
                editor.setText(str(value))
        finally:
            editor.blockSignals(False)
        if editor is self._editors.get(URDF_PATH):
            self._label_urdf_choice(str(value))

    def _label_urdf_choice(self, urdf_path: str) -> None:
        """The robot chooser's ``urdf`` item names the chosen file, or offers to open one."""
        combo = self._editors.get(ROBOT_NAME)
        if isinstance(combo, QComboBox):
            index = combo.findData(URDF_CHOICE)
            combo.setItemText(index, f"URDF: {Path(urdf_path).name}" if urdf_path else "open URDF...")

    # --- editing ----------------------------------------------------------------------------------
    def _on_edited(self, path: str, value: Any) -> None:
        if self._values.get(path) == value and self._invalid_path is None:
            return
        if path == URDF_PATH:
            self._label_urdf_choice(str(value))
        self._edit({path: value})

    def _edit(self, changes: dict[str, Any]) -> None:
        """Take edited values; emit the task they form, or mark what the schema rejects."""
        self._values.update(changes)
        try:
            task = with_values(TaskParams(), self._values)
        except TaskParamError as err:
            self._show_error(err)
            return
        self._clear_error()
        if task != self._task:
            self._task = task
            self.params_changed.emit(task)

    def _show_error(self, err: TaskParamError) -> None:
        self._clear_error()
        self._message.setText(str(err))
        self._message.show()
        self._invalid_path = err.path
        editor = self._editors.get(err.path)
        if editor is not None:
            mark_invalid(editor, str(err), help_text=self._leaves[err.path].spec.help)

    def _clear_error(self) -> None:
        if self._invalid_path is not None:
            editor = self._editors.get(self._invalid_path)
            if editor is not None:
                mark_invalid(editor, None, help_text=self._leaves[self._invalid_path].spec.help)
        self._invalid_path = None
        self._message.clear()
        self._message.hide()
