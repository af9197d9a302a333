"""MAML at test time: act under fast weights, take inner policy-gradient steps between episodes.

This is the acting side that :func:`agents.core.adaptation.adapt` drives; :mod:`agents.maml.learner` is
the training side. Adaptation always restarts from the meta-learned initialisation and uses every
episode of the task so far, which is what the inner loop was meta-trained to do.

Only the first episode is on-policy for the initialisation, though: later ones were collected by
adapted weights. Treating them as the initialisation's own made the 2nd and 3rd updates of the
bundled cheetah agent worse than the 1st (-58.7 after one update, -80 and -85 after two and
three). So the restarted step weighs each step of a later episode by the likelihood ratio of the
initialisation to the weights that acted, truncated at :data:`MAX_IMPORTANCE_WEIGHT` (the
off-policy policy gradient; truncation bounds its variance as in V-trace). The first episode's
weights are exactly 1, so a one-shot update is unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from agents.core.adaptation import BetweenEpisodesAgent, EpisodeRecord, UpdateInfo
from agents.core.policies import GaussianMLPPolicy
from agents.core.rollout import PolicySnapshot, records_to_batch, sample_action
from agents.maml.inner import Batch, advantages, inner_adapt, pg_loss

MAX_IMPORTANCE_WEIGHT = 1.0
"""truncation of the per-step likelihood ratio in the restarted inner step (V-trace's rho-bar)"""


class MAMLAgent(BetweenEpisodesAgent):
    """Adapts a copy of a meta-trained policy by ``inner_steps`` PG steps after each episode."""

    def __init__(
        self,
        policy: GaussianMLPPolicy,
        *,
        inner_lr: float | Mapping[str, Tensor],
        inner_steps: int = 1,
        gamma: float = 0.99,
        gae_lambda: float = 1.0,
    ) -> None:
        self.policy = policy
        self.inner_lr, self.inner_steps = inner_lr, inner_steps
        self.gamma, self.gae_lambda = gamma, gae_lambda
        self.fast: dict[str, Tensor] = {k: v.detach() for k, v in policy.named_parameters()}
        self.device = next(policy.parameters()).device
        self._acted_with: list[dict[str, Tensor]] = []
        """the fast weights that collected each episode seen by :meth:`learn` so far"""

    def act(self, obs: NDArray[np.float32], rng: np.random.Generator) -> NDArray[np.float32]:
        """A sampled action under the current fast weights; the noise comes from ``rng``."""
        return sample_action(self.policy, obs, rng, self.fast)

    def learn(self, episodes: list[EpisodeRecord]) -> UpdateInfo:
        """Fast weights from the initialisation after PG steps on all ``episodes`` of this task."""
        self._acted_with += [self.fast] * (len(episodes) - len(self._acted_with))  # fast changes only here
        batch = self._batch(episodes)
        params = dict(self.policy.named_parameters())
        loss_fn = partial(pg_loss, batch=self._off_policy_corrected(batch, params))
        with torch.no_grad():
            old = self.policy.distribution(batch.obs, self.fast)
            loss = float(pg_loss(self.policy, self.fast, batch))
        new_fast = inner_adapt(self.policy, params, loss_fn, lr=self.inner_lr, steps=self.inner_steps, first_order=True)
        self.fast = {k: v.detach() for k, v in new_fast.items()}
        with torch.no_grad():
            new = self.policy.distribution(batch.obs, self.fast)
            kl = torch.distributions.kl_divergence(old, new).sum(-1)
            mean_kl = float((kl * batch.mask).sum() / batch.mask.sum())
        step = (
            self.inner_lr
            if isinstance(self.inner_lr, float)
            else float(torch.cat([v.flatten() for v in self.inner_lr.values()]).mean())
        )
        return UpdateInfo(loss=loss, kl=mean_kl, step_size=step)

    def adapted_policy(self) -> GaussianMLPPolicy:
        """A CPU copy of the policy with the current fast weights in place, ready for export."""
        module: GaussianMLPPolicy = PolicySnapshot(self.policy, self.fast).module
        return module

    def _off_policy_corrected(self, batch: Batch, init: Mapping[str, Tensor]) -> Batch:
        """``batch`` with each step's advantage scaled by min(pi_init / pi_acting, MAX_IMPORTANCE_WEIGHT)."""
        with torch.no_grad():
            init_log_prob = self._log_prob(batch.obs, batch.actions, init)
            acting_log_prob = torch.stack(
                [self._log_prob(batch.obs[i], batch.actions[i], fast) for i, fast in enumerate(self._acted_with)]
            )
            weight = (init_log_prob - acting_log_prob).exp().clamp(max=MAX_IMPORTANCE_WEIGHT)
        return Batch(batch.obs, batch.actions, batch.advantages * weight, batch.mask)

    def _log_prob(self, obs: Tensor, actions: Tensor, params: Mapping[str, Tensor]) -> Tensor:
        log_prob: Tensor = self.policy.distribution(obs, params).log_prob(actions)  # type: ignore[no-untyped-call]
        return log_prob.sum(-1)

    def _batch(self, episodes: list[EpisodeRecord]) -> Batch:
        episodes_batch = records_to_batch(episodes, self.device)
        adv = advantages(episodes_batch, gamma=self.gamma, lam=self.gae_lambda)
        return Batch(episodes_batch.obs, episodes_batch.actions, adv, episodes_batch.mask)
