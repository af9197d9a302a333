"""A slope that changes under a robot: 'slope' ground turns in place about the point under the torso,
mid-episode, and the next episode starts on freshly built ground."""

from __future__ import annotations

import numpy as np
import pytest

from sim.envs.locomotion import LocomotionEnv
from sim.params import TaskParams, with_values
from sim.task_changes import TaskChange

ANT_ON_A_SLOPE = with_values(
    TaskParams(),
    {"robot.name": "ant", "robot.actuation": "position", "terrain.kind": "slope", "terrain.slope_deg": 2.0},
)
STEEPER = with_values(ANT_ON_A_SLOPE, {"terrain.slope_deg": 15.0})
STAND = np.zeros(8, dtype=np.float32)


def stood(env: LocomotionEnv, steps: int) -> tuple[np.ndarray, dict]:
    """The last observation and info of ``steps`` steps standing still (a fall fails the test)."""
    obs, info = np.zeros(0), {}
    for _ in range(steps):
        obs, _, terminated, _, info = env.step(STAND)
        assert not terminated
    return obs, info


def pitch_deg(obs: np.ndarray) -> float:
    """The torso's nose-up pitch: the world's up axis in the body frame is observed at obs[1:4]."""
    return float(np.degrees(np.arcsin(np.clip(obs[1], -1.0, 1.0))))


def test_a_slope_steepened_mid_episode_tilts_the_robot_as_ground_built_that_steep_does() -> None:
    with LocomotionEnv(ANT_ON_A_SLOPE) as env:
        env.reset(seed=0)
        obs, before = stood(env, 30)
        env.set_task(TaskChange(30, "terrain.slope_deg", 15.0).applied_to(env.get_task()))
        _, right_after = stood(env, 1)
        assert right_after["xy_position_m"] == pytest.approx(before["xy_position_m"], abs=0.05)  # not sent home
        assert right_after["torso_height_m"] == pytest.approx(before["torso_height_m"], abs=0.05)
        turned, _ = stood(env, 90)
    with LocomotionEnv(STEEPER) as fresh:
        fresh.reset(seed=0)
        built, _ = stood(fresh, 120)
    assert abs(pitch_deg(turned) - pitch_deg(obs)) > 8.0  # it felt the change
    assert pitch_deg(turned) == pytest.approx(pitch_deg(built), abs=2.0)


def test_the_next_episode_starts_on_freshly_built_ground() -> None:
    with LocomotionEnv(ANT_ON_A_SLOPE) as env, LocomotionEnv(STEEPER) as fresh:
        env.reset(seed=0)
        stood(env, 20)
        env.set_task(STEEPER)
        stood(env, 5)
        np.testing.assert_array_equal(env.reset(seed=3)[0], fresh.reset(seed=3)[0])
        np.testing.assert_array_equal(stood(env, 10)[0], stood(fresh, 10)[0])


@pytest.mark.parametrize("path", ["terrain.slope_deg", "terrain.slope_heading_deg"])
def test_a_slope_change_on_ground_that_is_not_a_slope_is_refused_naming_the_field(path: str) -> None:
    rough = with_values(TaskParams(), {"terrain.kind": "rough"})
    with pytest.raises(ValueError, match=f"{path} cannot change mid-episode on 'rough' ground"):
        TaskChange(10, path, 10.0).applied_to(rough)
