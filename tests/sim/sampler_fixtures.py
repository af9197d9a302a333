"""Env factories for the sampler tests; a module of their own so that spawned workers can import them."""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
import numpy as np

from sim.envs.locomotion import EnvConfig, LocomotionEnv
from sim.params import TaskParams
from sim.sampler import StatelessPolicy


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


class TanhLinearPolicy(StatelessPolicy):
    """A fixed deterministic policy, so rollouts in workers can be replayed in one process."""

    def __init__(self, obs_dim: int, action_dim: int) -> None:
        self.weights = np.random.default_rng(7).normal(0.0, 0.3, (obs_dim, action_dim))

    def __call__(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.tanh(obs @ self.weights).astype(np.float32)


class StepCounterPolicy:
    """A policy with memory: each row's action is the number of steps since its episode began, and
    the reward it last observed, so a test can see that state is kept per row and reset per episode."""

    def __init__(self, action_dim: int) -> None:
        self.action_dim = action_dim
        self.steps = np.zeros(0, np.int64)
        self.last_reward = np.zeros(0)

    def start_episodes(self, rows: np.ndarray) -> None:
        if len(self.steps) != len(rows):
            self.steps, self.last_reward = np.zeros(len(rows), np.int64), np.zeros(len(rows))
        self.steps[rows] = 0
        self.last_reward[rows] = 0.0

    def __call__(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        actions = np.zeros((len(obs), self.action_dim), np.float32)
        actions[:, 0] = self.steps / 100.0  # inside [-1, 1] for episodes under 100 steps
        actions[:, 1] = np.clip(self.last_reward, -1.0, 1.0)
        return actions

    def observe(self, rewards: np.ndarray, next_obs: np.ndarray, done: np.ndarray) -> None:
        self.steps += 1
        self.last_reward = rewards.copy()
