"""Qt workers: each job runs in its own QThread and talks to the GUI only through signals.

What crosses the thread boundary is frozen dataclasses of scalars and numpy arrays (:class:`Frame`,
:class:`StepStat`), never envs or PyBullet handles (STYLE.md §2-3). A worker receives a *factory*
and frozen params and builds its env inside its own thread. Control flows the other way through
thread-safe plain Python (:class:`LatestValue` for the newest task or camera, a
:class:`threading.Event` to stop), because a queued Qt call to an object whose thread is busy in a
loop would never run. Every worker is a :class:`JobWorker` run by a :class:`WorkerThread`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import gymnasium as gym
import numpy as np
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from sim.params import TaskParams
from sim.render import Camera

T = TypeVar("T")

EnvFactory = Callable[[TaskParams], gym.Env[Any, Any]]
"""Builds an env with ``render_mode="rgb_array"`` for a task; called inside the worker's thread."""

PREVIEW_SIZE = (640, 480)
"""Width and height of preview frames: the EGL renderer draws them at 20-40 fps on 2 cores
(``scripts/bench_render.py``); TinyRenderer, its fallback, at 5-10."""


def make_preview_env(task: TaskParams) -> gym.Env[Any, Any]:
    """The real preview env: :class:`sim.envs.locomotion.LocomotionEnv`, rendering RGB frames."""
    from sim.envs.locomotion import EnvConfig, LocomotionEnv

    width, height = PREVIEW_SIZE
    config = EnvConfig(render_width=width, render_height=height)
    env: gym.Env[Any, Any] = LocomotionEnv(task, config=config, render_mode="rgb_array")
    return env


@dataclass(frozen=True)
class Frame:
    """One rendered image of the preview."""

    image: np.ndarray
    """H x W x 3 ``uint8`` RGB, owned by this frame (a copy of what the env returned)."""
    step: int
    """Global step index at which it was rendered."""
    renderer: str = ""
    """The backend that drew it (``egl`` or ``tiny``; empty when the env does not say)."""


def describe_error(err: BaseException) -> str:
    """One line for the status bar and the log: the exception's type and message."""
    return f"{type(err).__name__}: {err}"


def apply_camera(env: gym.Env[Any, Any], camera: Camera) -> None:
    """Turn ``env``'s camera if it has one (:meth:`sim.envs.locomotion.LocomotionEnv.set_camera`)."""
    set_camera = getattr(env.unwrapped, "set_camera", None)
    if callable(set_camera):
        set_camera(camera)


def renderer_of(env: gym.Env[Any, Any]) -> str:
    """The env's renderer backend, or "" when it does not say."""
    return str(getattr(env.unwrapped, "renderer_backend", None) or "")


class LatestValue(Generic[T]):
    """A thread-safe slot for the newest value: :meth:`put` from any thread, :meth:`take` empties it."""

    def __init__(self, value: T | None = None) -> None:
        self._lock = threading.Lock()
        self._value = value

    def put(self, value: T) -> None:
        """Replace the pending value (an older one not yet taken is dropped)."""
        with self._lock:
            self._value = value

    def take(self) -> T | None:
        """The pending value, or None; the slot is empty afterwards."""
        with self._lock:
            value, self._value = self._value, None
        return value


