"""Live adaptation to one task: the generator the GUI, the CLI and the tests all iterate.

:func:`adapt` runs ``shots`` episodes on a task in its own env, lets the agent learn between them,
and yields frozen events of plain Python / numpy values as it goes: every step, every finished
episode, every update, optionally rendered frames, and finally an :class:`AdaptResult`. It is
algorithm-agnostic: anything implementing :class:`AdaptiveAgent` (MAML's gradient steps, a
context encoder's posterior, a fine-tuned baseline) is driven the same way.

The env and the agent's working copy are built *inside* the generator, i.e. in the thread that
iterates it (STYLE.md: factories and frozen params cross threads, never live objects). Closing
the generator early (``gen.close()``, or dropping it) runs its ``finally`` and closes the env.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

from sim.envs.locomotion import LocomotionEnv
from sim.metrics import EpisodeMeter, EpisodeMetrics
from sim.params import TaskParams
from sim.task_changes import TaskChange, validate_schedule

if TYPE_CHECKING:  # torch-side types; this module itself runs without importing torch
    from agents.core.exportable import ExportablePolicy


@dataclass(frozen=True)
class StepEvent:
    """One env step of the current episode."""

    episode: int
    step: int
    reward: float
    done: bool
    velocity_mps: float | None = None
    """the torso's velocity along the target heading (None where the env reports no torso)"""


@dataclass(frozen=True)
class EpisodeEvent:
    """A finished episode; ``updates_before`` is how many updates the acting policy had (0 = not adapted)."""

    episode: int
    episode_return: float
    length: int
    updates_before: int
    metrics: EpisodeMetrics | None = None
    """tracking error, fall and distance in physical units; None for an env that reports no torso (the toy)"""

    @property
    def phase(self) -> str:
        """Human label of the acting policy: ``pre-adaptation`` or ``after update k``."""
        return "pre-adaptation" if self.updates_before == 0 else f"after update {self.updates_before}"


@dataclass(frozen=True)
class UpdateEvent:
    """One adaptation update between episodes."""

    update: int
    loss: float
    kl: float
    """mean KL(old policy || new policy) on the episodes it learned from"""
    step_size: float
    seconds: float


def _short(value: Any) -> str:
    """A number to 4 significant digits (a held-out task's 8.704122602263194 kg crowded the plot), else as is."""
    return repr(float(f"{value:.4g}")) if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class TaskChangeEvent:
    """A scheduled change of the task, applied before the action of ``step`` (plots mark it)."""

    episode: int
    step: int
    path: str
    old: Any
    new: Any

    @property
    def label(self) -> str:
        """``robot.payload_kg 8.704 -> 10``: what a plot's marker and the CLI say (4 significant digits)."""
        return f"{self.path} {_short(self.old)} -> {_short(self.new)}"


@dataclass(frozen=True)
class EstimateEvent:
    """What an agent that adapts online believes about the task at ``step`` (for the window's third plot)."""

    episode: int
    step: int
    estimate: tuple[float, ...]
    """the agent's task estimate (RMA: z_hat, in latent units)"""
    reference: tuple[float, ...] | None
    """the same quantity computed from the true current task, where the agent can (RMA: the teacher's z)"""


@runtime_checkable
class TaskEstimator(Protocol):
    """An agent that can say what it currently believes about the task (optional; RMA's does)."""

    def task_estimate(self, task: TaskParams) -> tuple[NDArray[np.float32], NDArray[np.float32] | None]:
        """Its current estimate, and the estimate it would have for ``task`` if it knew it (or None)."""
        ...


@dataclass(frozen=True)
class FrameEvent:
    """A rendered RGB frame (``[H, W, 3]`` uint8) for the viewport."""

    episode: int
    step: int
    rgb: NDArray[np.uint8]


@dataclass(frozen=True)
class AdaptResult:
    """The end of an adaptation: the returns per episode and the adapted agent's exportable policy."""

    task: TaskParams
    episode_returns: tuple[float, ...]
    updates: int
    policy: ExportablePolicy | None
    """the agent's :meth:`AdaptiveAgent.adapted_policy`: a CPU object, not shared with the caller's agent"""
    env_config: dict[str, Any] | None = None
    """the simulation settings of the env it adapted in (None for envs other than the locomotion env):
    an export records them, so that ``play`` simulates what the agent met"""


AdaptEvent = StepEvent | EpisodeEvent | UpdateEvent | FrameEvent | TaskChangeEvent | EstimateEvent | AdaptResult


@dataclass(frozen=True)
class EpisodeRecord:
    """What the agent learns from after an episode (numpy, as collected)."""

    obs: NDArray[np.float32]
    actions: NDArray[np.float32]
    rewards: NDArray[np.float64]
    next_obs: NDArray[np.float32]
    """what followed each action (context-based agents learn from whole transitions)"""
    terminated: bool


