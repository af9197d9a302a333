"""The task editor's presets, Randomise and task files: rejected files change nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.runtime.task_files import HOME_ENV, user_home, user_presets_dir, write_task_file
from app.window.dialogs import FileDialogs
from app.window.widgets.task_panel import TaskPanel
from sim.params import TaskParams, with_values
from sim.tasks import family_names, load_family

TIMEOUT_MS = 10_000
A_TASK = with_values(TaskParams(), {"robot.name": "hexapod", "terrain.kind": "rough", "robot.payload_kg": 2.5})


class CannedDialogs(FileDialogs):
    """Answers every file dialog with ``answer`` (None: cancelled)."""

    def __init__(self) -> None:
        self.answer: Path | None = None

    def open_file(self, *args: object, **kwargs: object) -> Path | None:
        return self.answer

    def save_file(self, *args: object, **kwargs: object) -> Path | None:
        return self.answer


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user folder, redirected into the test's temporary folder."""
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def panel(qtbot, home: Path) -> Iterator[TaskPanel]:
    made = TaskPanel(dialogs=CannedDialogs())
    qtbot.addWidget(made)
    yield made
    assert made.jobs.shutdown()


def test_the_user_folder_follows_the_environment(tmp_path: Path) -> None:
    assert user_home({HOME_ENV: str(tmp_path)}) == tmp_path
    assert user_presets_dir({"XDG_CONFIG_HOME": "/cfg"}) == Path("/cfg/sim2adapt/presets")


def test_save_then_load_round_trips(qtbot, panel: TaskPanel, tmp_path: Path) -> None:
    panel.form.set_task(A_TASK)
    panel.dialogs.answer = tmp_path / "saved"  # type: ignore[attr-defined]  # .json is added
    with qtbot.waitSignal(panel.status_changed, timeout=TIMEOUT_MS):
        panel.save_task()
    saved = tmp_path / "saved.json"
    assert TaskParams.from_json(saved.read_text()) == A_TASK
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left

    panel.form.set_task(TaskParams())
    panel.dialogs.answer = saved  # type: ignore[attr-defined]
    with qtbot.waitSignal(panel.task_changed, timeout=TIMEOUT_MS) as blocker:
        panel.load_task()
    assert blocker.args == [A_TASK] and panel.task() == A_TASK


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"robot": {"payload_kg": 99}}', "robot.payload_kg = 99.0 is not allowed: a number from 0 to 30 kg"),
        ('{"robot": {"wings": 2}}', "robot.wings = 2 is not allowed: no such field"),
        ("{not json", "task = '{not json' is not allowed: valid JSON"),
    ],
    ids=["out-of-bounds", "unknown-field", "not-json"],
)
def test_a_rejected_task_file_shows_the_schemas_message_and_changes_nothing(
    qtbot, panel: TaskPanel, tmp_path: Path, content: str, message: str
) -> None:
    panel.form.set_task(A_TASK)
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    panel.dialogs.answer = bad  # type: ignore[attr-defined]
    with qtbot.assertNotEmitted(panel.task_changed), qtbot.waitSignal(panel.error_occurred, timeout=TIMEOUT_MS):
        panel.load_task()
    assert message in panel.message.text() and panel.message.isVisibleTo(panel)
    assert panel.task() == A_TASK


def test_presets_list_families_test_tasks_and_the_users_own(qtbot, panel: TaskPanel, home: Path) -> None:
    write_task_file(user_presets_dir() / "heavy hexapod.json", A_TASK)
    (user_presets_dir() / "broken.json").write_text(json.dumps({"goal": {"target_velocity_mps": 9}}))
    with qtbot.waitSignal(panel.error_occurred, timeout=TIMEOUT_MS) as blocker:  # the broken one is reported
        panel.reload_presets()
    assert "broken.json" in blocker.args[0] and "goal.target_velocity_mps" in blocker.args[0]
    qtbot.waitUntil(lambda: panel.catalogue is not None, timeout=TIMEOUT_MS)
    names = panel.preset_names()
    family = load_family(family_names()[0])
    assert f"{family.name}/base task" in names and f"{family.name}/test task {family.num_test_tasks - 1}" in names
    assert "My presets/heavy hexapod" in names and "My presets/broken" not in names

    with qtbot.waitSignal(panel.task_changed, timeout=TIMEOUT_MS) as chosen:
        panel.trigger_preset("My presets/heavy hexapod")
    assert chosen.args == [A_TASK]
    panel.trigger_preset(f"{family.name}/test task 1")
    assert panel.task() == family.test_tasks()[1]


def test_save_as_preset_adds_it_to_the_menu(qtbot, panel: TaskPanel) -> None:
    panel.reload_presets()
    qtbot.waitUntil(lambda: panel.catalogue is not None, timeout=TIMEOUT_MS)
    assert not [name for name in panel.preset_names() if name.startswith("My presets/")]
    panel.form.set_task(A_TASK)
    panel.dialogs.answer = user_presets_dir() / "mine"  # type: ignore[attr-defined]
    panel.save_preset()
    qtbot.waitUntil(lambda: "My presets/mine" in panel.preset_names(), timeout=TIMEOUT_MS)


def test_the_family_beside_randomise_starts_as_the_one_the_task_comes_from(qtbot, panel: TaskPanel) -> None:
    panel.set_task(load_family("quadruped-terrain").test_tasks()[3])  # an A1 task, as a1-rough's are
    panel.reload_presets()
    qtbot.waitUntil(lambda: panel.randomise_button.isEnabled(), timeout=TIMEOUT_MS)
    assert panel.families.currentText() == "quadruped-terrain"


def test_randomise_draws_from_the_chosen_family(qtbot, panel: TaskPanel) -> None:
    panel.reload_presets()
    qtbot.waitUntil(lambda: panel.randomise_button.isEnabled(), timeout=TIMEOUT_MS)
    panel.families.setCurrentText("cheetah-velocity")
    family = load_family("cheetah-velocity")
    drawn = []
    for _ in range(3):
        with qtbot.waitSignal(panel.task_changed, timeout=TIMEOUT_MS) as blocker:
            panel.randomise_button.click()
        drawn.append(blocker.args[0])
    assert all(task.robot == family.base.robot and task.terrain == family.base.terrain for task in drawn)
    (path, dist), *_ = family.vary.items()
    values = [task.goal.target_velocity_mps for task in drawn]
    assert path == "goal.target_velocity_mps" and len(set(values)) == 3
    assert all(dist.low <= v <= dist.high for v in values)  # type: ignore[union-attr]


def test_the_window_opens_on_a_task_the_bundled_agent_can_adapt_to(tmp_path) -> None:
    from app.runtime.task_files import first_launch_task
    from sim.params import TaskParams
    from sim.tasks import load_family

    assert first_launch_task(tmp_path) == TaskParams()
    (tmp_path / "cheetah-velocity-maml.pt").write_bytes(b"")
    (tmp_path / "cheetah-velocity-maml.json").write_text('{"family": "cheetah-velocity"}')
    assert first_launch_task(tmp_path) == load_family("cheetah-velocity").test_tasks()[0]


def test_the_default_bundled_agent_comes_first(tmp_path) -> None:
    from app.runtime.task_files import DEFAULT_AGENT, find_checkpoints

    names = ["ant-dynamics-maml.pt", DEFAULT_AGENT, "cheetah-velocity-maml.pt"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    assert [path.name for path in find_checkpoints(tmp_path)] == [DEFAULT_AGENT, names[0], names[2]]
