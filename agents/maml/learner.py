"""MAML's outer loop: sample tasks, adapt on pre-update episodes, improve post-update returns.

One iteration, as in the MAML paper with ProMP's clipped outer objective:

1. draw ``meta_batch_size`` tasks from the family (uniformly, or where the post-adaptation return
   still changes: ``task_sampler``, :mod:`agents.core.task_sampler`);
2. per task, collect ``episodes_per_task`` episodes with the meta-parameters (pre-update), fit the
   linear feature baseline, and take ``inner_steps`` policy-gradient steps on fast weights;
3. collect as many episodes with the fast weights (post-update);
4. ``outer_epochs`` times: recompute every task's fast weights from the meta-parameters (so the
   meta-gradient flows through the inner step, unless ``first_order``) and minimise the clipped
   surrogate of the post-update episodes, averaged over tasks.

Simplification, stated: with ``inner_steps > 1`` every inner step reuses the pre-update episodes
(the paper samples afresh after each step).

Determinism: every random draw of an iteration (tasks, env seeds, policy noise) derives from
``(seed, iteration)``, and the task sampler's state is in the checkpoint, so a resumed run repeats
an uninterrupted one.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import Tensor

from agents.core.config_checks import discount, freeze_sequences, non_negative, positive, require, unit_interval
from agents.core.learner import IterationStats
from agents.core.policies import GaussianMLPPolicy
from agents.core.rollout import EpisodeBatch, collect_tasks
from agents.core.seeding import seeded_torch
from agents.core.task_sampler import TASK_SAMPLERS, make_task_sampler
from agents.core.timing import PhaseTimer
from agents.maml.agent import MAMLAgent
from agents.maml.inner import Batch, MetaSGDLearningRates, advantages, inner_adapt, pg_loss
from sim.params import TaskParams
from sim.sampler import VectorSampler
from sim.tasks import TaskDistribution


@dataclass(frozen=True, kw_only=True)
class MAMLConfig:
    """MAML settings; the defaults follow the MAML paper's locomotion experiments."""

    meta_batch_size: int = 20
    """tasks per meta-iteration"""
    episodes_per_task: int = 20
    """episodes collected after adaptation per task (the outer loss), and before it unless support_episodes says"""
    support_episodes: int = 0
    """episodes the inner step learns from, per task (0: episodes_per_task). Set it to the shots the
    agent will get at test time (1 for one-shot adaptation): an initialisation meta-trained on 20-episode
    gradients meets a far noisier one-episode gradient when it adapts"""
    horizon: int = 200
    """steps per episode"""
    inner_steps: int = 1
    """policy-gradient steps of adaptation"""
    inner_lr: float = 0.1
    """step size of the inner loop (initial value when learned)"""
    learn_inner_lr: bool = False
    """learn one inner step size per weight (Meta-SGD)"""
    first_order: bool = False
    """drop the second-order term of the meta-gradient (FOMAML)"""
    outer_lr: float = 1e-3
    """Adam step size of the meta-update"""
    outer_epochs: int = 5
    """passes of the clipped outer objective over one meta-batch"""
    clip: float = 0.2
    """likelihood-ratio clip of the outer objective (ProMP)"""
    gamma: float = 0.99
    gae_lambda: float = 1.0
    hidden_sizes: tuple[int, ...] = (64, 64)
    init_log_std: float = 0.0
    task_sampler: str = "uniform"
    """how each iteration's tasks are drawn: uniform over the family, or progress (where the post-adaptation
    return still changes, ALP-GMM style, with a 20 % uniform share; agents/core/task_sampler.py)"""

    def __post_init__(self) -> None:
        freeze_sequences(self, "hidden_sizes")
        sizes = ("meta_batch_size", "episodes_per_task", "horizon", "inner_lr", "outer_lr", "outer_epochs")
        require(self, sizes, positive, "must be > 0")
        require(self, ("support_episodes", "inner_steps"), non_negative, "must be >= 0")
        require(self, ("gamma",), discount, "must be in (0, 1]")
        require(self, ("gae_lambda",), unit_interval, "must be in [0, 1]")
        require(self, ("task_sampler",), lambda name: name in TASK_SAMPLERS, "one of " + ", ".join(TASK_SAMPLERS))

    @classmethod
    def quick(cls) -> MAMLConfig:
        """Small enough to show learning within minutes on 2 CPU cores."""
        return cls(meta_batch_size=8, episodes_per_task=8, horizon=100, outer_epochs=5)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (for run directories and export sidecars)."""
        return asdict(self)


@dataclass(frozen=True)
class _TaskData:
    pre: Batch
    post: Batch
    pre_return: float
    post_return: float
    env_steps: int


class MAMLLearner:
    """Trains a :class:`GaussianMLPPolicy` initialisation that one or two PG steps adapt to a task."""

    def __init__(self, *, policy: GaussianMLPPolicy, family: TaskDistribution, config: MAMLConfig, seed: int) -> None:
        self.policy, self.family, self.config, self.seed = policy, family, config, seed
        params = dict(policy.named_parameters())
        self.inner_lrs = MetaSGDLearningRates(params, init_lr=config.inner_lr) if config.learn_inner_lr else None
        meta_params = list(policy.parameters()) + (list(self.inner_lrs.parameters()) if self.inner_lrs else [])
        self.optimizer = torch.optim.Adam(meta_params, lr=config.outer_lr)
        self.task_sampler = make_task_sampler(config.task_sampler, family, seed=seed)
        self._task_results: list[tuple[TaskParams, float]] = []
        self.iteration = 0
        self.resume_note: str | None = None  # its checkpoints hold everything a resumed run needs

    # ----------------------------------------------------------------- the update step
    def train_iteration(self, sampler: VectorSampler) -> IterationStats:
        """One meta-iteration; ``sampler`` runs envs of this family's robot (any number of them)."""
        cfg, rng = self.config, np.random.default_rng([self.seed, self.iteration])
        tasks = self.task_sampler.sample(cfg.meta_batch_size, rng)
        pre_seed, post_seed = (int(s) for s in rng.integers(2**31, size=2))
        collect = partial(collect_tasks, sampler, self.policy, tasks, horizon=cfg.horizon)
        timed = PhaseTimer()
        with timed("sampling"):
            pre = collect(seed=pre_seed, episodes_per_task=cfg.support_episodes or cfg.episodes_per_task)
        with timed("inner"):
            pre_batches = [self._batch(episodes) for episodes in pre]
            fast = [{k: v.detach() for k, v in self.adapt(batch).items()} for batch in pre_batches]
        with timed("sampling"):
            post = collect(seed=post_seed, params=fast, episodes_per_task=cfg.episodes_per_task)
        data = [self._task_data(*parts) for parts in zip(pre, pre_batches, post, fast, strict=True)]
        with timed("outer"):
            outer_loss = self._outer_update(data)
        self.policy.update_obs_stats(torch.cat([d.pre.obs[d.pre.mask.bool()] for d in data]))
        # a task's score is its post-adaptation return: what meta-training improves
        self._task_results = [(task, d.post_return) for task, d in zip(tasks, data, strict=True)]
        self.task_sampler.update(tasks, [d.post_return for d in data])
        stats = IterationStats(
            iteration=self.iteration,
            pre_return=float(np.mean([d.pre_return for d in data])),
            post_return=float(np.mean([d.post_return for d in data])),
            loss=outer_loss,
            env_steps=sum(d.env_steps for d in data),
            seconds=timed.seconds,
        )
        self.iteration += 1
        return stats

    def task_results(self) -> list[tuple[TaskParams, float]]:
        """Each task of the last iteration and its mean return after adapting (the performance model's feed)."""
        return list(self._task_results)

    def adapt(self, batch: Batch, *, create_graph: bool = False) -> dict[str, Tensor]:
        """Fast weights after the inner loop on ``batch`` (the adaptation the meta-training prepares)."""
        lr: float | dict[str, Tensor] = self.inner_lrs() if self.inner_lrs else self.config.inner_lr
        loss_fn = partial(pg_loss, batch=batch)
        params = dict(self.policy.named_parameters())
        first_order = self.config.first_order or not create_graph
        return inner_adapt(self.policy, params, loss_fn, lr=lr, steps=self.config.inner_steps, first_order=first_order)

    def _task_data(self, pre: EpisodeBatch, pre_batch: Batch, post: EpisodeBatch, fast: dict[str, Tensor]) -> _TaskData:
        post_batch = self._batch(post)
        with torch.no_grad():
            old = self.policy.distribution(post.obs, fast).log_prob(post.actions).sum(-1)  # type: ignore[no-untyped-call]
        post_batch = Batch(post_batch.obs, post_batch.actions, post_batch.advantages, post_batch.mask, old)
        return _TaskData(
            pre_batch,
            post_batch,
            float(pre.episode_returns.mean()),
            float(post.episode_returns.mean()),
            pre.env_steps + post.env_steps,
        )

    def _batch(self, episodes: EpisodeBatch) -> Batch:
        adv = advantages(episodes, gamma=self.config.gamma, lam=self.config.gae_lambda)
        return Batch(episodes.obs, episodes.actions, adv, episodes.mask)

    def _outer_update(self, data: list[_TaskData]) -> float:
        cfg, loss_value = self.config, 0.0
        for _ in range(cfg.outer_epochs):
            losses = [self._clipped_post_loss(task) for task in data]
            loss = torch.stack(losses).mean()
            self.optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            self.optimizer.step()
            loss_value = float(loss.detach())
        return loss_value

    def _clipped_post_loss(self, task: _TaskData) -> Tensor:
        fast = self.adapt(task.pre, create_graph=True)
        post = task.post
        assert post.old_log_probs is not None
        log_prob = self.policy.distribution(post.obs, fast).log_prob(post.actions).sum(-1)  # type: ignore[no-untyped-call]
        ratio = (log_prob - post.old_log_probs).exp()
        clipped = ratio.clamp(1.0 - self.config.clip, 1.0 + self.config.clip)
        surrogate = torch.minimum(ratio * post.advantages, clipped * post.advantages)
        weights = post.mask.to(surrogate.dtype)
        return -(surrogate * weights).sum() / weights.sum().clamp_min(1.0)

    def new_agent(self) -> MAMLAgent:
        """An adapting agent on a private copy of the initialisation (and of the learned step sizes)."""
        lr: float | dict[str, Tensor] = (
            {k: v.detach().clone() for k, v in self.inner_lrs().items()} if self.inner_lrs else self.config.inner_lr
        )
        return MAMLAgent(
            copy.deepcopy(self.policy),
            inner_lr=lr,
            inner_steps=max(1, self.config.inner_steps),
            gamma=self.config.gamma,
            gae_lambda=self.config.gae_lambda,
        )

    # ----------------------------------------------------------------- checkpoint state
    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs: weights, optimiser, learned rates, iteration, task sampler."""
        return {
            "policy": self.policy.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "inner_lrs": self.inner_lrs.state_dict() if self.inner_lrs else None,
            "iteration": self.iteration,
            "task_sampler": self.task_sampler.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved."""
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.inner_lrs is not None and state["inner_lrs"] is not None:
            self.inner_lrs.load_state_dict(state["inner_lrs"])
        self.iteration = int(state["iteration"])
        if "task_sampler" in state:  # checkpoints from before the choice hold none (they drew uniformly)
            self.task_sampler.load_state_dict(state["task_sampler"])


def build_maml_learner(
    *, obs_dim: int, action_dim: int, family: TaskDistribution, config: MAMLConfig, seed: int, device: torch.device
) -> MAMLLearner:
    """A learner at seeded initial weights on ``device`` (the signature every algorithm's builder shares)."""
    with seeded_torch(seed):
        policy = GaussianMLPPolicy(
            obs_dim=obs_dim, action_dim=action_dim, hidden_sizes=config.hidden_sizes, init_log_std=config.init_log_std
        )
    return MAMLLearner(policy=policy.to(device), family=family, config=config, seed=seed)
