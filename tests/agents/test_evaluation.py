"""Adaptation scores: every (task, seed) run through the adaptation generator, with honest intervals,
in returns and in physical units."""

from __future__ import annotations

import functools
import json
import math
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from agents.core.adaptation import AdaptConfig, AdaptResult, EpisodeEvent, adapt
from agents.core.evaluation import (
    RANDOM_LABEL,
    AdaptationScores,
    RandomAgent,
    eval_episode_steps,
    evaluate_adaptation,
    normalised_after_one,
    reference_label,
    t95,
)
from agents.core.threads import one_torch_thread
from agents.ppo.finetune import scratch_agent
from agents.ppo.update import PPOConfig
from sim.envs.locomotion import LocomotionEnv
from sim.envs.point_mass import PointMassEnv
from sim.metrics import EpisodeMeter
from sim.params import TaskParams, with_values

TASKS = [with_values(TaskParams(), {"goal.target_velocity_mps": v}) for v in (0.5, 1.5)]


def make_agent():
    return scratch_agent(obs_dim=4, action_dim=2, config=PPOConfig(horizon=10, minibatch_size=16), seed=0)


def make_env(task: TaskParams) -> PointMassEnv:
    return PointMassEnv(task, max_episode_steps=10)


@pytest.mark.slow
def test_scores_are_the_returns_of_the_adaptation_generator() -> None:
    scores = evaluate_adaptation(make_agent, make_env, TASKS, label="scratch", shots=3, max_steps=10, seeds=(4, 5))
    assert scores.returns.shape == (2, 2, 3)
    config = AdaptConfig(shots=3, updates=2, max_steps=10, seed=5 + 1000)  # task 1, seed 5
    with one_torch_thread():  # as evaluate_adaptation acts: another thread count sums floats in another order
        result = next(e for e in adapt(make_agent, make_env, TASKS[1], config) if isinstance(e, AdaptResult))
    assert scores.returns[1, 1].tolist() == list(result.episode_returns)
    assert scores.mean() == pytest.approx(scores.returns.reshape(4, 3).mean(axis=0))


def test_confidence_interval_uses_student_t() -> None:
    runs = np.array([[1.0, 2.0], [3.0, 2.0], [5.0, 2.0]])
    scores = AdaptationScores("x", runs.reshape(3, 1, 2))
    assert scores.ci95()[0] == pytest.approx(4.303 * 2.0 / math.sqrt(3))
    assert scores.ci95()[1] == 0.0
    assert scores.improved_fraction(1) == pytest.approx(1 / 3)
    assert (t95(1), t95(11), t95(1000)) == (12.706, 2.228, 1.96)


def test_normalised_score_runs_from_the_random_agent_to_the_best_given_reference() -> None:
    def row(label: str, before: float, after: float) -> AdaptationScores:
        return AdaptationScores(label, np.array([[[before, after]]]))

    learner, random = row("learner", -50.0, -30.0), row(RANDOM_LABEL, -100.0, -100.0)
    weak, strong = row("weak-oracle", -60.0, -60.0), row("strong-oracle", -20.0, -20.0)
    scores = [learner, weak, strong, random]
    references = {"weak-oracle", "strong-oracle"}
    assert reference_label(scores, references) == "strong-oracle"
    assert reference_label(scores, {"weak-oracle"}) == "weak-oracle"  # only the given labels are references
    assert normalised_after_one(learner, scores, references=references) == pytest.approx(70 / 80)
    assert normalised_after_one(strong, scores, references=references) == pytest.approx(1.0)
    assert normalised_after_one(random, scores, references=references) == pytest.approx(0.0)
    assert normalised_after_one(learner, [learner, random], references=references) is None  # no ceiling
    assert normalised_after_one(learner, [learner, strong], references=references) is None  # no zero
    flat = [learner, row(RANDOM_LABEL, -20.0, -20.0), strong]
    assert normalised_after_one(learner, flat, references=references) is None  # zero == ceiling: no scale


