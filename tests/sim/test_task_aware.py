"""The task-aware reference's observation: the robot's own, then the true task's features."""

from __future__ import annotations

import numpy as np
import pytest

from sim.envs.point_mass import PointMassEnv
from sim.envs.task_aware import TaskAwareObservation
from sim.params import TaskParams, with_values
from sim.tasks import ChoiceSet, TaskDistribution, UniformRange

FAMILY = TaskDistribution(
    name="speed-and-ground",
    base=TaskParams(),
    vary={"goal.target_velocity_mps": UniformRange(0.0, 2.0), "terrain.kind": ChoiceSet(("flat", "slope", "rough"))},
)


def task(speed: float, kind: str) -> TaskParams:
    return with_values(TaskParams(), {"goal.target_velocity_mps": speed, "terrain.kind": kind})


def test_features_scale_ranges_to_unit_and_one_hot_choices() -> None:
    assert FAMILY.task_features(task(0.0, "flat")) == [-1.0, 1.0, 0.0, 0.0]
    assert FAMILY.task_features(task(1.5, "rough")) == pytest.approx([0.5, 0.0, 0.0, 1.0])
    assert FAMILY.task_features(task(2.0, "slope")) == [1.0, 0.0, 1.0, 0.0]


def test_the_wrapper_follows_the_task_however_it_is_switched() -> None:
    env = TaskAwareObservation(PointMassEnv(task(0.0, "flat")), FAMILY)
    assert env.observation_space.shape == (4 + 4,)
    obs, _ = env.reset(seed=0)
    assert obs[4:].tolist() == [-1.0, 1.0, 0.0, 0.0]
    env.unwrapped.set_task(task(2.0, "rough"))  # as the sampler does, past the wrapper
    obs, *_ = env.step(np.zeros(2, np.float32))
    assert obs[4:].tolist() == [1.0, 0.0, 0.0, 1.0]
    obs, _ = env.reset(seed=0, options={"task": task(1.0, "slope")})
    assert obs[4:].tolist() == [0.0, 0.0, 1.0, 0.0]
    assert env.get_task() == task(1.0, "slope")
