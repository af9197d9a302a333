"""The adaptation job and short one-off jobs (file reads and writes, exports), each in its own thread.

:class:`AdaptWorker` loads a checkpoint *inside its thread* and pumps :func:`agents.adaptation.adapt`,
re-emitting its events (frozen dataclasses of plain values) as signals; Stop closes the generator
between two events, so a run ends within one env step. :class:`CallWorker` runs one function and
emits its result; :class:`JobRunner` keeps such short jobs' threads alive until they end.

torch and the agents package load lazily, in the worker threads, so the window opens without them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from app.workers import Frame, JobWorker, LatestValue, WorkerThread, apply_camera, renderer_of
from sim.params import TaskParams
from sim.render import Camera

if TYPE_CHECKING:
    from agents.adaptation import AdaptConfig, AdaptEvent, AdaptResult
    from agents.train import TrainedAgent


@dataclass(frozen=True)
class AdaptRequest:
    """Everything one adaptation run needs; built on the GUI thread, read in the worker."""

    checkpoint: Path
    task: TaskParams
    config: AdaptConfig
    device: str = "auto"
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N``, resolved in the worker"""


@dataclass(frozen=True)
class AdaptStarted:
    """The checkpoint is loaded and the first episode starts."""

    algorithm: str
    family: str
    device: str
    """the resolved torch device"""
    iteration: int
    """training iterations behind the agent"""


@dataclass(frozen=True)
class AdaptOutcome:
    """A finished run. ``result.policy`` is the adapted policy, a CPU copy owned by nobody else: the
    GUI holds it unopened and only hands it to an export job's thread."""

    result: AdaptResult
    algorithm: str
    checkpoint: str


class _FramelessEnv(gym.Wrapper[Any, Any, Any, Any]):
    """An env that cannot draw (the toy point mass): ``render()`` gives None, so adapt() yields no frames."""

    def render(self) -> None:
        return None


