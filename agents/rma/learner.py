"""RMA training in two phases behind the one :class:`~agents.core.learner.Learner` protocol.

Phase 1 (``iteration < teacher_iterations``): PPO over the family on a policy that sees the true
task through the encoder ``z = mu(e)`` (the training envs append the task's features; the value
network sees them too). Phase 2: the policy acts with the adaptation module's own estimate
``z_hat = phi(history)`` (DAgger: the states come from the student, not the teacher), and ``phi`` is
regressed onto ``mu(e)`` at randomly drawn steps of those episodes. Nothing privileged reaches the
agent at test time: its envs observe the robot only.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor
from torch.nn import functional as F

from agents.core.learner import IterationStats
from agents.core.policies import GaussianMLPPolicy, ValueMLP
from agents.core.rollout import EpisodeBatch, collect_tasks, collect_with
from agents.core.seeding import seeded_torch
from agents.core.task_sampler import make_task_sampler
from agents.ppo.update import ppo_samples, ppo_update
from agents.rma.agent import ADAPTATION, HistoryPolicy, RMAAgent
from agents.rma.config import RMAConfig
from agents.rma.networks import AdaptationModule, OnlinePolicy, TeacherMeanNet, history_width
from sim.params import TaskParams
from sim.sampler import VectorSampler
from sim.tasks import TaskDistribution


class RMALearner:
    """Teacher PPO, then the adaptation module; every random draw derives from ``(seed, iteration)``."""

    def __init__(
        self,
        *,
        obs_dim: int,
        action_dim: int,
        family: TaskDistribution,
        config: RMAConfig,
        seed: int,
        device: torch.device,
    ) -> None:
        """``obs_dim`` is the training envs' (robot observation and the task's features)."""
        self.feature_dim = len(family.task_features(family.base))
        self.obs_dim = obs_dim - self.feature_dim
        self.family, self.config, self.seed, self.device = family, config, seed, device
        with seeded_torch(seed):
            self.policy = GaussianMLPPolicy(
                obs_dim=obs_dim,
                action_dim=action_dim,
                hidden_sizes=config.hidden_sizes,
                init_log_std=config.init_log_std,
            )
            self.policy.mean_net = TeacherMeanNet(  # type: ignore[assignment]  # any mean network PPO can train
                obs_dim=self.obs_dim,
                feature_dim=self.feature_dim,
                action_dim=action_dim,
                latent_dim=config.latent_dim,
                hidden_sizes=config.hidden_sizes,
                encoder_hidden_sizes=config.encoder_hidden_sizes,
            )
            self.value = ValueMLP(obs_dim=obs_dim, hidden_sizes=config.hidden_sizes)
            width = history_width(self.obs_dim, action_dim)
            self.adapter = AdaptationModule(width=width, hidden=config.adapter_hidden, latent_dim=config.latent_dim)
        self.policy.to(device)
        self.value.to(device)
        self.adapter.to(device)
        self.optimizer = torch.optim.Adam([*self.policy.parameters(), *self.value.parameters()], lr=config.lr)
        self.adapter_optimizer = torch.optim.Adam(self.adapter.parameters(), lr=config.adapter_lr)
        self.task_sampler = make_task_sampler(config.task_sampler, family, seed=seed)
        self.iteration = 0
        self._task_results: list[tuple[TaskParams, float]] = []
        self.resume_note: str | None = None  # its checkpoints hold everything a resumed run needs

    @property
    def teacher_net(self) -> TeacherMeanNet:
        """The teacher's encoder and base policy."""
        net = self.policy.mean_net
        assert isinstance(net, TeacherMeanNet)
        return net

    def train_iteration(self, sampler: VectorSampler) -> IterationStats:
        """One PPO iteration of the teacher, or (after ``teacher_iterations``) one of the adaptation module."""
        rng = np.random.default_rng([self.seed, self.iteration])
        tasks = self.task_sampler.sample(self.config.tasks_per_iteration, rng)
        episode_seed, update_seed = (int(s) for s in rng.integers(2**31, size=2))
        if self.iteration < self.config.teacher_iterations:
            stats, episodes = self._teacher_iteration(sampler, tasks, episode_seed, update_seed)
        else:
            stats, episodes = self._student_iteration(sampler, tasks, episode_seed, update_seed)
        # each task's mean return is its score: the progress sampler draws where scores still change
        scores = [float(batch.episode_returns.mean()) for batch in episodes]
        self.task_sampler.update(tasks, scores)
        self._task_results = list(zip(tasks, scores, strict=True))
        self.iteration += 1
        return stats

    def task_results(self) -> list[tuple[TaskParams, float]]:
        """Each task of the last iteration and its mean return (the run's performance model's feed): the
        teacher's with the true task, then the student's with its own estimate of it."""
        return list(self._task_results)

    def _teacher_iteration(
        self, sampler: VectorSampler, tasks: list[Any], episode_seed: int, update_seed: int
    ) -> tuple[IterationStats, list[EpisodeBatch]]:
        cfg = self.config
        start = time.perf_counter()
        episodes = collect_tasks(
            sampler, self.policy, tasks, episodes_per_task=cfg.episodes_per_task, horizon=cfg.horizon, seed=episode_seed
        )
        sampled = time.perf_counter()
        samples = ppo_samples(self.policy, self.value, episodes, gamma=cfg.gamma, lam=cfg.gae_lambda)
        generator = torch.Generator().manual_seed(update_seed)
        ppo = cfg.ppo()
        update = ppo_update(
            self.policy, self.value, self.optimizer, samples, config=ppo, epochs=cfg.epochs, generator=generator
        )
        self.policy.update_obs_stats(samples.obs)  # after the update: its old log-probs used the old statistics
        self.value.update_obs_stats(samples.obs)
        stats = _stats(
            self.iteration,
            episodes,
            loss=update.policy_loss,
            seconds={"sampling": sampled - start, "update": time.perf_counter() - sampled},
            extra={"phase": 1.0, "value_loss": update.value_loss, "kl": update.kl, "entropy": update.entropy},
        )
        return stats, episodes

    def _student_iteration(
        self, sampler: VectorSampler, tasks: list[Any], episode_seed: int, update_seed: int
    ) -> tuple[IterationStats, list[EpisodeBatch]]:
        cfg = self.config
        start = time.perf_counter()
        actor = HistoryPolicy(self.online_policy())
        episodes = collect_with(
            sampler,
            [actor] * len(tasks),
            tasks,
            episodes_per_task=cfg.episodes_per_task,
            horizon=cfg.horizon,
            seed=episode_seed,
            device=self.device,
        )
        sampled = time.perf_counter()
        generator = torch.Generator().manual_seed(update_seed)
        histories, targets = self._regression_set(episodes, generator)
        loss = self._fit_adapter(histories, targets, generator)
        stats = _stats(
            self.iteration,
            episodes,
            loss=loss,
            seconds={"sampling": sampled - start, "update": time.perf_counter() - sampled},
            extra={"phase": 2.0, "z_target_rms": float(targets.square().mean().sqrt())},
        )
        return stats, episodes

    def _regression_set(self, episodes: list[EpisodeBatch], generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Histories before randomly drawn real steps, and the teacher's ``z`` of those steps' tasks."""
        cfg, n = self.config, self.config.history_len
        histories, targets = [], []
        with torch.no_grad():
            for batch in episodes:
                obs = batch.obs[..., : self.obs_dim]
                valid = batch.mask[..., None]
                rows = torch.cat([obs, batch.actions.clamp(-1.0, 1.0), torch.ones_like(valid)], -1) * valid
                padded = torch.cat([torch.zeros_like(rows[:, :n]), rows], dim=1)  # [E, n + T, width]
                windows = padded.unfold(1, n, 1)[:, :-1].transpose(-1, -2)  # window t: rows t-n .. t-1
                features = self.policy.obs_normalizer(batch.obs)[..., self.obs_dim :]
                z = self.teacher_net.encoder(features)  # [E, T, latent]
                for e in range(batch.obs.shape[0]):
                    real = torch.nonzero(batch.mask[e] > 0).flatten()
                    pick = real[torch.randperm(len(real), generator=generator)[: cfg.student_samples_per_episode]]
                    histories.append(windows[e, pick])
                    targets.append(z[e, pick])
        return torch.cat(histories), torch.cat(targets)

    def _fit_adapter(self, histories: Tensor, targets: Tensor, generator: torch.Generator) -> float:
        """``adapter_epochs`` passes of minibatch MSE between ``phi(history)`` and the teacher's ``z``."""
        module = self.online_policy_module()
        losses = []
        for _ in range(self.config.adapter_epochs):
            order = torch.randperm(len(histories), generator=generator).to(histories.device)
            for chunk in torch.split(order, 512):
                estimate = self.adapter(module.normalise_history(histories[chunk]))
                loss = F.mse_loss(estimate, targets[chunk])
                self.adapter_optimizer.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]
                self.adapter_optimizer.step()
                losses.append(loss.item())
        return float(np.mean(losses))

    def online_policy_module(self) -> OnlinePolicy:
        """The test-time module on the learner's device, for its history normalisation while fitting (the
        fit itself trains ``self.adapter``, not the copy this module holds)."""
        return self.online_policy().to(self.device)

    def online_policy(self) -> OnlinePolicy:
        """The test-time policy: the teacher's base, the adaptation module, the robot's observation statistics."""
        norm = self.policy.obs_normalizer
        return OnlinePolicy(
            base=self.teacher_net.base,
            adapter=self.adapter,
            obs_mean=norm.mean[: self.obs_dim],
            obs_var=norm.var[: self.obs_dim],
            clip=norm.clip,
            log_std=self.policy.log_std,
            history_len=self.config.history_len,
        )

    def new_agent(self) -> RMAAgent:
        """An online agent on private copies of the current networks, able to say the teacher's ``z`` of a task."""
        return self.new_agent_with(ADAPTATION.name, ADAPTATION.default)

    def new_agent_with(self, option: str, value: str) -> RMAAgent:
        """:meth:`new_agent`'s agent, adapting within the episode or not as ``value`` says (:data:`ADAPTATION`)."""
        ADAPTATION.check(option, value)
        return RMAAgent(self.online_policy(), reference=self.teacher_latent(), adapting=value == "on")

    def teacher_latent(self) -> Callable[[TaskParams], NDArray[np.float32]]:
        """``task -> mu(e)``: what the adaptation module should estimate for a task (CPU copies, for plots)."""
        encoder = copy.deepcopy(self.teacher_net.encoder).to("cpu").eval().requires_grad_(False)
        norm = copy.deepcopy(self.policy.obs_normalizer).to("cpu")
        family, obs_dim = self.family, self.obs_dim

        def latent(task: TaskParams) -> NDArray[np.float32]:
            features = torch.as_tensor(family.task_features(task), dtype=torch.float32)
            padded = torch.cat([torch.zeros(obs_dim), features])[None]  # the normaliser spans [obs | features]
            with torch.no_grad():
                z: NDArray[np.float32] = encoder(norm(padded)[:, obs_dim:])[0].numpy()
            return z

        return latent

    def state_dict(self) -> dict[str, Any]:
        """Weights, optimisers and iteration."""
        return {
            "policy": self.policy.state_dict(),
            "value": self.value.state_dict(),
            "adapter": self.adapter.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "adapter_optimizer": self.adapter_optimizer.state_dict(),
            "iteration": self.iteration,
            "task_sampler": self.task_sampler.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved."""
        self.policy.load_state_dict(state["policy"])
        self.value.load_state_dict(state["value"])
        self.adapter.load_state_dict(state["adapter"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.adapter_optimizer.load_state_dict(state["adapter_optimizer"])
        self.iteration = int(state["iteration"])
        if "task_sampler" in state:  # checkpoints from before the choice hold none (they drew uniformly)
            self.task_sampler.load_state_dict(state["task_sampler"])


def _stats(
    iteration: int, episodes: list[EpisodeBatch], *, loss: float, seconds: dict[str, float], extra: dict[str, float]
) -> IterationStats:
    return IterationStats(
        iteration=iteration,
        pre_return=float(np.mean([float(e.episode_returns.mean()) for e in episodes])),
        post_return=None,
        loss=loss,
        env_steps=sum(e.env_steps for e in episodes),
        seconds=seconds,
        extra=extra,
    )
