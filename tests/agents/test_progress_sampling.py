"""``task_sampler = progress`` in MAML and PEARL: they draw training tasks where the scripted return changes
(still drawing the uniform share), resume as if never stopped, and a run keeps a performance model that
``bench map RUN --predict`` draws as a labelled prediction. The sampler itself: tests/agents/test_task_sampler.py."""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
import torch

from agents.core.task_sampler import ProgressIndexSampler, UniformIndexSampler
from agents.maml.learner import MAMLConfig, MAMLLearner, build_maml_learner
from agents.pearl.config import PEARLConfig
from agents.pearl.learner import PEARLLearner
from agents.storage.checkpoint import load_checkpoint, save_checkpoint
from sim.params import TaskParams, with_values
from sim.sampler import EpisodeJob, SamplerWork, Trajectories
from sim.tasks import TaskDistribution, UniformRange

T = TypeVar("T")

FAMILY = TaskDistribution(
    name="point-velocity",
    base=with_values(TaskParams(), {"goal.target_heading_deg": 0.0}),
    vary={"goal.target_velocity_mps": UniformRange(0.0, 2.0), "goal.target_heading_deg": UniformRange(-90.0, 90.0)},
)
OBS, ACT = 3, 2
MAML = MAMLConfig(
    meta_batch_size=8, episodes_per_task=1, horizon=4, outer_epochs=1, hidden_sizes=(8,), task_sampler="progress"
)
PEARL = PEARLConfig(
    horizon=4,
    num_train_tasks=40,
    tasks_per_iteration=8,
    initial_episodes=1,
    prior_episodes=1,
    posterior_episodes=1,
    extra_rl_episodes=0,
    gradient_steps=1,
    meta_batch_size=4,
    batch_size=4,
    embedding_batch_size=4,
    latent_dim=2,
    hidden_sizes=(8,),
    encoder_hidden_sizes=(8,),
    task_sampler="progress",
)


def in_learning_region(task: TaskParams) -> bool:
    """The quarter of the space (velocity > 1.5 m/s) where the scripted return keeps rising."""
    return task.goal.target_velocity_mps > 1.5


class ScriptedSampler:
    """A sampler without simulation: an episode's return is the number of calls so far on fast tasks
    (improving all the time) and -1 elsewhere (mastered or hopeless); observations are seeded noise."""

    envs_per_worker = 4
    num_workers = 1
    busy_seconds = 0.0

    def __init__(self) -> None:
        self.calls = 0

    def submit(self, work: Callable[[ScriptedSampler], T]) -> SamplerWork[T]:
        """As VectorSampler.submit: ``work(self)`` on a background thread (PEARL collects while it updates)."""
        handle = SamplerWork(functools.partial(work, self), on_end=lambda: None)
        handle.thread.start()
        return handle

    def run_episodes(self, jobs: Sequence[EpisodeJob], horizon: int) -> list[Trajectories]:
        self.calls += 1
        out = []
        for job in jobs:
            k = len(job.tasks)
            rng = np.random.default_rng(list(job.seeds))
            score = np.array([float(self.calls) if in_learning_region(t) else -1.0 for t in job.tasks])
            obs = rng.standard_normal((horizon + 1, k, OBS)).astype(np.float32)
            done = np.zeros((horizon, k), dtype=bool)
            done[-1] = True
            out.append(
                Trajectories(
                    obs=obs[:-1],
                    actions=rng.standard_normal((horizon, k, ACT)).astype(np.float32),
                    rewards=np.tile(score / horizon, (horizon, 1)),
                    terminated=np.zeros((horizon, k), dtype=bool),
                    truncated=done,
                    next_obs=obs[1:],
                )
            )
        return out


def maml(config: MAMLConfig = MAML) -> MAMLLearner:
    return build_maml_learner(
        obs_dim=OBS, action_dim=ACT, family=FAMILY, config=config, seed=3, device=torch.device("cpu")
    )


