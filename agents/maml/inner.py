"""MAML's inner loop on fast weights, its policy-gradient loss, and Meta-SGD learning rates.

Fast weights are a plain ``dict[str, Tensor]`` keyed like ``policy.named_parameters()``. The policy
module is never modified: every evaluation under adapted weights goes through
``torch.func.functional_call``. ``first_order`` is the switch between MAML (differentiate through the
inner gradient, ``create_graph=True``) and first-order MAML (treat the inner gradient as a constant).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import torch
from torch import Tensor, nn

from agents.core.policies import GaussianMLPPolicy, LinearFeatureBaseline
from agents.core.returns import discounted_returns, gae_advantages
from agents.core.rollout import EpisodeBatch

ModuleT = TypeVar("ModuleT", bound=nn.Module)


@dataclass(frozen=True)
class Batch:
    """Episodes of one task, for a policy-gradient loss.

    Leading shapes agree: ``obs`` ``[..., obs_dim]``, ``actions`` ``[..., action_dim]`` and the rest
    ``[...]`` (usually ``[episodes, T]`` padded, or flat ``[N]``).
    """

    obs: Tensor
    """raw observations (the policy normalises them)"""
    actions: Tensor
    """the unclipped actions that were sampled"""
    advantages: Tensor
    """advantage of each step (0 on padding)"""
    mask: Tensor
    """1 on real steps, 0 on padding"""
    old_log_probs: Tensor | None = None
    """log-probability of each action under the policy that sampled it (for ratio-based losses)"""

    def __post_init__(self) -> None:
        lead = self.obs.shape[:-1]
        if self.actions.shape[:-1] != lead:
            raise ValueError(f"Batch.actions shape {tuple(self.actions.shape)} does not match obs {tuple(lead)}")
        per_step = {"advantages": self.advantages, "mask": self.mask, "old_log_probs": self.old_log_probs}
        for name, tensor in per_step.items():
            if tensor is not None and tensor.shape != lead:
                raise ValueError(f"Batch.{name} shape {tuple(tensor.shape)} is not allowed: expected {tuple(lead)}")


def pg_loss(policy: GaussianMLPPolicy, params: Mapping[str, Tensor], batch: Batch) -> Tensor:
    """Vanilla policy-gradient (REINFORCE with advantages) loss, ``-mean(log_prob * advantage)`` over real steps.

    This is MAML's inner-loop objective: its gradient at ``params`` is the policy-gradient estimate
    the inner SGD step follows.

    Args:
        policy: The policy whose architecture evaluates ``params``.
        params: Weights to evaluate (fast weights or the module's own).
        batch: The task's episodes.

    Returns:
        A scalar loss, differentiable with respect to ``params``.
    """
    dist = policy.distribution(batch.obs, params)
    log_prob: Tensor = dist.log_prob(batch.actions).sum(-1)  # type: ignore[no-untyped-call]
    weights = batch.mask.to(log_prob.dtype)
    return -(log_prob * batch.advantages * weights).sum() / weights.sum().clamp_min(1.0)


def inner_adapt(
    policy: ModuleT,
    params: Mapping[str, Tensor],
    loss_fn: Callable[[ModuleT, dict[str, Tensor]], Tensor],
    *,
    lr: float | Mapping[str, Tensor],
    steps: int = 1,
    first_order: bool = False,
) -> dict[str, Tensor]:
    """``steps`` SGD steps on ``loss_fn`` starting from ``params``; returns the fast weights.

    With ``first_order=False`` the returned tensors keep the graph of every inner gradient, so a loss
    on them back-propagates the full MAML meta-gradient (with its Hessian term) into ``params`` and
    into learned learning rates. With ``first_order=True`` the inner gradients are constants (FOMAML):
    the meta-gradient is the outer gradient at the adapted weights.

    Args:
        policy: Passed to ``loss_fn``; never modified.
        params: Starting weights by name, e.g. ``dict(policy.named_parameters())``. They must require grad.
        loss_fn: ``loss_fn(policy, fast_weights) -> scalar``, e.g. ``partial(pg_loss, batch=batch)``.
        lr: One step size, or a tensor per parameter name (Meta-SGD, see :class:`MetaSGDLearningRates`).
        steps: Number of inner steps (0 returns ``params`` unchanged).
        first_order: Drop the second-order term.

    Returns:
        Fast weights with the same names as ``params``.
    """
    if steps < 0:
        raise ValueError(f"steps = {steps!r} is not allowed: must be >= 0")
    names = tuple(params)
    if isinstance(lr, Mapping) and (missing := [n for n in names if n not in lr]):
        raise ValueError(f"lr has no learning rate for {', '.join(missing)}")
    if frozen := [n for n in names if not params[n].requires_grad]:
        raise ValueError(
            f"params {', '.join(frozen)} do not require grad: pass the module's parameters, not detached copies"
        )
    fast = dict(params)
    for _ in range(steps):
        loss = loss_fn(policy, fast)
        if loss.ndim != 0:
            raise ValueError(f"loss_fn returned shape {tuple(loss.shape)}: it must return a scalar")
        grads = torch.autograd.grad(
            loss, [fast[n] for n in names], create_graph=not first_order, allow_unused=True, materialize_grads=True
        )
        fast = {n: fast[n] - (lr[n] if isinstance(lr, Mapping) else lr) * g for n, g in zip(names, grads, strict=True)}
    return fast


def _key(name: str) -> str:
    # nn.ParameterDict keys cannot contain "." and parameter names always do.
    return name.replace(".", "__")


class MetaSGDLearningRates(nn.Module):
    """Meta-SGD's learned inner learning rates: one per element of every adapted parameter.

    Pass ``lrs()`` as ``inner_adapt(..., lr=lrs())`` and give ``lrs.parameters()`` to the outer
    optimiser; the meta-gradient reaches them through the inner step.
    """

    def __init__(self, params: Mapping[str, Tensor], *, init_lr: float) -> None:
        """One learning-rate tensor shaped like each parameter, every element set to ``init_lr``.

        Args:
            params: The parameters that will be adapted, by name (their shapes, devices and dtypes are used).
            init_lr: Starting value of every learning rate (MAML's fixed inner step size is the usual choice).
        """
        super().__init__()
        self.names = tuple(params)
        keys = [_key(n) for n in self.names]
        if len(set(keys)) != len(keys):
            raise ValueError(f"parameter names {self.names} collide once '.' is replaced by '__'")
        self.lrs = nn.ParameterDict(
            {k: nn.Parameter(torch.full_like(p.detach(), init_lr)) for k, p in zip(keys, params.values(), strict=True)}
        )

    def forward(self) -> dict[str, Tensor]:
        """The learning rates keyed by parameter name, ready for ``inner_adapt``'s ``lr``."""
        return {n: self.lrs[_key(n)] for n in self.names}


def advantages(episodes: EpisodeBatch, *, gamma: float, lam: float) -> Tensor:
    """GAE over the episodes with a linear feature baseline fitted to them, normalised per batch."""
    returns = discounted_returns(episodes.rewards, episodes.mask, gamma=gamma)
    baseline = LinearFeatureBaseline()
    baseline.fit(episodes.obs, returns, episodes.mask)
    values = baseline.predict(episodes.obs, episodes.mask)
    adv = gae_advantages(episodes.rewards, values, episodes.mask, gamma=gamma, lam=lam)
    valid = episodes.mask.bool()
    mean, std = adv[valid].mean(), adv[valid].std(correction=0).clamp_min(1e-8)
    return torch.where(valid, (adv - mean) / std, 0.0)
