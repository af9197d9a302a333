"""RMA: a teacher then a student in one run, a history reset per episode, and an export that acts as the agent did."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.algorithms import get_algorithm
from agents.core.adaptation import AdaptConfig, AdaptResult, StepEvent, StepFeedback, adapt
from agents.rma.agent import RMAAgent
from agents.storage.export import export_policy, load_exported
from agents.storage.exported_actor import ExportedActor
from agents.training.agent_options import without_adaptation
from agents.training.train import TrainSettings, load_trained, run_training, start_run
from app.cli.main import main
from sim.params import TaskParams, with_values
from sim.tasks import TaskDistribution, UniformRange

FAMILY = TaskDistribution(
    name="point-velocity",
    base=with_values(TaskParams(), {"goal.target_heading_deg": 0.0}),
    vary={"goal.target_velocity_mps": UniformRange(0.0, 2.0)},
    num_test_tasks=2,
)
TINY_LATENT = 8  # RMAConfig.latent_dim default
TINY = {
    "tasks_per_iteration": 4,
    "episodes_per_task": 2,
    "horizon": 20,
    "teacher_iterations": 2,
    "minibatch_size": 40,
    "hidden_sizes": (16,),
    "history_len": 4,
    "adapter_hidden": 16,
    "student_samples_per_episode": 10,
    "adapter_epochs": 20,
}


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two teacher iterations, then four of the adaptation module, on the toy env."""
    config = get_algorithm("rma").config(TINY)
    settings = TrainSettings(
        algorithm="rma", iterations=6, num_workers=1, env="point_mass", device="cpu", config=config
    )
    run = start_run(tmp_path_factory.mktemp("rma") / "run", settings=settings, family=FAMILY)
    list(run_training(run))
    return run.path


@pytest.mark.slow
def test_a_run_trains_the_teacher_then_the_adaptation_module_which_learns_the_teachers_z(trained_run: Path) -> None:
    rows = [json.loads(line) for line in (trained_run / "metrics.jsonl").read_text().splitlines()]
    assert [row["phase"] for row in rows] == [1.0, 1.0, 2.0, 2.0, 2.0, 2.0]
    student_losses = [row["loss"] for row in rows[2:]]
    assert student_losses[-1] < 0.5 * student_losses[0]  # the regression onto mu(e) converges
    assert all(row["env_steps"] > 0 for row in rows)


@pytest.mark.slow
def test_the_history_starts_empty_each_episode_and_fills_with_what_was_done(trained_run: Path) -> None:
    agent = load_trained(trained_run, device=torch.device("cpu")).new_agent()
    assert isinstance(agent, RMAAgent)
    rng = np.random.default_rng(0)
    obs = np.array([0.1, -0.2, 0.3, 0.0], np.float32)
    for step in range(3):
        action = agent.act(obs, rng)
        agent.observe(StepFeedback(obs, action, 1.0, obs + step, False, False))
    history = agent.actor.history[0]
    assert np.array_equal(history[-1], np.concatenate([obs, action, [1.0]]).astype(np.float32))
    assert not history[0].any()  # 4 rows, 3 steps: the oldest row is still before the episode
    agent.start_episode()
    assert not agent.actor.history.any()