def pearl(config: PEARLConfig = PEARL) -> PEARLLearner:
    return PEARLLearner(obs_dim=OBS, action_dim=ACT, family=FAMILY, config=config, seed=3, device=torch.device("cpu"))


def train(learner: Any, sampler: ScriptedSampler, iterations: int) -> list[list[TaskParams]]:
    """The tasks each iteration trained on."""
    drawn = []
    for _ in range(iterations):
        learner.train_iteration(sampler)
        drawn.append([task for task, _ in learner.task_results()])
    return drawn


@pytest.mark.parametrize("make", [pytest.param(maml, marks=pytest.mark.slow), pearl], ids=["maml", "pearl"])
def test_progress_draws_where_the_return_changes_and_keeps_a_uniform_share(make: Any) -> None:
    learner = make()
    drawn = train(learner, ScriptedSampler(), 16)
    late = [t for tasks in drawn[-8:] for t in tasks]
    share = np.mean([in_learning_region(t) for t in late])
    assert share > 0.55  # uniform draws put a quarter there (PEARL: its training tasks' share, checked below)
    assert np.mean([not in_learning_region(t) for t in late]) >= 0.1  # the uniform share keeps the rest in view
    if isinstance(learner, PEARLLearner):
        assert np.mean([in_learning_region(t) for t in learner.train_tasks]) < 0.35
        assert all(len(set(map(id, tasks))) == len(tasks) for tasks in drawn)  # distinct training tasks
        assert all(any(t is u for u in learner.train_tasks) for t in late)  # only its fixed training tasks


@pytest.mark.parametrize("make", [maml, pearl], ids=["maml", "pearl"])
def test_uniform_draws_are_unchanged_by_the_choice(make: Any) -> None:
    """The default draws what the learners drew before the setting existed (and ignores results)."""
    config = dataclasses.replace(make().config, task_sampler="uniform")
    learner = make(config)
    drawn = train(learner, ScriptedSampler(), 2)
    if isinstance(learner, MAMLLearner):
        first = FAMILY.sample_tasks(MAML.meta_batch_size, np.random.default_rng([3, 0]))
    else:
        rng = np.random.default_rng([3, 0])
        rng.integers(2**62), rng.integers(2**31)  # the iteration's generator seed and env seeds come first
        first = [learner.train_tasks[int(i)] for i in rng.choice(PEARL.num_train_tasks, 8, replace=False)]
    assert drawn[0] == first


@pytest.mark.parametrize("make", [maml, pearl], ids=["maml", "pearl"])
def test_a_resumed_learner_draws_and_trains_as_an_uninterrupted_one(make: Any, tmp_path: Path) -> None:
    straight = make()
    expected = train(straight, ScriptedSampler(), 7)
    first = make()
    sampler = ScriptedSampler()
    train(first, sampler, 5)  # past the first mixture fit (32 results)
    resumed = make()
    resumed.load_state_dict(load_checkpoint(save_checkpoint(tmp_path / "ckpt.pt", first.state_dict())))
    assert train(resumed, sampler, 2) == expected[5:]
    assert resumed.state_dict()["task_sampler"] == straight.state_dict()["task_sampler"]


@pytest.mark.parametrize("make", [maml, pearl], ids=["maml", "pearl"])
def test_a_checkpoint_from_before_the_setting_still_loads(make: Any) -> None:
    old = make().state_dict()
    del old["task_sampler"]
    learner = make()
    learner.load_state_dict(old)
    assert learner.iteration == 0


