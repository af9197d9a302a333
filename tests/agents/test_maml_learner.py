"""MAML's outer loop on the PyBullet-free point mass: it learns to adapt, deterministically, resumably."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.core.learner import IterationStats
from agents.core.policies import GaussianMLPPolicy
from agents.core.rollout import collect_tasks
from agents.maml.learner import MAMLConfig, MAMLLearner
from agents.storage.checkpoint import load_checkpoint, save_checkpoint
from sim.envs.point_mass import PointMassEnv
from sim.params import TaskParams, with_values
from sim.sampler import VectorSampler
from sim.tasks import TaskDistribution, UniformRange

FAMILY = TaskDistribution(
    name="point-heading",
    base=with_values(TaskParams(), {"goal.target_velocity_mps": 1.0}),
    vary={"goal.target_heading_deg": UniformRange(-180.0, 180.0)},
)
CONFIG = MAMLConfig(meta_batch_size=8, episodes_per_task=8, horizon=20, inner_lr=0.1, outer_lr=3e-3)


@pytest.fixture(scope="module")
def sampler() -> Iterator[VectorSampler]:
    with VectorSampler([FAMILY.base] * CONFIG.episodes_per_task, num_workers=1, env_factory=PointMassEnv) as s:
        yield s


def make_learner(seed: int = 0, config: MAMLConfig = CONFIG) -> MAMLLearner:
    torch.manual_seed(seed)
    policy = GaussianMLPPolicy(obs_dim=4, action_dim=2, hidden_sizes=(32, 32))
    return MAMLLearner(policy=policy, family=FAMILY, config=config, seed=seed)


@pytest.mark.slow
def test_meta_training_improves_adaptation_and_post_update_beats_pre_update(sampler: VectorSampler) -> None:
    learner = make_learner()
    stats = [learner.train_iteration(sampler) for _ in range(30)]
    first, last = stats[:3], stats[-3:]
    assert np.mean([s.post_return for s in last]) > np.mean([s.post_return for s in first]) + 15.0
    assert all(s.post_return > s.pre_return + 1.0 for s in last)
    assert all(s.env_steps == 2 * CONFIG.meta_batch_size * CONFIG.episodes_per_task * CONFIG.horizon for s in stats)


@pytest.mark.slow
def test_one_shot_support_sets_learn_from_one_episode_and_still_improve(sampler: VectorSampler) -> None:
    """support_episodes=1: one pre-update episode per task (as at one-shot test time), eight after."""
    config = MAMLConfig(meta_batch_size=8, episodes_per_task=8, support_episodes=1, horizon=20, outer_lr=3e-3)
    learner = make_learner(config=config)
    stats = [learner.train_iteration(sampler) for _ in range(8)]
    assert all(s.env_steps == config.meta_batch_size * (1 + 8) * config.horizon for s in stats)
    assert np.mean([s.post_return for s in stats[-2:]]) > np.mean([s.post_return for s in stats[:2]]) + 10.0


def test_bad_settings_are_refused_naming_the_field_and_what_is_allowed() -> None:
    with pytest.raises(ValueError, match="support_episodes = -1 is not allowed"):
        MAMLConfig(support_episodes=-1)
    with pytest.raises(ValueError, match=r"MAMLConfig\.inner_steps = -1 is not allowed: must be >= 0"):
        MAMLConfig(inner_steps=-1)
    with pytest.raises(ValueError, match=r"MAMLConfig\.gamma = 0\.0 is not allowed: must be in \(0, 1\]"):
        MAMLConfig(gamma=0.0)
    with pytest.raises(ValueError, match=r"MAMLConfig\.gae_lambda = 1\.5 is not allowed: must be in \[0, 1\]"):
        MAMLConfig(gae_lambda=1.5)


def timeless(stats: IterationStats) -> dict:
    return {k: v for k, v in stats.to_dict().items() if not k.endswith("_s")}


@pytest.mark.slow
def test_same_seed_gives_the_same_returns(sampler: VectorSampler) -> None:
    first = make_learner(seed=3).train_iteration(sampler)
    again = make_learner(seed=3).train_iteration(sampler)
    other = make_learner(seed=4).train_iteration(sampler)
    assert timeless(first) == timeless(again)
    assert other.post_return != first.post_return


@pytest.mark.slow
def test_resume_from_a_checkpoint_equals_an_uninterrupted_run(sampler: VectorSampler, tmp_path: Path) -> None:
    config = MAMLConfig(meta_batch_size=3, episodes_per_task=8, horizon=10, learn_inner_lr=True)
    straight = make_learner(seed=5, config=config)
    expected = [straight.train_iteration(sampler) for _ in range(3)]

    interrupted = make_learner(seed=5, config=config)
    for _ in range(2):
        interrupted.train_iteration(sampler)
    path = save_checkpoint(tmp_path / "maml.pt", interrupted.state_dict())
    resumed = make_learner(seed=5, config=config)
    with torch.no_grad():  # scramble the fresh weights: everything must come from the file
        for parameter in resumed.policy.parameters():
            parameter.fill_(0.5)
    resumed.load_state_dict(load_checkpoint(path))
    third = resumed.train_iteration(sampler)

    assert timeless(third) == timeless(expected[2])
    resumed_weights = resumed.state_dict()["policy"]
    for name, weight in straight.state_dict()["policy"].items():
        assert torch.equal(weight, resumed_weights[name]), name


def test_policy_snapshot_in_workers_acts_like_the_live_policy(sampler: VectorSampler) -> None:
    policy = make_learner().policy
    fast = {name: p + 0.1 for name, p in policy.named_parameters()}
    plain, adapted = collect_tasks(
        sampler,
        policy,
        [FAMILY.base] * 2,
        episodes_per_task=3,
        horizon=5,
        seed=0,
        params=[None, fast],
        deterministic=True,
    )
    with torch.no_grad():
        assert torch.allclose(plain.actions, policy.act(plain.obs, deterministic=True), atol=1e-6)
        assert torch.allclose(adapted.actions, policy.act(adapted.obs, deterministic=True, params=fast), atol=1e-6)
    assert plain.env_steps == adapted.env_steps == 15
