"""Adaptation by plain fine-tuning: PPO steps on the task's episodes, the baselines' side of the comparison.

A multi-task (domain-randomised) policy adapted this way, and a freshly initialised one (PPO from
scratch), get exactly the episodes a meta-learner gets, through the same
:func:`agents.core.adaptation.adapt` generator: if meta-learning is worth its cost, it beats these.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray

from agents.core.adaptation import BetweenEpisodesAgent, EpisodeRecord, UpdateInfo
from agents.core.policies import GaussianMLPPolicy, ValueMLP
from agents.core.rollout import PolicySnapshot, records_to_batch, sample_action
from agents.core.seeding import seeded_torch
from agents.ppo.update import PPOConfig, new_networks, ppo_samples, ppo_update


class FineTuneAgent(BetweenEpisodesAgent):
    """Acts with a Gaussian policy and fine-tunes it (and its value network) by PPO after each episode."""

    def __init__(self, *, policy: GaussianMLPPolicy, value: ValueMLP, config: PPOConfig, seed: int) -> None:
        """Take ownership of ``policy`` and ``value`` (pass private copies)."""
        self.policy, self.value, self.config = policy, value, config
        self.optimizer = torch.optim.Adam([*policy.parameters(), *value.parameters()], lr=config.finetune_lr)
        self.generator = torch.Generator().manual_seed(seed)
        self.device = next(policy.parameters()).device

    def act(self, obs: NDArray[np.float32], rng: np.random.Generator) -> NDArray[np.float32]:
        """A sampled action; the noise comes from ``rng``."""
        return sample_action(self.policy, obs, rng)

    def learn(self, episodes: list[EpisodeRecord]) -> UpdateInfo:
        """``finetune_epochs`` PPO passes over every episode of this task so far."""
        batch = records_to_batch(episodes, self.device)
        cfg = self.config
        samples = ppo_samples(self.policy, self.value, [batch], gamma=cfg.gamma, lam=cfg.gae_lambda)
        stats = ppo_update(
            self.policy,
            self.value,
            self.optimizer,
            samples,
            config=cfg,
            epochs=cfg.finetune_epochs,
            generator=self.generator,
        )
        return UpdateInfo(loss=stats.policy_loss, kl=stats.kl, step_size=cfg.finetune_lr)

    def adapted_policy(self) -> GaussianMLPPolicy:
        """A CPU copy of the fine-tuned policy, ready for export."""
        module: GaussianMLPPolicy = PolicySnapshot(self.policy).module
        return module


def scratch_agent(*, obs_dim: int, action_dim: int, config: PPOConfig, seed: int) -> FineTuneAgent:
    """PPO from scratch on the new task: fresh networks seeded with ``seed``, no meta-training at all."""
    with seeded_torch(seed):
        policy, value = new_networks(obs_dim=obs_dim, action_dim=action_dim, config=config, device=torch.device("cpu"))
    return FineTuneAgent(policy=policy, value=value, config=config, seed=seed)


class ScratchBaseline:
    """Hands out PPO-from-scratch agents (an :class:`~agents.core.learner.AgentSource` with no training)."""

    iteration = 0

    def __init__(self, *, obs_dim: int, action_dim: int, config: PPOConfig, seed: int) -> None:
        self.obs_dim, self.action_dim, self.config, self.seed = obs_dim, action_dim, config, seed

    def new_agent(self) -> FineTuneAgent:
        """A fresh, seeded PPO agent: every call gives the same initial weights."""
        return scratch_agent(obs_dim=self.obs_dim, action_dim=self.action_dim, config=self.config, seed=self.seed)
