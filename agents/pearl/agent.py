"""PEARL at test time: act under a sampled task latent ``z``, infer the posterior between episodes.

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

from agents.core.adaptation import BetweenEpisodesAgent, EpisodeRecord, UpdateInfo
from agents.pearl.encoder import ContextEncoder, Posterior, unit_prior
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


class PEARLAgent(BetweenEpisodesAgent):
    """PEARL at test time: act under a sampled ``z``; between episodes infer the posterior (no gradients).

    All randomness (each ``z`` and the action noise) comes from the ``rng`` passed to :meth:`act`: a
    new ``z`` is drawn at the first action after construction (from the prior) and after each
    :meth:`learn` (from the posterior). Works on CPU copies: one-observation inference is faster
    there, and the copies can live in another thread.
    """

    def __init__(self, *, policy: TanhGaussianPolicy, encoder: ContextEncoder) -> None:
        """Copy both networks to CPU, frozen."""
        self.policy = copy.deepcopy(policy).to("cpu").eval().requires_grad_(False)
        self.encoder = copy.deepcopy(encoder).to("cpu").eval().requires_grad_(False)
        self.posterior: Posterior = unit_prior(1, encoder.latent_dim)
        self.context_transitions = 0
        self._actor: PEARLSnapshot | None = None

    def act(self, obs: NDArray[np.float32], rng: np.random.Generator) -> NDArray[np.float32]:
        """A sampled action for one observation under the current ``z``."""
        if self._actor is None:
            noise = rng.standard_normal(self.posterior.mean.shape).astype(np.float32)
            z = self.posterior.reparameterise(torch.as_tensor(noise))
            self._actor = PEARLSnapshot(self.policy, z.numpy())
        action: NDArray[np.float32] = self._actor(np.asarray(obs, np.float32)[None], rng)[0]
        return action

    def learn(self, episodes: list[EpisodeRecord]) -> UpdateInfo:
        """The posterior given every transition of ``episodes``; the next action samples ``z`` from it."""
        context = records_to_context(episodes, torch.device("cpu"))
        with torch.no_grad():
            self.posterior = self.encoder(context[None])
        self.context_transitions = len(context)
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
