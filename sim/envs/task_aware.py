"""An env that also observes its true task: what the task-aware reference (the benchmark's ceiling) sees.

The observation is the robot's own, followed by :meth:`sim.tasks.TaskDistribution.task_features` of
the env's current task. The task is read from the wrapped env at every observation, so switching it
with ``env.unwrapped.set_task`` (as the sampler does) or ``reset(options={"task": ...})`` both show.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

from sim.params import TaskParams
from sim.tasks import TaskDistribution


class TaskAwareObservation(gym.ObservationWrapper[NDArray[np.float32], Any, NDArray[np.float32]]):
    """Appends the family's task features to every observation."""

    def __init__(self, env: gym.Env[NDArray[np.float32], Any], family: TaskDistribution) -> None:
        super().__init__(env)
        self.family = family
        inner = env.observation_space
        assert isinstance(inner, gym.spaces.Box) and inner.shape is not None
        extra = len(family.task_features(family.base))
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(inner.shape[0] + extra,), dtype=np.float32)
        self._task: TaskParams | None = None
        self._features = np.zeros(extra, dtype=np.float32)

    def observation(self, observation: NDArray[np.float32]) -> NDArray[np.float32]:
        """The robot's observation and the current task's features."""
        task = self.env.unwrapped.get_task()  # type: ignore[attr-defined]
        if task is not self._task:  # features change only with the task
            self._task, self._features = task, np.asarray(self.family.task_features(task), dtype=np.float32)
        return np.concatenate([np.asarray(observation, dtype=np.float32), self._features])

    def set_task(self, task: TaskParams) -> None:
        """Switch the wrapped env's task."""
        self.env.unwrapped.set_task(task)  # type: ignore[attr-defined]

    def get_task(self) -> TaskParams:
        """The wrapped env's task."""
        task: TaskParams = self.env.unwrapped.get_task()  # type: ignore[attr-defined]
        return task
