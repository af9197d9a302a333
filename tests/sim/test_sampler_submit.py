"""VectorSampler.submit: work in a background thread owns the sampler, returns what it would in the foreground."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from sampler_fixtures import TanhLinearPolicy, short_episode_env

from sim.params import TaskParams, with_values
from sim.sampler import EpisodeJob, SamplerError, VectorSampler

TASKS = [with_values(TaskParams(), {"robot.name": "half_cheetah", "goal.target_velocity_mps": v}) for v in (0.5, 1.5)]
POLICY = TanhLinearPolicy(24, 6)  # the half_cheetah's observation and action sizes
JOBS = [EpisodeJob(POLICY, (task,), (10 + i,)) for i, task in enumerate(TASKS * 2)]


def test_submitted_work_gives_the_foreground_result_and_owns_the_sampler_until_it_ends() -> None:
    started, release = threading.Event(), threading.Event()

    def work(sampler: VectorSampler) -> list[object]:
        started.set()
        release.wait()
        return list(sampler.run_episodes(JOBS, horizon=9))

    with VectorSampler(TASKS, num_workers=2, env_factory=short_episode_env) as sampler:
        expected = sampler.run_episodes(JOBS, horizon=9)
        busy = sampler.busy_seconds
        assert busy > 0.0
        handle = sampler.submit(work)
        started.wait()
        assert not handle.done()
        with pytest.raises(SamplerError, match="busy"):
            sampler.run_episodes(JOBS, horizon=9)
        with pytest.raises(SamplerError, match="busy"):
            sampler.submit(work)
        release.set()
        result = handle.result()
        assert handle.done()
        assert sampler.busy_seconds > busy
        for got, want in zip(result, expected, strict=True):
            assert all(np.array_equal(a, b) for a, b in zip(vars(got).values(), vars(want).values(), strict=True))
        assert len(sampler.run_episodes(JOBS[:1], horizon=3)) == 1  # the foreground owns it again


def test_an_error_in_submitted_work_is_raised_by_result_and_frees_the_sampler() -> None:
    broken = EpisodeJob(POLICY, (TASKS[0],), (-1,))  # a negative seed is refused by gymnasium
    with VectorSampler(TASKS, num_workers=2, env_factory=short_episode_env) as sampler:
        handle = sampler.submit(lambda s: s.run_episodes([broken], horizon=3))
        with pytest.raises(SamplerError, match="raised"):
            handle.result()
        assert len(sampler.run_episodes(JOBS[:1], horizon=3)) == 1
