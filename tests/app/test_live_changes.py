"""Changing the task while an adaptation runs, from the window: an edited dynamics field reaches the running
simulation at the next step and is marked on the plots; a field that would rebuild the world is refused in
one line; the third plot draws an online agent's running estimate of the task, or says there is none."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDoubleSpinBox

from agents.core.adaptation import EstimateEvent, TaskChangeEvent
from app.runtime.adapt_control import AdaptController
from app.runtime.launcher import JobLauncher
from app.runtime.task_files import HOME_ENV
from app.window.dialogs import FileDialogs
from app.window.jobs import AdaptWorker
from app.window.main_window import MainWindow
from app.window.widgets.adapt_panel import AdaptPanel
from app.window.widgets.adapt_plot import AdaptPlotWidget
from app.window.widgets.estimate_plot import NO_ESTIMATE_TEXT
from sim.params import TaskParams, with_values
from sim.task_changes import TaskChange

TIMEOUT_MS = 60_000
RMA_EPISODE_STEPS = 40
"""the RMA fixture's point-mass episodes (conftest.TINY_RMA's horizon)"""
HELD_S = 30.0
"""how long a run may be held between two steps while the test edits the form (a failsafe, never reached)"""


class Gate:
    """Holds a run's worker thread after one chosen step until the test has edited the form, so the edit
    lands at a known step; records the task changes and estimates the worker emits."""

    def __init__(self, episode: int, step: int) -> None:
        self.at = (episode, step)
        self.reached, self.released = threading.Event(), threading.Event()
        self.changes: list[TaskChangeEvent] = []
        self.estimates: list[EstimateEvent] = []

    def watch(self, worker: AdaptWorker) -> None:
        """Connected to ``worker_created``: the slots run in the worker's thread, between two events."""
        direct = Qt.ConnectionType.DirectConnection
        worker.step_done.connect(self._on_step, direct)
        worker.task_changed.connect(self.changes.append, direct)
        worker.task_estimated.connect(self.estimates.append, direct)

    def _on_step(self, event) -> None:
        if (event.episode, event.step) == self.at:
            self.reached.set()
            self.released.wait(HELD_S)


@pytest.fixture
def windows(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[MainWindow]]:
    """Windows the test opened (strongly referenced: a collected window would destroy running threads)."""
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    opened: list[MainWindow] = []
    yield opened
    for window in opened:
        window.close()
        assert not window.is_previewing() and not window.adapt_panel.is_running()


def open_window(windows: list[MainWindow], factory, task: TaskParams) -> MainWindow:
    """A window whose preview steps a fake env and whose adaptation runs in a thread of this process."""
    window = MainWindow(task, launcher=JobLauncher(in_child_process=False, preview_env=factory), fps=100)
    window.dialogs = FileDialogs()
    windows.append(window)
    window.show()
    window.start_preview()
    return window


def start_gated_run(qtbot, window: MainWindow, checkpoint: Path, gate: Gate, *, shots: int, steps: int) -> AdaptPanel:
    panel = window.adapt_panel
    panel.worker_created.connect(gate.watch)
    panel.add_checkpoint(checkpoint)
    panel.shots.setValue(shots)
    panel.updates.setValue(0)
    panel.steps.setValue(steps)
    panel.run_button.click()
    qtbot.waitUntil(gate.reached.is_set, timeout=TIMEOUT_MS)
    return panel


