"""The Adapt panel: runs draw one return point per episode and a step curve, Stop is prompt, Export reloads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.window.dialogs import FileDialogs
from app.window.jobs import AdaptWorker
from app.window.widgets.adapt_panel import AdaptPanel
from sim.params import TaskParams, with_values

TIMEOUT_MS = 30_000


class CannedDialogs(FileDialogs):
    """Answers the panel's dialogs from attributes (None: cancelled)."""

    def __init__(self) -> None:
        self.file: Path | None = None
        self.folder: Path | None = None

    def open_file(self, *args: object, **kwargs: object) -> Path | None:
        return self.file

    def save_file(self, *args: object, **kwargs: object) -> Path | None:
        return self.file

    def directory(self, *args: object, **kwargs: object) -> Path | None:
        return self.folder


@pytest.fixture
def make_panel(qtbot, tmp_path: Path) -> Iterator:
    """``make_panel(task)`` -> an AdaptPanel adapting to ``task``; its threads are joined at teardown."""
    panels: list[AdaptPanel] = []

    def make(task: TaskParams) -> AdaptPanel:
        panel = AdaptPanel(lambda: task, dialogs=CannedDialogs(), agents_dir=tmp_path / "agents")
        qtbot.addWidget(panel)
        panels.append(panel)
        return panel

    yield make
    for panel in panels:
        assert panel.shutdown() and panel.jobs.shutdown()


def run_to_end(qtbot, panel: AdaptPanel, *, shots: int, steps: int, updates: int) -> None:
    panel.shots.setValue(shots)
    panel.steps.setValue(steps)
    panel.updates.setValue(updates)
    with qtbot.waitSignal(panel.adaptation_ended, timeout=TIMEOUT_MS):
        panel.run_button.click()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=TIMEOUT_MS)


def test_no_checkpoint_found_says_so_and_run_waits_for_one(qtbot, make_panel, point_checkpoint) -> None:
    panel = make_panel(TaskParams())
    panel.chooser.scan()
    qtbot.waitUntil(lambda: "No checkpoints in" in panel.message.text(), timeout=TIMEOUT_MS)
    assert not panel.run_button.isEnabled()
    panel.dialogs.file = point_checkpoint  # type: ignore[attr-defined]
    panel.chooser.browse_button.click()
    assert panel.checkpoint() == point_checkpoint and panel.run_button.isEnabled()


def test_checkpoints_under_the_agents_folder_are_offered(qtbot, make_panel, point_checkpoint) -> None:
    panel = make_panel(TaskParams())
    folder = panel.chooser.agents_dir / "point-run"
    folder.mkdir(parents=True)
    (folder / "checkpoint.pt").write_bytes(point_checkpoint.read_bytes())
    panel.chooser.scan()
    qtbot.waitUntil(lambda: panel.checkpoint() is not None, timeout=TIMEOUT_MS)
    assert panel.chooser.combo.currentText() == str(Path("point-run") / "checkpoint.pt")


@pytest.mark.slow
def test_a_run_draws_one_return_per_episode_and_the_steps_of_the_last(qtbot, make_panel, point_checkpoint) -> None:
    panel = make_panel(TaskParams())
    panel.add_checkpoint(point_checkpoint)
    run_to_end(qtbot, panel, shots=3, steps=4, updates=2)
    assert panel.plot.run_count() == 1 and panel.plot.run_label(0) == "#1 maml · ant on flat, 1 m/s"
    episodes, returns = panel.plot.returns(0)
    assert episodes == [0.0, 1.0, 2.0]
    assert panel.last_outcome is not None
    assert returns == pytest.approx(list(panel.last_outcome.result.episode_returns))
    steps, rewards = panel.plot.rewards(0)
    assert steps == [0.0, 1.0, 2.0, 3.0]  # the last episode: 4 steps
    assert sum(rewards) == pytest.approx(returns[-1])
    qtbot.waitUntil(lambda: len(panel.plot.curve_data(0, "returns")[0]) == 3, timeout=TIMEOUT_MS)  # the timer drew it
    _, baseline = panel.plot.curve_data(0, "baseline")
    assert np.all(baseline == returns[0])  # the pre-adaptation level
    assert "done: return" in panel.message.text() and panel.export_button.isEnabled()

    run_to_end(qtbot, panel, shots=2, steps=3, updates=1)  # a second run is overlaid in another colour
    assert panel.plot.run_count() == 2 and panel.plot.returns(1)[0] == [0.0, 1.0]
    assert panel.plot.run_label(1) == "#2 maml · ant on flat, 1 m/s"
    panel.clear_button.click()
    assert panel.plot.run_count() == 0


