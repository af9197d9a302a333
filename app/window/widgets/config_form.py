"""A form for an algorithm's settings, generated from its settings dataclass (no hand-kept field list).

Each field gets an editor by its annotation (spin boxes for numbers, a check box for flags, a line
edit for layer sizes) and its attribute docstring as tooltip. The algorithm's own settings class
validates the values, so the form shows exactly the message the CLI would print.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QFormLayout, QLabel, QLineEdit, QSpinBox, QVBoxLayout, QWidget

from agents.algorithms import Algorithm, SettingField
from app.window.widgets.invalid_mark import mark_invalid


def _tuple_text(value: Any) -> str:
    return ",".join(str(v) for v in value)


class ConfigForm(QWidget):
    """Editors for one algorithm's settings; :meth:`config` is the validated dict or None."""

    config_changed = Signal()
    """Any edit (valid or not); read :meth:`config` and :meth:`error`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self._layout = QFormLayout()
        outer.addLayout(self._layout)
        self._editors: dict[str, QWidget] = {}
        self._fields: list[SettingField] = []
        self._algorithm: Algorithm | None = None
        self._error: str | None = None
        self._message = QLabel()
        self._message.setWordWrap(True)
        self._message.setStyleSheet("color: #d32f2f;")
        self._message.hide()
        outer.addWidget(self._message)

    def set_algorithm(self, algorithm: Algorithm, *, preset: str = "quick") -> None:
        """Rebuild the editors for ``algorithm`` showing its ``preset`` values."""
        while self._layout.rowCount():
            self._layout.removeRow(0)
        self._algorithm, self._fields, self._editors = algorithm, algorithm.settings_fields(), {}
        values = algorithm.config(preset=preset).to_dict()
        for field in self._fields:
            editor = self._make_editor(field, values[field.name])
            editor.setToolTip(field.help)
            label = QLabel(field.name.replace("_", " "))
            label.setToolTip(field.help)
            self._layout.addRow(label, editor)
            self._editors[field.name] = editor
        self._validate()

    def _make_editor(self, field: SettingField, value: Any) -> QWidget:
        editor: QWidget
        if field.type_name == "bool":
            check = QCheckBox()
            check.setChecked(bool(value))
            check.toggled.connect(self._validate)
            editor = check
        elif field.type_name == "int":
            spin = QSpinBox()
            spin.setRange(-(2**31) + 1, 2**31 - 1)
            spin.setValue(int(value))
            spin.setKeyboardTracking(False)
            spin.valueChanged.connect(self._validate)
            editor = spin
        elif field.type_name == "float":
            dspin = QDoubleSpinBox()
            dspin.setDecimals(6)
            dspin.setRange(-1e9, 1e9)
            dspin.setValue(float(value))
            dspin.setKeyboardTracking(False)
            dspin.valueChanged.connect(self._validate)
            editor = dspin
        elif field.type_name == "str":  # a choice by name (e.g. RMA's task_sampler): its class checks it
            text = QLineEdit(str(value))
            text.editingFinished.connect(self._validate)
            editor = text
        else:  # tuple[int, ...]: layer widths
            line = QLineEdit(_tuple_text(value))
            line.editingFinished.connect(self._validate)
            editor = line
        return editor

    def editor(self, name: str) -> QWidget:
        """The editor of setting ``name``."""
        return self._editors[name]

    def _raw_values(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        text_fields = {field.name for field in self._fields if field.type_name == "str"}
        for name, editor in self._editors.items():
            if isinstance(editor, QCheckBox):
                values[name] = editor.isChecked()
            elif isinstance(editor, QSpinBox | QDoubleSpinBox):
                values[name] = editor.value()
            elif isinstance(editor, QLineEdit) and name in text_fields:
                values[name] = editor.text()
            elif isinstance(editor, QLineEdit):
                text = editor.text()
                try:
                    values[name] = tuple(int(part) for part in text.split(","))
                except ValueError as err:
                    raise ValueError(f"{name} = {text!r} is not allowed: comma-separated layer widths") from err
        return values

    def _validate(self) -> None:
        self._error = None
        try:
            assert self._algorithm is not None
            self._algorithm.config(self._raw_values())
        except ValueError as err:
            self._error = str(err)
        error = self._error or ""
        for field in self._fields:  # the field the message names is marked with it
            named = f".{field.name} " in error or error.startswith(f"{field.name} ")
            mark_invalid(self._editors[field.name], error if named else None, help_text=field.help)
        self._message.setText(self._error or "")
        self._message.setVisible(self._error is not None)
        self.config_changed.emit()

    def error(self) -> str | None:
        """The settings class's message about the current values, or None when they are valid."""
        return self._error

    def config(self) -> Any:
        """The algorithm's typed settings, or None while they are invalid."""
        if self._error is not None or self._algorithm is None:
            return None
        return self._algorithm.config(self._raw_values())
