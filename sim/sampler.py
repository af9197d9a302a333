"""Step many envs in worker processes, each worker holding several envs.

PyBullet holds the GIL while it steps, so threads do not scale; processes do. A pipe round trip
costs about as much as one ant step here (MEASURED.md), so each worker holds a contiguous slice
of the envs and one message steps the whole slice. Each worker builds its envs (and so its
PyBullet clients) inside its own process. Messages are small typed dataclasses, never strings.
Worse, a process woken after computing pays ~0.2-0.3 ms before its reply is read (measured on this
VM), so a policy is shipped to the workers and whole trajectories come back. Two ways:
:meth:`VectorSampler.run_episodes` (episodic learners such as MAML) hands jobs of episodes to
whichever worker is free, which keeps both cores busy when one runs slower for a while;
:meth:`VectorSampler.rollout` steps every env for a fixed number of steps in lock-step, with
autoreset (continuing on-policy sampling). A worker that raises sends its traceback back; a
worker that dies is reported, never waited on forever.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing as mp
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from multiprocessing.connection import Connection, wait
from types import TracebackType
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

from sim.envs.locomotion import EnvConfig, LocomotionEnv
from sim.params import TaskParams

EnvFactory = Callable[[TaskParams], gym.Env[Any, Any]]
"""Builds one env for a task; must be picklable (a class, a module-level function or a partial)."""


class Policy(Protocol):
    """A batched acting policy as workers run it; it may carry per-env state across the steps of an episode.

    Maps observations ``[k, obs_dim]`` to actions ``[k, action_dim]``; must be picklable. The
    generator passed in is the worker's own, seeded from the episodes' seeds: a stochastic policy
    draws its noise there, so rollouts are reproducible and workers' noise differs.

    Every rollout loop calls, in this order: :meth:`start_episodes` for the rows whose env has just
    reset, ``__call__`` for the actions, then :meth:`observe` with what followed. A policy with
    memory (a history encoder, a recurrent core, a per-step posterior) keeps it per row and clears
    a row in :meth:`start_episodes`; a stateless one inherits :class:`StatelessPolicy`'s no-ops.

    It is shipped to the workers with each job, so a whole rollout costs one message per worker
    and its state lives in the worker's copy. The sampler only calls it: a torch policy arrives
    as the caller's object, and ``sim`` itself never imports torch.
    """

    def start_episodes(self, rows: NDArray[np.bool_]) -> None:
        """Rows (``[k]`` mask) whose env has just reset: forget what they remembered."""
        ...

    def __call__(self, obs: NDArray[np.float32], rng: np.random.Generator) -> NDArray[np.float32]:
        """Actions for a batch of observations."""
        ...

    def observe(self, rewards: NDArray[np.float64], next_obs: NDArray[np.float32], done: NDArray[np.bool_]) -> None:
        """What followed the last actions, per row; ``done`` rows ended their episode (or had already)."""
        ...


class StatelessPolicy:
    """Base of policies whose actions depend on the current observation alone: the hooks do nothing."""

    def start_episodes(self, rows: NDArray[np.bool_]) -> None:
        """Nothing to forget."""

    def observe(self, rewards: NDArray[np.float64], next_obs: NDArray[np.float32], done: NDArray[np.bool_]) -> None:
        """Nothing to remember."""


_POLL_S = 0.05


class SamplerError(RuntimeError):
    """A worker raised, died, or the sampler was used after ``close``."""


@dataclass(frozen=True)
class StepBatch:
    """Results of one vector step; envs that finished were reset at once (their last obs is in ``infos``)."""

    obs: NDArray[np.float32]
    rewards: NDArray[np.float64]
    terminated: NDArray[np.bool_]
    truncated: NDArray[np.bool_]
    infos: list[dict[str, Any]] = field(default_factory=list)


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


class UniformRandomPolicy(StatelessPolicy):
    """Uniform actions in ``[-1, 1]``; picklable, for benchmarks and smoke tests."""

    def __init__(self, action_dim: int) -> None:
        self.action_dim = action_dim

    def __call__(self, obs: NDArray[np.float32], rng: np.random.Generator) -> NDArray[np.float32]:
        return rng.uniform(-1.0, 1.0, (len(obs), self.action_dim)).astype(np.float32)


class ActionTablePolicy(StatelessPolicy):
    """Replays a fixed table of actions, the same row for every env; picklable, for benchmarks.

    Unlike random noise from the worker's generator, what each env does is then independent of
    how envs are spread over workers, so throughput comparisons across worker counts simulate the
    same motions.
    """

    def __init__(self, table: NDArray[np.float32]) -> None:
        self.table = table
        self.calls = 0

    def __call__(self, obs: NDArray[np.float32], rng: np.random.Generator) -> NDArray[np.float32]:
        row = self.table[self.calls % len(self.table)]
        self.calls += 1
        return np.broadcast_to(row, (len(obs), len(row))).copy()


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


@dataclass(frozen=True)
class _Episodes:
    job: EpisodeJob
    horizon: int


@dataclass(frozen=True)
class _Rollout:
    policy: Policy
    num_steps: int


@dataclass(frozen=True)
class _Reset:
    seeds: list[int | None]


@dataclass(frozen=True)
class _Step:
    actions: NDArray[np.float32]


@dataclass(frozen=True)
class _SetTasks:
    tasks: list[TaskParams]


@dataclass(frozen=True)
class _Close:
    pass


@dataclass(frozen=True)
class _Failed:
    traceback: str


class _WorkerEnvs:
    """A worker's slice of envs and each one's current observation (autoreset keeps it valid)."""

    def __init__(self, envs: list[gym.Env[Any, Any]]) -> None:
        self.envs = envs
        self.obs: list[Any] = [None] * len(envs)
        self.rng = np.random.default_rng()

    def handle(self, message: object) -> object:
        if isinstance(message, _Step):
            return [self._step(i, action) for i, action in enumerate(message.actions)]
        if isinstance(message, _Rollout):
            return self._rollout(message.policy, message.num_steps)
        if isinstance(message, _Episodes):
            return self._episodes(message.job, message.horizon)
        if isinstance(message, _Reset):
            self.obs = [env.reset(seed=seed)[0] for env, seed in zip(self.envs, message.seeds, strict=True)]
            seeds = [seed for seed in message.seeds if seed is not None]
            self.rng = np.random.default_rng(seeds or None)  # the policy's noise follows the env seeds
            return self.obs
        if isinstance(message, _SetTasks):
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


def _worker_main(conn: Connection, factory: EnvFactory, tasks: list[TaskParams]) -> None:
    worker = _WorkerEnvs([])
    try:
        worker = _WorkerEnvs([factory(task) for task in tasks])
        conn.send(None)
        while True:
            message = conn.recv()
            if isinstance(message, _Close):
                break
            try:
                conn.send(worker.handle(message))
            except Exception:
                conn.send(_Failed(traceback.format_exc()))
    except Exception:
        conn.send(_Failed(traceback.format_exc()))
    finally:
        for env in worker.envs:
            env.close()
        conn.close()


class VectorSampler:
    """``len(tasks)`` envs spread over ``num_workers`` processes; batched numpy in and out.

    Use as a context manager (or call :meth:`close`) so that no process outlives it.
    """

    def __init__(
        self,
        tasks: Sequence[TaskParams],
        *,
        num_workers: int,
        config: EnvConfig | None = None,
        env_factory: EnvFactory | None = None,
        start_method: str = "spawn",
    ) -> None:
        if not 1 <= num_workers <= len(tasks):
            raise ValueError(f"num_workers = {num_workers} is not allowed: between 1 and len(tasks) = {len(tasks)}")
        factory = env_factory or functools.partial(LocomotionEnv, config=config or EnvConfig())
        ctx: Any = mp.get_context(start_method)  # typeshed's BaseContext lacks Process/Pipe
        self.num_envs = len(tasks)
        self._slices = [s for s in np.array_split(np.arange(self.num_envs), num_workers)]
        self._conns: list[Connection] = []
        self._procs: list[mp.process.BaseProcess] = []
        self._closed = False
        try:
            for index in self._slices:
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=_worker_main, args=(child, factory, [tasks[i] for i in index]), daemon=True)
                proc.start()
                child.close()
                self._conns.append(parent)
                self._procs.append(proc)
            self._gather()
        except BaseException:
            self.close()
            raise

    # ----------------------------------------------------------------- public API
    def reset(self, seeds: int | Sequence[int | None] | None = None) -> NDArray[np.float32]:
        """Reset every env; an ``int`` seeds env ``i`` with ``seed + i``. Returns stacked observations."""
        if isinstance(seeds, int):
            seed_list: list[int | None] = [seeds + i for i in range(self.num_envs)]
        elif seeds is None:
            seed_list = [None] * self.num_envs
        else:
            seed_list = list(seeds)
        if len(seed_list) != self.num_envs:
            raise ValueError(f"seeds has {len(seed_list)} entries; expected num_envs = {self.num_envs}")
        self._scatter(lambda idx: _Reset([seed_list[i] for i in idx]))
        return np.stack([obs for part in self._gather() for obs in part])

    def step(self, actions: NDArray[np.float32]) -> StepBatch:
        """Step every env with its row of ``actions``."""
        actions = np.asarray(actions, dtype=np.float32)
        if actions.ndim != 2 or actions.shape[0] != self.num_envs:
            raise ValueError(f"actions shape {actions.shape} is not allowed: expected ({self.num_envs}, action_dim)")
        self._scatter(lambda idx: _Step(actions[idx]))
        rows = [row for part in self._gather() for row in part]
        return StepBatch(
            obs=np.stack([r[0] for r in rows]),
            rewards=np.array([r[1] for r in rows], dtype=np.float64),
            terminated=np.array([r[2] for r in rows], dtype=bool),
            truncated=np.array([r[3] for r in rows], dtype=bool),
            infos=[r[4] for r in rows],
        )

    def rollout(self, policy: Policy, num_steps: int) -> Trajectories:
        """Run ``num_steps`` steps of every env with ``policy`` inside the workers; one message each.

        Continues from the current observations (call :meth:`reset` first); finished episodes
        reset automatically, as in :meth:`step`.
        """
        if num_steps < 1:
            raise ValueError(f"num_steps = {num_steps} is not allowed: must be >= 1")
        self._scatter(lambda idx: _Rollout(policy, num_steps))
        return Trajectories.concatenate(self._gather())

    @property
    def envs_per_worker(self) -> int:
        """Envs of the smallest worker: the most episodes one :class:`EpisodeJob` may hold."""
        return min(len(index) for index in self._slices)

    def run_episodes(self, jobs: Sequence[EpisodeJob], horizon: int) -> list[Trajectories]:
        """Each job's episodes (``[T, k]``, ``T <= horizon``), in job order; jobs go to whichever worker is free.

        Dispatching jobs as workers free up balances the load: on this VM one of two equally loaded
        processes often runs 25-40 % slower than the other for a while, and lock-step sampling
        would idle the faster one for that long (measured).
        """
        if any(len(job.tasks) > self.envs_per_worker for job in jobs):
            raise ValueError(f"an EpisodeJob has more tasks than a worker has envs ({self.envs_per_worker})")
        results: list[Trajectories | None] = [None] * len(jobs)
        pending, busy = list(range(len(jobs))), dict[int, int]()
        try:
            while pending or busy:
                for worker in range(len(self._conns)):
                    if worker not in busy and pending:
                        busy[worker] = pending.pop(0)
                        self._send(worker, _Episodes(jobs[busy[worker]], horizon))
                worker = self._next_ready(list(busy))
                job = busy.pop(worker)  # before the reply: a failed worker owes nothing more
                results[job] = self._reply(worker)
        except SamplerError:
            for worker in busy:  # leave no reply in a pipe: the next call must not read a stale one
                with contextlib.suppress(SamplerError):
                    self._receive(worker)
            raise
        return [r for r in results if r is not None]

    def set_tasks(self, tasks: Sequence[TaskParams]) -> None:
        """Give env ``i`` the task ``tasks[i]`` (in place, via ``set_task``)."""
        if len(tasks) != self.num_envs:
            raise ValueError(f"tasks has {len(tasks)} entries; expected num_envs = {self.num_envs}")
        self._scatter(lambda idx: _SetTasks([tasks[i] for i in idx]))
        self._gather()

    def close(self) -> None:
        """Stop every worker and wait for it; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for conn in self._conns:
            try:
                conn.send(_Close())
            except (BrokenPipeError, OSError):
                pass
        for proc in self._procs:
            proc.join(timeout=5.0)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for conn in self._conns:
            conn.close()

    def __enter__(self) -> VectorSampler:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ----------------------------------------------------------------- internals
    def _send(self, worker: int, message: object) -> None:
        if self._closed:
            raise SamplerError("the sampler is closed")
        try:
            self._conns[worker].send(message)
        except (BrokenPipeError, OSError) as err:
            raise self._death(worker) from err

    def _scatter(self, make_message: Callable[[NDArray[np.int64]], object]) -> None:
        for worker, index in enumerate(self._slices):
            self._send(worker, make_message(index))

    def _next_ready(self, workers: list[int]) -> int:
        """The first of ``workers`` with a reply waiting (a dead one raises instead of hanging)."""
        conns = {id(self._conns[w]): w for w in workers}
        while True:
            ready = wait([self._conns[w] for w in workers], timeout=_POLL_S)
            if ready:
                return conns[id(ready[0])]
            for worker in workers:
                if not self._procs[worker].is_alive():
                    raise self._death(worker)

    def _reply(self, worker: int) -> Any:
        reply = self._receive(worker)
        if isinstance(reply, _Failed):
            raise SamplerError(f"sampler worker {worker} raised:\n{reply.traceback}")
        return reply

    def _gather(self) -> list[Any]:
        replies = [self._receive(worker) for worker in range(len(self._conns))]
        failures = [(w, r) for w, r in enumerate(replies) if isinstance(r, _Failed)]
        if failures:
            worker, failed = failures[0]
            raise SamplerError(f"sampler worker {worker} raised:\n{failed.traceback}")
        return replies

    def _receive(self, worker: int) -> Any:
        conn, proc = self._conns[worker], self._procs[worker]
        while not conn.poll(_POLL_S):
            if not proc.is_alive():
                raise self._death(worker)
        try:
            return conn.recv()
        except (EOFError, OSError) as err:
            raise self._death(worker) from err

    def _death(self, worker: int) -> SamplerError:
        proc, index = self._procs[worker], self._slices[worker]
        proc.join(timeout=1.0)
        return SamplerError(
            f"sampler worker {worker} (envs {index[0]}..{index[-1]}) died with exit code {proc.exitcode}"
        )
