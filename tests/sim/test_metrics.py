"""Episode metrics: scripted step infos give the known tracking error, fall and distance; the env reports them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.envs.locomotion import EnvConfig, LocomotionEnv
from sim.metrics import EpisodeMeter, episode_steps
from sim.params import TaskParams, with_values

DT = 0.25  # four steps per simulated second keeps the scripts short


def step_info(velocity: float, position: float, *, fallen: bool = False) -> dict:
    return {"velocity_along_heading_mps": velocity, "position_along_heading_m": position, "fallen": fallen}


def run(velocities: list[float], *, target: float = 1.0, fall_at_end: bool = False) -> EpisodeMeter:
    """An episode whose torso moves at ``velocities`` (one per step), starting at 2 m."""
    meter = EpisodeMeter(control_dt=DT, target_velocity_mps=target, start_position_m=2.0)
    position = 2.0
    for k, velocity in enumerate(velocities):
        position += velocity * DT
        meter.add(step_info(velocity, position, fallen=fall_at_end and k == len(velocities) - 1))
    return meter


def test_a_known_torso_velocity_gives_the_known_error_and_distance() -> None:
    metrics = run([0.0] * 4 + [1.5, 0.5] * 4).result()  # 1 s standing still, then 1 m/s on average
    assert metrics.tracking_error_mps == pytest.approx(0.5)  # |1.5 - 1| and |0.5 - 1|
    assert metrics.distance_m == pytest.approx(2.0 * DT * 4)  # 8 steps at 1 m/s on average
    assert metrics.steps == 12 and not metrics.fell


def test_the_first_second_is_left_out() -> None:
    settled = [1.2] * 8  # 0.2 m/s too fast after the first second
    for first_second in ([0.0] * 4, [9.0] * 4, [-3.0, 1.0, 1.0, 7.0]):
        assert run(first_second + settled).result().tracking_error_mps == pytest.approx(0.2)


def test_an_episode_of_one_second_or_less_is_measured_over_all_its_steps() -> None:
    assert run([0.0, 2.0, 1.5, 1.0]).result().tracking_error_mps == pytest.approx((1.0 + 1.0 + 0.5 + 0.0) / 4)
    assert run([0.4]).result().tracking_error_mps == pytest.approx(0.6)


def test_a_fall_at_the_end_is_detected_and_a_recovered_stumble_is_not() -> None:
    assert run([1.0] * 6, fall_at_end=True).result().fell
    meter = run([1.0] * 3)
    meter.add(step_info(1.0, 3.0, fallen=True))
    meter.add(step_info(1.0, 3.25))
    assert not meter.result().fell


def test_a_blow_up_step_counts_but_adds_no_velocity_sample() -> None:
    meter = run([1.0] * 6 + [0.5])
    meter.add({"physics_blowup": True, "fallen": False, "reward_terms": {}})
    metrics = meter.result()
    assert metrics.steps == 8 and metrics.tracking_error_mps == pytest.approx(0.5 / 3) and not metrics.fell


def test_an_env_without_torso_readings_has_no_meter_and_bad_periods_are_refused() -> None:
    assert EpisodeMeter.from_reset_info({}) is None
    assert math.isnan(EpisodeMeter(control_dt=DT, target_velocity_mps=1.0).result().tracking_error_mps)
    with pytest.raises(ValueError, match=r"control_dt = -0.1 is not allowed"):
        EpisodeMeter(control_dt=-0.1, target_velocity_mps=1.0)
    with pytest.raises(ValueError, match=r"seconds = -10.0 is not allowed: a positive finite number"):
        episode_steps(-10.0, DT)


def test_ten_seconds_are_600_steps_at_the_env_control_rate() -> None:
    assert episode_steps(10.0, EnvConfig().control_dt) == 600
    assert episode_steps(1e-6, EnvConfig().control_dt) == 1


@pytest.mark.parametrize(
    ("robot", "heading_deg"), [("half_cheetah", 0.0), ("half_cheetah", 45.0), ("ant", 90.0), ("ant", 30.0)]
)
def test_the_env_reports_what_the_meter_needs_along_the_target_heading(robot: str, heading_deg: float) -> None:
    task = with_values(TaskParams(), {"robot.name": robot, "goal.target_heading_deg": heading_deg})
    with LocomotionEnv(task) as env:
        _, reset_info = env.reset(seed=0)
        meter = EpisodeMeter.from_reset_info(reset_info)
        assert meter is not None and meter.settle_steps == 60
        heading = 0.0 if robot == "half_cheetah" else math.radians(heading_deg)  # the planar runner runs along x
        unit = np.array([math.cos(heading), math.sin(heading)])
        start = float(np.dot(reset_info["xy_position_m"], unit))
        assert reset_info["position_along_heading_m"] == pytest.approx(start)
        rng = np.random.default_rng(0)
        errors = []
        for _ in range(30):  # half a second: the error is over all steps
            *_, info = env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))
            meter.add(info)
            along = float(np.dot(info["velocity_mps"], unit))
            assert info["velocity_along_heading_mps"] == pytest.approx(along)
            errors.append(abs(along - task.goal.target_velocity_mps))
        end = float(np.dot(info["xy_position_m"], unit))
        assert meter.result().distance_m == pytest.approx(end - start)
        assert meter.result().tracking_error_mps == pytest.approx(np.mean(errors))


def test_a_cheetah_that_ends_on_its_back_counts_as_a_fall() -> None:
    """The planar cheetah cannot fall (its episodes never terminate), but lying on its back is what a person sees."""
    meter = run([1.0] * 6)
    meter.add({**step_info(0.0, 3.5), "upside_down": True})
    assert meter.result().fell
    env = LocomotionEnv(with_values(TaskParams(), {"robot.name": "half_cheetah"}))
    try:
        env.reset(seed=0)
        _, _, terminated, _, info = env.step(np.zeros(6, np.float32))
        assert info["upside_down"] is False and not terminated
    finally:
        env.close()


def test_how_an_episode_ended_is_kept_from_its_last_step() -> None:
    meter = run([1.0] * 3)
    meter.add({**step_info(1.0, 3.0), "left_world": True})
    assert meter.result().ending == "left_world"
    meter.add({"physics_blowup": True, "fallen": False, "reward_terms": {}})
    assert meter.result().ending == "physics_blowup"
    assert run([1.0] * 3).result().ending == ""