@dataclass(frozen=True)
class StepFeedback:
    """What followed one action: the per-step feedback an agent that adapts online learns from."""

    obs: NDArray[np.float32]
    """the observation the action was chosen for"""
    action: NDArray[np.float32]
    reward: float
    next_obs: NDArray[np.float32]
    terminated: bool
    """the episode ended by failure (a fall)"""
    truncated: bool
    """the episode ended by its time limit"""


@dataclass(frozen=True)
class UpdateInfo:
    """An agent's report of one update (the generator times it)."""

    loss: float
    kl: float
    step_size: float


class AdaptiveAgent(Protocol):
    """What :func:`adapt` needs from an algorithm's agent.

    The acting side sees everything a real controller sees: the start of each episode, every
    observation, and what followed each action (reward, next observation, termination). An agent
    that adapts between episodes only (MAML's gradient steps, fine-tuning) inherits the no-op hooks
    of :class:`BetweenEpisodesAgent`; one that adapts within the episode (a history encoder, a
    recurrent core, PEARL's per-step posterior) keeps its state in them.
    """

    def start_episode(self) -> None:
        """A new episode on the same task begins: reset per-episode state (history, recurrent core)."""
        ...

    def act(self, obs: NDArray[np.float32], rng: np.random.Generator) -> NDArray[np.float32]:
        """An action for one observation under the current (adapted) policy."""
        ...

    def observe(self, feedback: StepFeedback) -> None:
        """What followed the last action; an online agent updates its estimate of the task here."""
        ...

    def learn(self, episodes: list[EpisodeRecord]) -> UpdateInfo:
        """Adapt on every episode of this task so far."""
        ...

    def adapted_policy(self) -> ExportablePolicy | None:
        """An exportable CPU copy of the current policy (None: nothing worth exporting)."""
        ...


class BetweenEpisodesAgent:
    """Base of agents that adapt only between episodes: the per-step hooks have nothing to do."""

    def start_episode(self) -> None:
        """Nothing carries over from step to step."""

    def observe(self, feedback: StepFeedback) -> None:
        """Steps are learned from in :meth:`learn`, from whole episodes."""


@dataclass(frozen=True, kw_only=True)
class AdaptConfig:
    """The budget of one adaptation."""

    shots: int = 3
    """episodes on the task"""
    max_steps: int = 200
    """steps per episode at most"""
    updates: int = 2
    """adaptation updates, one after each of the first ``updates`` episodes"""
    seed: int = 0
    frame_every: int = 0
    """yield a FrameEvent every this many steps (0: no frames; rendering costs ~20 ms a frame)"""
    estimate_every: int = 0
    """yield an EstimateEvent every this many steps from an agent that is a TaskEstimator (0: never)"""
    changes: tuple[TaskChange, ...] = ()
    """task changes applied within every episode at their steps (each episode starts on the task as given)"""

    def __post_init__(self) -> None:
        every = min(self.frame_every, self.estimate_every)
        if self.shots < 1 or self.max_steps < 1 or not 0 <= self.updates < self.shots or every < 0:
            raise ValueError(
                f"AdaptConfig(shots={self.shots}, max_steps={self.max_steps}, updates={self.updates}, "
                f"frame_every={self.frame_every}, estimate_every={self.estimate_every}) is not allowed: "
                "shots >= 1, max_steps >= 1, 0 <= updates < shots (an update needs an episode after it), "
                "frame_every >= 0, estimate_every >= 0"
            )


def _apply_change(env: gym.Env[Any, Any], change: TaskChange, episode: int) -> TaskChangeEvent:
    """Switch the running env to the changed task in place (dynamics only: nothing is rebuilt)."""
    current: TaskParams = env.unwrapped.get_task()  # type: ignore[attr-defined]
    section, name = change.path.split(".")
    old = getattr(getattr(current, section), name)
    env.unwrapped.set_task(change.applied_to(current))  # type: ignore[attr-defined]
    return TaskChangeEvent(episode, change.step, change.path, old, change.value)


def _estimate(agent: TaskEstimator, env: gym.Env[Any, Any], episode: int, step: int) -> EstimateEvent:
    """The agent's belief after ``step``, beside what it would believe about the env's current task."""
    estimate, reference = agent.task_estimate(env.unwrapped.get_task())  # type: ignore[attr-defined]
    as_tuple = tuple(float(v) for v in estimate)
    return EstimateEvent(episode, step, as_tuple, None if reference is None else tuple(float(v) for v in reference))


LiveChanges = Callable[[], Sequence[tuple[str, Any]]]
"""polled before every step: ``(field, value)`` edits to apply now (the window's task form while a run goes on)"""


