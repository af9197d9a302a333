"""Discounted returns and GAE over padded episodes, against a plain per-episode loop."""

from __future__ import annotations

import pytest
import torch

from agents.core.returns import discounted_returns, gae_advantages

LENGTHS = (7, 3, 1, 7)
GAMMA, LAM = 0.97, 0.9


def _padded(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    rewards = torch.randn(len(LENGTHS), max(LENGTHS), generator=gen, dtype=torch.float64)
    values = torch.randn(len(LENGTHS), max(LENGTHS), generator=gen, dtype=torch.float64)
    mask = torch.zeros_like(rewards)
    for i, n in enumerate(LENGTHS):
        mask[i, :n] = 1.0
    rewards[mask == 0] = float("nan")  # padding content must never leak into the results
    values[mask == 0] = float("nan")
    bootstrap = torch.tensor([0.0, 1.5, -2.0, 0.7], dtype=torch.float64)
    return rewards, values, mask, bootstrap


def _hand(rewards: list[float], values: list[float], tail: float) -> tuple[list[float], list[float]]:
    """Textbook loops over one episode: (returns, GAE advantages)."""
    n = len(rewards)
    returns, adv = [0.0] * n, [0.0] * n
    g, a = tail, 0.0
    for t in reversed(range(n)):
        g = rewards[t] + GAMMA * g
        next_value = values[t + 1] if t + 1 < n else tail
        a = rewards[t] + GAMMA * next_value - values[t] + GAMMA * LAM * a
        returns[t], adv[t] = g, a
    return returns, adv


def test_returns_and_gae_match_a_hand_loop_per_episode() -> None:
    rewards, values, mask, bootstrap = _padded(0)
    returns = discounted_returns(rewards, mask, gamma=GAMMA, bootstrap=bootstrap)
    adv = gae_advantages(rewards, values, mask, gamma=GAMMA, lam=LAM, bootstrap=bootstrap)
    for i, n in enumerate(LENGTHS):
        want_ret, want_adv = _hand(rewards[i, :n].tolist(), values[i, :n].tolist(), float(bootstrap[i]))
        torch.testing.assert_close(returns[i, :n], torch.tensor(want_ret, dtype=torch.float64))
        torch.testing.assert_close(adv[i, :n], torch.tensor(want_adv, dtype=torch.float64))
        assert bool((returns[i, n:] == 0).all()) and bool((adv[i, n:] == 0).all())


def test_gae_limits_lambda_one_is_returns_minus_values_and_zero_is_td_error() -> None:
    rewards, values, mask, _ = _padded(1)
    valid = mask.bool()
    returns = discounted_returns(rewards, mask, gamma=GAMMA)
    adv1 = gae_advantages(rewards, values, mask, gamma=GAMMA, lam=1.0)
    torch.testing.assert_close(adv1[valid], (returns - values)[valid])
    adv0 = gae_advantages(rewards, values, mask, gamma=GAMMA, lam=0.0)
    torch.testing.assert_close(adv0[0, 0], rewards[0, 0] + GAMMA * values[0, 1] - values[0, 0])
    torch.testing.assert_close(adv0[1, 2], rewards[1, 2] - values[1, 2])  # terminal: no bootstrap by default


def test_bad_shapes_and_non_prefix_masks_are_refused() -> None:
    rewards, values, mask, _ = _padded(2)
    with pytest.raises(ValueError, match="values shape"):
        gae_advantages(rewards, values[:, :3], mask, gamma=GAMMA, lam=LAM)
    with pytest.raises(ValueError, match="bootstrap shape"):
        discounted_returns(rewards, mask, gamma=GAMMA, bootstrap=torch.zeros(3))
    holey = mask.clone()
    holey[0, 2] = 0.0
    with pytest.raises(ValueError, match="prefix"):
        discounted_returns(rewards, holey, gamma=GAMMA)
    with pytest.raises(ValueError, match="episodes, T"):
        discounted_returns(rewards[0], mask[0], gamma=GAMMA)
