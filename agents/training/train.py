"""Meta-training driver shared by the CLI, the GUI and the tests: a generator of iteration stats.

:func:`start_run` writes a new run directory; :func:`run_training` trains it (fresh or resumed) and
yields one :class:`~agents.core.learner.IterationStats` per iteration, after the metrics line and the
checkpoint of that iteration are on disk. Everything it builds (sampler processes, envs, torch
modules) is built inside the generator and released when it ends or is closed. A run's settings,
:class:`TrainSettings`, are defined in :mod:`agents.training.settings` (importable from here too).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import gymnasium as gym
import torch

from agents.algorithms import ALGORITHMS, get_algorithm
from agents.core.adaptation import AdaptiveAgent
from agents.core.device import resolve_device
from agents.core.learner import AgentSource, IterationStats, Learner
from agents.core.performance_model import (
    RUN_MODEL_FILE,
    RUN_MODEL_POINTS,
    TRAINING_RETURN,
    PerformanceModel,
    ReportsTaskResults,
)
from agents.ppo.finetune import ScratchBaseline
from agents.ppo.update import PPOConfig
from agents.storage.checkpoint import CheckpointError, load_checkpoint
from agents.storage.runs import CHECKPOINT_FILE, RunDir, ScalarLog, checkpoint_algorithm
from agents.training.settings import TrainSettings as TrainSettings
from agents.training.settings import one_line
from sim.envs.locomotion import EnvConfig, LocomotionEnv
from sim.envs.point_mass import PointMassEnv
from sim.envs.task_aware import TaskAwareObservation
from sim.params import TaskParams, shorten
from sim.sampler import EnvFactory, SamplingConfig, VectorSampler
from sim.tasks import TaskDistribution

CPU = torch.device("cpu")


def make_run_env(
    task: TaskParams,
    *,
    kind: str,
    env_config: EnvConfig,
    family: TaskDistribution | None,
    render_mode: str | None = None,
) -> gym.Env[Any, Any]:
    """One env of a run: ``kind`` (locomotion or the toy), its config, observing the task if ``family`` is given.

    Training's sampler workers and evaluation build their envs here, so the two cannot drift apart.
    """
    env: gym.Env[Any, Any]
    if kind == "point_mass":
        env = PointMassEnv(task, max_episode_steps=env_config.max_episode_steps)
    else:
        env = LocomotionEnv(task, config=env_config, render_mode=render_mode)
    return TaskAwareObservation(env, family) if family is not None else env


def env_factory(settings: TrainSettings, family: TaskDistribution) -> EnvFactory:
    """A picklable factory of the run's training envs (episodes last the config's horizon).

    A task-aware algorithm's envs also observe the family's task features.
    """
    return functools.partial(
        make_run_env,
        kind=settings.env,
        env_config=dataclasses.replace(settings.env_config, max_episode_steps=settings.config.horizon),
        family=family if _training_sees_task(settings.algorithm) else None,
    )


def _training_sees_task(algorithm: str) -> bool:
    """Whether the run's training envs append the task's features (a task-aware reference, or a teacher)."""
    entry = get_algorithm(algorithm)
    return entry.observes_task or entry.privileged_training


def env_spaces(settings: TrainSettings, family: TaskDistribution) -> tuple[int, int]:
    """Observation and action sizes of the family's robot (one probe env is built and closed)."""
    probe: gym.Env[Any, Any] = env_factory(settings, family)(family.base)
    try:
        obs_shape, action_shape = probe.observation_space.shape, probe.action_space.shape
    finally:
        probe.close()
    assert obs_shape is not None and action_shape is not None
    return obs_shape[0], action_shape[0]


