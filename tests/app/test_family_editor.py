"""The family editor: vary + range make the family, bad ranges block it, JSON round-trips, the train panel uses it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialog

from app.runtime.task_files import user_families_dir, write_family_file
from app.window.dialogs import FileDialogs
from app.window.widgets.family_editor import FamilyEditor
from app.window.widgets.invalid_mark import is_marked_invalid
from app.window.widgets.train_panel import TrainPanel
from sim.params import TaskParams, get_value, with_values
from sim.tasks import ChoiceSet, TaskDistribution, UniformRange, load_family

TIMEOUT_MS = 10_000
A_FAMILY = TaskDistribution(
    name="heavy-hexapod",
    description="a hexapod with a payload of unknown mass",
    base=with_values(TaskParams(), {"robot.name": "hexapod", "goal.target_velocity_mps": 0.5}),
    vary={"robot.payload_kg": UniformRange(0.123456, 7.654321), "terrain.kind": ChoiceSet(("flat", "rough"))},
    num_test_tasks=5,
)


class CannedDialogs(FileDialogs):
    """Answers every file dialog with ``answer`` (None: cancelled) and remembers where each one started."""

    def __init__(self) -> None:
        self.answer: Path | None = None
        self.starts: list[Path | None] = []

    def open_file(self, parent: object, title: str, file_filter: str, start: Path | None = None) -> Path | None:
        self.starts.append(start)
        return self.answer

    def save_file(self, parent: object, title: str, file_filter: str, start: Path | None = None) -> Path | None:
        self.starts.append(start)
        return self.answer


@pytest.fixture
def dialogs() -> CannedDialogs:
    return CannedDialogs()


@pytest.fixture
def editor(qtbot, dialogs: CannedDialogs) -> Iterator[FamilyEditor]:
    made = FamilyEditor(load_family("cheetah-velocity"), dialogs=dialogs)
    qtbot.addWidget(made)
    yield made
    assert made.jobs.shutdown()


def vary_payload(editor: FamilyEditor, low: float, high: float) -> None:
    row = editor.row("robot.payload_kg")
    row.check.setChecked(True)
    assert row.low is not None and row.high is not None
    row.low.setValue(low)
    row.high.setValue(high)


def test_vary_and_ranges_make_the_family_and_its_draws_vary_exactly_those_fields(qtbot, editor: FamilyEditor) -> None:
    base = editor.family().base
    editor.row("goal.target_velocity_mps").check.setChecked(False)
    with qtbot.waitSignal(editor.family_changed, timeout=TIMEOUT_MS):
        vary_payload(editor, 2.0, 5.0)
    kinds = editor.row("terrain.kind")
    kinds.check.setChecked(True)
    assert [value for value, box in kinds.choices.items() if box.isChecked()] == ["flat"]  # the base's, at first
    kinds.choices["stairs"].setChecked(True)

    family = editor.family()
    assert editor.error() is None and editor.ok_button.isEnabled()
    assert family.vary == {"robot.payload_kg": UniformRange(2.0, 5.0), "terrain.kind": ChoiceSet(("flat", "stairs"))}
    tasks = family.sample_tasks(40, seed=3)
    assert all(2.0 <= task.robot.payload_kg <= 5.0 for task in tasks)
    assert {task.terrain.kind for task in tasks} == {"flat", "stairs"}
    assert {with_values(task, {p: get_value(base, p) for p in family.vary}) for task in tasks} == {base}
    lines = editor.preview_lines()
    assert len(lines) == family.num_test_tasks and lines[0].startswith("test task 0: robot.payload_kg = ")
    assert all(" kg, terrain.kind = " in line for line in lines)
    assert family.test_tasks(3) == family.test_tasks()[:3]  # the preview shows the real test set's first tasks

    editor.num_test_tasks.setValue(3)
    assert len(editor.preview_lines()) == 3 and editor.family().num_test_tasks == 3
    assert not editor.form.editor("robot.payload_kg").isEnabled()  # its base value is never used


def test_an_inverted_range_shows_the_familys_message_and_cannot_be_accepted(qtbot, editor: FamilyEditor) -> None:
    editor.open()
    vary_payload(editor, 1.0, 4.0)
    valid = editor.family()
    with qtbot.assertNotEmitted(editor.family_changed):
        vary_payload(editor, 6.0, 4.0)
    expected = "vary.robot.payload_kg = [6.0, 4.0] is not allowed: low <= high within the field's bounds [0, 30]"
    assert editor.error() == expected and editor.message.text() == expected and editor.message.isVisibleTo(editor)
    assert not editor.ok_button.isEnabled() and not editor.save_button.isEnabled()
    low = editor.row("robot.payload_kg").low
    assert low is not None and is_marked_invalid(low) and expected in low.toolTip()  # hovering the bound says why
    editor.accept()
    assert editor.isVisible() and editor.result() != QDialog.DialogCode.Accepted
    assert editor.family() == valid

    editor.row("robot.payload_kg").high.setValue(8.0)  # type: ignore[union-attr]
    assert editor.error() is None and editor.ok_button.isEnabled()
    assert not is_marked_invalid(low) and expected not in low.toolTip()
    editor.accept()
    assert not editor.isVisible() and editor.result() == QDialog.DialogCode.Accepted


def test_bounds_come_from_the_schema_and_no_choice_or_no_name_is_refused(editor: FamilyEditor) -> None:
    row = editor.row("robot.payload_kg")
    assert row.low is not None and (row.low.minimum(), row.low.maximum(), row.low.suffix()) == (0.0, 30.0, " kg")
    row.check.setChecked(True)
    row.low.setValue(99.0)  # the spin box keeps to the schema's bounds
    assert editor.family().vary["robot.payload_kg"] == UniformRange(30.0, 30.0)
    assert not editor.row("robot.urdf_path").check.isEnabled()  # free text cannot vary

    kinds = editor.row("terrain.kind")
    kinds.check.setChecked(True)
    kinds.choices["flat"].setChecked(False)
    assert editor.error() == "vary.terrain.kind = [] is not allowed: at least one value"
    kinds.choices["rough"].setChecked(True)
    editor.name_edit.setText("")
    editor.name_edit.textEdited.emit("")
    assert editor.error() is not None and editor.error().startswith("family.name = '' is not allowed: a non-empty")  # type: ignore[union-attr]


def test_save_then_load_round_trips_exactly(qtbot, editor: FamilyEditor, dialogs: CannedDialogs, tmp_path) -> None:
    editor.set_family(A_FAMILY)
    dialogs.answer = tmp_path / "saved"  # .json is added
    with qtbot.waitSignal(editor.family_saved, timeout=TIMEOUT_MS) as saved:
        editor.save_button.click()
    assert saved.args == [tmp_path / "saved.json"]
    assert dialogs.starts == [user_families_dir() / "heavy-hexapod.json"]  # offered in the user's folder first
    assert TaskDistribution.from_json((tmp_path / "saved.json").read_text()) == A_FAMILY
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left

    editor.set_family(load_family("cheetah-velocity"))
    dialogs.answer = tmp_path / "saved.json"
    with qtbot.waitSignal(editor.family_loaded, timeout=TIMEOUT_MS) as loaded:
        editor.load_button.click()
    assert loaded.args == [A_FAMILY] and editor.family() == A_FAMILY  # bounds not rounded by the spin boxes
    assert editor.name_edit.text() == "heavy-hexapod" and editor.form.task() == A_FAMILY.base
    assert editor.row("terrain.kind").check.isChecked() and not editor.row("goal.target_velocity_mps").check.isChecked()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"name": "x", "vary": {"robot.payload_kg": {"uniform": [0, 99]}}}', "vary.robot.payload_kg = [0.0, 99.0]"),
        ('{"name": "x", "vary": {"robot.payload_kg": {"uniform": [3, 1]}}}', "low <= high"),
        ('{"name": "x", "base": {"robot": {"wings": 2}}}', "robot.wings = 2 is not allowed: no such field"),
        ("{not json", "family = '{not json' is not allowed: valid JSON"),
    ],
    ids=["out-of-bounds", "inverted", "unknown-field", "not-json"],
)
def test_a_rejected_file_shows_the_message_and_changes_nothing(
    qtbot, editor: FamilyEditor, dialogs: CannedDialogs, tmp_path: Path, content: str, message: str
) -> None:
    editor.set_family(A_FAMILY)
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    dialogs.answer = bad
    with qtbot.assertNotEmitted(editor.family_changed), qtbot.waitSignal(editor.error_occurred, timeout=TIMEOUT_MS):
        editor.load_button.click()
    assert message in editor.message.text() and editor.message.isVisibleTo(editor)
    assert editor.family() == A_FAMILY and editor.name_edit.text() == A_FAMILY.name
    assert editor.ok_button.isEnabled()  # what is shown is still a valid family


def test_the_train_panels_next_run_uses_the_edited_family(qtbot, tmp_path: Path, dialogs: CannedDialogs) -> None:
    panel = TrainPanel(runs_root=tmp_path, env_kind="point_mass", dialogs=dialogs)
    qtbot.addWidget(panel)
    before = panel.family_distribution()
    panel.edit_family_button.click()
    editor = panel.family_editor
    assert editor is not None and editor.isVisible() and editor.family() == before

    editor.reject()  # cancelled: nothing changes
    assert panel.family_distribution() == before

    panel.edit_family_button.click()
    editor.name_edit.setText("my-family")
    editor.name_edit.textEdited.emit("my-family")
    vary_payload(editor, 1.0, 3.0)
    edited = editor.family()
    editor.ok_button.click()
    assert panel.family_distribution() == edited and edited.name == "my-family"
    assert panel.family.currentText() == "my-family (edited)"

    panel.family.activated.emit(panel.family.findText(before.name))  # the bundled one again, and back
    assert panel.family_distribution() == before
    panel.family.activated.emit(panel.family.findText("my-family (edited)"))
    assert panel.family_distribution() == edited
    panel.edit_family_button.click()
    assert editor.family() == edited
    editor.reject()
    panel.shutdown()


def test_family_files_are_written_atomically_into_the_users_folder(tmp_path: Path) -> None:
    path = write_family_file(user_families_dir() / "a.json", A_FAMILY)
    assert json.loads(path.read_text())["name"] == "heavy-hexapod"
    assert [p.name for p in path.parent.iterdir()] == ["a.json"]