@pytest.mark.slow
def test_editing_a_field_during_a_run_reaches_the_running_simulation(
    qtbot, make_factory, windows, hexapod_checkpoint
) -> None:
    window = open_window(windows, make_factory(), with_values(TaskParams(), {"robot.name": "hexapod"}))
    gate = Gate(episode=0, step=2)
    panel = start_gated_run(qtbot, window, hexapod_checkpoint, gate, shots=1, steps=60)

    assert window.job_label.text() == "adapting"
    spin = window.form.editor("robot.payload_kg")
    assert isinstance(spin, QDoubleSpinBox)
    spin.setValue(10.0)  # the run is held after step 2: the edit applies before step 3's action
    gate.released.set()
    qtbot.waitUntil(lambda: bool(panel.plot.markers(0, "rewards")), timeout=TIMEOUT_MS)

    change = gate.changes[0]
    assert (change.episode, change.step, change.path, change.old, change.new) == (0, 3, "robot.payload_kg", 0.0, 10.0)
    label = "robot.payload_kg 0.0 -> 10.0"
    assert change.label == label
    assert panel.plot.markers(0, "rewards") == [(3.0, label)]
    assert panel.plot.markers(0, "returns") == [(pytest.approx(3 / 60), label)]  # episode 0, 3 of its 60 steps
    assert f"episode 1, step 3: {label}" in window.log.toPlainText()

    qtbot.waitUntil(lambda: not panel.is_running(), timeout=TIMEOUT_MS)
    assert len(gate.changes) == 1  # one edit, one change: nothing re-sent at later steps
    assert panel.last_outcome is not None and panel.last_outcome.result.episode_returns  # the run completed


def test_a_field_that_rebuilds_the_world_is_refused_with_its_message(
    qtbot, make_factory, windows, point_checkpoint
) -> None:
    factory = make_factory()
    window = open_window(windows, factory, TaskParams())
    gate = Gate(episode=0, step=2)
    panel = start_gated_run(qtbot, window, point_checkpoint, gate, shots=2, steps=5)

    window.form.editor("robot.limb_length_scale").setValue(1.2)  # type: ignore[attr-defined]
    gate.released.set()
    with pytest.raises(ValueError) as refused:
        TaskChange(0, "robot.limb_length_scale", 1.2)
    reason = str(refused.value)
    assert window.statusBar().currentMessage() == f"{reason} (the form keeps it for the next run)"
    assert "\n" not in window.statusBar().currentMessage()

    qtbot.waitUntil(lambda: not panel.is_running() and window.is_previewing(), timeout=TIMEOUT_MS)
    assert gate.changes == [] and panel.plot.markers(0, "rewards") == []  # the run never saw it
    assert window.form.task().robot.limb_length_scale == 1.2  # the form kept it: the preview and next run use it
    qtbot.waitUntil(lambda: len(factory.envs) == 2, timeout=TIMEOUT_MS)
    assert factory.env.task.robot.limb_length_scale == 1.2


@pytest.mark.slow
def test_the_estimate_plot_draws_an_online_agents_estimate_and_says_when_there_is_none(
    qtbot, tmp_path: Path, rma_point_checkpoint, point_checkpoint
) -> None:
    panel = AdaptPanel(TaskParams, agents_dir=tmp_path / "agents")  # its runs go in child processes
    qtbot.addWidget(panel)
    gate = Gate(episode=-1, step=-1)  # never holds: records what the worker emits
    panel.worker_created.connect(gate.watch)
    try:
        panel.add_checkpoint(rma_point_checkpoint)
        panel.shots.setValue(1)
        panel.updates.setValue(0)
        with qtbot.waitSignal(panel.adaptation_ended, timeout=TIMEOUT_MS):
            panel.run_button.click()
        assert [e.step for e in gate.estimates] == list(range(0, RMA_EPISODE_STEPS, 3))  # every 3 steps
        plot = panel.plot.estimates
        assert plot.empty_text() is None
        qtbot.waitUntil(lambda: len(plot.curves()) == 8 and len(plot.curves()[0][0]) == len(gate.estimates))
        expected = np.array([e.estimate for e in gate.estimates])
        for component, (steps, values) in enumerate(plot.curves()):
            np.testing.assert_array_equal(steps, [e.step for e in gate.estimates])
            np.testing.assert_allclose(values, expected[:, component])

        panel.add_checkpoint(point_checkpoint)  # MAML adapts between episodes
        with qtbot.waitSignal(panel.adaptation_ended, timeout=TIMEOUT_MS):
            panel.run_button.click()
        assert plot.empty_text() == NO_ESTIMATE_TEXT and plot.curves() == []
    finally:
        assert panel.shutdown() and panel.jobs.shutdown()


