"""Qt workers: each job runs in its own QThread and talks to the GUI only through signals.

What crosses the thread boundary is frozen dataclasses of scalars and numpy arrays (:class:`Frame`,
:class:`StepStat`), never envs or PyBullet handles (STYLE.md §2-3). A worker receives a *factory*
and frozen params and builds its env inside its own thread. Control flows the other way through
thread-safe plain Python (a lock-guarded slot for the newest task, a :class:`threading.Event` to
stop), because a queued Qt call to an object whose thread is busy in a loop would never run.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from sim.params import TaskParams

EnvFactory = Callable[[TaskParams], gym.Env[Any, Any]]
"""Builds an env with ``render_mode="rgb_array"`` for a task; called inside the worker's thread."""

PREVIEW_SIZE = (320, 240)
"""Width and height of preview frames: TinyRenderer draws this size at ~40 fps (MEASURED.md)."""


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

    def __init__(self, env_factory: EnvFactory, task: TaskParams) -> None:
        self._env_factory = env_factory
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
        return Frame(image=pixels, step=self.step_index)

    def close(self) -> None:
        """Close the env; safe to call twice."""
        env, self._env = self._env, None
        if env is not None:
            env.close()


class PreviewWorker(QObject):
    """Steps a task's env with an open-loop gait and streams frames and rewards, in its own thread.

    Run it with :class:`WorkerThread`. :meth:`set_task` and :meth:`stop` may be called from any thread.
    """

    frame_rendered = Signal(object)
    """A :class:`Frame`, about ``fps`` times a second."""
    step_done = Signal(object)
    """A :class:`StepStat` for every env step."""
    failed = Signal(str)
    """A one-line description of the exception that ended the preview."""
    finished = Signal()
    """Emitted last, after the env is closed, whether the run ended by stop or by failure."""

    def __init__(
        self,
        task: TaskParams,
        *,
        env_factory: EnvFactory = make_preview_env,
        fps: float = 25.0,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._env_factory = env_factory
        self._period = 1.0 / fps
        self._lock = threading.Lock()
        self._pending: TaskParams | None = task
        self._stop = threading.Event()

    def set_task(self, task: TaskParams) -> None:
        """Ask the running preview to switch to ``task`` (only the newest pending task is kept)."""
        with self._lock:
            self._pending = task

    def stop(self) -> None:
        """Ask the preview to end; it does so before its next env step."""
        self._stop.set()

    def _take_task(self) -> TaskParams | None:
        with self._lock:
            task, self._pending = self._pending, None
        return task

    @Slot()
    def run(self) -> None:
        """The worker thread's body: build, loop until stopped, close; failures become ``failed``."""
        loop: _PreviewLoop | None = None
        try:
            task = self._take_task()
            assert task is not None
            loop = _PreviewLoop(self._env_factory, task)
            self._pump(loop)
        except Exception as err:
            self.failed.emit(f"{type(err).__name__}: {err}")
        finally:
            self._close(loop)
            self.finished.emit()

    def _pump(self, loop: _PreviewLoop) -> None:
        steps_per_frame = max(1, round(self._period / loop.dt))  # about real time
        next_frame = time.monotonic()
        while not self._stop.is_set():
            task = self._take_task()
            if task is not None:
                loop.apply_task(task)
            for _ in range(steps_per_frame):
                if self._stop.is_set():
                    return
                self.step_done.emit(loop.step())
            self.frame_rendered.emit(loop.render())
            next_frame = max(next_frame + self._period, time.monotonic() - self._period)
            self._stop.wait(max(0.0, next_frame - time.monotonic()))

    def _close(self, loop: _PreviewLoop | None) -> None:
        if loop is None:
            return
        try:
            loop.close()
        except Exception as err:
            self.failed.emit(f"closing the env: {type(err).__name__}: {err}")


class WorkerThread:
    """Runs a worker's ``run`` slot in a fresh QThread; :meth:`stop` asks it to end and joins it.

    Later jobs' workers take the same shape: a ``run`` slot, a thread-safe ``stop()``, a ``finished``
    signal. Keep this object referenced until :meth:`stop` returned True: Qt aborts the process when a
    QThread is destroyed while it runs.
    """

    def __init__(self, worker: PreviewWorker) -> None:
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
