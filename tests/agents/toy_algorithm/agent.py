"""The toy acting: a batched sampler policy with a per-row running mean of rewards, and the agent over one row.

:class:`RewardMeanActor` is what sampler workers run in training; :class:`ToyAgent` runs the same
policy in :func:`agents.core.adaptation.adapt`, fed by the acting contract's per-step feedback.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from agents.core.adaptation import EpisodeRecord, UpdateInfo
from agents.core.one_episode import OneEpisodeActing
from tests.agents.toy_algorithm.networks import RewardMemoryPolicy


class RewardMeanActor:
    """A sampler :class:`~sim.sampler_policies.Policy` whose rows each remember their episode's rewards."""

    def __init__(self, module: RewardMemoryPolicy) -> None:
        """Act with a CPU copy of ``module``."""
        self.module = copy.deepcopy(module).to("cpu").eval().requires_grad_(False)
        self.reward_sum = np.zeros(0)
        self.steps = np.zeros(0)

    @property
    def reward_mean(self) -> NDArray[np.float64]:
        """Each row's mean reward over its episode so far (0 before its first step)."""
        mean: NDArray[np.float64] = self.reward_sum / np.maximum(self.steps, 1.0)
        return mean

    def start_episodes(self, rows: NDArray[np.bool_]) -> None:
        """Rows whose env has just reset forget their rewards."""
        if len(self.steps) != len(rows):
            self.reward_sum, self.steps = np.zeros(len(rows)), np.zeros(len(rows))
        self.reward_sum[rows] = 0.0
        self.steps[rows] = 0.0

    def __call__(self, obs: NDArray[np.float32], rng: np.random.Generator) -> NDArray[np.float32]:
        """Sampled actions for ``obs`` ``[k, obs_dim]`` given each row's mean reward; noise from ``rng``."""
        noise = rng.standard_normal((len(obs), self.module.action_dim)).astype(np.float32)
        with torch.no_grad():
            mean = torch.as_tensor(self.reward_mean, dtype=torch.float32)
            actions: NDArray[np.float32] = self.module.act(torch.as_tensor(obs), mean, torch.as_tensor(noise)).numpy()
        return actions

    def observe(self, rewards: NDArray[np.float64], next_obs: NDArray[np.float32], done: NDArray[np.bool_]) -> None:
        """Every row's reward joins its running mean."""
        self.reward_sum += rewards
        self.steps += 1.0

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        torch.set_num_threads(1)  # in a sampler worker: the other core simulates


class ToyAgent(OneEpisodeActing):
    """Adapts within the episode only: its memory is the mean reward so far, empty at each episode start."""

    actor: RewardMeanActor

    def __init__(self, module: RewardMemoryPolicy) -> None:
        """Act with a private copy of ``module``."""
        self.actor = RewardMeanActor(module)
        self.actor.start_episodes(np.ones(1, bool))

    @property
    def reward_mean(self) -> float:
        """The mean reward of this episode so far (what the next action reads)."""
        return float(self.actor.reward_mean[0])

    def learn(self, episodes: list[EpisodeRecord]) -> UpdateInfo:
        """No update between episodes: its adaptation is the memory within each."""
        return UpdateInfo(loss=0.0, kl=0.0, step_size=0.0)

    def adapted_policy(self) -> RewardMemoryPolicy:
        """The acting module (its memory input is the caller's to keep)."""
        return copy.deepcopy(self.actor.module)