def check_run(settings: TrainSettings, family: TaskDistribution, *, device: torch.device | None = None) -> torch.device:
    """Everything a run needs that can be checked before it starts, so a run that cannot train is never written.

    The settings and the family validated themselves when built; here come the checks that need the
    machine or the simulator: the device exists (``--device cuda`` without CUDA), the family's robot
    loads (a user URDF), and the env and the learner agree on the spaces (one probe env, built and closed).

    Args:
        device: The run's device as its entry point resolved it (the CLI, once); None resolves
            ``settings.device`` here, for a caller that trains elsewhere (the window's child resolves it again).

    Returns:
        The device to train on.

    Raises:
        ValueError: naming the setting or field and what is allowed (the device's names ``--device``).
    """
    if not isinstance(settings, TrainSettings) or not isinstance(family, TaskDistribution):
        raise ValueError("start_run needs TrainSettings and a TaskDistribution")
    checked = resolve_device(settings.device) if device is None else device
    env_spaces(settings, family)
    return checked


def start_run(
    path: str | Path, *, settings: TrainSettings, family: TaskDistribution, device: torch.device | None = None
) -> RunDir:
    """Check the run (:func:`check_run`, with ``device`` if the entry point resolved it), then create its
    directory (refusing one that already holds a run).

    A directory is never left behind by a run that could not start: every check comes first.
    """
    check_run(settings, family, device=device)
    return RunDir.create(path, settings=settings.to_dict(), family=family)


def build_learner(settings: TrainSettings, family: TaskDistribution, device: torch.device) -> Learner:
    """The run's learner at its initial weights (seeded), on ``device``."""
    obs_dim, action_dim = env_spaces(settings, family)
    algorithm = get_algorithm(settings.algorithm)
    return algorithm.build(
        obs_dim=obs_dim,
        action_dim=action_dim,
        family=family,
        config=settings.config,
        seed=settings.seed,
        device=device,
    )


def run_training(
    run: RunDir,
    *,
    device: torch.device = CPU,
    resume: bool = False,
    notes: Callable[[str], None] | None = None,
    sampling: SamplingConfig | None = None,
) -> Generator[IterationStats, None, None]:
    """Train ``run`` up to its ``iterations``, yielding each iteration's stats once it is saved.

    ``device`` is resolved by the entry point (the CLI, the training child: :func:`agents.core.device.resolve_device`),
    from the run's ``device`` setting unless the user chose otherwise.
    With ``resume``, training continues from the checkpoint, and the iterations that follow equal
    those of an uninterrupted run with the same seed. A learner that reports its tasks' results (MAML,
    PEARL) also feeds a performance model, kept in the checkpoint and written atomically to
    ``performance.model.json`` after each iteration (``bench map RUN --predict`` draws it).
    ``notes`` receives remarks worth telling the
    user (e.g. a resumed learner that starts with empty replay buffers). ``sampling`` says where the
    sampler's workers run (default: this machine's processes; Ray actors on a cluster scale the
    sampling, the one learner stays in this process); it is not stored with the run.
    """
    settings = TrainSettings.from_dict(run.settings)
    torch_device = device
    learner = build_learner(settings, run.family, torch_device)
    state = _resume(run, learner, settings, notes) if resume else None
    model = _performance_model(learner, run.family, state)
    run.record_start(learner.iteration)
    # Each worker holds a few envs: episodes of a task run in jobs of that size, one batched
    # policy forward per step, and jobs go to whichever worker is free.
    per_worker = get_algorithm(settings.algorithm).envs_per_worker(settings.config)
    num_envs = per_worker * settings.num_workers
    scalars = ScalarLog.open(run.path)
    threads = torch.get_num_threads()
    if torch_device.type == "cpu":
        # The sampler's processes need the cores; small-batch updates gain little from a second
        # thread and lose much when it competes with them (MEASURED.md: PPO 1.2x faster with 1).
        torch.set_num_threads(1)
    try:
        tasks, factory = [run.family.base] * num_envs, env_factory(settings, run.family)
        workers = settings.num_workers
        with VectorSampler(tasks, num_workers=workers, env_factory=factory, sampling=sampling) as sampler:
            if notes is not None and sampler.sampling.backend == "ray":
                notes(sampler.describe())  # news on a cluster: how many actors landed on how many nodes
            while learner.iteration < settings.iterations:
                stats = learner.train_iteration(sampler)
                checkpoint = agent_state(learner, settings, run.family)
                if model is not None and isinstance(learner, ReportsTaskResults):
                    model.add_results(learner.task_results())
                    checkpoint[MODEL_ENTRY] = model.to_dict()  # the checkpoint's copy makes a resume exact
                run.append_metrics(stats.to_dict())  # before the checkpoint: a kill in between is undone on resume
                run.save_checkpoint(checkpoint)
                if model is not None:
                    model.save(run.path / RUN_MODEL_FILE)
                scalars.write(stats.to_dict(), step=stats.iteration)
                yield stats
    finally:
        torch.set_num_threads(threads)
        scalars.close()


