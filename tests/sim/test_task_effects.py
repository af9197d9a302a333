"""Every task field is really felt by the simulated robot, measured in motion.

Each test changes one field and compares a physical quantity against the default task under the
same seed and the same actions, so a field that silently stopped reaching PyBullet fails here.
Quantities are read where a user reads them: the observation and the step's ``info``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.envs.locomotion import LocomotionEnv
from sim.params import TaskParams, with_values

ANT_ON_SLOPE = {"robot.name": "ant", "terrain.kind": "slope", "terrain.slope_deg": 25.0}


@dataclass(frozen=True)
class Outcome:
    """What a user sees of a run: the first and last observation and the last step's info."""

    first_obs: np.ndarray
    obs: np.ndarray
    info: dict


def simulate(changes: dict, steps: int, measure: Callable[[Outcome], float], action: float = 0.0) -> float:
    """Run ``steps`` env steps with a constant action and return ``measure`` of the outcome."""
    with LocomotionEnv(with_values(TaskParams(), changes)) as env:
        first_obs, info = env.reset(seed=0)
        obs = first_obs
        for _ in range(steps):
            obs, _, _, _, info = env.step(np.full(env.action_space.shape, action, dtype=np.float32))
            assert not info.get("physics_blowup", False)
        return measure(Outcome(first_obs, obs, info))


def torso_height(outcome: Outcome) -> float:
    return float(outcome.info["torso_height_m"])


def horizontal_travel(outcome: Outcome) -> float:
    x, y = outcome.info["xy_position_m"]
    return float(np.hypot(x, y))


def sensed_motion(outcome: Outcome) -> float:
    """How far the observation moved from the reset one: over a few steps the joints' angles and
    speeds (which the observation carries) move far more than the torso does."""
    return float(np.abs(outcome.obs - outcome.first_obs).sum())


def test_heavier_payload_sinks_the_standing_quadruped() -> None:
    light = simulate({"robot.name": "a1"}, 60, torso_height)
    heavy = simulate({"robot.name": "a1", "robot.payload_kg": 20.0}, 60, torso_height)
    assert heavy < light - 0.01


def test_heavier_links_sink_the_standing_quadruped() -> None:
    light = simulate({"robot.name": "a1"}, 60, torso_height)
    heavy = simulate({"robot.name": "a1", "robot.mass_scale": 3.0}, 60, torso_height)
    assert heavy < light - 0.01


def test_near_zero_ground_friction_makes_the_robot_slide_down_a_slope() -> None:
    grippy = simulate(ANT_ON_SLOPE, 60, horizontal_travel)
    slippery = simulate({**ANT_ON_SLOPE, "terrain.friction": 0.01}, 60, horizontal_travel)
    assert slippery > grippy + 0.2


def test_near_zero_foot_friction_makes_the_robot_slide_down_a_slope() -> None:
    grippy = simulate(ANT_ON_SLOPE, 60, horizontal_travel)
    slippery = simulate({**ANT_ON_SLOPE, "robot.foot_friction": 0.01}, 60, horizontal_travel)
    assert slippery > grippy + 0.2


def test_stronger_motors_move_the_joints_faster() -> None:
    weak = simulate({"robot.name": "half_cheetah", "robot.motor_strength_scale": 0.3}, 4, sensed_motion, 1.0)
    strong = simulate({"robot.name": "half_cheetah", "robot.motor_strength_scale": 2.0}, 4, sensed_motion, 1.0)
    assert strong > 2 * weak


def test_joint_damping_slows_the_joints() -> None:
    free = simulate({"robot.name": "half_cheetah", "robot.joint_damping": 0.0}, 4, sensed_motion, 1.0)
    damped = simulate({"robot.name": "half_cheetah", "robot.joint_damping": 5.0}, 4, sensed_motion, 1.0)
    assert damped < 0.9 * free


def test_stronger_gravity_pulls_the_robot_down_faster() -> None:
    floating = simulate({"robot.name": "ant", "terrain.gravity_mps2": 0.0}, 6, torso_height)
    falling = simulate({"robot.name": "ant", "terrain.gravity_mps2": 25.0}, 6, torso_height)
    assert falling < floating - 0.01


def test_longer_limbs_raise_the_torso() -> None:
    for robot in ("ant", "hexapod", "half_cheetah", "a1"):
        short = simulate({"robot.name": robot, "robot.limb_length_scale": 0.7}, 1, torso_height)
        long = simulate({"robot.name": robot, "robot.limb_length_scale": 1.4}, 1, torso_height)
        assert long > short + 0.02, robot


def test_ground_shape_changes_where_the_robot_stands() -> None:
    flat = simulate({"robot.name": "a1"}, 1, torso_height)  # flat ground is at height 0
    for kind in ("stairs", "rough", "slope"):
        changes = {
            "robot.name": "a1",
            "terrain.kind": kind,
            "terrain.slope_deg": 20.0,
            "terrain.rough_amplitude_m": 0.3,
            "terrain.step_rise_m": 0.2,
            "terrain.step_run_m": 0.2,
        }
        with LocomotionEnv(with_values(TaskParams(), changes)) as env:
            heights = {round(env._terrain.height_at(x, 0.0), 3) for x in np.linspace(0.5, 4.0, 8)}
        assert len(heights) > 1, kind
    assert flat > 0.1