@dataclass(frozen=True)
class StepStat:
    """The outcome of one env step, for the reward plot and logs."""

    step: int
    """Global step index since the preview started."""
    episode: int
    """Episode index since the preview started."""
    reward: float
    reward_terms: Mapping[str, float] = field(default_factory=dict)
    """Named parts of the reward, from ``info["reward_terms"]``."""

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, JSON-ready."""
        return {
            "step": self.step,
            "episode": self.episode,
            "reward": self.reward,
            "reward_terms": dict(self.reward_terms),
        }


def sinusoid_action(space: gym.spaces.Box, t: float, *, frequency_hz: float = 1.5) -> np.ndarray:
    """An open-loop gait: each joint swings around the middle of its range, a quarter period apart.

    Infinite bounds are treated as [-1, 1]; the swing covers 60 % of the range.
    """
    low = np.where(np.isfinite(space.low), space.low, -1.0)
    high = np.where(np.isfinite(space.high), space.high, 1.0)
    phases = np.arange(low.size).reshape(low.shape) * (math.pi / 2)
    swing = np.sin(2 * math.pi * frequency_hz * t + phases)
    action = (low + high) / 2 + 0.6 * (high - low) / 2 * swing
    return np.asarray(action, dtype=space.dtype)


class _PreviewLoop:
    """The Qt-free body of the preview: owns the env, steps it with a sinusoid, renders frames."""

    def __init__(self, env_factory: EnvFactory, task: TaskParams, camera: Camera | None = None) -> None:
        self._env_factory = env_factory
        self._camera = camera
        self.step_index = 0
        self.episode = 0
        self._episode_steps = 0
        self._env: gym.Env[Any, Any] | None = None
        self._build(task)

    def _build(self, task: TaskParams) -> None:
        env = self._env_factory(task)
        try:
            if not isinstance(env.action_space, gym.spaces.Box):
                raise TypeError(f"the preview needs a Box action space, not {env.action_space}")
            env.reset(seed=0)
            if self._camera is not None:
                apply_camera(env, self._camera)
        except BaseException:
            env.close()  # nobody else holds it yet
            raise
        self._env = env
        self._space: gym.spaces.Box = env.action_space
        # Seconds per env step: MuJoCo-style `dt`, else gymnasium's render_fps convention.
        dt = getattr(env.unwrapped, "dt", None)
        self.dt = float(dt) if dt else 1.0 / float(env.metadata.get("render_fps") or 60)
        self._episode_steps = 0

    @property
    def env(self) -> gym.Env[Any, Any]:
        assert self._env is not None, "the preview env is closed"
        return self._env

    def apply_task(self, task: TaskParams) -> None:
        """Apply a task in place; the env raises ValueError when it can't (another robot): rebuild."""
        try:
            self.env.unwrapped.set_task(task)  # type: ignore[attr-defined]
        except ValueError:
            self.close()
            self._build(task)
            self.episode += 1

    def set_camera(self, camera: Camera) -> None:
        """Turn the env's camera (kept for the envs rebuilt later)."""
        self._camera = camera
        apply_camera(self.env, camera)

    def step(self) -> StepStat:
        """One env step with the open-loop action; resets when the episode ends."""
        action = sinusoid_action(self._space, self._episode_steps * self.dt)
        _obs, reward, terminated, truncated, info = self.env.step(action)
        terms = {str(k): float(v) for k, v in dict(info.get("reward_terms", {})).items()}
        stat = StepStat(step=self.step_index, episode=self.episode, reward=float(reward), reward_terms=terms)
        self.step_index += 1
        self._episode_steps += 1
        if terminated or truncated:
            self.env.reset()
            self.episode += 1
            self._episode_steps = 0
        return stat

    def render(self) -> Frame:
        """The current view as a :class:`Frame` owning a copy of the pixels."""
        image = self.env.render()
        if image is None:
            raise RuntimeError("the env rendered nothing: was it made with render_mode='rgb_array'?")
        pixels = np.array(np.asarray(image)[..., :3], dtype=np.uint8, copy=True)
        return Frame(image=pixels, step=self.step_index, renderer=renderer_of(self.env))

    def close(self) -> None:
        """Close the env; safe to call twice."""
        env, self._env = self._env, None
        if env is not None:
            env.close()


