"""The task form: generated from the schema, round-trips a task, emits only valid tasks."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox

from app.window.dialogs import FileDialogs
from app.window.widgets.invalid_mark import is_marked_invalid
from app.window.widgets.params_form import ParamsForm, float_step_and_decimals
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


class CannedDialogs(FileDialogs):
    """Answers every file dialog with ``answer`` (None: cancelled)."""

    def __init__(self, answer: Path | None) -> None:
        self.answer = answer

    def open_file(self, *args: object, **kwargs: object) -> Path | None:
        return self.answer


def read_editor(form: ParamsForm, path: str) -> object:
    editor = form.editor(path)
    if isinstance(editor, QComboBox):
        return editor.currentData()
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
            assert [editor.itemData(i) for i in range(editor.count())] == list(leaf.spec.choices)
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
    path_edit = form.editor("robot.urdf_path")
    assert isinstance(path_edit, QLineEdit)
    with qtbot.assertNotEmitted(form.params_changed):
        path_edit.setText("/robots/crab.urdf")  # the schema wants it empty for a built-in robot
        path_edit.editingFinished.emit()
    message = form.error()
    assert message is not None and message.startswith("robot.urdf_path = '/robots/crab.urdf' is not allowed")
    assert is_marked_invalid(path_edit) and message in path_edit.toolTip()  # hovering the field says why
    path_edit.setText("")
    path_edit.editingFinished.emit()
    assert form.error() is None and not is_marked_invalid(path_edit)

    form.dialogs = CannedDialogs(None)  # "open URDF..." cancelled: back to the robot shown before
    name = form.editor("robot.name")
    assert isinstance(name, QComboBox)
    with qtbot.assertNotEmitted(form.params_changed):
        name.setCurrentIndex(name.findData("urdf"))
    assert name.currentData() == "ant" and form.error() is None
    assert form.task() == TaskParams()


def test_open_urdf_asks_for_the_file_and_a_builtin_robot_clears_it(qtbot) -> None:
    form = ParamsForm(dialogs=CannedDialogs(Path("/robots/crab.urdf")))
    qtbot.addWidget(form)
    name = form.editor("robot.name")
    assert isinstance(name, QComboBox) and name.itemText(name.findData("urdf")) == "open URDF..."
    with qtbot.waitSignal(form.params_changed, timeout=1000) as blocker:
        name.setCurrentIndex(name.findData("urdf"))
    assert (blocker.args[0].robot.name, blocker.args[0].robot.urdf_path) == ("urdf", "/robots/crab.urdf")
    assert name.itemText(name.findData("urdf")) == "URDF: crab.urdf"
    with qtbot.waitSignal(form.params_changed, timeout=1000) as blocker:
        name.setCurrentIndex(name.findData("hexapod"))
    assert (blocker.args[0].robot.name, blocker.args[0].robot.urdf_path) == ("hexapod", "")
    assert read_editor(form, "robot.urdf_path") == ""


def test_an_emptied_urdf_path_is_marked_until_a_path_is_given(qtbot) -> None:
    form = ParamsForm(dialogs=CannedDialogs(Path("/robots/crab.urdf")))
    qtbot.addWidget(form)
    form.show()
    form.editor("robot.name").setCurrentIndex(form.editor("robot.name").findData("urdf"))  # type: ignore[attr-defined]
    path_edit = form.editor("robot.urdf_path")
    assert isinstance(path_edit, QLineEdit)
    with qtbot.assertNotEmitted(form.params_changed):
        path_edit.setText("")
        path_edit.editingFinished.emit()  # the schema needs robot.urdf_path for the urdf robot
    message = form.error()
    assert message is not None and message.startswith("robot.urdf_path = '' is not allowed")
    assert is_marked_invalid(path_edit) and message in path_edit.toolTip()
    assert form.task().robot.urdf_path == "/robots/crab.urdf"  # the last valid task

    path_edit.setText("/robots/lobster.urdf")
    with qtbot.waitSignal(form.params_changed, timeout=1000) as blocker:
        path_edit.editingFinished.emit()
    assert get_value(blocker.args[0], "robot.urdf_path") == "/robots/lobster.urdf"
    assert blocker.args[0].robot.name == "urdf"
    assert form.error() is None and not is_marked_invalid(path_edit)
    (leaf,) = (leaf for leaf in task_fields() if leaf.path == "robot.urdf_path")
    assert path_edit.toolTip() == leaf.spec.help  # the field's own help again, not the old refusal


def test_float_step_and_decimals_fit_the_range() -> None:
    assert float_step_and_decimals(0.0, 30.0) == (1.0, 2)
    assert float_step_and_decimals(0.25, 4.0) == (0.1, 2)
    step, decimals = float_step_and_decimals(0.0, 0.3)
    assert abs(step - 0.01) < 1e-12 and decimals == 3