def _resume(
    run: RunDir, learner: Learner, settings: TrainSettings, notes: Callable[[str], None] | None
) -> dict[str, Any] | None:
    """Load the run's checkpoint into ``learner`` and cut the metrics back to it; the checkpoint, or None."""
    if not run.has_checkpoint:
        # Killed before its first checkpoint: nothing to continue, so it starts from its stored settings.
        if notes is not None:
            notes(f"{run.path} has no checkpoint yet: training starts from its stored settings")
        run.truncate_metrics(0)
        return None
    state = run.load_checkpoint()
    algorithm = checkpoint_algorithm(state, run.path / CHECKPOINT_FILE)
    if algorithm != settings.algorithm:
        raise CheckpointError(f"{run.path / CHECKPOINT_FILE} holds a {algorithm} agent, not {settings.algorithm}")
    _load_learner_state(learner, state, run.path / CHECKPOINT_FILE, algorithm)
    if learner.resume_note and notes is not None:
        notes(learner.resume_note)
    run.truncate_metrics(learner.iteration)
    return state


MODEL_ENTRY = "performance_model"
"""the checkpoint entry holding the run's performance model (checkpoints from before it have none)"""


def _performance_model(
    learner: Learner, family: TaskDistribution, state: Mapping[str, Any] | None
) -> PerformanceModel | None:
    """The run's model of each training task's return after adapting (restored from ``state`` when it holds
    one), or None for a learner that reports no task results."""
    if not isinstance(learner, ReportsTaskResults):
        return None
    if state is not None and state.get(MODEL_ENTRY) is not None:
        return PerformanceModel.from_dict(state[MODEL_ENTRY])
    return PerformanceModel(family, measure=TRAINING_RETURN, max_points=RUN_MODEL_POINTS)


def agent_state(learner: Learner, settings: TrainSettings, family: TaskDistribution) -> dict[str, Any]:
    """A checkpoint that also rebuilds the agent for adaptation with nothing else at hand."""
    return {
        "algorithm": settings.algorithm,
        "settings": settings.to_dict(),
        "family": family.to_dict(),
        "learner": learner.state_dict(),
    }


@dataclass(frozen=True)
class TrainedAgent:
    """A trained agent loaded from a checkpoint, ready to adapt to new tasks."""

    learner: AgentSource
    settings: TrainSettings
    family: TaskDistribution
    algorithm: str
    """the algorithm that trained it (``scratch`` for the untrained PPO baseline)"""

    @property
    def iteration(self) -> int:
        """Training iterations behind it."""
        return self.learner.iteration

    def new_agent(self) -> AdaptiveAgent:
        """A fresh adapting agent on a private copy of the weights (safe to hand to another thread)."""
        return self.learner.new_agent()

    def check_task(self, task: TaskParams) -> None:
        """Refuse a task whose robot is not the one the agent was trained on (its observation and action sizes).

        Raises:
            ValueError: naming ``robot.name``, so callers report the field instead of failing in a forward pass.
        """
        trained_robot = self.family.base.robot.name
        if self.settings.env == "locomotion" and task.robot.name != trained_robot:
            raise ValueError(
                f"robot.name = {task.robot.name!r} is not allowed: this agent was trained on {trained_robot!r}"
            )

    def make_env(self, task: TaskParams, *, render_mode: str | None = None) -> gym.Env[Any, Any]:
        """An env for ``task`` with the settings the agent was trained with (toy episodes: its horizon)."""
        env_config = self.settings.env_config
        if self.settings.env == "point_mass":
            env_config = dataclasses.replace(env_config, max_episode_steps=self.settings.config.horizon)
        observes = get_algorithm(self.settings.algorithm).observes_task
        return make_run_env(
            task,
            kind=self.settings.env,
            env_config=env_config,
            family=self.family if observes else None,
            render_mode=render_mode,
        )


