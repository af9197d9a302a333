"""PEARL's collection overlaps its updates: it acts with the weights the iteration began with."""

from __future__ import annotations

import dataclasses
import functools

import torch

from agents.pearl.config import PEARLConfig
from agents.pearl.learner import PEARLLearner
from sim.envs.point_mass import PointMassEnv
from sim.params import TaskParams, with_values
from sim.sampler import VectorSampler
from sim.tasks import TaskDistribution, UniformRange

H = 10
FAMILY = TaskDistribution(
    name="point-velocity",
    base=with_values(TaskParams(), {"goal.target_heading_deg": 0.0}),
    vary={"goal.target_velocity_mps": UniformRange(0.0, 2.0)},
)
CONFIG = PEARLConfig(
    horizon=H,
    num_train_tasks=4,
    tasks_per_iteration=2,
    initial_episodes=1,
    prior_episodes=1,
    posterior_episodes=1,
    extra_rl_episodes=1,
    gradient_steps=1,
    meta_batch_size=2,
    batch_size=16,
    embedding_batch_size=8,
    latent_dim=2,
    hidden_sizes=(16,),
    encoder_hidden_sizes=(16,),
)


def make_learner(config: PEARLConfig) -> PEARLLearner:
    return PEARLLearner(obs_dim=4, action_dim=2, family=FAMILY, config=config, seed=0, device=torch.device("cpu"))


def test_the_collection_does_not_see_the_updates_of_its_own_iteration() -> None:
    few, many = make_learner(CONFIG), make_learner(dataclasses.replace(CONFIG, gradient_steps=30))
    with VectorSampler(
        [FAMILY.base] * 2, num_workers=1, env_factory=functools.partial(PointMassEnv, max_episode_steps=H)
    ) as s:
        first, second = few.train_iteration(s), many.train_iteration(s)
        assert (first.pre_return, first.post_return, first.env_steps) == (
            second.pre_return,
            second.post_return,
            second.env_steps,
        )
        assert torch.equal(few.replay.storage, many.replay.storage)
        assert torch.equal(few.context.storage, many.context.storage)
        assert not torch.equal(few.policy.mean_head.weight, many.policy.mean_head.weight)
        assert few.sampler_idle is not None and 0.0 <= few.sampler_idle <= 1.0
        assert len(s.run_episodes([], horizon=H)) == 0  # the sampler is the caller's again


def test_the_updates_learn_from_the_buffers_as_the_iteration_began() -> None:
    """More episodes collected in iteration 0 change nothing of its updates: they only join the buffers after."""
    less, more = make_learner(CONFIG), make_learner(dataclasses.replace(CONFIG, extra_rl_episodes=3))
    with VectorSampler(
        [FAMILY.base] * 2, num_workers=1, env_factory=functools.partial(PointMassEnv, max_episode_steps=H)
    ) as s:
        assert less.train_iteration(s).env_steps < more.train_iteration(s).env_steps
    for name, weight in less.critic.state_dict().items():
        assert torch.equal(weight, more.critic.state_dict()[name]), name
    assert torch.equal(less.policy.mean_head.weight, more.policy.mean_head.weight)
    assert len(less.replay) < len(more.replay)
