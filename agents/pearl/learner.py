"""PEARL (Rakelly et al. 2019): off-policy meta-RL with a probabilistic task latent ``z`` and SAC.

One iteration, as in the paper's ``PEARLSoftActorCritic``:

1. (first iteration, or whenever the buffers are empty) every training task runs
   ``initial_episodes`` episodes with ``z`` from the prior;
2. ``tasks_per_iteration`` training tasks are drawn (uniformly, or where their return after adapting
   still changes: ``task_sampler``) and collect in rounds, all tasks side by side in each round:
   ``prior_episodes`` with ``z`` from the prior; ``posterior_episodes`` rounds of one episode each,
   ``z`` sampled from the posterior given everything the task collected so far this iteration;
   ``extra_rl_episodes`` more with posterior ``z`` whose transitions go to the replay buffer only;
3. meanwhile, ``gradient_steps`` SAC steps, each on a fresh meta-batch of tasks: the critic's loss plus
   ``kl_lambda * KL(posterior || prior)`` trains the encoder (z carries the critic's gradient); the
   policy and the temperature see ``z`` detached;
4. the round's episodes join the buffers (each collecting task's *context* buffer then holds this
   iteration's prior and posterior episodes only).

Collection and updates overlap (the sampler's workers simulate while this process computes
gradients): the collection acts with copies of the policy and encoder taken as the iteration
begins, and the updates learn from the buffers as they stood then. SAC is off-policy, so learning
from transitions one iteration old is sound; the paper's collect-then-update order differs only in
that lag.

Simplifications, stated: twin Q functions with target copies (SAC v2) instead of the paper's V
network; the context buffer keeps only the latest iteration's prior and posterior episodes of a
task (the paper's encoder buffer, cleared the same way), sampled uniformly; no policy mean/std
regulariser.

Determinism: every random draw of an iteration (tasks, env seeds, latent samples, minibatches,
policy noise) derives from ``(seed, iteration)``, the collection and the updates each with their
own generator, and the task sampler's state is in the checkpoint, so a
resumed run with its replay buffers repeats an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import itertools
import math
import time
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor
from torch.nn import functional as F

from agents.core.learner import IterationStats
from agents.core.seeding import seeded_torch
from agents.core.task_sampler import make_index_sampler
from agents.core.timing import PhaseTimer
from agents.pearl.agent import POSTERIOR, PEARLAgent, PEARLSnapshot
from agents.pearl.config import PEARLConfig
from agents.pearl.encoder import ContextEncoder, unit_prior
from agents.pearl.episodes import Collection, Episode, FrozenActors, remember, task_scores
from agents.pearl.replay import TaskReplay, TransitionLayout, trajectory_rows
from agents.pearl.sac import TanhGaussianPolicy, TwinQ, squashed_sample
from sim.params import TaskParams
from sim.sampler import EpisodeJob, VectorSampler
from sim.tasks import TaskDistribution


class PEARLLearner:
    """Meta-trains a context encoder and a latent-conditioned SAC agent over a family's training tasks."""

    def __init__(
        self,
        *,
        obs_dim: int,
        action_dim: int,
        family: TaskDistribution,
        config: PEARLConfig,
        seed: int,
        device: torch.device,
    ) -> None:
        """Draw the training tasks and build the networks (seeded by ``seed``, torch's global RNG untouched)."""
        self.config, self.seed, self.family = config, seed, family
        self.layout = TransitionLayout(obs_dim, action_dim)
        self.train_tasks = family.sample_tasks(config.num_train_tasks, np.random.default_rng(seed))
        sizes = {"obs_dim": obs_dim, "latent_dim": config.latent_dim, "action_dim": action_dim}
        with seeded_torch(seed):
            self.encoder = ContextEncoder(
                context_dim=self.layout.context_dim,
                latent_dim=config.latent_dim,
                hidden_sizes=config.encoder_hidden_sizes,
            ).to(device)
            self.policy = TanhGaussianPolicy(**sizes, hidden_sizes=config.hidden_sizes).to(device)
            self.critic = TwinQ(**sizes, hidden_sizes=config.hidden_sizes).to(device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = torch.tensor(math.log(config.init_alpha), device=device, requires_grad=True)
        self.target_entropy = -float(action_dim)
        critic_params = [*self.critic.parameters(), *self.encoder.parameters()]
        self.critic_optimizer = torch.optim.Adam(critic_params, lr=config.lr)
        self.policy_optimizer = torch.optim.Adam(self.policy.parameters(), lr=config.lr)
        self.alpha_optimizer = torch.optim.Adam([self.log_alpha], lr=config.lr)
        self.replay, self.context = self._empty_buffer(device), self._empty_buffer(device)
        self.task_sampler = make_index_sampler(config.task_sampler, family, self.train_tasks, seed=seed)
        self._task_results: list[tuple[TaskParams, float]] = []
        self.iteration = 0
        self.resume_note: str | None = None
        self.sampler_idle: float | None = None
        """share of the last iteration's wall-clock the sampler's workers idled (a timing, so not in its stats:
        same-seed iterations must compare equal)"""

    def _empty_buffer(self, device: torch.device) -> TaskReplay:
        cfg = self.config
        return TaskReplay(
            num_tasks=cfg.num_train_tasks, width=self.layout.width, capacity=cfg.replay_capacity, device=device
        )

    @property
    def device(self) -> torch.device:
        """Where the networks and buffers live (inferred from the parameters)."""
        return next(self.policy.parameters()).device

    def train_iteration(self, sampler: VectorSampler) -> IterationStats:
        """Collect on a few training tasks while ``gradient_steps`` SAC steps run; deterministic in (seed, iteration).

        The collection runs on the sampler's workers (:meth:`VectorSampler.submit`) with a frozen
        copy of the policy and the encoder taken before the updates, while the gradient steps draw
        from what the buffers held when the iteration began; the episodes join the buffers once
        both are done. This is sound because SAC is off-policy: it learns from any transitions,
        and these lag the learner by one iteration (the paper's buffers hold far older ones). It is
        deterministic because the collection owns its generator, frozen networks and episode seeds,
        and the updates see none of its episodes, however the two interleave; and everything is
        stored before the iteration ends, so its checkpoint holds it all and a resume is exact.
        """
        cfg, rng = self.config, np.random.default_rng([self.seed, self.iteration])
        collect_gen = torch.Generator(device=self.device)
        collect_gen.manual_seed(int(rng.integers(2**62)))
        seeds = itertools.count(int(rng.integers(2**31)))
        update_gen = torch.Generator(device=self.device)
        update_gen.manual_seed(int(np.random.default_rng([self.seed, self.iteration, 1]).integers(2**62)))
        timed, start, busy = PhaseTimer(), time.perf_counter(), sampler.busy_seconds
        env_steps = 0
        if len(self.replay) == 0:  # nothing to learn from yet: the first episodes come before any update
            with timed("sampling"):
                env_steps = self._initial_collection(sampler, seeds, collect_gen)
        tasks = self.task_sampler.sample(cfg.tasks_per_iteration, rng)
        frozen = FrozenActors(copy.deepcopy(self.policy), copy.deepcopy(self.encoder))
        with timed("update"):
            work = sampler.submit(
                functools.partial(self._collect, tasks=tasks, seeds=seeds, gen=collect_gen, frozen=frozen)
            )
            try:
                losses = self._update(update_gen)
            except BaseException:
                with contextlib.suppress(Exception):  # leave no collection running on the sampler
                    work.result()
                raise
        with timed("sampling"):  # what of the collection the updates did not cover
            collected = work.result()
        self._store_collection(tasks, collected)
        prior, posterior = collected.prior, collected.posterior + collected.extra
        scores = task_scores(tasks, prior, posterior)
        self._task_results = [(self.train_tasks[t], score) for t, score in zip(tasks, scores, strict=True)]
        self.task_sampler.update(tasks, scores)
        span = sampler.num_workers * (time.perf_counter() - start)
        self.sampler_idle = 1.0 - (sampler.busy_seconds - busy) / span
        stats = IterationStats(
            iteration=self.iteration,
            pre_return=float(np.mean([e.episode_return for e in prior])),
            post_return=float(np.mean([e.episode_return for e in posterior])) if posterior else None,
            loss=losses["q_loss"],
            env_steps=env_steps + sum(len(e.rows) for e in prior + posterior),
            seconds={phase: timed.seconds.get(phase, 0.0) for phase in ("sampling", "update")},  # one column order
            extra={**losses, "gradient_updates": float(cfg.gradient_steps)},
        )
        self.iteration += 1
        return stats

    def task_results(self) -> list[tuple[TaskParams, float]]:
        """Each task that collected in the last iteration and its mean return after adapting (posterior z)."""
        return list(self._task_results)

    # ----------------------------------------------------------------- collection
    def _initial_collection(self, sampler: VectorSampler, seeds: itertools.count[int], gen: torch.Generator) -> int:
        """Prior-z episodes on every training task, so the first meta-batches can draw from all of them."""
        tasks = [t for t in range(self.config.num_train_tasks) for _ in range(self.config.initial_episodes)]
        episodes = self._run_round(sampler, self.policy, tasks, self._prior_latents(len(tasks), gen), seeds)
        self._store(episodes, context=True)
        return sum(len(e.rows) for e in episodes)

    def _collect(
        self,
        sampler: VectorSampler,
        *,
        tasks: list[int],
        seeds: itertools.count[int],
        gen: torch.Generator,
        frozen: FrozenActors,
    ) -> Collection:
        """This iteration's rounds on ``tasks`` under ``frozen``: prior episodes, posterior rounds, extra RL episodes.

        Runs beside the updates, so it reads no buffer: a task's context is its episodes of this
        iteration (the context buffer is cleared for it when they are stored).
        """
        cfg = self.config
        context: dict[int, list[Tensor]] = {task: [] for task in tasks}
        prior_tasks = [t for t in tasks for _ in range(cfg.prior_episodes)]
        prior = self._run_round(sampler, frozen.policy, prior_tasks, self._prior_latents(len(prior_tasks), gen), seeds)
        remember(context, prior)
        posterior: list[Episode] = []
        for _ in range(cfg.posterior_episodes):
            latents = frozen.posterior_latents(tasks, context, self.layout.context_dim, gen)
            episodes = self._run_round(sampler, frozen.policy, tasks, latents, seeds)
            remember(context, episodes)
            posterior += episodes
        extra_tasks = [t for t in tasks for _ in range(cfg.extra_rl_episodes)]
        extra: list[Episode] = []
        if extra_tasks:
            latents = frozen.posterior_latents(extra_tasks, context, self.layout.context_dim, gen)
            extra = self._run_round(sampler, frozen.policy, extra_tasks, latents, seeds)
        return Collection(prior, posterior, extra)

    def _prior_latents(self, count: int, gen: torch.Generator) -> Tensor:
        return unit_prior(count, self.config.latent_dim, device=self.device).rsample(gen)

    def _run_round(
        self,
        sampler: VectorSampler,
        policy: TanhGaussianPolicy,
        tasks: list[int],
        latents: Tensor,
        seeds: itertools.count[int],
    ) -> list[Episode]:
        """One episode per entry of ``tasks`` under ``policy`` and the matching row of ``latents``, packed into jobs."""
        latents_np: NDArray[np.float32] = latents.detach().cpu().numpy()
        per_job = sampler.envs_per_worker
        jobs = [
            EpisodeJob(
                PEARLSnapshot(policy, latents_np[start : start + per_job]),
                tuple(self.train_tasks[t] for t in tasks[start : start + per_job]),
                tuple(next(seeds) for _ in tasks[start : start + per_job]),
            )
            for start in range(0, len(tasks), per_job)
        ]
        columns = [c for t in sampler.run_episodes(jobs, self.config.horizon) for c in trajectory_rows(t, self.device)]
        return [Episode(task, rows, ret) for task, (rows, ret) in zip(tasks, columns, strict=True)]

    def _store_collection(self, tasks: list[int], collected: Collection) -> None:
        """The iteration's episodes into the buffers; a collecting task's context becomes this iteration's alone."""
        for task in tasks:
            self.context.clear(task)
        self._store(collected.prior, context=True)
        self._store(collected.posterior, context=True)
        self._store(collected.extra, context=False)

    def _store(self, episodes: list[Episode], *, context: bool) -> None:
        for episode in episodes:
            self.replay.add(episode.task, episode.rows)
            if context:
                self.context.add(episode.task, episode.rows)

    # ----------------------------------------------------------------- the update step
    def _update(self, gen: torch.Generator) -> dict[str, float]:
        """``gradient_steps`` SAC steps; returns their mean losses (one device sync at the end)."""
        ready = [t for t in range(self.config.num_train_tasks) if self.replay.size(t) and self.context.size(t)]
        available = torch.tensor(ready, dtype=torch.int64, device=self.device)
        totals: dict[str, Tensor] = {}
        for _ in range(self.config.gradient_steps):
            for name, value in self._gradient_step(available, gen).items():
                totals[name] = totals.get(name, torch.zeros((), device=self.device)) + value
        return {name: float(total) / self.config.gradient_steps for name, total in totals.items()}

    def _meta_batch(self, available: Tensor, gen: torch.Generator) -> Tensor:
        size = self.config.meta_batch_size
        if len(available) >= size:
            return available[torch.randperm(len(available), generator=gen, device=self.device)[:size]]
        return available[torch.randint(len(available), (size,), generator=gen, device=self.device)]

    def _gradient_step(self, available: Tensor, gen: torch.Generator) -> dict[str, Tensor]:
        """One SAC step on a meta-batch of tasks, all tasks in one batch.

        45 lines, kept whole on purpose: one update step read top to bottom (CleanRL's shape).
        """
        cfg = self.config
        tasks = self._meta_batch(available, gen)
        batch = self.replay.sample(tasks, cfg.batch_size, gen)  # [M, B, width]
        context = self.context.sample(tasks, cfg.embedding_batch_size, gen)[..., : self.layout.context_dim]
        obs, actions, rewards, next_obs, terminated = (p.flatten(0, 1) for p in self.layout.split(batch))

        # TASK INFERENCE: one posterior per task; z carries the critic's gradient into the encoder
        posterior = self.encoder(context)
        kl = posterior.kl_to_prior()  # [M]
        z = posterior.rsample(gen).repeat_interleave(cfg.batch_size, dim=0)  # [M * B, latent_dim]
        alpha = self.log_alpha.detach().exp()

        # CRITIC AND ENCODER: soft Bellman target from the target critics, min of two
        with torch.no_grad():
            next_action, next_log_prob = self._sample_action(next_obs, z, gen)
            next_q = torch.min(*self.critic_target(next_obs, next_action, z)) - alpha * next_log_prob
            target = cfg.reward_scale * rewards + cfg.gamma * (1.0 - terminated) * next_q
        q1, q2 = self.critic(obs, actions, z)
        q_loss = F.mse_loss(q1, target) + F.mse_loss(q2, target)
        self.critic_optimizer.zero_grad()
        (q_loss + cfg.kl_lambda * kl.sum()).backward()
        self.critic_optimizer.step()

        # POLICY: z detached, as in the paper (the encoder learns from the critic only)
        z = z.detach()
        action, log_prob = self._sample_action(obs, z, gen)
        policy_loss = (alpha * log_prob - torch.min(*self.critic(obs, action, z))).mean()
        self.policy_optimizer.zero_grad()
        policy_loss.backward()
        self.policy_optimizer.step()

        # TEMPERATURE: towards entropy -action_dim
        alpha_loss = -(self.log_alpha * (log_prob.detach() + self.target_entropy)).mean()
        self.alpha_optimizer.zero_grad()
        alpha_loss.backward()  # type: ignore[no-untyped-call]
        self.alpha_optimizer.step()

        # TARGETS: Polyak averaging
        with torch.no_grad():
            for target_param, param in zip(self.critic_target.parameters(), self.critic.parameters(), strict=True):
                target_param.lerp_(param, cfg.tau)
        detached = {"q_loss": q_loss, "policy_loss": policy_loss, "kl": kl.mean(), "alpha": alpha}
        return {name: value.detach() for name, value in detached.items()}

    def _sample_action(self, obs: Tensor, z: Tensor, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        mean, log_std = self.policy(obs, z)
        noise = torch.randn(mean.shape, generator=gen, device=mean.device)
        return squashed_sample(mean, log_std, noise)

    # ----------------------------------------------------------------- checkpoint state and agents
    def state_dict(self) -> dict[str, Any]:
        """Networks, optimisers, temperature, iteration, task sampler and (if ``checkpoint_replay``) the buffers."""
        modules = ("encoder", "policy", "critic", "critic_target", "critic_optimizer", "policy_optimizer")
        state: dict[str, Any] = {name: getattr(self, name).state_dict() for name in (*modules, "alpha_optimizer")}
        keep = self.config.checkpoint_replay
        state.update(
            iteration=self.iteration,
            log_alpha=self.log_alpha.detach().cpu().clone(),
            task_sampler=self.task_sampler.state_dict(),
            replay=self.replay.state_dict() if keep else None,
            context=self.context.state_dict() if keep else None,
        )
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved; sets :attr:`resume_note` when the buffers were left out."""
        modules = ("encoder", "policy", "critic", "critic_target", "critic_optimizer", "policy_optimizer")
        for name in (*modules, "alpha_optimizer"):
            getattr(self, name).load_state_dict(state[name])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        self.iteration = int(state["iteration"])
        if "task_sampler" in state:  # checkpoints from before the choice hold none (they drew uniformly)
            self.task_sampler.load_state_dict(state["task_sampler"])
        self.replay, self.context = self._empty_buffer(self.device), self._empty_buffer(self.device)
        if state["replay"] is None or state["context"] is None:
            self.resume_note = (
                "The replay buffers were not in the checkpoint (checkpoint_replay = False): they start empty and "
                f"are refilled with {self.config.initial_episodes} prior episodes per training task."
            )
            return
        self.replay.load_state_dict(state["replay"])
        self.context.load_state_dict(state["context"])
        self.resume_note = None

    def new_agent(self) -> PEARLAgent:
        """An adapting agent on private CPU copies of the policy and the encoder (posterior between episodes)."""
        return self.new_agent_with(POSTERIOR.name, POSTERIOR.default)

    def new_agent_with(self, option: str, value: str) -> PEARLAgent:
        """:meth:`new_agent`'s agent, its posterior updated as ``value`` says (:data:`POSTERIOR`: ``--posterior``)."""
        POSTERIOR.check(option, value)
        return PEARLAgent(policy=self.policy, encoder=self.encoder, posterior_updates=value)
