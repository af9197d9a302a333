"""Adding an algorithm is its own folder plus one registry entry (issue 12), shown with a stateful toy.

The toy (tests/agents/toy_algorithm/) acts on the mean reward of the episode so far, a memory it
resets at every episode start. Registered by the one entry below, it goes through what a user
runs: ``sim2adapt train``, ``train --resume``, loading the run, adapting to a held-out task, and an
export that, replayed with nothing but its files, acts as the agent did in the app.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.typing import NDArray

from agents.algorithms import ALGORITHMS, Algorithm
from agents.core.adaptation import AdaptConfig, AdaptResult, EpisodeRecord, StepEvent, StepFeedback, UpdateInfo, adapt
from agents.storage.export import load_exported
from agents.storage.export_adapted import export_adapted
from agents.storage.exported_actor import ExportedActor
from agents.storage.runs import RunDir
from agents.training.train import TrainSettings, load_trained, run_training, start_run
from app.cli.main import main
from sim.params import TaskParams, with_values
from sim.tasks import TaskDistribution, UniformRange
from tests.agents.toy_algorithm.agent import ToyAgent
from tests.agents.toy_algorithm.config import ToyConfig
from tests.agents.toy_algorithm.learner import ToyLearner
from tests.agents.toy_algorithm.networks import RewardMemoryPolicy

TOY = Algorithm(
    name="toy",
    summary="toy: REINFORCE on a linear policy that reads the episode's mean reward so far (tests only)",
    config_type=ToyConfig,
    build=ToyLearner,
    envs_per_worker=lambda config: min(4, config.episodes_per_task),
)
"""the one registry entry the toy needs"""

FAMILY = TaskDistribution(
    name="point-heading",
    base=with_values(TaskParams(), {"goal.target_velocity_mps": 1.0}),
    vary={"goal.target_heading_deg": UniformRange(-180.0, 180.0)},
    num_test_tasks=2,
)


class RecordingAgent:
    """Acts as the toy agent it wraps, and keeps what each step read and did, episode by episode."""

    def __init__(self, agent: ToyAgent) -> None:
        self.agent = agent
        self.episodes: list[list[tuple[NDArray[np.float32], float, NDArray[np.float32]]]] = []

    def start_episode(self) -> None:
        self.agent.start_episode()
        self.episodes.append([])

    def act(self, obs: NDArray[np.float32], rng: np.random.Generator) -> NDArray[np.float32]:
        memory = self.agent.reward_mean
        action = self.agent.act(obs, rng)
        self.episodes[-1].append((np.array(obs), memory, action))
        return action

    def observe(self, feedback: StepFeedback) -> None:
        self.agent.observe(feedback)

    def learn(self, episodes: list[EpisodeRecord]) -> UpdateInfo:
        return self.agent.learn(episodes)

    def adapted_policy(self) -> RewardMemoryPolicy:
        return self.agent.adapted_policy()


def timeless(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if not k.endswith("_s")} for row in rows]


@pytest.mark.slow
def test_a_stateful_toy_trains_resumes_adapts_and_exports_through_one_registry_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(ALGORITHMS, TOY.name, TOY)
    family_file = tmp_path / "family.json"
    family_file.write_text(FAMILY.to_json())
    run_dir = tmp_path / "run"
    argv = ["train", "--algo", "toy", "--env", "point_mass", "--family", str(family_file), "--preset", "quick"]
    argv += ["--workers", "1", "--device", "cpu", "--seed", "3", "--run-dir", str(run_dir)]
    assert main([*argv, "--iterations", "2"]) == 0
    assert main(["train", "--resume", str(run_dir), "--iterations", "3"]) == 0

    # resumed from its checkpoint, the run equals one trained straight through
    settings = dataclasses.replace(TrainSettings.from_dict(RunDir.open(run_dir).settings), iterations=3)
    straight = start_run(tmp_path / "straight", settings=settings, family=FAMILY)
    list(run_training(straight))
    assert len(RunDir.open(run_dir).metrics()) == 3
    assert timeless(RunDir.open(run_dir).metrics()) == timeless(straight.metrics())

    trained = load_trained(run_dir, device=torch.device("cpu"))
    assert (trained.algorithm, trained.iteration, trained.settings.config) == ("toy", 3, ToyConfig.quick())
    task = trained.family.test_tasks()[0]  # held out: never drawn in training
    agent = RecordingAgent(trained.new_agent())  # type: ignore[arg-type]  # new_agent's type is the protocol
    config = AdaptConfig(shots=3, updates=1, max_steps=ToyConfig.quick().horizon, seed=5)
    events = list(adapt(lambda: agent, trained.make_env, task, config))
    result = events[-1]
    assert isinstance(result, AdaptResult) and len(result.episode_returns) == 3

    # the memory is this episode's rewards alone: empty at every episode start, their mean after each step
    rewards = [[e.reward for e in events if isinstance(e, StepEvent) and e.episode == i] for i in range(3)]
    for steps, episode_rewards in zip(agent.episodes, rewards, strict=True):
        expected = [float(np.mean(episode_rewards[:t])) if t else 0.0 for t in range(len(steps))]
        np.testing.assert_allclose([memory for _, memory, _ in steps], expected, rtol=1e-6)
    assert agent.episodes[0][-1][1] != 0.0 and agent.episodes[1][0][1] == 0.0

    # the export, replayed with the same observations, rewards and noise draws, acts as the agent did
    exported = export_adapted(result, tmp_path / "export", algorithm=trained.algorithm, checkpoint=str(run_dir))
    assert [entry["name"] for entry in exported.sidecar["inputs"]] == ["obs", "history", "noise"]
    for path in (exported.torch_path, exported.onnx_path):
        actor = ExportedActor(load_exported(path), exported.sidecar, mean_action=False)
        rng = np.random.default_rng(config.seed)  # adapt() draws the agent's noise from this generator
        for steps, episode_rewards in zip(agent.episodes, rewards, strict=True):
            actor.start_episode()
            for (obs, _, action), reward in zip(steps, episode_rewards, strict=True):
                np.testing.assert_allclose(actor(obs, rng), action, atol=1e-5)
                actor.observe(reward)


def test_play_lays_out_history_rows_as_the_sidecar_says_with_rewards_from_observe() -> None:
    """The generic fix the toy needed: a history row of rewards, filled from the step's feedback."""
    seen: list[NDArray[np.float32]] = []

    def graph(obs: NDArray[np.float32], history: NDArray[np.float32]) -> NDArray[np.float32]:
        seen.append(history.copy())
        return obs[:2] * 0.5

    inputs = [{"name": "obs", "shape": [3]}, {"name": "history", "shape": [2, 2]}]
    sidecar = {"action_dim": 2, "inputs": inputs, "memory": {"kind": "history", "row": ["reward", "valid"]}}
    actor, rng = ExportedActor(graph, sidecar, mean_action=False), np.random.default_rng(0)
    for step in range(3):
        actor(np.zeros(3, np.float32), rng)
        actor.observe(-float(step + 1))
    assert not seen[0].any() and np.array_equal(seen[2], [[-1, 1], [-2, 1]])  # oldest first, valid flag 1
    actor(np.zeros(3, np.float32), rng)
    with pytest.raises(ValueError, match="before observe"):  # a row of rewards waits for its reward
        actor(np.zeros(3, np.float32), rng)
    actor.start_episode()
    actor(np.zeros(3, np.float32), rng)
    assert not seen[-1].any()
    with pytest.raises(ValueError, match=r"memory\.row torque is not allowed"):
        ExportedActor(graph, {**sidecar, "memory": {"row": ["torque"]}}, mean_action=False)
    with pytest.raises(ValueError, match="history rows of 2 values are not allowed"):
        ExportedActor(graph, {**sidecar, "memory": {"row": ["obs", "valid"]}}, mean_action=False)
