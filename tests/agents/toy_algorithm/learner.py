"""The toy's learner: REINFORCE on the reward-memory policy, behind the :class:`~agents.core.learner.Learner` API."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import Tensor

from agents.core.learner import IterationStats
from agents.core.returns import discounted_returns
from agents.core.rollout import EpisodeBatch, collect_with
from agents.core.seeding import seeded_torch
from agents.core.task_sampler import UniformTaskSampler
from sim.sampler import VectorSampler
from sim.tasks import TaskDistribution
from tests.agents.toy_algorithm.agent import RewardMeanActor, ToyAgent
from tests.agents.toy_algorithm.config import ToyConfig
from tests.agents.toy_algorithm.networks import RewardMemoryPolicy


def reward_means(rewards: Tensor, mask: Tensor) -> Tensor:
    """``[E, T]``: the mean reward of each episode before step ``t`` (0 at its first step), as the actor saw it."""
    before = torch.cumsum(rewards * mask, dim=1) - rewards * mask
    steps = torch.arange(rewards.shape[1], device=rewards.device, dtype=rewards.dtype)
    return before / steps.clamp(min=1.0)


class ToyLearner:
    """One REINFORCE step per iteration; every random draw derives from ``(seed, iteration)``."""

    def __init__(
        self,
        *,
        obs_dim: int,
        action_dim: int,
        family: TaskDistribution,
        config: ToyConfig,
        seed: int,
        device: torch.device,
    ) -> None:
        """A policy at its seeded initial weights on ``device``."""
        self.config, self.seed, self.device = config, seed, device
        with seeded_torch(seed):
            self.policy = RewardMemoryPolicy(
                obs_dim=obs_dim, action_dim=action_dim, memory_len=config.horizon, init_log_std=config.init_log_std
            )
        self.policy.to(device)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=config.lr)
        self.task_sampler = UniformTaskSampler(family)
        self.iteration = 0
        self.resume_note: str | None = None  # its checkpoints hold everything a resumed run needs

    def train_iteration(self, sampler: VectorSampler) -> IterationStats:
        """Collect every task's episodes with the per-row memory, then one policy-gradient step."""
        cfg = self.config
        rng = np.random.default_rng([self.seed, self.iteration])
        tasks = self.task_sampler.sample(cfg.tasks_per_iteration, rng)
        start = time.perf_counter()
        actors = [RewardMeanActor(self.policy)] * len(tasks)
        seed = int(rng.integers(2**31))
        episodes = collect_with(
            sampler,
            actors,
            tasks,
            episodes_per_task=cfg.episodes_per_task,
            horizon=cfg.horizon,
            seed=seed,
            device=self.device,
        )
        sampled = time.perf_counter()
        loss = self._update(episodes)
        stats = IterationStats(
            iteration=self.iteration,
            pre_return=float(np.mean([float(e.episode_returns.mean()) for e in episodes])),
            post_return=None,
            loss=loss,
            env_steps=sum(e.env_steps for e in episodes),
            seconds={"sampling": sampled - start, "update": time.perf_counter() - sampled},
        )
        self.iteration += 1
        return stats

    def _update(self, episodes: list[EpisodeBatch]) -> float:
        """REINFORCE with the batch's mean return as baseline."""
        obs, actions = torch.cat([e.obs for e in episodes]), torch.cat([e.actions for e in episodes])
        rewards, mask = torch.cat([e.rewards for e in episodes]), torch.cat([e.mask for e in episodes])
        returns = discounted_returns(rewards, mask, gamma=self.config.gamma)
        advantages = returns - (returns * mask).sum() / mask.sum()
        log_prob = self.policy.distribution(obs, reward_means(rewards, mask)).log_prob(actions).sum(-1)
        loss = -(log_prob * advantages * mask).sum() / mask.sum()
        self.optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        self.optimizer.step()
        return float(loss.item())

    def new_agent(self) -> ToyAgent:
        """An agent on a private CPU copy of the current policy."""
        return ToyAgent(self.policy)

    def state_dict(self) -> dict[str, Any]:
        """Weights, optimiser and iteration."""
        return {
            "policy": self.policy.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "iteration": self.iteration,
            "task_sampler": self.task_sampler.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved."""
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.iteration = int(state["iteration"])
        self.task_sampler.load_state_dict(state["task_sampler"])