class ScriptedTorsoEnv(gym.Env):
    """A torso that runs at 1.5 m/s whatever the agent does, 4 steps a second; odd seeds fall at step 6."""

    observation_space = gym.spaces.Box(-1.0, 1.0, shape=(1,))
    action_space = gym.spaces.Box(-1.0, 1.0, shape=(1,))
    DT, SPEED, FALL_STEP = 0.25, 1.5, 6

    def __init__(self, task: TaskParams) -> None:
        self.task = task

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        self.falls, self.steps, self.position = bool(seed is not None and seed % 2), 0, 3.0
        target = self.task.goal.target_velocity_mps
        info = {"control_dt_s": self.DT, "target_velocity_mps": target, "position_along_heading_m": self.position}
        return np.zeros(1, np.float32), info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        self.steps += 1
        self.position += self.SPEED * self.DT
        fallen = self.falls and self.steps == self.FALL_STEP
        info = {"velocity_along_heading_mps": self.SPEED, "position_along_heading_m": self.position, "fallen": fallen}
        return np.zeros(1, np.float32), 1.0, fallen, False, info


def test_physical_measures_are_the_scripted_torso_s_error_falls_and_distance() -> None:
    tasks = [with_values(TaskParams(), {"goal.target_velocity_mps": v}) for v in (1.0, 2.5)]
    # runs reset with seeds 0, 1 (task 0) and 1000, 1001 (task 1), +1 per episode: one of each pair falls
    scores = evaluate_adaptation(
        lambda: RandomAgent(1), ScriptedTorsoEnv, tasks, label="scripted", shots=2, max_steps=12, seeds=(0, 1)
    )
    error = scores.values("tracking_error_mps")
    assert error[0] == pytest.approx(np.full((2, 2), 0.5)) and error[1] == pytest.approx(np.full((2, 2), 1.0))
    assert scores.mean("tracking_error_mps") == pytest.approx([0.75, 0.75])
    assert scores.mean("fall_share").tolist() == [0.5, 0.5]
    fell, ran = 6 * 0.25 * 1.5, 12 * 0.25 * 1.5
    assert scores.values("distance_m")[:, :, 0].tolist() == [[ran, fell], [ran, fell]]
    assert scores.ci95("fall_share") == pytest.approx(np.full(2, t95(3) * 0.5 * math.sqrt(4 / 3) / 2))
    summary = json.loads(json.dumps(scores.to_dict()))
    assert summary["fall_share"]["mean"] == [0.5, 0.5] and summary["mean"] == scores.mean().tolist()


def test_metrics_come_from_the_env_s_step_infos_of_the_generator_s_own_episodes() -> None:
    task = with_values(TaskParams(), {"robot.name": "half_cheetah", "goal.target_velocity_mps": 0.8})
    config = AdaptConfig(shots=2, updates=1, max_steps=90, seed=7)  # 1.5 s: the first second is left out
    events = [e for e in adapt(lambda: RandomAgent(6), LocomotionEnv, task, config) if isinstance(e, EpisodeEvent)]
    rng = np.random.default_rng(7)  # replay the generator's episodes by hand, as RandomAgent acts
    with LocomotionEnv(task) as env:
        for event in events:
            _, reset_info = env.reset(seed=7 + event.episode)
            meter = EpisodeMeter.from_reset_info(reset_info)
            assert meter is not None
            for _ in range(event.length):
                meter.add(env.step(rng.uniform(-1.0, 1.0, 6).astype(np.float32))[-1])
            assert event.metrics == meter.result()
            assert event.metrics.steps == 90 and event.metrics.tracking_error_mps > 0.0


def test_the_toy_env_has_no_physical_measures_and_episodes_last_ten_simulated_seconds() -> None:
    toy_agent = functools.partial(RandomAgent, 2)
    scores = evaluate_adaptation(toy_agent, make_env, TASKS[:1], label="toy", shots=2, max_steps=10, seeds=(0, 1))
    assert np.isnan(scores.values("distance_m")).all()
    assert scores.to_dict()["tracking_error_mps"] == {"mean": [None, None], "ci95": [None, None]}
    assert np.isnan(AdaptationScores("hand-made", np.zeros((1, 2, 3))).mean("fall_share")).all()
    with pytest.raises(ValueError, match=r"measure = 'speed' is not allowed: one of return, tracking_error_mps"):
        scores.values("speed")
    assert eval_episode_steps() == 600
