"""A PyBullet-free point mass that must move at the task's target velocity and heading.

It reads the same :class:`~sim.params.TaskParams` goal as the locomotion env (robot and terrain
fields are ignored), so task families, samplers and learners run on it unchanged, in milliseconds.
It exists for fast, deterministic agent tests and smoke runs (SB3's ``IdentityEnvBox`` idea).
"""

from __future__ import annotations

import math
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

from sim.params import TaskParams


class PointMassEnv(gym.Env[NDArray[np.float32], NDArray[np.float32]]):
    """2-D point mass driven by acceleration commands; reward = -|velocity - target velocity|.

    Observation: position and velocity (4 values); the goal is hidden, as in the meta-RL families.
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012

    def __init__(
        self, task: TaskParams | None = None, *, max_episode_steps: int = 20, accel_mps2: float = 10.0
    ) -> None:
        self.task = task or TaskParams()
        self.max_episode_steps = max_episode_steps
        self.accel_mps2 = accel_mps2
        self.dt = 0.1
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(4,), dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self._state = np.zeros(4)
        self._steps = 0

    def get_task(self) -> TaskParams:
        """The task the env runs now."""
        return self.task

    def set_task(self, task: TaskParams) -> None:
        """Switch the goal in place."""
        self.task = task

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[NDArray[np.float32], dict[str, Any]]:
        """Start near rest at the origin (``options={"task": ...}`` switches task first)."""
        super().reset(seed=seed)
        if options and "task" in options:
            self.set_task(options["task"])
        self._state = np.concatenate([np.zeros(2), self.np_random.uniform(-0.1, 0.1, 2)])
        self._steps = 0
        return self._state.astype(np.float32), {}

    def step(
        self, action: NDArray[np.float32]
    ) -> tuple[NDArray[np.float32], SupportsFloat, bool, bool, dict[str, Any]]:
        """Accelerate for one 0.1 s step and score the velocity error."""
        act = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        velocity = self._state[2:] + act * self.accel_mps2 * self.dt
        self._state = np.concatenate([self._state[:2] + velocity * self.dt, velocity])
        self._steps += 1
        goal = self.task.goal
        heading = math.radians(goal.target_heading_deg)
        target = goal.target_velocity_mps * np.array([math.cos(heading), math.sin(heading)])
        terms = {"velocity_tracking": -float(np.linalg.norm(velocity - target)), "control": -0.01 * float(act @ act)}
        truncated = self._steps >= self.max_episode_steps
        return self._state.astype(np.float32), sum(terms.values()), False, truncated, {"reward_terms": terms}
