"""Task samplers: uniform draws as before; the progress sampler goes where scores change, keeps a uniform
share, is deterministic, resumes exactly, and drives the RMA learner on the toy env."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agents.core.task_sampler import ProgressTaskSampler, UniformTaskSampler, make_task_sampler, task_from_features
from sim.params import TaskParams, with_values
from sim.tasks import ChoiceSet, TaskDistribution, UniformRange

FAMILY = TaskDistribution(
    name="point-velocity",
    base=with_values(TaskParams(), {"goal.target_heading_deg": 0.0}),
    vary={"goal.target_velocity_mps": UniformRange(0.0, 2.0), "goal.target_heading_deg": UniformRange(-90.0, 90.0)},
)


def in_learning_region(task: TaskParams) -> bool:
    """The quarter of the space (velocity > 1.5 m/s) where the scripted score keeps changing."""
    return task.goal.target_velocity_mps > 1.5


def scripted_score(task: TaskParams, round_index: int) -> float:
    """Fast tasks improve by one unit every round; the rest stay where they are (mastered or hopeless)."""
    return float(round_index) if in_learning_region(task) else -1.0


def run_rounds(sampler: ProgressTaskSampler, rounds: int, *, seed: int = 0) -> list[list[TaskParams]]:
    drawn = []
    for round_index in range(rounds):
        tasks = sampler.sample(16, np.random.default_rng([seed, round_index]))
        sampler.update(tasks, [scripted_score(t, round_index) for t in tasks])
        drawn.append(tasks)
    return drawn


def test_the_uniform_sampler_draws_exactly_what_the_family_draws() -> None:
    sampler = UniformTaskSampler(FAMILY)
    assert sampler.sample(5, np.random.default_rng(3)) == FAMILY.sample_tasks(5, np.random.default_rng(3))


def test_the_progress_sampler_favours_the_region_whose_score_changes_and_still_draws_uniformly() -> None:
    sampler = ProgressTaskSampler(FAMILY, seed=0, fit_every=48, max_components=4)
    drawn = run_rounds(sampler, 24)
    late = [t for tasks in drawn[-10:] for t in tasks]
    share_in_region = np.mean([in_learning_region(t) for t in late])
    assert share_in_region > 0.6  # uniform draws put a quarter there
    outside = np.mean([not in_learning_region(t) for t in late])
    assert outside >= 0.1  # the uniform share (20 %, three quarters of it outside) keeps the rest in view
    best_region = max(sampler.region_progress(), key=lambda region: region[1])
    assert best_region[0][0] > 0.3  # the most progressing component sits at high velocity (feature > 0.5)


def test_the_same_seed_and_results_give_the_same_tasks() -> None:
    first = run_rounds(ProgressTaskSampler(FAMILY, seed=4, fit_every=16), 6, seed=1)
    second = run_rounds(ProgressTaskSampler(FAMILY, seed=4, fit_every=16), 6, seed=1)
    assert first == second


def test_a_restored_sampler_continues_as_the_original_does() -> None:
    original = ProgressTaskSampler(FAMILY, seed=2, fit_every=16)
    run_rounds(original, 5)
    restored = ProgressTaskSampler(FAMILY, seed=2, fit_every=16)
    restored.load_state_dict(original.state_dict())
    rng_a, rng_b = np.random.default_rng(9), np.random.default_rng(9)
    assert original.sample(20, rng_a) == restored.sample(20, rng_b)


def test_features_map_back_to_the_task_they_came_from() -> None:
    family = TaskDistribution(
        name="mixed",
        vary={
            "terrain.kind": ChoiceSet(("flat", "rough")),
            "terrain.rough_seed": UniformRange(0, 100),
            "robot.payload_kg": UniformRange(0.0, 10.0),
        },
    )
    for task in family.sample_tasks(5, 0):
        assert task_from_features(family, np.asarray(family.task_features(task))) == task


def test_unknown_names_and_mismatched_scores_are_refused() -> None:
    with pytest.raises(ValueError, match="task_sampler = 'greedy' is not allowed: one of uniform, progress"):
        make_task_sampler("greedy", FAMILY, seed=0)
    with pytest.raises(ValueError, match=r"scores: 1 values is not allowed: one per task \(2\)"):
        ProgressTaskSampler(FAMILY, seed=0).update(FAMILY.sample_tasks(2, 0), [1.0])
    with pytest.raises(ValueError, match=r"uniform_share = 1\.5 is not allowed"):
        ProgressTaskSampler(FAMILY, seed=0, uniform_share=1.5)


@pytest.mark.slow  # a sampler worker process and two RMA iterations
@pytest.mark.slow
def test_the_rma_learner_trains_on_progress_drawn_tasks_and_checkpoints_the_sampler(tmp_path: Path) -> None:
    """Two iterations on the toy env: every task's return reaches the sampler, and the checkpoint holds it."""
    from agents.algorithms import get_algorithm
    from agents.training.train import TrainSettings, run_training, start_run

    tiny = {"tasks_per_iteration": 4, "episodes_per_task": 1, "horizon": 10, "teacher_iterations": 1}
    tiny |= {"minibatch_size": 10, "hidden_sizes": (8,), "history_len": 2, "adapter_hidden": 8}
    config = get_algorithm("rma").config({**tiny, "task_sampler": "progress"})
    settings = TrainSettings(
        algorithm="rma", iterations=2, num_workers=1, env="point_mass", device="cpu", config=config
    )
    run = start_run(tmp_path / "run", settings=settings, family=FAMILY)
    list(run_training(run))
    state = run.load_checkpoint()["learner"]["task_sampler"]
    assert len(state["history"]) == 8  # 2 iterations x 4 tasks, each with its score
    with pytest.raises(ValueError, match=r"RMAConfig\.task_sampler = 'best' is not allowed: one of uniform, progress"):
        get_algorithm("rma").config({"task_sampler": "best"})