def load_trained(path: str | Path, *, device: torch.device) -> TrainedAgent:
    """The agent in a checkpoint file (or a run directory holding one)."""
    file = Path(path)
    if file.is_dir():
        file = file / CHECKPOINT_FILE
    state = load_checkpoint(file, map_location=device)
    algorithm = checkpoint_algorithm(state, file)
    if algorithm not in ALGORITHMS:
        raise CheckpointError(
            f"{file} holds a {shorten(repr(algorithm), 80)} agent; this version adapts {', '.join(ALGORITHMS)}"
        )
    settings = _checkpoint_entry(state, "settings", file, TrainSettings.from_dict)
    family = _checkpoint_entry(state, "family", file, TaskDistribution.from_dict)
    if settings.algorithm != algorithm:
        raise CheckpointError(f"{file} is inconsistent: a {algorithm} agent with {settings.algorithm} settings")
    learner = build_learner(settings, family, device)
    _load_learner_state(learner, state, file, algorithm)
    return TrainedAgent(learner, settings, family, algorithm)


_T = TypeVar("_T")


def _checkpoint_entry(state: Mapping[str, Any], key: str, file: Path, parse: Callable[[Any], _T]) -> _T:
    """``parse(state[key])``, with a missing or malformed entry reported as a CheckpointError naming it."""
    if key not in state:
        raise CheckpointError(
            f"{file} is not a complete sim2adapt checkpoint: its {key!r} entry is missing "
            "(use a run's checkpoint.pt or a bundled agent)"
        )
    try:
        return parse(state[key])
    except (ValueError, TypeError, RecursionError) as err:  # a damaged or hand-made entry
        raise CheckpointError(f"{file}: its {key!r} entry is not allowed: {one_line(str(err))}") from err


def _load_learner_state(learner: Learner, state: Mapping[str, Any], file: Path, algorithm: str) -> None:
    """Load the ``learner`` entry, reporting a missing or mismatched one as a CheckpointError.

    ``load_state_dict`` of torch modules and optimisers raises KeyError, RuntimeError (shapes),
    TypeError or ValueError on state from another configuration or a damaged file.
    """
    if "learner" not in state:
        raise CheckpointError(f"{file} is not a complete sim2adapt checkpoint: its 'learner' entry is missing")
    try:
        learner.load_state_dict(state["learner"])
    except (KeyError, RuntimeError, TypeError, ValueError, IndexError, AttributeError) as err:
        raise CheckpointError(
            f"{file}: its 'learner' entry does not fit a {algorithm} agent with its settings "
            f"({type(err).__name__}: {one_line(str(err), 200)})"
        ) from err


def scratch_agent_source(family: TaskDistribution, *, env: str = "locomotion", seed: int = 0) -> TrainedAgent:
    """PPO from scratch on the family's robot, through the same interface as a trained agent."""
    config = PPOConfig()
    settings = TrainSettings(algorithm="multitask", env=env, config=config, seed=seed)
    obs_dim, action_dim = env_spaces(settings, family)
    source = ScratchBaseline(obs_dim=obs_dim, action_dim=action_dim, config=config, seed=seed)
    return TrainedAgent(source, settings, family, "scratch")
