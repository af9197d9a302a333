"""Discounted returns and GAE over a padded batch of episodes, the one implementation every learner uses.

Layout: tensors are ``[episodes, T]``; ``mask`` is 1 on an episode's real steps and 0 on the padding
after it (each row is valid on a prefix). ``bootstrap`` (``[episodes]``) is the value of the state
after an episode's last real step: 0 when the episode terminated, ``V(s_T)`` when it was cut by a time
limit. Outputs are 0 on padded steps.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _check(rewards: Tensor, mask: Tensor, bootstrap: Tensor | None, **others: Tensor) -> Tensor:
    """Validate shapes and the prefix mask; returns ``bootstrap`` or zeros."""
    if rewards.ndim != 2:
        raise ValueError(f"rewards shape {tuple(rewards.shape)} is not allowed: expected [episodes, T]")
    for name, tensor in {"mask": mask, **others}.items():
        if tensor.shape != rewards.shape:
            raise ValueError(f"{name} shape {tuple(tensor.shape)} is not allowed: expected {tuple(rewards.shape)}")
    if bool((mask[:, 1:] > mask[:, :-1]).any()):
        raise ValueError("mask is not allowed: each episode must be valid on a prefix (1s, then only 0s)")
    if bootstrap is None:
        return rewards.new_zeros(rewards.shape[0])
    if bootstrap.shape != rewards.shape[:1]:
        raise ValueError(f"bootstrap shape {tuple(bootstrap.shape)} is not allowed: expected [{rewards.shape[0]}]")
    return bootstrap


def _next_mask(mask: Tensor) -> Tensor:
    """``mask`` (as bool) shifted left by one: whether step ``t + 1`` is a real step of the same episode."""
    valid = mask.bool()
    return torch.cat([valid[:, 1:], valid.new_zeros(valid.shape[0], 1)], dim=1)


def discounted_returns(rewards: Tensor, mask: Tensor, *, gamma: float, bootstrap: Tensor | None = None) -> Tensor:
    """Reward-to-go ``G_t = r_t + gamma * G_{t+1}``, with ``bootstrap`` after the last real step.

    Args:
        rewards: ``[episodes, T]``.
        mask: ``[episodes, T]``, 1 on real steps.
        gamma: Discount factor.
        bootstrap: ``[episodes]`` value after the last real step (default 0: episodes terminated).

    Returns:
        ``[episodes, T]`` returns, 0 on padding.
    """
    tail = _check(rewards, mask, bootstrap)
    valid, valid_next = mask.bool(), _next_mask(mask)
    out = torch.zeros_like(rewards)
    running = torch.zeros_like(tail)
    for t in reversed(range(rewards.shape[1])):
        after = torch.where(valid_next[:, t], running, tail)
        # `where`, not a product with the mask: padding may hold NaN and must not leak in.
        running = torch.where(valid[:, t], rewards[:, t] + gamma * after, 0.0)
        out[:, t] = running
    return out


def gae_advantages(
    rewards: Tensor, values: Tensor, mask: Tensor, *, gamma: float, lam: float, bootstrap: Tensor | None = None
) -> Tensor:
    """Generalised advantage estimates (Schulman et al. 2016) over padded episodes.

    ``delta_t = r_t + gamma * V_{t+1} - V_t`` with ``V`` after the last real step taken from
    ``bootstrap``; ``A_t = delta_t + gamma * lam * A_{t+1}``. Value targets are ``A + values``.

    Args:
        rewards: ``[episodes, T]``.
        values: ``[episodes, T]`` baseline at each step (padding ignored).
        mask: ``[episodes, T]``, 1 on real steps.
        gamma: Discount factor.
        lam: GAE lambda (1 gives returns minus baseline, 0 the one-step TD error).
        bootstrap: ``[episodes]`` value after the last real step (default 0: episodes terminated).

    Returns:
        ``[episodes, T]`` advantages, 0 on padding.
    """
    tail = _check(rewards, mask, bootstrap, values=values)
    valid, valid_next = mask.bool(), _next_mask(mask)
    next_values = torch.cat([values[:, 1:], values.new_zeros(values.shape[0], 1)], dim=1)
    next_values = torch.where(valid_next, next_values, tail.unsqueeze(1))
    deltas = torch.where(valid, rewards + gamma * next_values - values, 0.0)
    out = torch.zeros_like(rewards)
    running = torch.zeros_like(tail)
    for t in reversed(range(rewards.shape[1])):
        running = deltas[:, t] + gamma * lam * torch.where(valid_next[:, t], running, 0.0)
        out[:, t] = running
    return out
