"""The idle preview, Qt-free: a task's env stepped with an open-loop gait, its frames and rewards.

:func:`preview_job` is a job in the sense of :mod:`agents.core.child_process`: the window runs it in a child
process (so that PyBullet's long C calls, a robot rebuilt after an edit or the EGL plugin loading,
never stall the GUI), and tests run it in their own thread against an instrumented env.
What it yields, :class:`Frame` and :class:`StepStat`, are frozen dataclasses of plain values.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from agents.core.child_process import JobControl
from sim.metrics import ending_of
from sim.params import TaskParams
from sim.render import Camera

EnvFactory = Callable[[TaskParams], gym.Env[Any, Any]]
"""Builds an env with ``render_mode="rgb_array"`` for a task; called where the job runs. A module-level
function or a picklable object when the job runs in a child process."""

PAUSE_POLL_S = 0.1
"""How often a paused preview looks for a resume (it neither steps nor renders meanwhile)."""
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


def apply_camera(env: gym.Env[Any, Any], camera: Camera) -> None:
    """Turn ``env``'s camera if it has one (:meth:`sim.envs.locomotion.LocomotionEnv.set_camera`)."""
    set_camera = getattr(env.unwrapped, "set_camera", None)
    if callable(set_camera):
        set_camera(camera)


def renderer_of(env: gym.Env[Any, Any]) -> str:
    """The env's renderer backend, or "" when it does not say."""
    return str(getattr(env.unwrapped, "renderer_backend", None) or "")


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
    ending: str = ""
    """How this step ended the episode in a special way (:data:`sim.metrics.ENDINGS`: the robot left
    the world, the physics blew up), '' otherwise: the preview restarts either way, and says why."""

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, JSON-ready."""
        return {
            "step": self.step,
            "episode": self.episode,
            "reward": self.reward,
            "reward_terms": dict(self.reward_terms),
            "ending": self.ending,
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


class PreviewLoop:
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
        ending = ending_of(info) if terminated else ""
        stat = StepStat(self.step_index, self.episode, float(reward), terms, ending)
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


def preview_job(
    control: JobControl, env_factory: EnvFactory, task: TaskParams, camera: Camera | None, fps: float
) -> Generator[Frame | StepStat, None, None]:
    """Step ``task``'s env in about real time, yielding every step and ``fps`` frames a second, until stopped.

    Control keys: ``"task"`` (a :class:`TaskParams`: applied in place, or the env is rebuilt),
    ``"camera"`` (a :class:`Camera`, from the next frame on) and ``"paused"`` (a bool: while True the
    preview neither steps nor renders, so a training run in the window gets the cores it would get
    from the command line; the newest task and camera apply on resuming).
    """
    loop = PreviewLoop(env_factory, task, camera)
    try:
        period = 1.0 / fps
        steps_per_frame = max(1, round(period / loop.dt))
        next_frame = time.monotonic()
        paused = False
        while not control.stop_requested():
            paused = _still_paused(control, paused)
            if paused:
                next_frame = time.monotonic()
                control.wait(PAUSE_POLL_S)
                continue
            new_task = control.take("task")
            if new_task is not None:
                loop.apply_task(new_task)
            for _ in range(steps_per_frame):
                yield loop.step()
            new_camera = control.take("camera")
            if new_camera is not None:
                loop.set_camera(new_camera)
            yield loop.render()
            next_frame = max(next_frame + period, time.monotonic() - period)
            control.wait(next_frame - time.monotonic())
    finally:
        loop.close()


def _still_paused(control: JobControl, paused: bool) -> bool:
    """The newest ``"paused"`` value put, else ``paused`` as it was."""
    newest = control.take("paused")
    return paused if newest is None else bool(newest)