def test_goal_sets_the_velocity_being_tracked() -> None:
    def tracking(outcome: Outcome) -> float:
        return float(outcome.info["reward_terms"]["velocity_tracking"])

    still = simulate({"robot.name": "a1", "goal.target_velocity_mps": 0.0}, 30, tracking)
    fast = simulate({"robot.name": "a1", "goal.target_velocity_mps": 2.0}, 30, tracking)
    assert fast < still - 1.5


def test_target_heading_rewards_motion_in_that_direction() -> None:
    def tracking_while_pushed_east(heading_deg: float) -> float:
        task = with_values(TaskParams(), {"robot.name": "ant", "goal.target_heading_deg": heading_deg})
        with LocomotionEnv(task) as env:
            env.reset(seed=0)
            env._sim.resetBaseVelocity(env._robot.body_id, linearVelocity=[1.0, 0.0, 0.0])
            _, _, _, _, info = env.step(np.zeros(env.action_space.shape, dtype=np.float32))
            return float(info["reward_terms"]["velocity_tracking"])

    assert tracking_while_pushed_east(0.0) > tracking_while_pushed_east(90.0) + 0.3
    assert tracking_while_pushed_east(90.0) > tracking_while_pushed_east(180.0) + 0.3


def test_ground_restitution_makes_a_dropped_robot_bounce() -> None:
    def peak_rebound(changes: dict) -> float:
        with LocomotionEnv(with_values(TaskParams(), {"robot.name": "ant", **changes})) as env:
            env.reset(seed=0)
            body = env._robot.body_id
            env._sim.resetBasePositionAndOrientation(body, [0, 0, 1.5], [0, 0, 0, 1])
            lowest, rebound = np.inf, 0.0
            for _ in range(60):
                _, _, _, _, info = env.step(np.zeros(env.action_space.shape, dtype=np.float32))
                lowest = min(lowest, info["torso_height_m"])
                rebound = max(rebound, info["torso_height_m"] - lowest)  # how high it rose again after touching down
            return rebound

    assert peak_rebound({"terrain.restitution": 0.9}) > peak_rebound({"terrain.restitution": 0.0}) + 0.3


def ant_joint_angles(outcome: Outcome) -> np.ndarray:
    """The ant's eight joint angles as its observation carries them (after its 12 torso values)."""
    return outcome.obs[12:20]


HIPS_TO_03_RAD = np.array([0.6, 0.0] * 4, dtype=np.float32)  # position actuation: hip targets 0.6 * 0.5 rad


def simulate_action(changes: dict, steps: int, action: np.ndarray) -> Outcome:
    with LocomotionEnv(with_values(TaskParams(), changes)) as env:
        first_obs, info = env.reset(seed=0)
        obs = first_obs
        for _ in range(steps):
            obs, _, _, _, info = env.step(action)
        return Outcome(first_obs, obs, info)


def test_position_actuation_drives_the_ants_joints_to_their_targets() -> None:
    hips = ant_joint_angles(simulate_action({"robot.name": "ant", "robot.actuation": "position"}, 60, HIPS_TO_03_RAD))
    np.testing.assert_allclose(hips[::2], 0.3, atol=0.05)


def test_a_limp_leg_does_not_follow_its_target() -> None:
    leg_1_hip = np.zeros(8, dtype=np.float32)
    leg_1_hip[2] = 0.6  # target 0.3 rad for leg 1's hip, the standing pose for every other joint
    ant = {"robot.name": "ant", "robot.actuation": "position", "robot.weak_leg": 1}
    healthy = ant_joint_angles(simulate_action({**ant, "robot.weak_leg_strength": 1.0}, 60, leg_1_hip))
    limp = ant_joint_angles(simulate_action({**ant, "robot.weak_leg_strength": 0.0}, 60, leg_1_hip))
    assert healthy[2] > 0.2  # near its target, against the foot's friction on the ground
    assert abs(limp[2]) < 0.1


def test_a_weak_legs_motor_moves_it_more_slowly() -> None:
    leg_2_hip = np.zeros(8, dtype=np.float32)
    leg_2_hip[4] = 0.3  # torque actuation: 30 % of the hip's torque limit, nothing on the other joints
    ant = {"robot.name": "ant", "robot.weak_leg": 2}

    def hip_turn(strength: float) -> float:
        outcome = simulate_action({**ant, "robot.weak_leg_strength": strength}, 4, leg_2_hip)
        return float(ant_joint_angles(outcome)[4] - outcome.first_obs[12 + 4])

    assert hip_turn(0.2) < 0.5 * hip_turn(1.0)


def test_torque_actuation_leaves_the_a1_unable_to_stand_with_zero_action() -> None:
    standing = simulate({"robot.name": "a1"}, 120, torso_height)
    limp = simulate({"robot.name": "a1", "robot.actuation": "torque"}, 120, torso_height)
    assert limp < 0.6 * standing
