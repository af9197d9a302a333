"""Inside one sampler worker process: its slice of envs, the messages it answers, its rollouts.

:class:`sim.sampler.VectorSampler` starts :func:`worker_main` in each worker process and talks to
it through a pipe with the small typed messages below (never strings). The worker builds its envs
(and so its PyBullet clients) inside its own process, answers each message with one reply, and
turns an exception into a :class:`Failed` reply carrying the traceback, so the parent can raise it.
The two rollout loops live here because a whole trajectory per message is what makes processes
pay (a pipe round trip costs about one ant step, MEASURED.md).
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from multiprocessing.connection import Connection
from typing import Any

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

from sim.lifeline import tie_to_parent
from sim.params import TaskParams
from sim.sampler_policies import Policy

EnvFactory = Callable[[TaskParams], gym.Env[Any, Any]]
"""Builds one env for a task; must be picklable (a class, a module-level function or a partial)."""


@dataclass(frozen=True)
class Trajectories:
    """``T`` consecutive steps of ``N`` envs, time-major (arrays are ``[T, N, ...]``).

    ``obs[t]`` is what the policy saw, ``next_obs[t]`` what followed its action, before the
    autoreset that replaces it on ``terminated | truncated`` (so value bootstrapping stays exact).
    """

    obs: NDArray[np.float32]
    actions: NDArray[np.float32]
    rewards: NDArray[np.float64]
    terminated: NDArray[np.bool_]
    truncated: NDArray[np.bool_]
    next_obs: NDArray[np.float32]

    @classmethod
    def concatenate(cls, parts: Sequence[Trajectories]) -> Trajectories:
        """Join per-worker slices along the env axis."""
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts], axis=1) for f in fields(cls)))


@dataclass(frozen=True)
class EpisodeJob:
    """Episodes one worker runs side by side under one policy (one batched forward per step).

    Episode ``i`` runs task ``tasks[i]`` from ``env.reset(seed=seeds[i])``, and the policy's noise
    comes from a generator seeded with ``seeds``: a job gives the same episodes on any worker.
    """

    policy: Policy
    tasks: tuple[TaskParams, ...]
    seeds: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.tasks or len(self.tasks) != len(self.seeds):
            raise ValueError(f"EpisodeJob needs as many seeds as tasks (>= 1), got {len(self.tasks)} tasks")


# ----------------------------------------------------------------- messages, parent to worker
@dataclass(frozen=True)
class RunEpisodes:
    """Run one :class:`EpisodeJob`; the reply is its :class:`Trajectories`."""

    job: EpisodeJob
    horizon: int


@dataclass(frozen=True)
class Rollout:
    """Step every env ``num_steps`` times in lock-step with autoreset; the reply is :class:`Trajectories`."""

    policy: Policy
    num_steps: int


@dataclass(frozen=True)
class Reset:
    """Reset every env (one seed each, None: unseeded); the reply is the list of observations."""

    seeds: list[int | None]


@dataclass(frozen=True)
class Step:
    """Step every env with its row of ``actions``; the reply: ``(obs, reward, terminated, truncated, info)`` per env."""

    actions: NDArray[np.float32]


@dataclass(frozen=True)
class SetTasks:
    """Give env ``i`` the task ``tasks[i]``; the reply is None."""

    tasks: list[TaskParams]


@dataclass(frozen=True)
class Close:
    """End the worker (no reply)."""


@dataclass(frozen=True)
class Failed:
    """The reply of a worker that raised: the traceback, for the parent to raise with."""

    traceback: str


class WorkerEnvs:
    """A worker's slice of envs and each one's current observation (autoreset keeps it valid)."""

    def __init__(self, envs: list[gym.Env[Any, Any]]) -> None:
        self.envs = envs
        self.obs: list[Any] = [None] * len(envs)
        self.rng = np.random.default_rng()

    def handle(self, message: object) -> object:
        """The reply to one message from the parent."""
        if isinstance(message, Step):
            return [self._step(i, action) for i, action in enumerate(message.actions)]
        if isinstance(message, Rollout):
            return self._rollout(message.policy, message.num_steps)
        if isinstance(message, RunEpisodes):
            return self._episodes(message.job, message.horizon)
        if isinstance(message, Reset):
            self.obs = [env.reset(seed=seed)[0] for env, seed in zip(self.envs, message.seeds, strict=True)]
            seeds = [seed for seed in message.seeds if seed is not None]
            self.rng = np.random.default_rng(seeds or None)  # the policy's noise follows the env seeds
            return self.obs
        if isinstance(message, SetTasks):
            for env, task in zip(self.envs, message.tasks, strict=True):
                env.unwrapped.set_task(task)  # type: ignore[attr-defined]
            return None
        raise TypeError(f"unknown sampler message {type(message).__name__}")

    def _step(self, i: int, action: NDArray[np.float32]) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.envs[i].step(action)
        if terminated or truncated:
            info = {**info, "final_obs": obs}
            obs, _ = self.envs[i].reset()
        self.obs[i] = obs
        return obs, float(reward), bool(terminated), bool(truncated), info

    def _rollout(self, policy: Policy, num_steps: int) -> Trajectories:
        """Lock-step with autoreset. The policy arrives afresh with each call, so it starts every row
        as a new episode: a policy with memory sees the episodes it continues without their past."""
        buffers = _empty_trajectories(num_steps, np.shape(self.obs), self.envs[0].action_space.shape or ())
        policy.start_episodes(np.ones(len(self.envs), bool))
        for t in range(num_steps):
            buffers.obs[t] = np.stack(self.obs)
            buffers.actions[t] = policy(buffers.obs[t], self.rng)
            for i, env in enumerate(self.envs):
                obs, reward, terminated, truncated, _ = env.step(buffers.actions[t, i])
                buffers.next_obs[t, i], buffers.rewards[t, i] = obs, float(reward)
                buffers.terminated[t, i], buffers.truncated[t, i] = terminated, truncated
                self.obs[i] = env.reset()[0] if terminated or truncated else obs
            done = buffers.terminated[t] | buffers.truncated[t]
            policy.observe(buffers.rewards[t], buffers.next_obs[t], done)
            if done.any():
                policy.start_episodes(done)
        return buffers

    def _episodes(self, job: EpisodeJob, horizon: int) -> Trajectories:
        """One episode per job task, at most ``horizon`` steps; rows after an episode ends are zero."""
        envs = self.envs[: len(job.tasks)]
        obs = []
        for env, task, seed in zip(envs, job.tasks, job.seeds, strict=True):
            if env.unwrapped.get_task() != task:  # type: ignore[attr-defined]
                env.unwrapped.set_task(task)  # type: ignore[attr-defined]
            obs.append(env.reset(seed=seed)[0])
        rng, running = np.random.default_rng(list(job.seeds)), np.ones(len(envs), bool)
        out = _empty_trajectories(horizon, np.shape(obs), envs[0].action_space.shape or ())
        job.policy.start_episodes(running.copy())
        for t in range(horizon):
            out.obs[t] = np.stack(obs)
            out.actions[t] = job.policy(out.obs[t], rng)
            for i in np.flatnonzero(running):
                obs[i], reward, terminated, truncated, _ = envs[i].step(out.actions[t, i])
                out.next_obs[t, i], out.rewards[t, i] = obs[i], float(reward)
                out.terminated[t, i], out.truncated[t, i] = terminated, truncated
                running[i] = not (terminated or truncated)
            job.policy.observe(out.rewards[t], out.next_obs[t], ~running)
            if not running.any():
                return Trajectories(*(getattr(out, f.name)[: t + 1] for f in fields(Trajectories)))
        return out


def _empty_trajectories(steps: int, obs_shape: tuple[int, ...], action_shape: tuple[int, ...]) -> Trajectories:
    """Buffers for ``steps`` steps of ``obs_shape[0]`` envs, zero where nothing is written."""
    batch = (steps, *obs_shape)
    return Trajectories(
        obs=np.zeros(batch, np.float32),
        actions=np.zeros((steps, obs_shape[0], *action_shape), np.float32),
        rewards=np.zeros(batch[:2], np.float64),
        terminated=np.zeros(batch[:2], bool),
        truncated=np.zeros(batch[:2], bool),
        next_obs=np.zeros(batch, np.float32),
    )


class _ParentGone(Exception):
    """The parent's end of the pipe closed (it died, or was killed before this worker): nobody is left
    to answer, so the worker ends quietly instead of printing a BrokenPipeError traceback."""


def _send(conn: Connection, message: object) -> None:
    try:
        conn.send(message)
    except OSError as err:  # BrokenPipeError, ConnectionResetError
        raise _ParentGone from err


def _receive(conn: Connection) -> object:
    try:
        return conn.recv()
    except (EOFError, OSError) as err:
        raise _ParentGone from err


def worker_main(conn: Connection, factory: EnvFactory, tasks: list[TaskParams]) -> None:
    """The worker process: build the envs, answer messages until :class:`Close`, close the envs."""
    tie_to_parent()  # ends with the process that owns the sampler, however that one dies (issue 14)
    worker = WorkerEnvs([])
    try:
        worker = WorkerEnvs([factory(task) for task in tasks])
        _send(conn, None)
        while not isinstance(message := _receive(conn), Close):
            try:
                _send(conn, worker.handle(message))
            except _ParentGone:
                raise
            except Exception:
                _send(conn, Failed(traceback.format_exc()))
    except _ParentGone:
        pass
    except Exception:
        with contextlib.suppress(OSError):
            conn.send(Failed(traceback.format_exc()))
    finally:
        for env in worker.envs:
            env.close()
        conn.close()
