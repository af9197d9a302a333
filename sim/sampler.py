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

This module is the sampler's public face and its parent side; the rest lives beside it:
:mod:`sim.sampler_policies` (the batched :class:`Policy` protocol and stock policies) and
:mod:`sim.sampler_worker` (what runs inside a worker process, and the jobs and trajectories that
cross the pipe). Import all of these names from here.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing as mp
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from types import TracebackType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sim.envs.locomotion import EnvConfig, LocomotionEnv
from sim.params import TaskParams
from sim.sampler_policies import ActionTablePolicy, Policy, StatelessPolicy, UniformRandomPolicy
from sim.sampler_worker import (
    Close,
    EnvFactory,
    EpisodeJob,
    Failed,
    Reset,
    Rollout,
    RunEpisodes,
    SetTasks,
    Step,
    Trajectories,
    worker_main,
)

__all__ = [
    "ActionTablePolicy",
    "EnvFactory",
    "EpisodeJob",
    "Policy",
    "SamplerError",
    "StatelessPolicy",
    "StepBatch",
    "Trajectories",
    "UniformRandomPolicy",
    "VectorSampler",
]

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
                proc = ctx.Process(target=worker_main, args=(child, factory, [tasks[i] for i in index]), daemon=True)
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
                        self._send(worker, RunEpisodes(jobs[busy[worker]], horizon))
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
        self._scatter(lambda idx: SetTasks([tasks[i] for i in idx]))
        self._gather()

    def close(self) -> None:
        """Stop every worker and wait for it; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for conn in self._conns:
            try:
                conn.send(Close())
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
        if isinstance(reply, Failed):
            raise SamplerError(f"sampler worker {worker} raised:\n{reply.traceback}")
        return reply

    def _gather(self) -> list[Any]:
        replies = [self._receive(worker) for worker in range(len(self._conns))]
        failures = [(w, r) for w, r in enumerate(replies) if isinstance(r, Failed)]
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