def test_markers_follow_the_episodes_and_references_are_dashed(qtbot) -> None:
    plot = AdaptPlotWidget()
    qtbot.addWidget(plot)
    index = plot.start_run("#1 rma · ant on flat, 1 m/s", episode_steps=100)
    plot.expect_estimates(index, True)
    for step in range(0, 30, 3):
        plot.add_step(index, 0, step, 1.0)
        reference = None if step < 15 else (0.5, -0.5)
        plot.add_estimate(index, episode=0, step=step, estimate=(0.1 * step, -0.1 * step), reference=reference)
    plot.add_change(index, episode=0, step=20, label="terrain.friction 0.8 -> 0.3")
    plot.refresh()
    assert plot.markers(index, "returns") == [(0.2, "terrain.friction 0.8 -> 0.3")]
    assert plot.markers(index, "rewards") == plot.markers(index, "estimates") == [(20.0, "terrain.friction 0.8 -> 0.3")]
    (steps, values), _ = plot.estimates.curves()
    assert list(steps) == list(range(0, 30, 3)) and values[-1] == pytest.approx(2.7)
    (ref_steps, ref_values), _ = plot.estimates.reference_curves()
    assert list(ref_steps) == [15, 18, 21, 24, 27] and set(ref_values) == {0.5}  # drawn only where given
    style = plot.estimates._dashed[0].opts["pen"].style()
    assert style == Qt.PenStyle.DashLine

    plot.add_step(index, 1, 0, 1.0)  # the next episode: the step plots start over, the return plot keeps its mark
    assert plot.markers(index, "rewards") == plot.markers(index, "estimates") == []
    assert len(plot.markers(index, "returns")) == 1
    plot.clear()
    assert plot.run_count() == 0 and plot.estimates.curves() == [] and plot.estimates.empty_text() is not None


def test_the_controller_sends_dynamics_edits_and_refuses_rebuilds() -> None:
    controller = AdaptController()
    task = TaskParams()
    assert controller.live_edit(with_values(task, {"robot.payload_kg": 5.0})).task is None  # no run: nothing sent
    request = controller.request(
        checkpoint=Path("agent.pt"), task=task, shots=1, max_steps=10, updates=0, show_frames=False, device="cpu"
    )
    assert request.config.estimate_every == 3
    controller.begin(request, number=1)

    edited = with_values(task, {"robot.payload_kg": 5.0, "terrain.friction": 0.3})
    edit = controller.live_edit(edited)
    assert edit.sent == ("robot.payload_kg", "terrain.friction") and edit.task == edited and edit.refused is None

    longer = with_values(edited, {"robot.limb_length_scale": 1.2})
    edit = controller.live_edit(longer)
    assert edit.task is None and edit.refused is not None and "robot.limb_length_scale" in edit.refused
    both = with_values(longer, {"robot.payload_kg": 2.0})  # a later edit still reaches the run; the refused field not
    edit = controller.live_edit(both)
    assert edit.sent == ("robot.payload_kg",) and edit.task == with_values(edited, {"robot.payload_kg": 2.0})
    assert controller.live_edit(with_values(both, {"robot.limb_length_scale": 1.0})).refused is None  # set back

    drawn = TaskChangeEvent(0, 200, "robot.payload_kg", 8.704122602263194, 10.0)
    assert drawn.label == "robot.payload_kg 8.704 -> 10.0"  # a drawn task's value, short on a marker
    controller.ended()
    assert controller.live_edit(with_values(task, {"goal.target_velocity_mps": 2.0})).task is None


def test_the_status_says_when_an_episode_left_the_world() -> None:
    from agents.core.adaptation import EpisodeEvent
    from sim.metrics import EpisodeMetrics

    controller = AdaptController()
    settings = {"max_steps": 10, "updates": 1, "show_frames": False, "device": "cpu"}
    request = controller.request(checkpoint=Path("agent.pt"), task=TaskParams(), shots=2, **settings)
    controller.begin(request, number=1)
    gone = EpisodeMetrics(tracking_error_mps=0.2, fell=False, distance_m=1.0, steps=7, ending="left_world")
    status = controller.episode_done(EpisodeEvent(0, -3.0, 7, 0, gone))
    assert status == "episode 1 left the world (torso off the terrain or at an absurd height); adapting: episode 2 of 2"
    last = controller.episode_done(EpisodeEvent(1, -3.0, 7, 1, gone))
    assert last == "episode 2 left the world (torso off the terrain or at an absurd height)"
