"""The process sampler: same results as single envs, errors and deaths reported, nothing left behind."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pytest
from sampler_fixtures import dies_on_step, fixed_actions, raises_on_step, short_episode_env

from sim.params import TaskParams, with_values
from sim.sampler import SamplerError, VectorSampler

TASKS = [
    with_values(TaskParams(), {"robot.name": "half_cheetah", "goal.target_velocity_mps": v})
    for v in (0.5, 1.0, 1.5)
] + [with_values(TaskParams(), {"robot.name": "half_cheetah", "robot.payload_kg": 5.0})]


def test_sampler_matches_single_envs_for_the_same_seeds_including_autoreset() -> None:
    steps = 12
    actions = fixed_actions(len(TASKS), steps, 6)
    with VectorSampler(TASKS, num_workers=2, env_factory=short_episode_env) as sampler:
        first_obs = sampler.reset(seeds=100)
        batches = [sampler.step(actions[t]) for t in range(steps)]
    for i, task in enumerate(TASKS):
        env = short_episode_env(task)
        obs, _ = env.reset(seed=100 + i)
        assert np.array_equal(obs, first_obs[i])
        for t in range(steps):
            obs, reward, terminated, truncated, _ = env.step(actions[t, i])
            assert reward == batches[t].rewards[i]
            assert truncated == batches[t].truncated[i]
            if terminated or truncated:
                assert np.array_equal(obs, batches[t].infos[i]["final_obs"])
                obs, _ = env.reset()
            assert np.array_equal(obs, batches[t].obs[i]), (i, t)
        env.close()


def test_set_tasks_reaches_the_workers() -> None:
    with VectorSampler(TASKS[:2], num_workers=2, env_factory=short_episode_env) as sampler:
        sampler.reset(seeds=0)
        sampler.set_tasks([with_values(t, {"goal.target_velocity_mps": 3.0}) for t in TASKS[:2]])
        batch = sampler.step(np.zeros((2, 6), dtype=np.float32))
    # a robot nearly at rest is ~3 m/s short of the new target
    assert all(info["reward_terms"]["velocity_tracking"] < -2.5 for info in batch.infos)


def test_exception_in_a_worker_is_raised_with_its_traceback() -> None:
    with VectorSampler(TASKS[:2], num_workers=2, env_factory=raises_on_step) as sampler:
        sampler.reset(seeds=0)
        with pytest.raises(SamplerError, match="controller diverged"):
            sampler.step(np.zeros((2, 6), dtype=np.float32))


def test_a_dead_worker_is_reported_not_waited_on_and_no_process_survives() -> None:
    before = set(mp.active_children())
    sampler = VectorSampler(TASKS[:2], num_workers=2, env_factory=dies_on_step)
    sampler.reset(seeds=0)
    with pytest.raises(SamplerError, match=r"died with exit code 3"):
        sampler.step(np.zeros((2, 6), dtype=np.float32))
    sampler.close()
    assert set(mp.active_children()) <= before


def test_bad_arguments_are_rejected_with_the_rule() -> None:
    with pytest.raises(ValueError, match="num_workers = 3 is not allowed"):
        VectorSampler(TASKS[:2], num_workers=3)
