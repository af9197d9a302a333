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

Workers run on one of two backends (:class:`SamplingConfig`), behind the same API and with the same
results for the same seeds: a pool of this machine's processes (the default, nothing to install), or
Ray actors (:mod:`sim.ray_sampler`), on this machine or spread over a cluster's nodes. The sampler's
logic (slices, seeds, job dispatch, replies) is the same for both; only the transport differs
(:class:`WorkerPool`).

This module is the sampler's public face and its parent side; the rest lives beside it:
:mod:`sim.sampler_policies` (the batched :class:`Policy` protocol and stock policies) and
:mod:`sim.sampler_worker` (what runs inside a worker process, and the jobs and trajectories that
cross the pipe) and :mod:`sim.worker_pool` (the transport: the pool protocol and the process pool).
Import all of these names from here.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

from sim.envs.locomotion import EnvConfig, LocomotionEnv
from sim.params import TaskParams
from sim.sampler_policies import ActionTablePolicy, Policy, StatelessPolicy, UniformRandomPolicy
from sim.sampler_worker import (
    EnvFactory,
    EpisodeJob,
    Failed,
    Reset,
    Rollout,
    RunEpisodes,
    SetTasks,
    Step,
    Trajectories,
)
from sim.worker_pool import ProcessWorkerPool, SamplerError, WorkerPool

__all__ = [
    "BACKENDS",
    "ActionTablePolicy",
    "EnvFactory",
    "EpisodeJob",
    "Policy",
    "SamplerError",
    "SamplerWork",
    "SamplingConfig",
    "StatelessPolicy",
    "StepBatch",
    "Trajectories",
    "UniformRandomPolicy",
    "VectorSampler",
]

BACKENDS = ("process", "ray")
T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class SamplingConfig:
    """Where the sampler's workers run; how a run is sampled, not what it trains (never stored with a run)."""

    backend: str = "process"
    """``process``: this machine's processes (nothing to install); ``ray``: Ray actors, one CPU each, on this
    machine or a cluster (``pip install sim2adapt[cluster]``)"""
    ray_address: str | None = None
    """with ``ray``: a running cluster to join (``auto``, or the head's ``HOST:PORT``); None starts a local
    Ray with one CPU per worker and stops it with the sampler"""

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend = {self.backend!r} is not allowed: one of {', '.join(BACKENDS)}")
        if self.ray_address is not None and self.backend != "ray":
            raise ValueError(f"ray_address = {self.ray_address!r} is not allowed with backend = {self.backend!r}")


@dataclass(frozen=True)
class StepBatch:
    """Results of one vector step; envs that finished were reset at once (their last obs is in ``infos``)."""

    obs: NDArray[np.float32]
    rewards: NDArray[np.float64]
    terminated: NDArray[np.bool_]
    truncated: NDArray[np.bool_]
    infos: list[dict[str, Any]] = field(default_factory=list)


