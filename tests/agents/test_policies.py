"""Policy, value network, observation normaliser and the linear feature baseline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.func import functional_call

from agents.core.policies import OBS_CLIP, GaussianMLPPolicy, LinearFeatureBaseline, ObsNormalizer, ValueMLP


def _policy(seed: int = 0) -> GaussianMLPPolicy:
    torch.manual_seed(seed)
    return GaussianMLPPolicy(obs_dim=5, action_dim=3, hidden_sizes=(16, 16), init_log_std=-0.5)


def test_normaliser_statistics_equal_numpy_over_several_updates() -> None:
    rng = np.random.default_rng(0)
    norm = ObsNormalizer(4)
    batches = [rng.normal(3.0, 2.0, size=(n, 4)) * [1, 10, 0.1, 1] for n in (1, 7, 50, 3)]
    batches.append(rng.normal(-1.0, 0.5, size=(2, 5, 4)))  # any leading shape, e.g. [episodes, T]
    for batch in batches:
        norm.update(torch.as_tensor(batch, dtype=torch.float32))
    seen = np.concatenate([b.reshape(-1, 4) for b in batches]).astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(norm.mean.numpy(), seen.mean(0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(norm.var.numpy(), seen.var(0), rtol=1e-6)
    assert int(norm.count) == len(seen)


def test_normalised_obs_are_clipped_and_bad_batches_refused() -> None:
    norm = ObsNormalizer(2)
    norm.update(torch.tensor([[0.0, 0.0], [2.0, 2.0]]))
    out = norm(torch.tensor([[1e6, -1e6]]))
    assert out.tolist() == [[OBS_CLIP, -OBS_CLIP]]
    with pytest.raises(ValueError, match="NaN or inf"):
        norm.update(torch.tensor([[float("nan"), 0.0]]))
    with pytest.raises(ValueError, match="last dimension must be 2"):
        norm.update(torch.zeros(3, 5))
    assert int(norm.count) == 2


def test_normaliser_statistics_are_buffers_that_travel_in_state_dict() -> None:
    policy = _policy()
    policy.update_obs_stats(torch.randn(64, 5) * 4 + 2)
    assert {"obs_normalizer.mean", "obs_normalizer.var", "obs_normalizer.count"} <= set(policy.state_dict())
    assert not any(name.startswith("obs_normalizer") for name, _ in policy.named_parameters())
    fresh = _policy(seed=1)
    fresh.load_state_dict(policy.state_dict())
    obs = torch.randn(8, 5)
    torch.testing.assert_close(fresh(obs), policy(obs), rtol=0, atol=0)
    assert int(fresh.obs_normalizer.count) == 64


def test_distribution_under_fast_weights_uses_them_and_leaves_the_module_alone() -> None:
    policy = _policy()
    obs = torch.randn(6, 5)
    own = dict(policy.named_parameters())
    torch.testing.assert_close(policy.distribution(obs, own).mean, policy.distribution(obs).mean)
    before = {k: v.detach().clone() for k, v in policy.state_dict().items()}
    fast = {k: v + 0.3 for k, v in own.items()}
    dist = policy.distribution(obs, fast)
    torch.testing.assert_close(dist.mean, functional_call(policy, fast, (obs,)))
    torch.testing.assert_close(dist.stddev, (policy.log_std + 0.3).exp().expand(6, 3))
    for key, value in policy.state_dict().items():
        assert torch.equal(value, before[key]), key
    dist.log_prob(torch.zeros(6, 3)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in own.values())


def test_forward_is_the_unclipped_mean_and_act_samples_around_it() -> None:
    policy = _policy()
    with torch.no_grad():
        policy.mean_net[-1].bias.fill_(3.0)  # mean far outside the action box
    obs = torch.randn(4, 5)
    assert bool((policy(obs) > 1.0).all())
    torch.testing.assert_close(policy.act(obs, deterministic=True), policy(obs))
    samples = policy.act(obs.expand(2000, 4, 5), generator=torch.Generator().manual_seed(0))
    assert samples.shape == (2000, 4, 3) and not samples.requires_grad
    torch.testing.assert_close(samples.std(0).mean(), policy.log_std.exp().mean().detach(), rtol=0.05, atol=0)


def test_act_samples_from_the_generator_it_is_given_never_from_the_global_one() -> None:
    policy, obs = _policy(), torch.randn(4, 5)
    first = policy.act(obs, generator=torch.Generator().manual_seed(3))
    torch.manual_seed(0)  # whatever the global generator holds, the same generator seed gives the same sample
    torch.testing.assert_close(policy.act(obs, generator=torch.Generator().manual_seed(3)), first, rtol=0, atol=0)
    assert not torch.equal(first, policy.act(obs, generator=torch.Generator().manual_seed(4)))
    with pytest.raises(ValueError, match="generator = None is not allowed when sampling"):
        policy.act(obs)


def test_value_mlp_shape_and_own_normaliser() -> None:
    torch.manual_seed(0)
    value = ValueMLP(obs_dim=5, hidden_sizes=(8,))
    value.update_obs_stats(torch.randn(10, 5))
    assert value(torch.randn(3, 7, 5)).shape == (3, 7)
    assert int(value.state_dict()["obs_normalizer.count"]) == 10


def test_linear_feature_baseline_recovers_a_linear_target_in_its_features() -> None:
    gen = torch.Generator().manual_seed(0)
    obs = torch.randn(6, 30, 3, generator=gen)
    mask = torch.ones(6, 30)
    mask[2, 20:] = 0.0
    true = torch.randn(2 * 3 + 4, generator=gen, dtype=torch.float64)
    returns = (LinearFeatureBaseline.features(obs) @ true).float()
    returns[~mask.bool()] = 1e6  # padding must not influence the fit
    baseline = LinearFeatureBaseline()
    with pytest.raises(RuntimeError, match="before fit"):
        baseline.predict(obs, mask)
    baseline.fit(obs, returns, mask)
    predicted = baseline.predict(obs, mask)
    torch.testing.assert_close(predicted[mask.bool()], returns[mask.bool()], rtol=1e-3, atol=1e-3)
    assert bool((predicted[~mask.bool()] == 0).all())


def test_linear_feature_baseline_survives_degenerate_features() -> None:
    obs = torch.zeros(2, 5, 3)  # o and o² are all zero: FᵀF is singular without the ridge term
    baseline = LinearFeatureBaseline()
    baseline.fit(obs, torch.full((2, 5), 2.0), torch.ones(2, 5))
    torch.testing.assert_close(baseline.predict(obs, torch.ones(2, 5)), torch.full((2, 5), 2.0), rtol=1e-3, atol=1e-3)
