"""PEARL at test time: act under a sampled task latent ``z``, infer the posterior from context.

This is the acting side that :func:`agents.core.adaptation.adapt` drives (and that sampler workers call
through :class:`PEARLSnapshot`); :mod:`agents.pearl.learner` is the training side.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from agents.core.adaptation import EpisodeRecord, StepFeedback, UpdateInfo
from agents.core.learner import ActingOption
from agents.pearl.encoder import ContextEncoder, Posterior, RunningPosterior
from agents.pearl.sac import PEARLExportPolicy, TanhGaussianPolicy
from sim.sampler import StatelessPolicy


class PEARLSnapshot(StatelessPolicy):
    """A frozen CPU copy of the policy with one fixed ``z`` per env column; sampler workers call it.

    Noise comes from the worker's seeded numpy generator, not torch's global one, so episodes are
    reproducible; torch runs on one thread in a worker (the other core simulates).
    """

    def __init__(
        self, policy: TanhGaussianPolicy, latents: NDArray[np.float32], *, deterministic: bool = False
    ) -> None:
        """``latents`` is ``[k, latent_dim]``: row ``i`` conditions the action of obs row ``i``."""
        self.module = copy.deepcopy(policy).to("cpu").eval().requires_grad_(False)
        self.latents = torch.as_tensor(np.asarray(latents, dtype=np.float32))
        self.deterministic = deterministic

    def __call__(self, obs: NDArray[np.float32], rng: np.random.Generator) -> NDArray[np.float32]:
        """Actions ``[k, action_dim]`` in ``[-1, 1]`` for observations ``[k, obs_dim]``."""
        with torch.no_grad():
            mean_t, log_std_t = self.module(torch.as_tensor(obs, dtype=torch.float32), self.latents)
        mean, std = mean_t.numpy(), log_std_t.exp().numpy()
        pre_squash = mean if self.deterministic else mean + std * rng.standard_normal(mean.shape)
        actions: NDArray[np.float32] = np.tanh(pre_squash).astype(np.float32)
        return actions

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        torch.set_num_threads(1)


def records_to_context(episodes: Sequence[EpisodeRecord], device: torch.device) -> Tensor:
    """Every transition ``(s, a, r, s')`` of ``episodes`` as context rows ``[n, context_dim]``."""
    parts = [np.concatenate([e.obs, e.actions, e.rewards[:, None], e.next_obs], axis=1) for e in episodes]
    return torch.as_tensor(np.concatenate(parts).astype(np.float32), device=device)


POSTERIOR = ActingOption(
    name="posterior", values=("episode", "step"), offered_as="update their task posterior within the episode"
)
"""when a PEARL agent updates its posterior at adaptation time: between episodes (the paper's
default), or after every transition within the episode as well (the paper's online option)"""


class PEARLAgent:
    """PEARL at test time: act under a sampled ``z``; infer the posterior from context (no gradients).

    With ``posterior_updates="episode"`` the posterior is inferred between episodes only, from every
    transition of the episodes so far, and one ``z`` is sampled from it for the episodes that follow.
    With ``"step"`` it is also updated after every transition of the running episode (on top of the
    earlier episodes), so the agent can notice a payload or a slippery floor in the middle of a
    stride. Its ``z`` is ``mean + std * noise`` with one noise vector per episode: the sample follows
    the posterior as it narrows instead of jumping to a new draw at every step.

    All randomness (each ``z`` and the action noise) comes from the ``rng`` passed to :meth:`act`.
    Works on CPU copies: one-observation inference is faster there, and the copies can live in
    another thread.
    """

    def __init__(
        self, *, policy: TanhGaussianPolicy, encoder: ContextEncoder, posterior_updates: str = "episode"
    ) -> None:
        """Copy both networks to CPU, frozen."""
        if posterior_updates not in POSTERIOR.values:
            raise ValueError(
                f"posterior updates {posterior_updates!r} are not allowed: one of {', '.join(POSTERIOR.values)}"
            )
        self.policy = copy.deepcopy(policy).to("cpu").eval().requires_grad_(False)
        self.encoder = copy.deepcopy(encoder).to("cpu").eval().requires_grad_(False)
        self.per_step = posterior_updates == "step"
        self._episodes_context = RunningPosterior.empty(encoder.latent_dim)
        """the episodes :meth:`learn` was given"""
        self._context = self._episodes_context
        """those and, with per-step updates, the running episode's transitions so far"""
        self.posterior: Posterior = self._context.posterior()
        self._noise: Tensor | None = None
        self._actor: PEARLSnapshot | None = None

    @property
    def context_transitions(self) -> int:
        """How many transitions the current posterior was inferred from."""
        return self._context.transitions

    def start_episode(self) -> None:
        """Per-step updates start each episode from the earlier episodes' posterior and a new noise draw."""
        if self.per_step:
            self._context = self._episodes_context
            self.posterior = self._context.posterior()
            self._noise, self._actor = None, None

    def act(self, obs: NDArray[np.float32], rng: np.random.Generator) -> NDArray[np.float32]:
        """A sampled action for one observation under the current ``z``."""
        if self._actor is None:
            self._noise = torch.as_tensor(rng.standard_normal(self.posterior.mean.shape).astype(np.float32))
            self._actor = PEARLSnapshot(self.policy, self.posterior.reparameterise(self._noise).numpy())
        action: NDArray[np.float32] = self._actor(np.asarray(obs, np.float32)[None], rng)[0]
        return action

    def observe(self, feedback: StepFeedback) -> None:
        """With per-step updates: multiply this transition into the posterior and move ``z`` with it."""
        if not self.per_step or self._actor is None or self._noise is None:
            return
        row = np.concatenate([feedback.obs, feedback.action, [feedback.reward], feedback.next_obs])
        with torch.no_grad():
            self._context = self._context.add(self.encoder, torch.as_tensor(row[None].astype(np.float32)))
            self.posterior = self._context.posterior()
            self._actor.latents = self.posterior.reparameterise(self._noise)

    def learn(self, episodes: list[EpisodeRecord]) -> UpdateInfo:
        """The posterior given every transition of ``episodes``; the next action samples ``z`` from it."""
        context = records_to_context(episodes, torch.device("cpu"))
        with torch.no_grad():
            self._episodes_context = RunningPosterior.empty(self.encoder.latent_dim).add(self.encoder, context)
        self._context = self._episodes_context
        self.posterior = self._context.posterior()
        self._actor = None
        return UpdateInfo(loss=0.0, kl=float(self.posterior.kl_to_prior()[0]), step_size=0.0)

    def mean_action(self, obs: NDArray[np.float32]) -> NDArray[np.float32]:
        """Mean actions ``[N, action_dim]`` with ``z`` at the posterior mean (what the export does with zero noise)."""
        obs = np.asarray(obs, np.float32).reshape(-1, self.policy.obs_dim)
        latents = np.repeat(self.posterior.mean.numpy(), len(obs), axis=0)
        return PEARLSnapshot(self.policy, latents, deterministic=True)(obs, np.random.default_rng(0))

    def adapted_policy(self) -> PEARLExportPolicy:
        """The exportable policy with ``z`` fixed at the posterior mean (the prior mean 0 before learning)."""
        return PEARLExportPolicy(
            policy=self.policy, z=self.posterior.mean[0], context_transitions=self.context_transitions
        )

    def export_metadata(self) -> dict[str, Any]:
        """What the export sidecar records about the task inference."""
        return {
            "latent_mean": self.posterior.mean[0].tolist(),
            "latent_var": self.posterior.var[0].tolist(),
            "context_transitions": self.context_transitions,
        }
