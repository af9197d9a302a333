"""Every registered algorithm goes through the same life: train, checkpoint, load, adapt, export, replay."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.algorithms import ALGORITHMS, get_algorithm
from agents.core.adaptation import AdaptConfig, AdaptResult, adapt
from agents.core.policies import GaussianMLPPolicy
from agents.pearl.learner import PEARLLearner
from agents.storage.export import load_exported
from agents.storage.export_adapted import export_adapted
from agents.training.train import TrainSettings, build_learner, load_trained, run_training, start_run
from sim.params import TaskParams, with_values
from sim.tasks import TaskDistribution, UniformRange

FAMILY = TaskDistribution(
    name="point-velocity",
    base=with_values(TaskParams(), {"goal.target_heading_deg": 0.0}),
    vary={"goal.target_velocity_mps": UniformRange(0.0, 2.0)},
    num_test_tasks=2,
)
TINY = {
    "maml": {"meta_batch_size": 2, "episodes_per_task": 2, "horizon": 5, "outer_epochs": 1, "hidden_sizes": (8,)},
    "multitask": {"tasks_per_iteration": 2, "episodes_per_task": 2, "horizon": 5, "hidden_sizes": (8,)},
    "oracle": {"tasks_per_iteration": 2, "episodes_per_task": 2, "horizon": 5, "hidden_sizes": (8,)},
    "pearl": {
        "horizon": 5,
        "num_train_tasks": 2,
        "tasks_per_iteration": 2,
        "initial_episodes": 1,
        "extra_rl_episodes": 0,
        "gradient_steps": 2,
        "meta_batch_size": 2,
        "batch_size": 8,
        "embedding_batch_size": 8,
        "hidden_sizes": (8,),
        "encoder_hidden_sizes": (8,),
    },
}
TINY["oracle-pearl"] = TINY["pearl"]
TINY["rma"] = {  # teacher_iterations 0: the one iteration trains the adaptation module (DAgger)
    "tasks_per_iteration": 2,
    "episodes_per_task": 2,
    "horizon": 5,
    "teacher_iterations": 0,
    "minibatch_size": 8,
    "hidden_sizes": (8,),
    "history_len": 3,
    "adapter_hidden": 8,
    "student_samples_per_episode": 4,
}


def test_every_algorithm_has_a_tiny_config_here() -> None:
    assert set(TINY) == set(ALGORITHMS)


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
@pytest.mark.slow
def test_train_load_adapt_export_for_every_algorithm(name: str, tmp_path: Path) -> None:
    config = get_algorithm(name).config(TINY[name])
    settings = TrainSettings(algorithm=name, iterations=1, num_workers=1, env="point_mass", device="cpu", config=config)
    run = start_run(tmp_path / "run", settings=settings, family=FAMILY)
    (stats,) = list(run_training(run))
    assert stats.env_steps > 0 and np.isfinite(stats.pre_return)

    trained = load_trained(run.path, device=torch.device("cpu"))
    assert (trained.algorithm, trained.iteration) == (name, 1)
    task = FAMILY.test_tasks()[0]
    events = list(adapt(trained.new_agent, trained.make_env, task, AdaptConfig(shots=2, updates=1, max_steps=5)))
    result = events[-1]
    assert isinstance(result, AdaptResult) and len(result.episode_returns) == 2

    exported = export_adapted(result, tmp_path / "out", algorithm=name, checkpoint=str(run.path))
    sidecar = json.loads(exported.sidecar_path.read_text())
    assert sidecar["algorithm"] == name and sidecar["task"] == task.to_dict()
    assert ("latent" in sidecar) == (get_algorithm(name).build is PEARLLearner)
    observes_task = get_algorithm(name).observes_task
    assert sidecar["obs_dim"] == (4 + 1 if observes_task else 4)  # a task-aware reference also sees the target speed
    obs = np.random.default_rng(0).normal(size=(32, sidecar["obs_dim"])).astype(np.float32)
    extra = [np.zeros((32, *entry["shape"]), np.float32) for entry in sidecar["inputs"][1:]]  # mean action, no past
    policy, obs_t = result.policy, torch.as_tensor(obs)
    with torch.no_grad():
        if isinstance(policy, GaussianMLPPolicy):
            live = policy.act(obs_t, deterministic=True)
        else:
            live = policy(obs_t, *(torch.as_tensor(x) for x in extra))
    for path in (exported.torch_path, exported.onnx_path):
        assert np.abs(load_exported(path)(obs, *extra) - live.clamp(-1.0, 1.0).numpy()).max() < 1e-5


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_initial_weights_follow_the_seed_alone_and_leave_the_global_generator_alone(name: str) -> None:
    settings = TrainSettings(
        algorithm=name, env="point_mass", device="cpu", config=get_algorithm(name).config(TINY[name])
    )
    before = torch.get_rng_state()
    first, second, other = (build_learner(replace(settings, seed=s), FAMILY, torch.device("cpu")) for s in (4, 4, 5))
    assert torch.equal(torch.get_rng_state(), before)
    weights = [flat_weights(learner.state_dict()) for learner in (first, second, other)]
    assert torch.equal(weights[0], weights[1]) and not torch.equal(weights[0], weights[2])


def flat_weights(state: object) -> torch.Tensor:
    """Every floating tensor in a (nested) learner state, concatenated."""
    if isinstance(state, torch.Tensor):
        return state.flatten().float() if state.is_floating_point() else torch.zeros(0)
    values = state.values() if isinstance(state, dict) else state if isinstance(state, list | tuple) else []
    parts = [flat_weights(v) for v in values]
    return torch.cat(parts) if parts else torch.zeros(0)
