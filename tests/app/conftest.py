"""Fixtures of the app tests: a tiny, PyBullet-free env and factory (fast, deterministic, instrumented),
and untrained agents' checkpoints for the adaptation panel."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from sim.params import TaskParams, with_values
from sim.tasks import TaskDistribution, UniformRange


class FakeEnv(gym.Env[np.ndarray, np.ndarray]):
    """Counts steps, records tasks, renders a small flat image; can fail, or leave the world, on a chosen step."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 100}  # noqa: RUF012

    def __init__(
        self,
        task: TaskParams,
        *,
        fail_at_step: int | None = None,
        left_world_at_step: int | None = None,
        on_step: Callable[[FakeEnv], None] | None = None,
    ) -> None:
        self.task = task
        self.render_mode = "rgb_array"
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(4,), dtype=np.float32)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(3,), dtype=np.float32)
        self.fail_at_step = fail_at_step
        self.left_world_at_step = left_world_at_step
        self.on_step = on_step
        self.steps = 0
        self.actions: list[np.ndarray] = []
        self.cameras: list[Any] = []
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
        left = self.steps == self.left_world_at_step
        info["left_world"] = left
        return np.zeros(3, dtype=np.float32), 0.5, left, self.steps % 40 == 0, info

    def render(self) -> np.ndarray:
        return np.full((24, 32, 3), self.steps % 256, dtype=np.uint8)

    def set_camera(self, camera: Any) -> None:
        self.cameras.append(camera)

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


def write_untrained_checkpoint(
    folder: Path, *, env: str, family: TaskDistribution, algorithm: str = "maml", config: dict[str, Any] | None = None
) -> Path:
    """A checkpoint of an agent at its initial weights: no training, no sampler processes, ~0.1 s.

    Adaptation only needs *a* checkpoint; what the agent learned does not matter to the window.
    ``config`` overrides the algorithm's settings (default: :data:`TINY_MAML` for MAML).
    """
    import torch

    from agents.algorithms import get_algorithm
    from agents.training.train import TrainSettings, agent_state, build_learner, start_run

    values = TINY_MAML if config is None and algorithm == "maml" else config
    typed = get_algorithm(algorithm).config(values)
    settings = TrainSettings(
        algorithm=algorithm, seed=1, iterations=1, num_workers=1, env=env, device="cpu", config=typed
    )
    run = start_run(folder, settings=settings, family=family)
    learner = build_learner(settings, family, torch.device("cpu"))
    return run.save_checkpoint(agent_state(learner, settings, family))


TINY_MAML = {"meta_batch_size": 2, "episodes_per_task": 2, "horizon": 5, "outer_epochs": 1, "hidden_sizes": (8,)}
TINY_RMA = {"horizon": 40, "hidden_sizes": (8,), "history_len": 4, "adapter_hidden": 8}
"""an RMA agent small enough to build in a moment; its point-mass episodes last ``horizon`` steps"""
POINT_FAMILY = TaskDistribution(
    name="point-heading",
    base=with_values(TaskParams(), {"goal.target_velocity_mps": 1.0}),
    vary={"goal.target_heading_deg": UniformRange(-180.0, 180.0)},
    num_test_tasks=2,
)
HEXAPOD_FAMILY = TaskDistribution(
    name="hexapod-speed",
    base=with_values(TaskParams(), {"robot.name": "hexapod"}),
    vary={"goal.target_velocity_mps": UniformRange(0.5, 1.5)},
    num_test_tasks=2,
)


@pytest.fixture(scope="session")
def point_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A point-mass agent's checkpoint (episodes of at most 5 steps, no frames)."""
    return write_untrained_checkpoint(tmp_path_factory.mktemp("point"), env="point_mass", family=POINT_FAMILY)


@pytest.fixture(scope="session")
def rma_point_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained RMA agent's checkpoint on the point mass: it reports a running estimate of the task."""
    folder = tmp_path_factory.mktemp("rma-point")
    return write_untrained_checkpoint(folder, env="point_mass", family=POINT_FAMILY, algorithm="rma", config=TINY_RMA)


@pytest.fixture(scope="session")
def hexapod_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hexapod agent's checkpoint (PyBullet: it renders frames)."""
    return write_untrained_checkpoint(tmp_path_factory.mktemp("hexapod"), env="locomotion", family=HEXAPOD_FAMILY)
