"""Env factories for the sampler tests; a module of their own so that spawned workers can import them."""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
import numpy as np

from sim.envs.locomotion import EnvConfig, LocomotionEnv
from sim.params import TaskParams


def short_episode_env(task: TaskParams) -> gym.Env[Any, Any]:
    """A real env with 7-step episodes, so that autoreset happens inside a short test."""
    return LocomotionEnv(task, config=EnvConfig(max_episode_steps=7))


class _DiesOnStep(gym.Wrapper):  # type: ignore[type-arg]
    def step(self, action: Any) -> Any:
        os._exit(3)


class _RaisesOnStep(gym.Wrapper):  # type: ignore[type-arg]
    def step(self, action: Any) -> Any:
        raise FloatingPointError("controller diverged at step 0")


def dies_on_step(task: TaskParams) -> gym.Env[Any, Any]:
    """An env whose process exits abruptly on the first step (as a segfaulting simulator would)."""
    return _DiesOnStep(LocomotionEnv(task))


def raises_on_step(task: TaskParams) -> gym.Env[Any, Any]:
    """An env that raises on the first step."""
    return _RaisesOnStep(LocomotionEnv(task))


def fixed_actions(num_envs: int, steps: int, dim: int) -> np.ndarray:
    """The same pseudo-random action sequence for the sampler and the single-env reference."""
    return np.random.default_rng(42).uniform(-1, 1, (steps, num_envs, dim)).astype(np.float32)


class TanhLinearPolicy:
    """A fixed deterministic policy, so rollouts in workers can be replayed in one process."""

    def __init__(self, obs_dim: int, action_dim: int) -> None:
        self.weights = np.random.default_rng(7).normal(0.0, 0.3, (obs_dim, action_dim))

    def __call__(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.tanh(obs @ self.weights).astype(np.float32)