def test_the_index_samplers_give_distinct_indices_and_uniform_is_numpys_choice() -> None:
    tasks = FAMILY.sample_tasks(12, 0)
    assert UniformIndexSampler(12).sample(5, np.random.default_rng(1)) == [
        int(i) for i in np.random.default_rng(1).choice(12, 5, replace=False)
    ]
    sampler = ProgressIndexSampler(FAMILY, tasks, seed=0)
    for round_index in range(12):
        chosen = sampler.sample(12, np.random.default_rng(round_index))
        assert sorted(chosen) == list(range(12))
        sampler.update(chosen, [float(round_index) if in_learning_region(tasks[i]) else 0.0 for i in chosen])
    with pytest.raises(ValueError, match="n = 13 is not allowed: at most the 12 training tasks"):
        sampler.sample(13, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"MAMLConfig\.task_sampler = 'best' is not allowed: one of uniform"):
        MAMLConfig(task_sampler="best")
    with pytest.raises(ValueError, match=r"PEARLConfig\.task_sampler = 'best' is not allowed: one of uniform"):
        PEARLConfig(task_sampler="best")


# --- run directories: the model beside the checkpoint, resumed exactly, drawn by bench map --predict ---

RUN_FAMILY = TaskDistribution(
    name="point-velocity",
    base=with_values(TaskParams(), {"goal.target_heading_deg": 0.0}),
    vary={"goal.target_velocity_mps": UniformRange(0.0, 2.0)},
    num_test_tasks=2,
)


def timeless(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if not k.endswith("_s")} for row in rows]


@pytest.mark.slow  # three tiny runs with a sampler process each
def test_a_progress_run_resumes_exactly_keeps_its_model_and_bench_map_predicts_from_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from agents.storage.runs import RunDir
    from agents.training.train import TrainSettings, run_training, start_run
    from app.cli.main import main

    config = dataclasses.replace(MAML, meta_batch_size=3, episodes_per_task=2, horizon=5)
    settings = TrainSettings(seed=1, iterations=3, num_workers=1, env="point_mass", device="cpu", config=config)
    straight = start_run(tmp_path / "straight", settings=settings, family=RUN_FAMILY)
    list(run_training(straight))
    interrupted = start_run(tmp_path / "interrupted", settings=settings, family=RUN_FAMILY)
    training = run_training(interrupted)
    next(training)
    training.close()  # as if the process stopped after iteration 0
    list(run_training(RunDir.open(interrupted.path), resume=True))
    assert timeless(interrupted.metrics()) == timeless(straight.metrics())
    model = json.loads((interrupted.path / "performance.model.json").read_text())
    assert model == json.loads((straight.path / "performance.model.json").read_text())
    assert model["measure"] == "training_return_after_adapting" and len(model["errors"]) == 3 * 3
    assert not list(interrupted.path.glob(".*.tmp"))  # written atomically: no temporary file left

    flags = ["--x", "goal.target_velocity_mps", "--grid", "3", "--out", str(tmp_path / "maps")]
    assert main(["bench", "map", str(interrupted.path), *flags, "--predict"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"prediction (not measured) from {interrupted.path / 'performance.model.json'}: 9 training")
    assert out.count("predicted return after adapting") == 3 and "not m/s" in out
    assert (tmp_path / "maps" / f"map-{interrupted.path.name}-goal.target_velocity_mps-predicted.png").is_file()
    assert main(["bench", "map", str(interrupted.path), "--x", "robot.payload_kg", "--predict"]) == 2
    err = capsys.readouterr().err
    assert "--x robot.payload_kg is not allowed with the run's model: a field its family varies" in err


def test_a_models_measure_travels_with_it_and_older_map_models_still_load(tmp_path: Path) -> None:
    from agents.core.performance_model import TRACKING_ERROR, TRAINING_RETURN, PerformanceModel

    model = PerformanceModel(RUN_FAMILY, measure=TRAINING_RETURN)
    model.add_results([(with_values(RUN_FAMILY.base, {"goal.target_velocity_mps": v}), -v) for v in (0.2, 1.0, 1.8)])
    model.save(tmp_path / "run.model.json")
    assert PerformanceModel.load(tmp_path / "run.model.json").measure == TRAINING_RETURN
    older = {**model.to_dict(), "measure": "tracking_error_mps after adaptation"}  # as bench map wrote it first
    (tmp_path / "map.model.json").write_text(json.dumps(older))
    assert PerformanceModel.load(tmp_path / "map.model.json").measure == TRACKING_ERROR
