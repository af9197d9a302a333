"""An episode ends with ``info["left_world"]`` when the torso leaves the terrain or its height is absurd.

Seen before the flag: a half_cheetah sliding off the steepest, most slippery slope free-fell 260 m
below the terrain, and user URDF robots were thrown 12 m up, with episodes that went on unflagged.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.envs.locomotion import LocomotionEnv
from sim.params import TaskParams, with_values

ANT = with_values(TaskParams(), {"robot.name": "ant"})


def _teleport(env: LocomotionEnv, position: tuple[float, float, float]) -> None:
    """Put the ant's torso (its base) at ``position``, at rest."""
    env._sim.resetBasePositionAndOrientation(env._robot.body_id, position, (0.0, 0.0, 0.0, 1.0))
    env._sim.resetBaseVelocity(env._robot.body_id, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0))


def test_an_ordinary_step_stays_in_the_world() -> None:
    with LocomotionEnv(ANT) as env:
        env.reset(seed=0)
        _, _, terminated, _, info = env.step(np.zeros(env.action_space.shape, np.float32))
        assert info["left_world"] is False and not terminated


@pytest.mark.parametrize(
    ("where", "position"),
    [
        ("beyond the ground's edge", (150.0, 0.0, 0.6)),
        ("thrown far above it", (0.0, 0.0, 30.0)),
        ("fallen below it", (80.0, 0.0, 80.0 * np.tan(np.radians(20.0)) - 15.0)),  # under the slope's slab
    ],
)
def test_leaving_the_world_ends_the_episode_with_a_flag(where: str, position: tuple[float, float, float]) -> None:
    slope = with_values(ANT, {"terrain.kind": "slope", "terrain.slope_deg": 20.0})
    with LocomotionEnv(slope) as env:
        env.reset(seed=0)
        _teleport(env, position)
        obs, reward, terminated, _, info = env.step(np.zeros(env.action_space.shape, np.float32))
        assert info["left_world"] is True and terminated, where
        assert np.all(np.isfinite(obs)) and np.isfinite(reward)  # the state itself is sound: observed as usual


def _leaves_the_world_at(task: TaskParams, position: tuple[float, float, float]) -> bool:
    """Whether one step from the torso put at ``position`` ends with ``info["left_world"]``."""
    with LocomotionEnv(task) as env:
        env.reset(seed=0)
        _teleport(env, position)
        _, _, terminated, _, info = env.step(np.zeros(env.action_space.shape, np.float32))
        assert terminated or not info["left_world"]  # leaving the world ends the episode
        return bool(info["left_world"])


TAN_30 = float(np.tan(np.radians(30.0)))


@pytest.mark.parametrize(
    ("where", "position", "leaves"),
    [
        ("on the slope near its lower edge", (-80.0, 0.0, -80.0 * TAN_30 + 1.5), False),
        # the ground's square is 200 m wide flat; tilted by 30 degrees it reaches only 86.6 m downhill
        ("past the tilted ground's lower edge", (-90.0, 0.0, -90.0 * TAN_30 + 1.5), True),
        ("near its side edge", (0.0, 99.0, 1.5), False),
        ("past its side edge", (0.0, 101.0, 1.5), True),
    ],
)
def test_the_world_ends_where_the_tilted_ground_ends(
    where: str, position: tuple[float, float, float], leaves: bool
) -> None:
    slope = with_values(ANT, {"terrain.kind": "slope", "terrain.slope_deg": 30.0})
    assert _leaves_the_world_at(slope, position) is leaves, where


@pytest.mark.parametrize(("robot", "leaves"), [("ant", False), ("a1", True)])
def test_how_high_is_absurd_follows_the_robots_size(robot: str, leaves: bool) -> None:
    """5 m above flat ground: within three body sizes of the ant (2.5 m across), absurd for the A1 (0.75 m)."""
    task = with_values(TaskParams(), {"robot.name": robot})
    assert _leaves_the_world_at(task, (0.0, 0.0, 5.0)) is leaves


def test_a_slipping_cheetah_on_the_steepest_slope_is_flagged_not_left_falling() -> None:
    """The measured case, shortened: the cheetah starts near the slope's lower edge and slides off it."""
    task = with_values(
        TaskParams(),
        {
            "robot.name": "half_cheetah",
            "terrain.kind": "slope",
            "terrain.slope_deg": 30.0,
            "terrain.friction": 0.01,
            "robot.foot_friction": 0.01,
        },
    )
    with LocomotionEnv(task) as env:
        env.reset(seed=0)
        root = env._robot.joint_indices[0] - 3  # the planar root: slide-x, slide-z, hinge-y
        env._sim.resetJointState(env._robot.body_id, root, -85.0, 0.0)  # 85 m down the slope's heading
        env._sim.resetJointState(env._robot.body_id, root + 1, -85.0 * np.tan(np.radians(30.0)) + 0.2, 0.0)
        for _ in range(600):
            _, _, terminated, _, info = env.step(np.zeros(env.action_space.shape, np.float32))
            if terminated:
                break
        assert info["left_world"] is True
