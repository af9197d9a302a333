"""Meta-training driver shared by the CLI, the GUI and the tests: a generator of iteration stats.

:func:`start_run` writes a new run directory; :func:`run_training` trains it (fresh or resumed) and
yields one :class:`~agents.maml_learner.IterationStats` per iteration, after the metrics line and the
checkpoint of that iteration are on disk. Everything it builds (sampler processes, envs, torch
modules) is built inside the generator and released when it ends or is closed.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch

from agents.checkpoint import CheckpointError, load_checkpoint
from agents.device import resolve_device
from agents.maml_agent import MAMLAgent
from agents.maml_learner import IterationStats, MAMLConfig, MAMLLearner
from agents.policies import GaussianMLPPolicy
from agents.runs import CHECKPOINT_FILE, RunDir, checkpoint_algorithm
from sim.envs.locomotion import EnvConfig, LocomotionEnv
from sim.envs.point_mass import PointMassEnv
from sim.params import TaskParams
from sim.sampler import EnvFactory, VectorSampler
from sim.tasks import TaskDistribution

ALGORITHMS = ("maml",)
ENV_KINDS = ("locomotion", "point_mass")


@dataclass(frozen=True, kw_only=True)
class TrainSettings:
    """Everything that defines a run besides its family; stored as ``run.json``."""

    algorithm: str = "maml"
    seed: int = 0
    iterations: int = 100
    device: str = "auto"
    num_workers: int = 2
    env: str = "locomotion"
    """``locomotion`` (PyBullet) or ``point_mass`` (the PyBullet-free toy, for smoke runs)"""
    config: dict[str, Any] = field(default_factory=lambda: MAMLConfig().to_dict())

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm = {self.algorithm!r} is not allowed: one of {', '.join(ALGORITHMS)}")
        if self.env not in ENV_KINDS:
            raise ValueError(f"env = {self.env!r} is not allowed: one of {', '.join(ENV_KINDS)}")
        if self.iterations < 1 or self.num_workers < 1:
            raise ValueError(f"iterations = {self.iterations}, num_workers = {self.num_workers}: both must be >= 1")
        MAMLConfig(**self.config)  # validates the algorithm settings now, not mid-run

    @property
    def maml_config(self) -> MAMLConfig:
        """The algorithm settings as a typed config."""
        config = dict(self.config)
        config["hidden_sizes"] = tuple(config.get("hidden_sizes", MAMLConfig().hidden_sizes))
        return MAMLConfig(**config)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def env_factory(settings: TrainSettings) -> EnvFactory:
    """A picklable factory of the run's envs (episodes last the config's horizon)."""
    horizon = settings.maml_config.horizon
    if settings.env == "point_mass":
        return functools.partial(PointMassEnv, max_episode_steps=horizon)
    return functools.partial(LocomotionEnv, config=EnvConfig(max_episode_steps=horizon))


def make_policy(settings: TrainSettings, task: TaskParams) -> GaussianMLPPolicy:
    """A fresh policy sized for the task's robot (one probe env is built and closed to read the spaces)."""
    probe: gym.Env[Any, Any] = env_factory(settings)(task)
    try:
        obs_dim, action_dim = probe.observation_space.shape, probe.action_space.shape
    finally:
        probe.close()
    assert obs_dim is not None and action_dim is not None
    config = settings.maml_config
    return GaussianMLPPolicy(
        obs_dim=obs_dim[0], action_dim=action_dim[0], hidden_sizes=config.hidden_sizes, init_log_std=config.init_log_std
    )


def start_run(path: str | Path, *, settings: TrainSettings, family: TaskDistribution) -> RunDir:
    """Create the run directory (refusing one that already holds a run)."""
    return RunDir.create(path, settings=settings.to_dict(), family=family)


def build_learner(run: RunDir, device: torch.device) -> MAMLLearner:
    """The run's learner at its initial weights (seeded), on ``device``."""
    settings = TrainSettings(**run.settings)
    torch.manual_seed(settings.seed)
    family = run.family
    policy = make_policy(settings, family.base).to(device)
    return MAMLLearner(policy=policy, family=family, config=settings.maml_config, seed=settings.seed)