@pytest.mark.slow
def test_without_adaptation_the_estimate_stays_the_empty_historys_and_bench_adapt_scores_both(
    trained_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The ablation row of an online agent: the same policy whose history never fills."""
    trained = load_trained(trained_run, device=torch.device("cpu"))
    make_frozen = without_adaptation(trained)
    assert make_frozen is not None
    frozen, adapting = make_frozen(), trained.new_agent()
    assert isinstance(frozen, RMAAgent) and isinstance(adapting, RMAAgent)
    empty = frozen.task_estimate(FAMILY.base)[0]
    rng = np.random.default_rng(0)
    obs = np.array([0.1, -0.2, 0.3, 0.0], np.float32)
    for agent in (frozen, adapting):
        for step in range(3):
            action = agent.act(obs, rng)
            agent.observe(StepFeedback(obs, action, 1.0, obs + step, False, False))
    assert np.array_equal(frozen.task_estimate(FAMILY.base)[0], empty)
    assert not np.array_equal(adapting.task_estimate(FAMILY.base)[0], empty)

    family_file = tmp_path / "family.json"
    family_file.write_text(FAMILY.to_json())
    argv = ["bench", "adapt", "--family", str(family_file), "--agents", str(trained_run), "--seeds", "1"]
    assert main([*argv, "--shots", "2", "--steps", "10", "--out", str(tmp_path)]) == 0
    assert "rma (no adaptation)" in capsys.readouterr().out


@pytest.mark.slow
def test_the_agent_acts_on_the_robot_alone_at_test_time(trained_run: Path) -> None:
    """Its evaluation envs do not append the task: nothing privileged reaches the agent."""
    trained = load_trained(trained_run, device=torch.device("cpu"))
    env = trained.make_env(FAMILY.test_tasks()[0])
    try:
        assert env.observation_space.shape == (4,)
    finally:
        env.close()


@pytest.mark.slow
def test_an_export_reproduces_the_in_app_actions_step_by_step(trained_run: Path, tmp_path: Path) -> None:
    """Replayed with only the files (the same observations and noise draws), the actions match the agent's."""
    trained = load_trained(trained_run, device=torch.device("cpu"))
    task = FAMILY.test_tasks()[1]
    recorded: list[tuple[np.ndarray, np.ndarray]] = []

    class Recording(RMAAgent):
        def act(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
            action = super().act(obs, rng)
            recorded.append((np.array(obs), action))
            return action

    make_agent = lambda: Recording(trained.learner.online_policy())  # type: ignore[attr-defined]  # noqa: E731
    config = AdaptConfig(shots=1, updates=0, max_steps=15, seed=7)
    events = list(adapt(make_agent, trained.make_env, task, config))
    result = events[-1]
    assert isinstance(result, AdaptResult) and len([e for e in events if isinstance(e, StepEvent)]) == 15
    exported = export_policy(result.policy, out_dir=tmp_path)
    assert [i["name"] for i in exported.sidecar["inputs"]] == ["obs", "history", "noise"]
    assert exported.sidecar["memory"]["length"] == 4
    for path in (exported.torch_path, exported.onnx_path):
        actor = ExportedActor(load_exported(path), exported.sidecar, mean_action=False)
        rng = np.random.default_rng(config.seed)  # adapt() draws the agent's noise from this generator
        for obs, action in recorded:
            np.testing.assert_allclose(actor(obs, rng), action, atol=1e-5)


def test_teacher_settings_are_validated_with_the_field_named() -> None:
    with pytest.raises(ValueError, match=r"RMAConfig\.history_len = 0 is not allowed"):
        get_algorithm("rma").config({"history_len": 0})
    with pytest.raises(ValueError, match=r"PPOConfig\.gamma"):
        dataclasses.replace(get_algorithm("rma").config(), gamma=1.5)


@pytest.mark.slow
def test_the_agent_reports_its_running_estimate_of_the_task(trained_run: Path) -> None:
    from agents.core.adaptation import EstimateEvent

    trained = load_trained(trained_run, device=torch.device("cpu"))
    config = AdaptConfig(shots=1, updates=0, max_steps=12, estimate_every=5)
    events = list(adapt(trained.new_agent, trained.make_env, FAMILY.test_tasks()[0], config))
    estimates = [e for e in events if isinstance(e, EstimateEvent)]
    assert [e.step for e in estimates] == [0, 5, 10]
    assert all(len(e.estimate) == TINY_LATENT for e in estimates)
    assert estimates[0].estimate != estimates[-1].estimate  # it changes as the history fills
    reference = estimates[0].reference  # the teacher's z of the true task: what the estimate should approach
    assert reference is not None and len(reference) == TINY_LATENT and reference == estimates[-1].reference
