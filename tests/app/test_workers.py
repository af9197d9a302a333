"""The preview worker: frames and steps arrive, stop is prompt, failures surface as `failed`.

Signals are received by a GUI-thread :class:`Recorder` (queued connections, as in the app), and the
tests wait with ``qtbot.waitUntil`` on what it recorded.
"""

from __future__ import annotations

from collections.abc import Iterator

import gymnasium as gym
import numpy as np
import pytest
from PySide6.QtCore import QObject, Slot

from app.runtime.launcher import JobLauncher
from app.runtime.preview import Frame, StepStat, sinusoid_action
from app.window.workers import PreviewWorker, WorkerThread
from sim.params import TaskParams, with_values
from sim.render import Camera

TIMEOUT_MS = 5000


class Recorder(QObject):
    """Collects a worker's signals on the GUI thread."""

    def __init__(self, worker: PreviewWorker) -> None:
        super().__init__()
        self.frames: list[Frame] = []
        self.steps: list[StepStat] = []
        self.failures: list[str] = []
        self.finished = False
        worker.frame_rendered.connect(self.on_frame_rendered)
        worker.step_done.connect(self.on_step_done)
        worker.failed.connect(self.on_failed)
        worker.finished.connect(self.on_finished)

    @Slot(object)
    def on_frame_rendered(self, frame: Frame) -> None:
        self.frames.append(frame)

    @Slot(object)
    def on_step_done(self, stat: StepStat) -> None:
        self.steps.append(stat)

    @Slot(str)
    def on_failed(self, message: str) -> None:
        self.failures.append(message)

    @Slot()
    def on_finished(self) -> None:
        self.finished = True


def local_preview(factory, *, fps: float, camera: Camera | None = None) -> PreviewWorker:
    """A preview of the default task in the worker's own thread, on ``factory``'s envs."""
    launcher = JobLauncher(in_child_process=False, preview_env=factory)
    return PreviewWorker(launcher.preview(TaskParams(), camera=camera, fps=fps))


@pytest.fixture
def run_worker() -> Iterator:
    """``run_worker(worker) -> (handle, recorder)``; every thread is joined at teardown."""
    started: list[WorkerThread] = []

    def run(worker: PreviewWorker) -> tuple[WorkerThread, Recorder]:
        recorder = Recorder(worker)
        handle = WorkerThread(worker)
        started.append(handle)
        handle.start()
        return handle, recorder

    yield run
    for handle in started:
        assert handle.stop(TIMEOUT_MS), "a worker thread did not end"


def test_sinusoid_action_stays_inside_the_space() -> None:
    low = np.array([-1.0, 0.0, -np.inf], dtype=np.float32)
    space = gym.spaces.Box(low, np.array([1.0, 2.0, np.inf], dtype=np.float32), dtype=np.float32)
    actions = np.array([sinusoid_action(space, t) for t in np.linspace(0.0, 2.0, 50)])
    assert np.all(actions[:, :2] >= low[:2]) and np.all(actions[:, :2] <= [1.0, 2.0])
    assert np.all(np.abs(actions[:, 2]) <= 1.0)  # infinite bounds are treated as [-1, 1]
    assert np.ptp(actions[:, 0]) > 1.0  # it really swings


def test_emits_frames_and_steps(qtbot, make_factory, run_worker) -> None:
    factory = make_factory()
    handle, seen = run_worker(local_preview(factory, fps=100))
    qtbot.waitUntil(lambda: len(seen.frames) >= 3 and len(seen.steps) >= 3, timeout=TIMEOUT_MS)
    assert seen.frames[0].image.shape == (24, 32, 3) and seen.frames[0].image.dtype == np.uint8
    first = StepStat(step=0, episode=0, reward=0.5, reward_terms={"forward": 0.75, "ctrl": -0.25})
    assert seen.steps[0] == first
    assert [s.step for s in seen.steps[:3]] == [0, 1, 2]
    assert handle.stop(TIMEOUT_MS)
    assert factory.env.closed and not seen.failures


def test_stop_ends_the_run_before_the_next_step(qtbot, make_factory, run_worker) -> None:
    worker: PreviewWorker | None = None

    def stop_at_five(env) -> None:
        if env.steps == 5:
            assert worker is not None
            worker.stop()  # from the worker's own thread, in the middle of a frame's steps

    factory = make_factory(on_step=stop_at_five)
    worker = local_preview(factory, fps=50)  # 2 steps per frame
    _, seen = run_worker(worker)
    qtbot.waitUntil(lambda: seen.finished, timeout=TIMEOUT_MS)
    assert factory.env.steps == 5
    assert factory.env.closed and not seen.failures


def test_a_paused_preview_neither_steps_nor_renders_and_resumes_where_it_was(qtbot, make_factory, run_worker) -> None:
    worker: PreviewWorker | None = None

    def pause_at_five(env) -> None:
        if env.steps == 5:
            assert worker is not None
            worker.set_paused(True)  # as the window does when a training child starts

    factory = make_factory(on_step=pause_at_five)
    worker = local_preview(factory, fps=100)  # 1 step per frame
    handle, seen = run_worker(worker)
    qtbot.waitUntil(lambda: len(seen.steps) >= 5 and len(seen.frames) >= 5, timeout=TIMEOUT_MS)
    frames = len(seen.frames)
    qtbot.wait(300)  # an absence can only be seen over time: 30 frames' worth at 100 fps
    assert factory.env.steps == 5 and len(seen.frames) == frames
    worker.set_paused(False)
    qtbot.waitUntil(lambda: len(seen.steps) >= 8, timeout=TIMEOUT_MS)
    assert [s.step for s in seen.steps[:8]] == list(range(8)) and len(factory.envs) == 1
    assert handle.stop(TIMEOUT_MS)