def run_training(run: RunDir, *, device: str | None = None, resume: bool = False) -> Iterator[IterationStats]:
    """Train ``run`` up to its ``iterations``, yielding each iteration's stats once it is saved.

    With ``resume``, training continues from the checkpoint, and the iterations that follow equal
    those of an uninterrupted run with the same seed.
    """
    settings = TrainSettings(**run.settings)
    learner = build_learner(run, resolve_device(device or settings.device))
    if resume:
        state = run.load_checkpoint()
        algorithm = checkpoint_algorithm(state, run.path / CHECKPOINT_FILE)
        if algorithm != settings.algorithm:
            raise CheckpointError(f"{run.path / CHECKPOINT_FILE} holds a {algorithm} agent, not {settings.algorithm}")
        learner.load_state_dict(state["learner"])
        run.truncate_metrics(learner.iteration)
    # Each worker holds up to 4 envs: episodes of a task run in jobs of that size, one batched
    # policy forward per step, and jobs go to whichever worker is free.
    per_worker = min(4, settings.maml_config.episodes_per_task)
    num_envs = per_worker * settings.num_workers
    with VectorSampler(
        [run.family.base] * num_envs, num_workers=settings.num_workers, env_factory=env_factory(settings)
    ) as sampler:
        while learner.iteration < settings.iterations:
            stats = learner.train_iteration(sampler)
            run.append_metrics(stats.to_dict())  # before the checkpoint: a kill in between is undone on resume
            run.save_checkpoint(agent_state(learner, settings, run.family))
            yield stats


def agent_state(learner: MAMLLearner, settings: TrainSettings, family: TaskDistribution) -> dict[str, Any]:
    """A checkpoint that also rebuilds the agent for adaptation with nothing else at hand."""
    return {
        "algorithm": settings.algorithm,
        "settings": settings.to_dict(),
        "family": family.to_dict(),
        "learner": learner.state_dict(),
    }


@dataclass(frozen=True)
class TrainedAgent:
    """A meta-trained agent loaded from a checkpoint, ready to adapt to new tasks."""

    policy: GaussianMLPPolicy
    settings: TrainSettings
    family: TaskDistribution
    inner_lr: float | dict[str, torch.Tensor]
    iteration: int

    def new_agent(self) -> MAMLAgent:
        """A fresh adapting agent on a private copy of the weights (safe to hand to another thread)."""
        config = self.settings.maml_config
        lr = self.inner_lr if isinstance(self.inner_lr, float) else {k: v.clone() for k, v in self.inner_lr.items()}
        return MAMLAgent(
            copy.deepcopy(self.policy),
            inner_lr=lr,
            inner_steps=max(1, config.inner_steps),
            gamma=config.gamma,
            gae_lambda=config.gae_lambda,
        )

    def make_env(self, task: TaskParams, *, render_mode: str | None = None) -> gym.Env[Any, Any]:
        """An env for ``task`` with the settings the agent was trained with."""
        if self.settings.env == "point_mass":
            return PointMassEnv(task, max_episode_steps=self.settings.maml_config.horizon)
        return LocomotionEnv(task, config=EnvConfig(), render_mode=render_mode)


def load_trained(path: str | Path, *, device: torch.device) -> TrainedAgent:
    """The agent in a checkpoint file (or a run directory holding one)."""
    file = Path(path)
    if file.is_dir():
        file = file / CHECKPOINT_FILE
    state = load_checkpoint(file, map_location=device)
    algorithm = checkpoint_algorithm(state, file)
    if algorithm not in ALGORITHMS:
        raise CheckpointError(f"{file} holds a {algorithm} agent; this version adapts {', '.join(ALGORITHMS)}")
    settings = TrainSettings(**state["settings"])
    family = TaskDistribution.from_dict(state["family"])
    learner = MAMLLearner(
        policy=make_policy(settings, family.base).to(device), family=family, config=settings.maml_config, seed=0
    )
    learner.load_state_dict(state["learner"])
    inner_lr: float | dict[str, torch.Tensor] = (
        {k: v.detach() for k, v in learner.inner_lrs().items()} if learner.inner_lrs else settings.maml_config.inner_lr
    )
    return TrainedAgent(learner.policy, settings, family, inner_lr, learner.iteration)