class JobWorker(QObject):
    """A job for a :class:`WorkerThread`: its :meth:`work` runs in the thread; :meth:`stop` is thread-safe.

    An exception from :meth:`work` becomes ``failed``; ``finished`` is emitted last either way.
    """

    failed = Signal(str)
    """A one-line description of the exception that ended the job."""
    finished = Signal()
    """Emitted last, whether the job ended by itself, by stop or by failure."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._stop = threading.Event()
        self._ended = threading.Event()

    def stop(self) -> None:
        """Ask the job to end at its next check (safe from any thread)."""
        self._stop.set()

    def ended(self) -> bool:
        """Whether :meth:`run` returned (its thread is about to end)."""
        return self._ended.is_set()

    def stop_requested(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stop.is_set()

    @Slot()
    def run(self) -> None:
        """The thread's body: :meth:`work`, failures turned into ``failed``, then ``finished``."""
        try:
            self.work()
        except Exception as err:
            self.failed.emit(describe_error(err))
        finally:
            self._ended.set()
            self.finished.emit()

    def work(self) -> None:
        """The job itself (subclasses)."""
        raise NotImplementedError


class PreviewWorker(JobWorker):
    """Steps a task's env with an open-loop gait and streams frames and rewards, in its own thread.

    Run it with :class:`WorkerThread`. :meth:`set_task`, :meth:`set_camera` and :meth:`stop` may be
    called from any thread.
    """

    frame_rendered = Signal(object)
    """A :class:`Frame`, about ``fps`` times a second."""
    step_done = Signal(object)
    """A :class:`StepStat` for every env step."""

    def __init__(
        self,
        task: TaskParams,
        *,
        env_factory: EnvFactory = make_preview_env,
        fps: float = 25.0,
        camera: Camera | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._env_factory = env_factory
        self._period = 1.0 / fps
        self._task: LatestValue[TaskParams] = LatestValue(task)
        self._initial_camera = camera
        self._camera: LatestValue[Camera] = LatestValue()

    def set_task(self, task: TaskParams) -> None:
        """Ask the running preview to switch to ``task`` (only the newest pending task is kept)."""
        self._task.put(task)

    def set_camera(self, camera: Camera) -> None:
        """Turn the preview's camera from the next frame on (only the newest pending camera is kept)."""
        self._camera.put(camera)

    def work(self) -> None:
        """Build, loop until stopped, close (a failure to close is reported too)."""
        task = self._task.take()
        assert task is not None
        loop = _PreviewLoop(self._env_factory, task, self._camera.take() or self._initial_camera)
        try:
            self._pump(loop)
        finally:
            self._close(loop)

    def _pump(self, loop: _PreviewLoop) -> None:
        steps_per_frame = max(1, round(self._period / loop.dt))  # about real time
        next_frame = time.monotonic()
        while not self._stop.is_set():
            task = self._task.take()
            if task is not None:
                loop.apply_task(task)
            for _ in range(steps_per_frame):
                if self._stop.is_set():
                    return
                self.step_done.emit(loop.step())
            camera = self._camera.take()
            if camera is not None:
                loop.set_camera(camera)
            self.frame_rendered.emit(loop.render())
            next_frame = max(next_frame + self._period, time.monotonic() - self._period)
            self._stop.wait(max(0.0, next_frame - time.monotonic()))

    def _close(self, loop: _PreviewLoop) -> None:
        try:
            loop.close()
        except Exception as err:
            self.failed.emit(f"closing the env: {describe_error(err)}")


class WorkerThread:
    """Runs a :class:`JobWorker` in a fresh QThread; :meth:`stop` asks it to end and joins it.

    Keep this object referenced until :meth:`stop` returned True or the thread ended: Qt aborts the
    process when a QThread is destroyed while it runs.
    """

    def __init__(self, worker: JobWorker) -> None:
        self.worker = worker
        self.thread = QThread()
        worker.moveToThread(self.thread)
        self.thread.started.connect(worker.run)
        # quit() is thread-safe; a direct call needs no GUI event loop to end the thread.
        worker.finished.connect(self.thread.quit, Qt.ConnectionType.DirectConnection)

    def start(self) -> None:
        """Start the thread (and so the worker's ``run``)."""
        self.thread.start()

    def is_running(self) -> bool:
        """Whether the thread has started and not yet ended."""
        return self.thread.isRunning()

    def stop(self, timeout_ms: int = 5000) -> bool:
        """Ask the worker to stop and wait for its thread; False if it did not end in time."""
        self.worker.stop()
        self.thread.quit()
        return self.thread.wait(timeout_ms)
