"""The Ray backend on a local 2-CPU Ray: the process pool's episodes for the same seeds, and its errors.

Every factory and policy here comes from ``sim`` itself, so Ray's worker processes can import them.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
from collections.abc import Iterator
from dataclasses import fields

import numpy as np
import pytest

from sim.envs.locomotion import EnvConfig, LocomotionEnv
from sim.params import TaskParams, with_values
from sim.sampler import (
    ActionTablePolicy,
    EpisodeJob,
    SamplerError,
    SamplingConfig,
    Trajectories,
    UniformRandomPolicy,
    VectorSampler,
)
from tests.processes import command_line, descendants_of, kill_survivors, seconds_until_gone, start_time

ray = pytest.importorskip("ray", reason="the ray backend's tests need the cluster extra (scripts/setup.sh installs it)")

TASKS = [
    with_values(TaskParams(), {"robot.name": "half_cheetah", "goal.target_velocity_mps": v}) for v in (0.5, 1.0, 1.5)
] + [with_values(TaskParams(), {"robot.name": "half_cheetah", "robot.payload_kg": 5.0})]
ACTION_DIM = 6
SEVEN_STEPS = functools.partial(LocomotionEnv, config=EnvConfig(max_episode_steps=7))
RAY = SamplingConfig(backend="ray")
# Ray 2.60 asks for a token by default and fixes a driver's auth mode at its first ray.init; this test
# process joins several throw-away Ray instances in a row (see test_ray_cluster.py), all without one.
os.environ["RAY_AUTH_MODE"] = "disabled"


def ray_processes() -> dict[int, int | None]:
    """This test process's descendants that Ray started (pid -> start time)."""
    return {pid: start_time(pid) for pid in descendants_of(os.getpid()) if "ray" in command_line(pid)}


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """One local Ray with 2 CPUs for the module (starting one costs seconds); stopped, every process gone."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    try:
        yield
    finally:
        started = ray_processes()  # now: the actors' processes too
        ray.shutdown()
        survivors = [pid for pid, gone in seconds_until_gone(started, 15.0).items() if gone is None]
        kill_survivors(started)
        assert not survivors, f"Ray processes outlived ray.shutdown: {survivors}"


def assert_same(a: Trajectories, b: Trajectories) -> None:
    for f in fields(Trajectories):
        np.testing.assert_array_equal(getattr(a, f.name), getattr(b, f.name), err_msg=f.name)


@pytest.mark.slow
def test_same_seeds_give_the_process_pools_episodes_and_steps(local_ray: None) -> None:
    table = np.random.default_rng(0).uniform(-1, 1, (16, ACTION_DIM)).astype(np.float32)
    jobs = [EpisodeJob(UniformRandomPolicy(ACTION_DIM), (TASKS[i], TASKS[i + 1]), (10 + i, 20 + i)) for i in range(3)]
    jobs.append(EpisodeJob(ActionTablePolicy(table), (TASKS[3],), (5,)))
    results = {}
    for backend in ("process", "ray"):
        sampling = SamplingConfig(backend=backend)
        with VectorSampler(TASKS, num_workers=2, env_factory=SEVEN_STEPS, sampling=sampling) as sampler:
            episodes = sampler.run_episodes(jobs, horizon=10)
            # Jobs go to whichever worker is free, so which env ran which task last is the scheduler's:
            # give every env a known task again before the lock-step part.
            sampler.set_tasks(TASKS)
            first = sampler.reset(seeds=100)
            lockstep = sampler.rollout(UniformRandomPolicy(ACTION_DIM), 12)  # with autoreset after 7 steps
            sampler.set_tasks(TASKS[::-1])
            stepped = sampler.step(np.asarray(table[:4]))
            results[backend] = (episodes, first, lockstep, stepped)
    (p_episodes, p_first, p_lockstep, p_step), (r_episodes, r_first, r_lockstep, r_step) = results.values()
    assert len(r_episodes) == len(jobs)
    for process_part, ray_part in zip(p_episodes, r_episodes, strict=True):
        assert_same(process_part, ray_part)
    np.testing.assert_array_equal(p_first, r_first)
    assert_same(p_lockstep, r_lockstep)
    np.testing.assert_array_equal(p_step.obs, r_step.obs)
    np.testing.assert_array_equal(p_step.rewards, r_step.rewards)
    assert r_episodes[0].obs.flags.writeable  # as from a pipe: a learner may write into what it gets


@pytest.mark.slow
def test_an_exception_in_an_actor_is_raised_with_its_traceback(local_ray: None) -> None:
    with VectorSampler(TASKS[:2], num_workers=2, env_factory=SEVEN_STEPS, sampling=RAY) as sampler:
        wrong_width = EpisodeJob(UniformRandomPolicy(ACTION_DIM - 3), (TASKS[0],), (0,))
        with pytest.raises(SamplerError, match=r"sampler worker \d raised:\n(.|\n)*could not broadcast"):
            sampler.run_episodes([wrong_width], horizon=5)
        good = sampler.run_episodes([EpisodeJob(UniformRandomPolicy(ACTION_DIM), (TASKS[0],), (0,))], horizon=5)
    assert good[0].obs.shape[0] == 5  # the worker that raised answers the next job


@pytest.mark.slow
def test_a_dead_actor_is_reported_as_the_process_pool_reports_a_dead_worker(local_ray: None) -> None:
    with VectorSampler(TASKS[:2], num_workers=2, env_factory=SEVEN_STEPS, sampling=RAY) as sampler:
        actors = [pid for pid in descendants_of(os.getpid()) if "SamplerActor" in command_line(pid)]
        assert len(actors) == 2
        os.kill(actors[0], signal.SIGKILL)  # as a segfaulting simulator would end it
        jobs = [EpisodeJob(UniformRandomPolicy(ACTION_DIM), (TASKS[0],), (i,)) for i in range(4)]
        with pytest.raises(SamplerError, match=r"sampler worker \d \(envs \d\.\.\d, a Ray actor\) died"):
            sampler.run_episodes(jobs, horizon=5)


@pytest.mark.slow
def test_a_cluster_with_fewer_cpus_than_workers_is_refused_before_any_actor_waits(local_ray: None) -> None:
    with pytest.raises(SamplerError, match="has 2 CPUs: 3 sampler workers need one each"):
        VectorSampler(TASKS[:3], num_workers=3, env_factory=SEVEN_STEPS, sampling=RAY)


def test_bad_sampling_settings_are_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match="backend = 'threads' is not allowed: one of process, ray"):
        SamplingConfig(backend="threads")
    with pytest.raises(ValueError, match="ray_address = 'auto' is not allowed with backend = 'process'"):
        SamplingConfig(ray_address="auto")