@pytest.mark.slow
def test_stop_ends_the_run_within_one_step_and_the_panel_stays_usable(qtbot, make_panel, point_checkpoint) -> None:
    panel = make_panel(TaskParams())
    panel.add_checkpoint(point_checkpoint)
    seen: list[tuple[int, int]] = []

    def watch(worker: AdaptWorker) -> None:
        def on_step(event) -> None:  # runs in the worker's thread, between two steps
            seen.append((event.episode, event.step))
            if (event.episode, event.step) == (1, 2):
                worker.stop()

        worker.step_done.connect(on_step, Qt.ConnectionType.DirectConnection)

    panel.worker_created.connect(watch)
    run_to_end(qtbot, panel, shots=3, steps=5, updates=2)
    assert seen[-1] == (1, 2)  # nothing after the step that asked to stop
    assert panel.plot.returns(0)[0] == [0.0]
    assert panel.message.text() == "stopped" and panel.last_outcome is None
    panel.worker_created.disconnect(watch)
    run_to_end(qtbot, panel, shots=2, steps=3, updates=1)
    assert panel.last_outcome is not None and panel.plot.returns(1)[0] == [0.0, 1.0]


@pytest.mark.slow
def test_a_failing_run_shows_the_error_and_stays_usable(qtbot, make_panel, point_checkpoint, tmp_path) -> None:
    panel = make_panel(TaskParams())
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    panel.add_checkpoint(broken)
    with qtbot.waitSignal(panel.error_occurred, timeout=TIMEOUT_MS) as blocker:
        panel.run_button.click()
    assert "broken.pt" in blocker.args[0]
    qtbot.waitUntil(lambda: not panel.is_running() and panel.run_button.isEnabled(), timeout=TIMEOUT_MS)
    panel.add_checkpoint(point_checkpoint)
    run_to_end(qtbot, panel, shots=2, steps=3, updates=1)
    assert panel.last_outcome is not None


@pytest.mark.slow
def test_another_robot_than_the_agents_is_refused_naming_the_field(qtbot, make_panel, hexapod_checkpoint) -> None:
    panel = make_panel(TaskParams())  # an ant task for a hexapod agent
    panel.add_checkpoint(hexapod_checkpoint)
    with qtbot.waitSignal(panel.error_occurred, timeout=TIMEOUT_MS) as blocker:
        panel.run_button.click()
    assert "robot.name = 'ant' is not allowed: this agent was trained on 'hexapod'" in blocker.args[0]
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=TIMEOUT_MS)


