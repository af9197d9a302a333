"""The locomotion env: gymnasium compliance, determinism, isolation, and that every field is felt."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from sim.envs import ENV_IDS
from sim.envs.locomotion import EnvConfig, LocomotionEnv
from sim.params import ROBOT_NAMES, TERRAIN_KINDS, TaskParams, with_values
from sim.tasks import load_family

BUILTIN = [name for name in ROBOT_NAMES if name != "urdf"]


def make(changes: dict | None = None, **kwargs) -> LocomotionEnv:
    return LocomotionEnv(with_values(TaskParams(), changes or {}), **kwargs)


def rollout(env: LocomotionEnv, actions: np.ndarray, seed: int = 0) -> tuple[np.ndarray, list[dict]]:
    obs, _ = env.reset(seed=seed)
    observations, infos = [obs], []
    for action in actions:
        obs, _, terminated, truncated, info = env.step(action)
        observations.append(obs)
        infos.append(info)
        if terminated or truncated:
            break
    return np.stack(observations), infos


@pytest.mark.parametrize("terrain", TERRAIN_KINDS)
@pytest.mark.parametrize("robot", BUILTIN)
def test_check_env_passes_for_every_robot_and_terrain(robot: str, terrain: str) -> None:
    env = make({"robot.name": robot, "terrain.kind": terrain, "terrain.slope_deg": 5.0})
    try:
        check_env(env, skip_render_check=True)
    finally:
        env.close()


@pytest.mark.parametrize("robot", BUILTIN)
def test_registered_ids_make_the_right_robot(robot: str) -> None:
    env = gym.make(ENV_IDS[robot])
    try:
        assert env.unwrapped.get_task().robot.name == robot
    finally:
        env.close()


def test_registered_id_rejects_a_task_for_another_robot() -> None:
    task = with_values(TaskParams(), {"robot.name": "a1"})
    with pytest.raises(ValueError, match=r"robot\.name = 'a1' is not allowed for sim2adapt/Ant-v0"):
        gym.make("sim2adapt/Ant-v0", task=task)


@pytest.mark.parametrize("robot", BUILTIN)
def test_same_seed_and_task_give_the_same_trajectory_bit_for_bit(robot: str) -> None:
    task_changes = {"robot.name": robot, "terrain.kind": "rough"}
    env_a, env_b = make(task_changes), make(task_changes)
    actions = np.random.default_rng(1).uniform(-1, 1, (60, env_a.action_space.shape[0])).astype(np.float32)
    try:
        first, _ = rollout(env_a, actions, seed=5)
        rollout(env_a, actions[::-1], seed=9)  # an unrelated episode in between must leave no trace
        again, _ = rollout(env_a, actions, seed=5)
        fresh, _ = rollout(env_b, actions, seed=5)
        assert np.array_equal(first, again)
        assert np.array_equal(first, fresh)
        other_seed, _ = rollout(env_b, actions, seed=6)
        assert not np.array_equal(first, other_seed)
    finally:
        env_a.close()
        env_b.close()


def test_two_envs_in_one_process_do_not_share_a_world() -> None:
    env_a, env_b = make(), make()
    try:
        assert env_a._sim.client_id != env_b._sim.client_id
        env_a.reset(seed=0)
        env_b.reset(seed=0)
        for _ in range(30):
            env_a.step(np.ones(env_a.action_space.shape, dtype=np.float32))
        zero = np.zeros(env_b.action_space.shape, dtype=np.float32)
        moved_b, *_ = env_b.step(zero)
        env_c = make()
        env_c.reset(seed=0)
        alone_c, *_ = env_c.step(zero)
        env_c.close()
        assert np.array_equal(moved_b, alone_c)
    finally:
        env_a.close()
        env_b.close()


def test_reward_is_the_sum_of_named_terms() -> None:
    env = make({"robot.name": "ant"})
    try:
        env.reset(seed=0)
        _, reward, _, _, info = env.step(env.action_space.sample())
        terms = info["reward_terms"]
        assert set(terms) == {"velocity_tracking", "control", "alive", "fall"}
        assert reward == pytest.approx(sum(terms.values()))
    finally:
        env.close()


def test_truncates_after_max_episode_steps() -> None:
    env = make({"robot.name": "half_cheetah"}, config=EnvConfig(max_episode_steps=5))
    try:
        env.reset(seed=0)
        flags = [env.step(np.zeros(6, dtype=np.float32))[3] for _ in range(5)]
        assert flags == [False, False, False, False, True]
    finally:
        env.close()


def test_physics_blowup_ends_the_episode_with_a_flag_instead_of_crashing() -> None:
    env = make({"robot.name": "ant"})
    try:
        env.reset(seed=0)
        env._sim.resetBaseVelocity(env._robot.body_id, linearVelocity=[1e9, 0, 0])
        obs, reward, terminated, _, info = env.step(env.action_space.sample())
        assert terminated and info["physics_blowup"]
        assert np.all(np.isfinite(obs)) and np.isfinite(reward)
    finally:
        env.close()


def test_render_shows_robot_and_terrain_from_a_following_camera() -> None:
    env = make(
        {"robot.name": "ant", "terrain.kind": "rough", "terrain.rough_amplitude_m": 0.2},
        render_mode="rgb_array",
        config=EnvConfig(render_width=160, render_height=120),
    )
    try:
        env.reset(seed=0)
        frame = env.render()
        assert frame is not None and frame.shape == (120, 160, 3) and frame.dtype == np.uint8
        assert frame.std() > 10  # not a blank background
    finally:
        env.close()


def test_set_task_rejects_another_robot_but_accepts_dynamics_and_geometry_changes() -> None:
    env = make({"robot.name": "ant"})
    try:
        spaces = (env.observation_space, env.action_space)
        with pytest.raises(ValueError, match=r"robot\.name = 'a1' is not allowed in set_task"):
            env.set_task(with_values(env.get_task(), {"robot.name": "a1"}))
        env.set_task(with_values(env.get_task(), {"robot.limb_length_scale": 1.3, "terrain.kind": "stairs"}))
        env.set_task(with_values(env.get_task(), {"robot.payload_kg": 5.0}))
        env.reset(seed=0, options={"task": with_values(env.get_task(), {"terrain.friction": 0.3})})
        assert env.get_task().terrain.friction == 0.3
        assert (env.observation_space, env.action_space) == spaces
    finally:
        env.close()


def test_sample_tasks_draws_from_the_family_with_the_env_rng() -> None:
    family = load_family("cheetah-velocity")
    env = LocomotionEnv(family=family)
    try:
        env.reset(seed=3)
        tasks = env.sample_tasks(4)
        env.reset(seed=3)
        assert env.sample_tasks(4) == tasks
        assert len({t.goal.target_velocity_mps for t in tasks}) == 4
    finally:
        env.close()
    with make() as plain, pytest.raises(ValueError, match="family"):
        plain.sample_tasks(1)