class AdaptWorker(JobWorker):
    """Adapts a checkpoint's agent to a task in its own thread; run it with :class:`WorkerThread`."""

    adaptation_started = Signal(object)
    """An :class:`AdaptStarted` once the checkpoint is loaded."""
    step_done = Signal(object)
    """An :class:`agents.adaptation.StepEvent` for every env step."""
    episode_done = Signal(object)
    """An :class:`agents.adaptation.EpisodeEvent` per finished episode."""
    update_done = Signal(object)
    """An :class:`agents.adaptation.UpdateEvent` per adaptation update."""
    frame_rendered = Signal(object)
    """A :class:`~app.workers.Frame` every ``config.frame_every`` steps."""
    adaptation_finished = Signal(object)
    """An :class:`AdaptOutcome`: the run completed (not emitted when stopped or failed)."""

    def __init__(self, request: AdaptRequest, *, camera: Camera | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.request = request
        self._camera: LatestValue[Camera] = LatestValue(camera)
        self._env: gym.Env[Any, Any] | None = None

    def set_camera(self, camera: Camera) -> None:
        """Turn the adapting env's camera from the next frame on (safe from any thread)."""
        self._camera.put(camera)

    def work(self) -> None:
        """Load the checkpoint, then pump the adaptation generator until it ends or Stop closes it."""
        from agents.adaptation import AdaptResult, EpisodeEvent, FrameEvent, StepEvent, UpdateEvent, adapt
        from agents.device import resolve_device
        from agents.train import load_trained

        request = self.request
        device = resolve_device(request.device)
        trained = load_trained(request.checkpoint, device=device)
        trained.check_task(request.task)
        if self.stop_requested():
            return
        self.adaptation_started.emit(
            AdaptStarted(trained.algorithm, trained.family.name, str(device), trained.iteration)
        )
        signals: dict[type, Any] = {
            StepEvent: self.step_done,
            EpisodeEvent: self.episode_done,
            UpdateEvent: self.update_done,
        }
        events = adapt(trained.new_agent, lambda task: self._make_env(trained, task), request.task, request.config)
        for event in self._until_stopped(events):
            if isinstance(event, FrameEvent):
                self.frame_rendered.emit(self._frame(event))
            elif isinstance(event, AdaptResult):
                outcome = AdaptOutcome(event, trained.algorithm, str(request.checkpoint))
                self.adaptation_finished.emit(outcome)
            else:
                signals[type(event)].emit(event)

    def _until_stopped(self, events: Iterator[AdaptEvent]) -> Iterator[AdaptEvent]:
        """The events until Stop; closing the generator closes its env (its ``finally``)."""
        try:
            for event in events:
                if self.stop_requested():
                    return
                camera = self._camera.take()
                if camera is not None and self._env is not None:
                    apply_camera(self._env, camera)
                yield event
        finally:
            events.close()  # type: ignore[attr-defined]  # a generator; close() is a no-op once it ended

    def _make_env(self, trained: TrainedAgent, task: TaskParams) -> gym.Env[Any, Any]:
        """The agent's env, built by adapt() in this thread; kept to turn its camera."""
        env = trained.make_env(task, render_mode="rgb_array")
        if env.render_mode != "rgb_array":
            env = _FramelessEnv(env)
        camera = self._camera.take()
        if camera is not None:
            apply_camera(env, camera)
        self._env = env
        return env

    def _frame(self, event: Any) -> Frame:
        pixels = np.asarray(event.rgb, dtype=np.uint8)[..., :3]
        renderer = renderer_of(self._env) if self._env is not None else ""
        return Frame(image=np.ascontiguousarray(pixels), step=event.step, renderer=renderer)


class CallWorker(JobWorker):
    """Runs ``function()`` once in its thread and emits what it returned as ``done``."""

    done = Signal(object)
    """The function's return value."""

    def __init__(self, function: Callable[[], object], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._function = function

    def work(self) -> None:
        """Call the function."""
        self.done.emit(self._function())


class _Relay(QObject):
    """Hands a job's result to its callbacks on the GUI thread.

    A signal connected to a plain function or lambda calls it in the *emitting* thread (measured with
    PySide6 6.11), so callbacks are called from this QObject's slots instead: it lives in the thread
    that created it, the GUI thread, which makes the connections queued.
    """

    def __init__(self, on_done: Callable[[Any], None], on_failed: Callable[[str], None], parent: QObject) -> None:
        super().__init__(parent)
        self._on_done, self._on_failed = on_done, on_failed

    @Slot(object)
    def deliver(self, value: object) -> None:
        self._on_done(value)

    @Slot(str)
    def fail(self, message: str) -> None:
        self._on_failed(message)


class JobRunner(QObject):
    """Starts short jobs in their own threads and keeps each thread referenced until it ended.

    ``on_done`` and ``on_failed`` run on the GUI thread with the result or the one-line error.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._jobs: list[tuple[WorkerThread, _Relay]] = []

    def call(
        self, function: Callable[[], object], *, on_done: Callable[[Any], None], on_failed: Callable[[str], None]
    ) -> CallWorker:
        """Run ``function`` in a new thread; returns its worker (for tests to wait on)."""
        worker = CallWorker(function)
        relay = _Relay(on_done, on_failed, self)
        worker.done.connect(relay.deliver)
        worker.failed.connect(relay.fail)
        handle = WorkerThread(worker)
        handle.thread.finished.connect(self._reap)
        self._jobs.append((handle, relay))
        handle.start()
        return worker

    def running(self) -> int:
        """Jobs not yet ended."""
        return sum(job.is_running() for job, _ in self._jobs)

    @Slot()
    def _reap(self) -> None:
        # Queued from a thread's own `finished`, which it emits just before it ends: the wait is brief.
        # A relay goes later than its job's results: they were queued before this.
        for entry in list(self._jobs):
            job, relay = entry
            if job.worker.ended() and job.thread.wait(1000):
                self._jobs.remove(entry)
                relay.deleteLater()

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Wait for every job (they cannot be interrupted midway); False if one is still running."""
        ended = all(job.stop(timeout_ms) for job, _ in self._jobs)
        self._jobs = [(job, relay) for job, relay in self._jobs if job.is_running()]
        return ended