class _TaskState:
    """The task each episode starts on: the given one, with every live edit so far (scheduled ones restart)."""

    def __init__(self, task: TaskParams, poll: LiveChanges | None) -> None:
        self.base, self.poll = task, poll

    def live(self, env: gym.Env[Any, Any], episode: int, step: int) -> Iterator[TaskChangeEvent]:
        """Apply the edits made since the last step, in place, and keep them for later episodes."""
        for path, value in self.poll() if self.poll is not None else ():
            change = TaskChange(step, path, value)
            self.base = change.applied_to(self.base)
            yield _apply_change(env, change, episode)


def _run_episode(
    env: gym.Env[Any, Any],
    agent: AdaptiveAgent,
    cfg: AdaptConfig,
    episode: int,
    rng: np.random.Generator,
    state: _TaskState,
) -> Iterator[StepEvent | FrameEvent | TaskChangeEvent | EstimateEvent | EpisodeMetrics | EpisodeRecord]:
    if cfg.changes:
        env.unwrapped.set_task(state.base)  # type: ignore[attr-defined]  # undo the last episode's schedule
    obs, reset_info = env.reset(seed=cfg.seed + episode)
    meter = EpisodeMeter.from_reset_info(reset_info)
    agent.start_episode()
    observations, actions, rewards, next_observations, terminated = [], [], [], [], False
    for step in range(cfg.max_steps):
        for change in (c for c in cfg.changes if c.step == step):
            yield _apply_change(env, change, episode)
        yield from state.live(env, episode, step)
        action = agent.act(np.asarray(obs, dtype=np.float32), rng)
        next_obs, reward, terminated, truncated, info = env.step(action)
        if meter is not None:
            meter.add(info)
        agent.observe(StepFeedback(obs, action, float(reward), next_obs, bool(terminated), bool(truncated)))
        observations.append(obs)
        actions.append(action)
        rewards.append(float(reward))
        next_observations.append(next_obs)
        done = bool(terminated or truncated) or step == cfg.max_steps - 1
        velocity = info.get("velocity_along_heading_mps")
        yield StepEvent(episode, step, float(reward), done, None if velocity is None else float(velocity))
        if cfg.estimate_every and step % cfg.estimate_every == 0 and isinstance(agent, TaskEstimator):
            yield _estimate(agent, env, episode, step)
        if cfg.frame_every and step % cfg.frame_every == 0:
            frame = env.render()
            if frame is not None:
                yield FrameEvent(episode=episode, step=step, rgb=np.asarray(frame, dtype=np.uint8))
        obs = next_obs
        if done:
            break
    if meter is not None:
        yield meter.result()
    yield EpisodeRecord(
        np.asarray(observations, np.float32),
        np.asarray(actions, np.float32),
        np.asarray(rewards),
        np.asarray(next_observations, np.float32),
        bool(terminated),
    )


def adapt(
    make_agent: Callable[[], AdaptiveAgent],
    make_env: Callable[[TaskParams], gym.Env[Any, Any]],
    task: TaskParams,
    config: AdaptConfig,
    *,
    live_changes: LiveChanges | None = None,
) -> Generator[AdaptEvent, None, None]:
    """Run ``config.shots`` episodes on ``task``, adapting after each of the first ``config.updates``.

    Yields step, frame, episode and update events, then one :class:`AdaptResult`. Cancel by
    closing the generator; the env is closed either way. ``live_changes``, polled before every
    step, applies edits made while the run goes on (dynamics fields only: a field that rebuilds
    the world raises ValueError naming it, so a caller checks an edit with :class:`TaskChange` first).
    """
    validate_schedule(config.changes, task)  # a bad change fails now, not at its step
    agent = make_agent()
    env = make_env(task)
    rng = np.random.default_rng(config.seed)
    state = _TaskState(task, live_changes)
    try:
        episodes: list[EpisodeRecord] = []
        returns: list[float] = []
        for episode in range(config.shots):
            metrics: EpisodeMetrics | None = None
            for event in _run_episode(env, agent, config, episode, rng, state):
                if isinstance(event, EpisodeRecord):
                    episodes.append(event)
                elif isinstance(event, EpisodeMetrics):
                    metrics = event
                else:
                    yield event
            returns.append(float(episodes[-1].rewards.sum()))
            updates_so_far = min(episode, config.updates)
            yield EpisodeEvent(episode, returns[-1], len(episodes[-1].rewards), updates_so_far, metrics)
            if episode < config.updates:
                start = time.perf_counter()
                info = agent.learn(episodes)
                seconds = time.perf_counter() - start
                yield UpdateEvent(episode + 1, info.loss, info.kl, info.step_size, seconds)
        base = env.unwrapped
        env_config = dataclasses.asdict(base.config) if isinstance(base, LocomotionEnv) else None
        yield AdaptResult(task, tuple(returns), config.updates, agent.adapted_policy(), env_config)
    finally:
        env.close()