@pytest.mark.slow
def test_frames_of_the_adapting_episode_and_an_export_that_reloads(qtbot, make_panel, hexapod_checkpoint) -> None:
    """One PyBullet run: frames come while it adapts; the exported files act like the adapted policy."""
    from agents.core.rollout import sample_action
    from agents.storage.export import load_exported

    panel = make_panel(with_values(TaskParams(), {"robot.name": "hexapod"}))
    panel.add_checkpoint(hexapod_checkpoint)
    frames = []
    panel.frame_rendered.connect(frames.append)
    run_to_end(qtbot, panel, shots=2, steps=6, updates=1)
    assert len(frames) == 4  # every 3rd step of 2 episodes of 6 steps
    assert frames[0].image.shape == (480, 640, 3) and frames[0].renderer in ("egl", "tiny")
    assert panel.plot.rewards(0)[0] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]

    out = panel.chooser.agents_dir.parent / "export"
    panel.dialogs.folder = out  # type: ignore[attr-defined]
    panel.export_button.click()
    qtbot.waitUntil(lambda: panel.message.text().startswith("exported"), timeout=TIMEOUT_MS)
    assert {p.name for p in out.iterdir()} == {"policy.pt2", "policy.onnx", "policy.json"}
    assert panel.last_outcome is not None
    policy = panel.last_outcome.result.policy
    obs = np.random.default_rng(0).normal(size=(16, policy.obs_dim)).astype(np.float32)
    # Fed the noise the app's agent draws, the export takes the agent's sampled actions.
    expected = np.stack([sample_action(policy, o, np.random.default_rng(i)) for i, o in enumerate(obs)])
    noise = np.stack([np.random.default_rng(i).standard_normal(policy.action_dim) for i in range(16)])
    for name in ("policy.pt2", "policy.onnx"):
        got = load_exported(out / name)(obs, noise.astype(np.float32))
        np.testing.assert_allclose(got, expected.clip(-1.0, 1.0), atol=1e-5)


@pytest.mark.slow
def test_an_export_failure_is_reported(qtbot, make_panel, point_checkpoint, tmp_path) -> None:
    panel = make_panel(TaskParams())
    panel.add_checkpoint(point_checkpoint)
    run_to_end(qtbot, panel, shots=2, steps=3, updates=1)
    blocker_file = tmp_path / "a-file"
    blocker_file.write_text("not a folder")
    panel.dialogs.folder = blocker_file  # type: ignore[attr-defined]
    with qtbot.waitSignal(panel.error_occurred, timeout=TIMEOUT_MS) as blocker:
        panel.export_button.click()
    assert blocker.args[0].startswith("export failed: ")
    qtbot.waitUntil(lambda: panel.export_button.isEnabled(), timeout=TIMEOUT_MS)


@pytest.mark.slow
def test_plots_save_as_png_and_csv(qtbot, make_panel, point_checkpoint, tmp_path) -> None:
    panel = make_panel(TaskParams())
    panel.add_checkpoint(point_checkpoint)
    run_to_end(qtbot, panel, shots=2, steps=3, updates=1)
    for plot in ("returns", "rewards"):
        for suffix in ("png", "csv"):
            panel.dialogs.file = tmp_path / f"{plot}"  # type: ignore[attr-defined]  # the suffix is added
            panel.save_plot(plot, suffix)
            assert (tmp_path / f"{plot}.{suffix}").stat().st_size > 0
    rows = (tmp_path / "returns.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 2  # header, then one row per episode


@pytest.mark.slow
def test_adapting_with_frames_never_stalls_the_event_loop(qtbot, make_panel, hexapod_checkpoint) -> None:
    """A 10 ms QTimer keeps ticking (no gap above 100 ms) while a PyBullet run streams steps and frames.

    The run simulates in a child process: there, loading the EGL plugin (one C call holding the GIL for
    0.3-0.75 s) and building the robot cost the GUI thread nothing.
    """
    import itertools
    import time

    from PySide6.QtCore import QTimer

    panel = make_panel(with_values(TaskParams(), {"robot.name": "hexapod"}))
    panel.add_checkpoint(hexapod_checkpoint)
    frames: list[object] = []
    panel.frame_rendered.connect(frames.append)
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(10)
    run_to_end(qtbot, panel, shots=3, steps=40, updates=2)
    timer.stop()
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert len(gaps) > 10 and frames
    assert max(gaps) < 0.11, f"longest event-loop stall {max(gaps) * 1000:.0f} ms"
