"""The task form: generated from the schema, round-trips a task, emits only valid tasks."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox

from app.widgets.params_form import ParamsForm, float_step_and_decimals
from sim.params import TaskParams, get_value, task_fields, with_values

A_TASK = with_values(
    TaskParams(),
    {
        "robot.name": "hexapod",
        "robot.payload_kg": 3.5,
        "robot.joint_damping": 0.25,
        "terrain.kind": "rough",
        "terrain.rough_amplitude_m": 0.125,
        "terrain.rough_seed": 1234,
        "terrain.gravity_mps2": 3.71,
        "goal.target_velocity_mps": -1.5,
        "goal.target_heading_deg": 90.0,
    },
)


def read_editor(form: ParamsForm, path: str) -> object:
    editor = form.editor(path)
    if isinstance(editor, QComboBox):
        return editor.currentText()
    if isinstance(editor, (QSpinBox, QDoubleSpinBox)):
        return editor.value()
    assert isinstance(editor, QLineEdit)
    return editor.text()


def test_one_editor_per_schema_field_with_bounds_unit_and_help(qtbot) -> None:
    form = ParamsForm()
    qtbot.addWidget(form)
    for leaf in task_fields():
        editor = form.editor(leaf.path)
        assert editor.toolTip() == leaf.spec.help
        if leaf.spec.choices is not None:
            assert isinstance(editor, QComboBox)
            assert [editor.itemText(i) for i in range(editor.count())] == list(leaf.spec.choices)
        elif leaf.type is float:
            assert isinstance(editor, QDoubleSpinBox)
            assert (editor.minimum(), editor.maximum()) == (leaf.spec.low, leaf.spec.high)
            assert editor.suffix() == (f" {leaf.spec.unit}" if leaf.spec.unit else "")
        elif leaf.type is int:
            assert isinstance(editor, QSpinBox)
            assert (editor.minimum(), editor.maximum()) == (leaf.spec.low, leaf.spec.high)
        else:
            assert isinstance(editor, QLineEdit)


def test_round_trip_task_form_task(qtbot) -> None:
    form = ParamsForm()
    qtbot.addWidget(form)
    form.set_task(A_TASK)
    assert form.task() == A_TASK
    shown = {leaf.path: read_editor(form, leaf.path) for leaf in task_fields()}
    assert with_values(TaskParams(), shown) == A_TASK  # what the editors display is the task
    form.set_task(TaskParams())
    assert form.task() == TaskParams()


def test_untouched_fields_keep_full_precision(qtbot) -> None:
    precise = with_values(TaskParams(), {"robot.mass_scale": 1.23456789})
    form = ParamsForm()
    qtbot.addWidget(form)
    form.set_task(precise)
    form.editor("robot.payload_kg").setValue(2.0)  # type: ignore[attr-defined]
    assert form.task().robot.mass_scale == 1.23456789  # shown rounded, kept exact


def test_editing_a_spin_box_emits_the_new_task(qtbot) -> None:
    form = ParamsForm()
    qtbot.addWidget(form)
    form.set_task(A_TASK)
    spin = form.editor("robot.payload_kg")
    assert isinstance(spin, QDoubleSpinBox)
    with qtbot.waitSignal(form.params_changed, timeout=1000) as blocker:
        spin.setValue(12.5)
    assert blocker.args == [with_values(A_TASK, {"robot.payload_kg": 12.5})]
    assert form.task().robot.payload_kg == 12.5


def test_set_task_emits_nothing(qtbot) -> None:
    form = ParamsForm()
    qtbot.addWidget(form)
    with qtbot.assertNotEmitted(form.params_changed):
        form.set_task(A_TASK)


def test_an_invalid_combination_is_marked_and_not_emitted(qtbot) -> None:
    form = ParamsForm()
    qtbot.addWidget(form)
    form.show()
    name = form.editor("robot.name")
    assert isinstance(name, QComboBox)
    with qtbot.assertNotEmitted(form.params_changed):
        name.setCurrentText("urdf")  # the schema needs robot.urdf_path then
    message = form.error()
    assert message is not None and message.startswith("robot.urdf_path = '' is not allowed")
    path_edit = form.editor("robot.urdf_path")
    assert "border" in path_edit.styleSheet() and path_edit.toolTip() == message
    assert form.task() == TaskParams()  # the last valid task

    assert isinstance(path_edit, QLineEdit)
    path_edit.setText("/robots/crab.urdf")
    with qtbot.waitSignal(form.params_changed, timeout=1000) as blocker:
        path_edit.editingFinished.emit()
    assert get_value(blocker.args[0], "robot.urdf_path") == "/robots/crab.urdf"
    assert blocker.args[0].robot.name == "urdf"
    assert form.error() is None and path_edit.styleSheet() == ""
    assert path_edit.toolTip() == "path of the user's URDF file (only when name is 'urdf')"


def test_float_step_and_decimals_fit_the_range() -> None:
    assert float_step_and_decimals(0.0, 30.0) == (1.0, 2)
    assert float_step_and_decimals(0.25, 4.0) == (0.1, 2)
    step, decimals = float_step_and_decimals(0.0, 0.3)
    assert abs(step - 0.01) < 1e-12 and decimals == 3
