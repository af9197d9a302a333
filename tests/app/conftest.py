"""A tiny, PyBullet-free env and factory for the app tests: fast, deterministic, instrumented."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from sim.params import TaskParams


class FakeEnv(gym.Env[np.ndarray, np.ndarray]):
    """Counts steps, records tasks, renders a small flat image; can fail on a chosen step."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 100}  # noqa: RUF012

    def __init__(
        self,
        task: TaskParams,
        *,
        fail_at_step: int | None = None,
        on_step: Callable[[FakeEnv], None] | None = None,
    ) -> None:
        self.task = task
        self.render_mode = "rgb_array"
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(4,), dtype=np.float32)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(3,), dtype=np.float32)
        self.fail_at_step = fail_at_step
        self.on_step = on_step
        self.steps = 0
        self.actions: list[np.ndarray] = []
        self.closed = False

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
        super().reset(seed=seed)
        return np.zeros(3, dtype=np.float32), {}

    def step(self, action: np.ndarray) -> Any:
        assert not self.closed, "stepped a closed env"
        self.steps += 1
        self.actions.append(np.array(action))
        if self.on_step is not None:
            self.on_step(self)
        if self.steps == self.fail_at_step:
            raise RuntimeError("motor 3 exploded")
        info = {"reward_terms": {"forward": 0.75, "ctrl": -0.25}}
        return np.zeros(3, dtype=np.float32), 0.5, False, self.steps % 40 == 0, info

    def render(self) -> np.ndarray:
        return np.full((24, 32, 3), self.steps % 256, dtype=np.uint8)

    def set_task(self, task: TaskParams) -> None:
        if task.robot.name != self.task.robot.name:
            raise ValueError("make a new env for another robot")
        self.task = task

    def close(self) -> None:
        self.closed = True


class FakeEnvFactory:
    """Builds :class:`FakeEnv` s and keeps them; ``fail_builds`` makes the next builds raise."""

    def __init__(self, **env_kwargs: Any) -> None:
        self.env_kwargs = env_kwargs
        self.envs: list[FakeEnv] = []
        self.fail_builds = 0

    def __call__(self, task: TaskParams) -> FakeEnv:
        if self.fail_builds:
            self.fail_builds -= 1
            raise FileNotFoundError("robot.urdf: no such file")
        env = FakeEnv(task, **self.env_kwargs)
        self.envs.append(env)
        return env

    @property
    def env(self) -> FakeEnv:
        return self.envs[-1]


@pytest.fixture
def make_factory() -> Callable[..., FakeEnvFactory]:
    """``make_factory(fail_at_step=..., on_step=...)`` -> a fresh :class:`FakeEnvFactory`."""
    return FakeEnvFactory