def test_stop_from_the_gui_thread_joins_promptly(qtbot, make_factory, run_worker) -> None:
    factory = make_factory()
    worker = local_preview(factory, fps=2)  # 0.5 s frames
    handle, seen = run_worker(worker)
    qtbot.waitUntil(lambda: len(seen.frames) >= 1, timeout=TIMEOUT_MS)
    steps_before = factory.env.steps
    assert handle.stop(timeout_ms=400)  # the stop event cuts the 0.5 s frame wait short
    assert not handle.is_running()
    assert factory.env.steps <= steps_before + 1
    assert factory.env.closed


def test_camera_changes_reach_the_env_in_the_worker_thread(qtbot, make_factory, run_worker) -> None:
    factory = make_factory()
    start = Camera(yaw_deg=10.0)
    worker = local_preview(factory, fps=100, camera=start)
    handle, seen = run_worker(worker)
    qtbot.waitUntil(lambda: len(seen.frames) >= 1, timeout=TIMEOUT_MS)
    assert factory.env.cameras == [start]  # applied once the env was built
    turned = start.orbited(yaw_deg=45.0)
    worker.set_camera(turned)
    qtbot.waitUntil(lambda: factory.env.cameras[-1] == turned, timeout=TIMEOUT_MS)
    assert handle.stop(TIMEOUT_MS)


def test_an_env_exception_becomes_failed(qtbot, make_factory, run_worker) -> None:
    factory = make_factory(fail_at_step=3)
    handle, seen = run_worker(local_preview(factory, fps=100))
    qtbot.waitUntil(lambda: seen.finished, timeout=TIMEOUT_MS)
    assert seen.failures == ["RuntimeError: motor 3 exploded"]
    assert factory.env.steps == 3 and factory.env.closed
    qtbot.waitUntil(lambda: not handle.is_running(), timeout=TIMEOUT_MS)


def test_a_failing_build_becomes_failed(qtbot, make_factory, run_worker) -> None:
    factory = make_factory()
    factory.fail_builds = 1
    _, seen = run_worker(local_preview(factory, fps=100))
    qtbot.waitUntil(lambda: seen.finished, timeout=TIMEOUT_MS)
    assert seen.failures == ["FileNotFoundError: robot.urdf: no such file"]


def test_task_changes_apply_in_place_or_rebuild(qtbot, make_factory, run_worker) -> None:
    factory = make_factory()
    worker = local_preview(factory, fps=100)
    handle, seen = run_worker(worker)
    qtbot.waitUntil(lambda: len(seen.steps) > 0, timeout=TIMEOUT_MS)

    heavier = with_values(TaskParams(), {"robot.payload_kg": 4.0})
    worker.set_task(heavier)
    qtbot.waitUntil(lambda: factory.env.task == heavier, timeout=TIMEOUT_MS)
    assert len(factory.envs) == 1  # applied in place

    other_robot = with_values(heavier, {"robot.name": "hexapod"})
    worker.set_task(other_robot)
    qtbot.waitUntil(lambda: len(factory.envs) == 2 and factory.env.steps > 0, timeout=TIMEOUT_MS)
    assert factory.envs[0].closed and factory.env.task == other_robot
    assert handle.stop(TIMEOUT_MS)
    assert not seen.failures


def test_preview_runs_the_real_env_in_a_child_process_without_stalling_the_gui(qtbot, run_worker) -> None:
    """The default: sim.envs.locomotion in a child process. Frames come, and another robot's rebuild
    (the a1's meshes, the EGL plugin's load) never stops a 10 ms QTimer for more than 100 ms."""
    import itertools
    import time

    from PySide6.QtCore import QTimer

    pytest.importorskip("sim.envs.locomotion")
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(10)
    worker = PreviewWorker(JobLauncher().preview(TaskParams(), camera=None, fps=100))
    handle, seen = run_worker(worker)
    qtbot.waitUntil(lambda: len(seen.frames) >= 2 or seen.finished, timeout=20_000)
    assert not seen.failures
    assert seen.frames[0].image.shape == (480, 640, 3) and seen.frames[0].image.dtype == np.uint8
    assert seen.frames[0].renderer in ("egl", "tiny")
    assert seen.steps[0].reward_terms, "the env names its reward terms"

    worker.set_task(with_values(TaskParams(), {"robot.name": "a1"}))
    count = len(seen.frames)
    qtbot.waitUntil(lambda: len(seen.frames) >= count + 2 or seen.finished, timeout=20_000)
    timer.stop()
    assert not seen.failures
    assert handle.stop(TIMEOUT_MS)
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert max(gaps) < 0.11, f"longest event-loop stall {max(gaps) * 1000:.0f} ms"
