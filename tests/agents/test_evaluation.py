"""Adaptation scores: every (task, seed) run through the adaptation generator, with honest intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agents.adaptation import AdaptConfig, AdaptResult, adapt
from agents.evaluation import AdaptationScores, evaluate_adaptation, t95
from agents.finetune_agent import scratch_agent
from agents.ppo import PPOConfig
from sim.envs.point_mass import PointMassEnv
from sim.params import TaskParams, with_values

TASKS = [with_values(TaskParams(), {"goal.target_velocity_mps": v}) for v in (0.5, 1.5)]


def make_agent():
    return scratch_agent(obs_dim=4, action_dim=2, config=PPOConfig(horizon=10, minibatch_size=16), seed=0)


def make_env(task: TaskParams) -> PointMassEnv:
    return PointMassEnv(task, max_episode_steps=10)


def test_scores_are_the_returns_of_the_adaptation_generator() -> None:
    scores = evaluate_adaptation(make_agent, make_env, TASKS, label="scratch", shots=3, max_steps=10, seeds=(4, 5))
    assert scores.returns.shape == (2, 2, 3)
    config = AdaptConfig(shots=3, updates=2, max_steps=10, seed=5 + 1000)  # task 1, seed 5
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
