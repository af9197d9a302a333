"""The baselines a meta-learner must beat: multi-task PPO (fine-tuned at test time) and PPO from scratch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.algorithms import get_algorithm
from agents.core.adaptation import AdaptConfig, AdaptResult, EpisodeEvent, UpdateEvent, adapt
from agents.core.policies import GaussianMLPPolicy
from agents.ppo.finetune import scratch_agent
from agents.ppo.multitask import MultiTaskPPOLearner
from agents.ppo.update import PPOConfig
from agents.storage.runs import RunDir
from agents.training.train import TrainSettings, load_trained, run_training, start_run
from sim.envs.point_mass import PointMassEnv
from sim.params import TaskParams, with_values
from sim.sampler import VectorSampler
from sim.tasks import TaskDistribution, UniformRange

FAMILY = TaskDistribution(
    name="point-velocity",
    base=with_values(TaskParams(), {"goal.target_heading_deg": 0.0}),
    vary={"goal.target_velocity_mps": UniformRange(0.5, 1.5)},
    num_test_tasks=2,
)
CONFIG = PPOConfig(tasks_per_iteration=4, episodes_per_task=4, horizon=20, minibatch_size=80, lr=3e-3)


@pytest.fixture(scope="module")
def sampler() -> Iterator[VectorSampler]:
    with VectorSampler([FAMILY.base] * 4, num_workers=1, env_factory=PointMassEnv) as s:
        yield s


def make_learner(seed: int = 0) -> MultiTaskPPOLearner:
    return MultiTaskPPOLearner(
        obs_dim=4, action_dim=2, family=FAMILY, config=CONFIG, seed=seed, device=torch.device("cpu")
    )


@pytest.mark.slow
def test_multitask_ppo_learns_the_family_average(sampler: VectorSampler) -> None:
    learner = make_learner()
    stats = [learner.train_iteration(sampler) for _ in range(25)]
    first, last = np.mean([s.pre_return for s in stats[:3]]), np.mean([s.pre_return for s in stats[-3:]])
    assert last > first + 5.0, (first, last)
    assert all(s.post_return is None for s in stats)  # no adaptation during multi-task training
    assert all(s.env_steps == CONFIG.tasks_per_iteration * CONFIG.episodes_per_task * CONFIG.horizon for s in stats)


@pytest.mark.slow
def test_same_seed_same_iterations(sampler: VectorSampler) -> None:
    a, b, c = make_learner(5), make_learner(5), make_learner(6)
    first, again, other = (learner.train_iteration(sampler) for learner in (a, b, c))
    assert (first.pre_return, first.loss) == (again.pre_return, again.loss)
    assert other.pre_return != first.pre_return


def run_adaptation(agent_factory, task: TaskParams, shots: int) -> AdaptResult:
    config = AdaptConfig(shots=shots, updates=shots - 1, max_steps=20, seed=3)
    events = list(adapt(agent_factory, lambda t: PointMassEnv(t, max_episode_steps=20), task, config))
    assert sum(isinstance(e, UpdateEvent) for e in events) == shots - 1
    assert [e.episode for e in events if isinstance(e, EpisodeEvent)] == list(range(shots))
    result = events[-1]
    assert isinstance(result, AdaptResult)
    return result


@pytest.mark.slow
def test_ppo_from_scratch_improves_on_one_task_through_the_adaptation_api() -> None:
    """Fine-tuning is real learning: a fresh policy gets better at one task within a handful of episodes.

    Eight episodes are a small sample for PPO, so single seeds are noisy (gains of +6, +25 and +10
    for seeds 0-2 when written); their mean gain is the tested quantity.
    """
    config = PPOConfig(horizon=20, minibatch_size=64, finetune_lr=1e-2, finetune_epochs=20)
    task = with_values(FAMILY.base, {"goal.target_velocity_mps": 1.5})
    gains = []
    for seed in range(3):
        result = run_adaptation(
            lambda seed=seed: scratch_agent(obs_dim=4, action_dim=2, config=config, seed=seed), task, shots=8
        )
        gains.append(np.mean(result.episode_returns[-2:]) - result.episode_returns[0])
        assert isinstance(result.policy, GaussianMLPPolicy)
    assert np.mean(gains) > 5.0, gains


@pytest.mark.slow
def test_fine_tuning_leaves_the_trained_baseline_untouched(sampler: VectorSampler) -> None:
    learner = make_learner()
    learner.train_iteration(sampler)
    before = {k: v.clone() for k, v in learner.policy.state_dict().items()}
    run_adaptation(learner.new_agent, FAMILY.test_tasks()[0], shots=3)
    assert all(torch.equal(before[k], v) for k, v in learner.policy.state_dict().items())


@pytest.mark.slow
def test_multitask_run_resumes_like_an_uninterrupted_one_and_loads_for_adaptation(tmp_path: Path) -> None:
    config = get_algorithm("multitask").config({"tasks_per_iteration": 2, "episodes_per_task": 2, "horizon": 5})
    settings = TrainSettings(
        algorithm="multitask", iterations=3, num_workers=1, env="point_mass", device="cpu", config=config
    )
    straight = start_run(tmp_path / "straight", settings=settings, family=FAMILY)
    list(run_training(straight))
    interrupted = start_run(tmp_path / "interrupted", settings=settings, family=FAMILY)
    training = run_training(interrupted)
    next(training)
    training.close()
    list(run_training(RunDir.open(interrupted.path), resume=True))

    def timeless(rows: list[dict]) -> list[dict]:
        return [{k: v for k, v in row.items() if not k.endswith("_s")} for row in rows]

    assert timeless(interrupted.metrics()) == timeless(straight.metrics())
    trained = load_trained(straight.path, device=torch.device("cpu"))
    assert trained.algorithm == "multitask" and trained.iteration == 3
    run_adaptation(trained.new_agent, FAMILY.test_tasks()[1], shots=2)


def test_unknown_algorithm_and_setting_name_the_allowed_values() -> None:
    allowed = "one of maml, pearl, multitask, oracle"
    with pytest.raises(ValueError, match=rf"algorithm = 'reptile' is not allowed: {allowed}"):
        TrainSettings(algorithm="reptile")
    with pytest.raises(ValueError, match=r"multitask setting 'inner_lr' is not allowed: one of .*clip"):
        get_algorithm("multitask").config({"inner_lr": 0.1})
    with pytest.raises(ValueError, match=r"PPOConfig.clip = 0.0 is not allowed: must be > 0"):
        get_algorithm("multitask").config({"clip": 0.0})
    with pytest.raises(ValueError, match=r"PPOConfig.gae_lambda = -0.5 is not allowed: must be in \[0, 1\]"):
        get_algorithm("multitask").config({"gae_lambda": -0.5})
