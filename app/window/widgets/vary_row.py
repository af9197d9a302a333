"""One row of the family editor: a schema field's "vary" check box and the editors of its range.

Split from :mod:`app.window.widgets.family_editor`, which composes the rows into the dialog: a row knows
how to show one field's distribution and how to mark itself invalid; the dialog knows the family.
Also the preview's one-line description of a test task.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QGridLayout, QLabel, QSpinBox, QWidget

from app.window.widgets.invalid_mark import mark_invalid
from app.window.widgets.params_form import bounded_spin_box
from sim.params import ParamField, TaskParams, get_value
from sim.tasks import ChoiceSet, FieldDistribution, UniformRange

CHOICE_COLUMNS = 3


def _can_vary(leaf: ParamField) -> bool:
    """Numbers (with bounds) and choices can vary; free text (a file path) cannot."""
    return leaf.spec.choices is not None or leaf.spec.low is not None


def _format(leaf: ParamField, value: Any) -> str:
    unit = f" {leaf.spec.unit}" if leaf.spec.unit else ""
    if isinstance(value, float):
        return f"{value:.3g}{unit}"
    return f"{value}{unit}" if isinstance(value, int) else repr(value)


def describe_test_task(index: int, task: TaskParams, varied: Sequence[ParamField]) -> str:
    """One preview line: the ``varied`` fields' values in a test task."""
    values = ", ".join(f"{leaf.path} = {_format(leaf, get_value(task, leaf.path))}" for leaf in varied)
    return f"test task {index}: {values or 'the base task (nothing varies)'}"


def _set_spin(spin: QSpinBox | QDoubleSpinBox, value: float) -> None:
    if isinstance(spin, QSpinBox):
        spin.setValue(round(value))
    else:
        spin.setValue(value)


class VaryRow:
    """The "vary" check box of one schema leaf and the editors of its range."""

    def __init__(self, leaf: ParamField) -> None:
        self.leaf = leaf
        self.check = QCheckBox(leaf.path)
        self.check.setToolTip(leaf.spec.help)
        self.low: QSpinBox | QDoubleSpinBox | None = None
        self.high: QSpinBox | QDoubleSpinBox | None = None
        self.choices: dict[str, QCheckBox] = {}
        self.editors = QWidget()
        layout = QGridLayout(self.editors)
        layout.setContentsMargins(0, 0, 0, 0)
        if leaf.spec.choices is not None:
            for i, value in enumerate(leaf.spec.choices):
                self.choices[value] = QCheckBox(value)
                layout.addWidget(self.choices[value], i // CHOICE_COLUMNS, i % CHOICE_COLUMNS)
        elif _can_vary(leaf):
            self.low, self.high = self._spin(), self._spin()
            layout.addWidget(self.low, 0, 0)
            layout.addWidget(QLabel("to"), 0, 1)
            layout.addWidget(self.high, 0, 2)
            layout.setColumnStretch(0, 1)
            layout.setColumnStretch(2, 1)
        else:
            self.check.setEnabled(False)
            self.check.setToolTip(f"{leaf.spec.help} (free text: it cannot vary)")

    def _spin(self) -> QSpinBox | QDoubleSpinBox:
        spin = bounded_spin_box(self.leaf)
        spin.setToolTip(self.leaf.spec.describe_allowed())
        return spin

    def inputs(self) -> list[QWidget]:
        """The range's inputs: the two spin boxes or the choices' check boxes."""
        spins: list[QWidget] = [spin for spin in (self.low, self.high) if spin is not None]
        return spins + list(self.choices.values())

    def widgets(self) -> list[QWidget]:
        """Every input of the row."""
        return [self.check, *self.inputs()]

    def show(self, varied: bool, dist: FieldDistribution | None) -> None:
        """Show ``dist`` (emits nothing); the range editors are enabled only while the field varies."""
        for widget in self.widgets():
            widget.blockSignals(True)
        try:
            self.check.setChecked(varied)
            if self.low is not None and self.high is not None:
                whole = UniformRange(self.low.minimum(), self.high.maximum())
                shown = dist if isinstance(dist, UniformRange) else whole
                _set_spin(self.low, shown.low)
                _set_spin(self.high, shown.high)
            if isinstance(dist, ChoiceSet):
                for value, box in self.choices.items():
                    box.setChecked(value in dist.values)
        finally:
            for widget in self.widgets():
                widget.blockSignals(False)
        self.editors.setEnabled(varied)

    def mark(self, message: str | None) -> None:
        """Outline the row's range inputs in red with ``message`` as tooltip, or clear that."""
        for widget in self.inputs():
            mark_invalid(widget, message, help_text=self.leaf.spec.describe_allowed())
