"""The multi-task (domain-randomised) baseline: one PPO policy trained on tasks drawn from the family.

It sees the same task distribution and the same number of env steps as a meta-learner, but learns
one policy that does well on average instead of one that adapts; at test time it is fine-tuned
with PPO (:class:`agents.ppo.finetune.FineTuneAgent`) on the same episodes MAML adapts on.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch

from agents.core.learner import IterationStats
from agents.core.rollout import collect_tasks
from agents.core.seeding import seeded_torch
from agents.core.timing import PhaseTimer
from agents.ppo.finetune import FineTuneAgent
from agents.ppo.update import PPOConfig, new_networks, ppo_samples, ppo_update
from sim.sampler import VectorSampler
from sim.tasks import TaskDistribution


class MultiTaskPPOLearner:
    """PPO over tasks sampled from a family; every random draw derives from ``(seed, iteration)``."""

    def __init__(
        self,
        *,
        obs_dim: int,
        action_dim: int,
        family: TaskDistribution,
        config: PPOConfig,
        seed: int,
        device: torch.device,
    ) -> None:
        with seeded_torch(seed):
            self.policy, self.value = new_networks(obs_dim=obs_dim, action_dim=action_dim, config=config, device=device)
        self.family, self.config, self.seed = family, config, seed
        self.optimizer = torch.optim.Adam([*self.policy.parameters(), *self.value.parameters()], lr=config.lr)
        self.iteration = 0
        self.resume_note: str | None = None  # its checkpoints hold everything a resumed run needs

    def train_iteration(self, sampler: VectorSampler) -> IterationStats:
        """Collect ``episodes_per_task`` episodes on each of ``tasks_per_iteration`` tasks, then PPO epochs."""
        cfg, rng = self.config, np.random.default_rng([self.seed, self.iteration])
        tasks = self.family.sample_tasks(cfg.tasks_per_iteration, rng)
        episode_seed, update_seed = (int(s) for s in rng.integers(2**31, size=2))
        timed = PhaseTimer()
        with timed("sampling"):
            episodes = collect_tasks(
                sampler,
                self.policy,
                tasks,
                episodes_per_task=cfg.episodes_per_task,
                horizon=cfg.horizon,
                seed=episode_seed,
            )
        with timed("update"):
            samples = ppo_samples(self.policy, self.value, episodes, gamma=cfg.gamma, lam=cfg.gae_lambda)
            generator = torch.Generator().manual_seed(update_seed)
            update = ppo_update(
                self.policy, self.value, self.optimizer, samples, config=cfg, epochs=cfg.epochs, generator=generator
            )
            self.policy.update_obs_stats(samples.obs)  # after the update: its old log-probs used the old statistics
            self.value.update_obs_stats(samples.obs)
        stats = IterationStats(
            iteration=self.iteration,
            pre_return=float(np.mean([float(e.episode_returns.mean()) for e in episodes])),
            post_return=None,
            loss=update.policy_loss,
            env_steps=sum(e.env_steps for e in episodes),
            seconds=timed.seconds,
            extra={"value_loss": update.value_loss, "kl": update.kl, "entropy": update.entropy},
        )
        self.iteration += 1
        return stats

    def new_agent(self) -> FineTuneAgent:
        """A fine-tuning agent on private copies of the current policy and value network."""
        seed = int(np.random.default_rng([self.seed, self.iteration, 1]).integers(2**31))
        return FineTuneAgent(
            policy=copy.deepcopy(self.policy), value=copy.deepcopy(self.value), config=self.config, seed=seed
        )

    def state_dict(self) -> dict[str, Any]:
        """Weights, optimiser and iteration."""
        return {
            "policy": self.policy.state_dict(),
            "value": self.value.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "iteration": self.iteration,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved."""
        self.policy.load_state_dict(state["policy"])
        self.value.load_state_dict(state["value"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.iteration = int(state["iteration"])
