"""The main window: the preview runs off the GUI thread, edits reach the env, failures land in the status bar
and the log, an adaptation takes the viewport over and gives it back, close joins every thread."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QDoubleSpinBox, QSpinBox

from app.runtime.launcher import JobLauncher
from app.runtime.task_files import HOME_ENV
from app.runtime.train_control import TrainState
from app.window.dialogs import FileDialogs
from app.window.main_window import MainWindow
from sim.metrics import ENDINGS
from sim.params import TaskParams, with_values
from sim.tasks import load_family

TIMEOUT_MS = 10_000


class CannedDialogs(FileDialogs):
    def __init__(self) -> None:
        self.answer: Path | None = None

    def open_file(self, *args: object, **kwargs: object) -> Path | None:
        return self.answer


@pytest.fixture
def windows(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[MainWindow]]:
    """Windows the test opened; closed (so their threads joined) at teardown.

    A strong reference is needed: qtbot.addWidget holds widgets weakly, and a window collected while
    its preview runs would destroy a running QThread, which aborts the process.
    """
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    opened: list[MainWindow] = []
    yield opened
    for window in opened:
        window.close()
        assert not window.is_previewing() and not window.adapt_panel.is_running()


def open_window(
    windows: list[MainWindow], factory, task: TaskParams | None = None, runs_root: Path | None = None
) -> MainWindow:
    launcher = JobLauncher(in_child_process=False, preview_env=factory)
    window = MainWindow(
        task or TaskParams(),
        launcher=launcher,
        fps=100,
        dialogs=CannedDialogs(),
        runs_root=runs_root,
        train_env_kind="point_mass",
    )
    windows.append(window)
    window.show()
    window.start_preview()
    return window


def test_preview_feeds_viewport_and_plot_and_close_joins(qtbot, make_factory, windows) -> None:
    factory = make_factory()
    window = open_window(windows, factory)
    qtbot.waitUntil(lambda: window.viewport.frames_shown >= 2, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: window.reward_plot.point_count() >= 2, timeout=TIMEOUT_MS)
    assert window.job_label.text() == "previewing ant on flat ground"

    spin = window.form.editor("robot.payload_kg")
    assert isinstance(spin, QDoubleSpinBox)
    spin.setValue(7.0)
    qtbot.waitUntil(lambda: factory.env.task.robot.payload_kg == 7.0, timeout=TIMEOUT_MS)
    assert len(factory.envs) == 1

    window.close()
    assert not window.is_previewing()
    assert factory.env.closed


def test_an_invalid_edit_shows_the_message_and_the_env_keeps_its_task(qtbot, make_factory, windows) -> None:
    factory = make_factory()
    window = open_window(windows, factory)
    qtbot.waitUntil(lambda: bool(factory.envs) and factory.env.steps > 0, timeout=TIMEOUT_MS)
    path_edit = window.form.editor("robot.urdf_path")
    path_edit.setText("/robots/crab.urdf")  # type: ignore[attr-defined]  # not allowed for the ant
    path_edit.editingFinished.emit()  # type: ignore[attr-defined]
    assert window.form.error() is not None and "robot.urdf_path" in window.form.error()  # type: ignore[operator]
    window.form.editor("goal.target_velocity_mps").setValue(2.0)  # type: ignore[attr-defined]  # still invalid
    steps = factory.env.steps
    qtbot.waitUntil(lambda: factory.env.steps > steps + 5, timeout=TIMEOUT_MS)
    assert factory.env.task == TaskParams() and len(factory.envs) == 1


def test_a_loaded_task_file_reaches_the_env(qtbot, make_factory, windows, tmp_path: Path) -> None:
    factory = make_factory()
    window = open_window(windows, factory)
    task = with_values(TaskParams(), {"terrain.friction": 0.4, "goal.target_velocity_mps": 2.0})
    (tmp_path / "task.json").write_text(task.to_json())
    window.dialogs.answer = tmp_path / "task.json"  # type: ignore[attr-defined]
    window.task_panel.load_task()
    qtbot.waitUntil(lambda: bool(factory.envs) and factory.env.task == task, timeout=TIMEOUT_MS)


def test_a_failing_env_shows_in_the_status_bar_and_log_and_an_edit_restarts(qtbot, make_factory, windows) -> None:
    factory = make_factory(fail_at_step=3)
    window = open_window(windows, factory)
    qtbot.waitUntil(lambda: "motor 3 exploded" in window.statusBar().currentMessage(), timeout=TIMEOUT_MS)
    assert window.statusBar().currentMessage() == "preview stopped: RuntimeError: motor 3 exploded"
    assert "error: preview stopped: RuntimeError: motor 3 exploded" in window.log.toPlainText()
    qtbot.waitUntil(lambda: not window.is_previewing(), timeout=TIMEOUT_MS)
    assert window.isVisible()

    factory.env_kwargs = {}  # the next env works
    window.form.editor("terrain.friction").setValue(0.5)  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: len(factory.envs) == 2 and factory.env.steps > 5, timeout=TIMEOUT_MS)
    assert factory.env.task.terrain.friction == 0.5
    assert window.is_previewing()


def test_a_preview_episode_that_leaves_the_world_says_so_and_the_preview_goes_on(qtbot, make_factory, windows) -> None:
    factory = make_factory(left_world_at_step=3)
    window = open_window(windows, factory)
    qtbot.waitUntil(lambda: "left the world" in window.statusBar().currentMessage(), timeout=TIMEOUT_MS)
    assert window.statusBar().currentMessage() == f"preview: episode 1 {ENDINGS['left_world']}; restarted"
    assert "preview: episode 1 left the world" in window.log.toPlainText()
    qtbot.waitUntil(lambda: factory.env.steps > 10, timeout=TIMEOUT_MS)
    assert window.is_previewing()


def test_orbiting_the_viewport_turns_the_previews_camera(qtbot, make_factory, windows) -> None:
    factory = make_factory()
    window = open_window(windows, factory)
    qtbot.waitUntil(lambda: bool(factory.envs) and bool(factory.env.cameras), timeout=TIMEOUT_MS)
    turned = window.viewport.camera.orbited(yaw_deg=60.0).zoomed(2.0)
    window.viewport.set_camera(turned)
    qtbot.waitUntil(lambda: factory.env.cameras[-1] == turned, timeout=TIMEOUT_MS)


def test_an_adaptation_pauses_the_preview_and_gives_it_back(qtbot, make_factory, windows, point_checkpoint) -> None:
    factory = make_factory()
    window = open_window(windows, factory)
    qtbot.waitUntil(lambda: window.viewport.frames_shown >= 1, timeout=TIMEOUT_MS)
    panel = window.adapt_panel
    panel.add_checkpoint(point_checkpoint)
    panel.shots.setValue(2)
    panel.steps.setValue(3)
    panel.updates.setValue(1)
    with qtbot.waitSignal(panel.adaptation_starting, timeout=TIMEOUT_MS):
        panel.run_button.click()
    assert not window.is_previewing() and factory.envs[0].closed  # the preview gave the renderer up
    window.form.editor("terrain.friction").setValue(0.3)  # type: ignore[attr-defined]  # an edit during the run
    qtbot.waitUntil(lambda: not panel.is_running() and window.is_previewing(), timeout=30_000)
    assert window.device_label.text() == "device: cpu"
    qtbot.waitUntil(lambda: len(factory.envs) == 2 and factory.env.steps > 0, timeout=TIMEOUT_MS)
    assert factory.env.task.terrain.friction == 0.3  # the preview came back with the newest task
    assert panel.plot.returns(0)[0] == [0.0, 1.0]


@pytest.mark.slow
def test_training_pauses_the_preview_and_its_end_resumes_it(qtbot, make_factory, windows, tmp_path: Path) -> None:
    """A training child gets the cores: the preview neither steps nor renders until the run ends."""
    factory = make_factory()
    window = open_window(windows, factory, runs_root=tmp_path / "runs")
    qtbot.waitUntil(lambda: window.viewport.frames_shown >= 2, timeout=TIMEOUT_MS)
    panel = window.train_panel
    for name, value in {"meta_batch_size": 2, "episodes_per_task": 2, "horizon": 5}.items():
        editor = panel.settings_form.editor(name)
        assert isinstance(editor, QSpinBox)
        editor.setValue(value)
    panel.iterations.setValue(2)
    panel.workers.setValue(1)
    panel.device.setCurrentText("cpu")
    panel.start_button.click()
    assert "(paused)" in window.job_label.text() and "training" in window.job_label.text()
    qtbot.waitUntil(lambda: panel.curves.point_count() >= 1, timeout=120_000)
    steps = factory.env.steps
    qtbot.waitUntil(lambda: panel.state is TrainState.FINISHED, timeout=120_000)
    assert factory.env.steps <= steps + 1  # paused the whole time (at most the step in hand when it started)
    assert "training finished" in window.log.toPlainText()
    qtbot.waitUntil(lambda: factory.env.steps > steps + 5, timeout=TIMEOUT_MS)  # and back
    assert window.job_label.text() == "previewing ant on flat ground"


def test_the_meta_train_tab_starts_on_the_family_beside_randomise_until_one_is_chosen_there(
    qtbot, make_factory, windows
) -> None:
    """A first launch shows a cheetah-velocity task: the Meta-train tab offers that family, not a1-rough."""
    cheetah = load_family("cheetah-velocity").test_tasks()[0]
    window = open_window(windows, make_factory(), task=cheetah)
    window.task_panel.reload_presets()  # what MainWindow.start does at launch
    qtbot.waitUntil(lambda: window.task_panel.families.currentText() == "cheetah-velocity", timeout=TIMEOUT_MS)
    train = window.train_panel
    assert train.family.currentText() == "cheetah-velocity"
    assert train.family_distribution().name == "cheetah-velocity"
    chosen = train.family.findText("ant-dynamics")
    train.family.setCurrentIndex(chosen)
    train.family.activated.emit(chosen)  # as a user's pick
    window.task_panel.families.setCurrentText("quadruped-terrain")
    assert train.family_distribution().name == "ant-dynamics"  # the user's choice here stays