class SamplerWork(Generic[T]):
    """Work running on the sampler in a background thread (:meth:`VectorSampler.submit`); :meth:`result` waits."""

    def __init__(self, work: Callable[[], T], *, on_end: Callable[[], None]) -> None:
        """Prepare ``work()`` on a daemon thread (:attr:`thread`, not started); ``on_end`` runs in it at the end."""
        self._value: T | None = None
        self._error: BaseException | None = None
        self._work, self._on_end = work, on_end
        self.thread = threading.Thread(target=self._run, name="sampler-work", daemon=True)
        """the thread that runs the work"""

    def _run(self) -> None:
        try:
            self._value = self._work()
        except BaseException as err:  # handed to the thread that calls result(), raised there
            self._error = err
        finally:
            self._on_end()

    def done(self) -> bool:
        """Whether the work has ended (returned or raised)."""
        return self.thread.ident is not None and not self.thread.is_alive()

    def result(self) -> T:
        """Wait for the work to end; its return value, or its exception raised here."""
        self.thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]  # None only where the work returned None


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
        sampling: SamplingConfig | None = None,
    ) -> None:
        """Start ``num_workers`` workers on ``sampling``'s backend (default: processes), each building its envs.

        Raises:
            ValueError: ``num_workers`` outside ``1..len(tasks)``.
            SamplerError: A worker could not build its envs, or the Ray backend could not start its actors.
        """
        if not 1 <= num_workers <= len(tasks):
            raise ValueError(f"num_workers = {num_workers} is not allowed: between 1 and len(tasks) = {len(tasks)}")
        factory = env_factory or functools.partial(LocomotionEnv, config=config or EnvConfig())
        self.sampling = sampling or SamplingConfig()
        self.num_envs = len(tasks)
        self._slices = [s for s in np.array_split(np.arange(self.num_envs), num_workers)]
        self._closed = False
        self._owner: threading.Thread | None = None  # the thread running submitted work, which owns the workers
        self._busy_seconds = 0.0
        slices = [[tasks[i] for i in index] for index in self._slices]
        labels = [f"envs {index[0]}..{index[-1]}" for index in self._slices]
        self._pool: WorkerPool
        if self.sampling.backend == "ray":
            from sim.ray_sampler import RayWorkerPool  # ray is an optional extra: imported only when chosen

            self._pool = RayWorkerPool(factory, slices, labels, address=self.sampling.ray_address)
        else:
            self._pool = ProcessWorkerPool(factory, slices, labels, start_method)
        try:
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
        self._scatter(lambda idx: Reset([seed_list[i] for i in idx]))
        return np.stack([obs for part in self._gather() for obs in part])

    def step(self, actions: NDArray[np.float32]) -> StepBatch:
        """Step every env with its row of ``actions``."""
        actions = np.asarray(actions, dtype=np.float32)
        if actions.ndim != 2 or actions.shape[0] != self.num_envs:
            raise ValueError(f"actions shape {actions.shape} is not allowed: expected ({self.num_envs}, action_dim)")
        self._scatter(lambda idx: Step(actions[idx]))
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
        self._scatter(lambda idx: Rollout(policy, num_steps))
        return Trajectories.concatenate(self._gather())

    @property
    def worker_nodes(self) -> tuple[str, ...]:
        """Where each worker runs: this machine's name (processes) or the Ray node id of its actor."""
        return self._pool.nodes

    def describe(self) -> str:
        """Where sampling runs, in words for the user: how many workers, on which nodes, over how many CPUs."""
        workers, nodes, cpus = len(self._slices), len(set(self._pool.nodes)), self._pool.cpus

        def count(n: int, noun: str, plural: str = "s") -> str:
            return f"{n} {noun}{plural if n != 1 else ''}"

        if self.sampling.backend == "ray":
            return (
                f"sampling on {count(workers, 'Ray actor')} on {count(nodes, 'node')} "
                f"of a Ray cluster with {count(cpus, 'CPU')}"
            )
        return f"sampling on {count(workers, 'process', 'es')} of this machine ({count(cpus, 'CPU')})"

    @property
    def num_workers(self) -> int:
        """Worker processes (or Ray actors)."""
        return len(self._slices)

    @property
    def busy_seconds(self) -> float:
        """Seconds workers have spent on episode jobs so far, summed over workers (from hand-out to reply).

        Divided by ``num_workers`` times a wall-clock span, it is the share of that span the workers
        worked; the rest they idled.
        """
        return self._busy_seconds

    def submit(self, work: Callable[[VectorSampler], T]) -> SamplerWork[T]:
        """Run ``work(self)`` in a background thread and return at once; :meth:`SamplerWork.result` waits for it.

        The caller's thread is free meanwhile (a learner's gradient steps while its episodes are
        collected: the workers are processes, and the thread mostly waits on their pipes, without
        the GIL). Until the work ends the sampler belongs to that thread: a call from any other
        thread raises :class:`SamplerError` (:meth:`close` excepted, which makes the work raise).

        Raises:
            SamplerError: Work submitted earlier has not ended yet.
        """
        if self._owner is not None:
            raise SamplerError("the sampler is busy with submitted work: wait for its result first")
        handle = SamplerWork(functools.partial(work, self), on_end=self._release)
        self._owner = handle.thread  # before it starts: its first message must find it the owner
        handle.thread.start()
        return handle

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
        started: dict[int, float] = {}
        try:
            while pending or busy:
                for worker in range(len(self._slices)):
                    if worker not in busy and pending:
                        self._send(worker, RunEpisodes(jobs[pending[0]], horizon))
                        busy[worker] = pending.pop(0)  # after the send: a message never sent is owed no reply
                        started[worker] = time.perf_counter()
                worker = self._pool.next_ready(list(busy))
                job = busy.pop(worker)  # before the reply: a failed worker owes nothing more
                self._busy_seconds += time.perf_counter() - started[worker]
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
        self._scatter(lambda idx: SetTasks([tasks[i] for i in idx]))
        self._gather()

    def close(self) -> None:
        """Stop every worker and wait for it; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._pool.close()

    def __enter__(self) -> VectorSampler:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ----------------------------------------------------------------- internals
    def _release(self) -> None:
        self._owner = None

    def _send(self, worker: int, message: object) -> None:
        if self._closed:
            raise SamplerError("the sampler is closed")
        if self._owner is not None and self._owner is not threading.current_thread():
            raise SamplerError("the sampler is busy with submitted work: wait for its result first")
        self._pool.send(worker, message)

    def _scatter(self, make_message: Callable[[NDArray[np.int64]], object]) -> None:
        for worker, index in enumerate(self._slices):
            self._send(worker, make_message(index))

    def _reply(self, worker: int) -> Any:
        reply = self._receive(worker)
        if isinstance(reply, Failed):
            raise SamplerError(f"sampler worker {worker} raised:\n{reply.traceback}")
        return reply

    def _gather(self) -> list[Any]:
        replies = [self._receive(worker) for worker in range(len(self._slices))]
        failures = [(w, r) for w, r in enumerate(replies) if isinstance(r, Failed)]
        if failures:
            worker, failed = failures[0]
            raise SamplerError(f"sampler worker {worker} raised:\n{failed.traceback}")
        return replies

    def _receive(self, worker: int) -> Any:
        return self._pool.receive(worker)
