"""The process sampler: same results as single envs, errors and deaths reported, nothing left behind."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pytest
from sampler_fixtures import (
    StepCounterPolicy,
    TanhLinearPolicy,
    dies_on_step,
    fixed_actions,
    raises_on_step,
    short_episode_env,
)

from sim.params import TaskParams, with_values
from sim.sampler import EpisodeJob, SamplerError, UniformRandomPolicy, VectorSampler

TASKS = [
    with_values(TaskParams(), {"robot.name": "half_cheetah", "goal.target_velocity_mps": v}) for v in (0.5, 1.0, 1.5)
] + [with_values(TaskParams(), {"robot.name": "half_cheetah", "robot.payload_kg": 5.0})]
TASKS_OBS_DIM = 24  # the half_cheetah's observation length


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


def test_rollout_in_workers_matches_a_single_env_loop_with_the_same_policy() -> None:
    steps = 10
    with VectorSampler(TASKS, num_workers=2, env_factory=short_episode_env) as sampler:
        first_obs = sampler.reset(seeds=7)
        policy = TanhLinearPolicy(first_obs.shape[1], 6)
        trajectories = sampler.rollout(policy, steps)
        more = sampler.rollout(policy, 3)  # continues where the first rollout stopped
    assert trajectories.obs.shape == (steps, len(TASKS), first_obs.shape[1])
    for i, task in enumerate(TASKS):
        env = short_episode_env(task)
        obs, _ = env.reset(seed=7 + i)
        for t in range(steps + 3):
            part, k = (trajectories, t) if t < steps else (more, t - steps)
            assert np.array_equal(obs, part.obs[k, i]), (i, t)
            action = policy(obs[None], np.random.default_rng())[0]
            assert np.array_equal(action, part.actions[k, i])
            obs, reward, terminated, truncated, _ = env.step(action)
            assert (reward, terminated, truncated) == (part.rewards[k, i], part.terminated[k, i], part.truncated[k, i])
            assert np.array_equal(obs, part.next_obs[k, i])
            if terminated or truncated:
                obs, _ = env.reset()
        env.close()


def test_episode_jobs_match_single_env_episodes_whichever_worker_runs_them() -> None:
    policy = TanhLinearPolicy(TASKS_OBS_DIM, 6)
    jobs = [EpisodeJob(policy, (task,), (10 + i,)) for i, task in enumerate(TASKS)]
    with VectorSampler(TASKS[:2], num_workers=2, env_factory=short_episode_env) as sampler:
        first = sampler.run_episodes(jobs, horizon=9)
        again = sampler.run_episodes(jobs[::-1], horizon=9)[::-1]  # other jobs land on other workers
    for i, (task, trajectory) in enumerate(zip(TASKS, first, strict=True)):
        assert all(
            np.array_equal(a, b) for a, b in zip(vars(trajectory).values(), vars(again[i]).values(), strict=True)
        )
        env = short_episode_env(task)
        obs, _ = env.reset(seed=10 + i)
        for t in range(len(trajectory.rewards)):
            assert np.array_equal(obs, trajectory.obs[t, 0])
            obs, reward, terminated, truncated, _ = env.step(policy(obs[None], np.random.default_rng())[0])
            assert (reward, terminated, truncated) == tuple(
                part[t, 0] for part in (trajectory.rewards, trajectory.terminated, trajectory.truncated)
            )
        assert len(trajectory.rewards) == 7 and trajectory.truncated[-1, 0]  # the 7-step episode, then stop
        env.close()


def test_a_failing_job_raises_and_leaves_the_sampler_usable() -> None:
    policy = TanhLinearPolicy(TASKS_OBS_DIM, 6)
    with VectorSampler(TASKS[:2], num_workers=2, env_factory=short_episode_env) as sampler:
        broken = EpisodeJob(policy, (TASKS[0],), (-1,))  # a negative seed is refused by gymnasium
        with pytest.raises(SamplerError, match="raised"):
            sampler.run_episodes([EpisodeJob(policy, (TASKS[1],), (0,)), broken], horizon=3)
        assert len(sampler.run_episodes([EpisodeJob(policy, (TASKS[1],), (0,))], horizon=3)) == 1


@pytest.mark.slow
def test_policy_noise_is_reproducible_from_the_reset_seeds_and_differs_between_workers() -> None:
    def noisy_rollout(seed: int) -> np.ndarray:
        with VectorSampler(TASKS, num_workers=2, env_factory=short_episode_env) as sampler:
            sampler.reset(seeds=seed)
            return sampler.rollout(UniformRandomPolicy(6), 4).actions

    first, again, other = noisy_rollout(1), noisy_rollout(1), noisy_rollout(2)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    assert not np.array_equal(first[:, 0], first[:, 2])  # env 0 and env 2 live in different workers


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


def test_a_policy_with_memory_is_reset_at_each_episode_start_and_told_every_reward() -> None:
    """The rollout loop calls the hooks for every policy: state restarts with each episode (7 steps here)."""
    with VectorSampler(TASKS[:2], num_workers=1, env_factory=short_episode_env) as sampler:
        sampler.reset(seeds=3)
        lockstep = sampler.rollout(StepCounterPolicy(6), 16)
        (episodes,) = sampler.run_episodes([EpisodeJob(StepCounterPolicy(6), tuple(TASKS[:2]), (5, 6))], 10)
    expected_counts = np.array([t % 7 for t in range(16)]) / 100.0
    for row in range(2):
        assert np.allclose(lockstep.actions[:, row, 0], expected_counts)
        # the second action input is the reward of the step before, 0 at each episode start
        starts = np.arange(16) % 7 == 0
        previous = np.concatenate([[0.0], lockstep.rewards[:-1, row]])
        assert np.allclose(lockstep.actions[:, row, 1], np.where(starts, 0.0, np.clip(previous, -1, 1)), atol=1e-6)
    assert np.allclose(episodes.actions[:7, 0, 0], np.arange(7) / 100.0)


def test_a_sampler_failure_is_the_one_child_failure_type_and_crosses_processes_as_itself() -> None:
    import pickle

    from sim.child_failure import ChildFailed

    failure = SamplerError("sampler worker 1 (envs 2..3) died with exit code -9")
    assert isinstance(failure, ChildFailed)  # one except clause catches every child's failure
    again = pickle.loads(pickle.dumps(failure))
    assert type(again) is SamplerError and str(again) == str(failure)
