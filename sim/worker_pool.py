"""The sampler's transport: the :class:`WorkerPool` protocol and the default pool of this machine's
processes (:class:`ProcessWorkerPool`); :mod:`sim.ray_sampler` is the other implementation.

Apart from :mod:`sim.sampler` because the transport is the part that differs between backends, while
the sampler's logic (slices, seeds, job dispatch, replies) is shared by both.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import platform
from collections.abc import Sequence
from multiprocessing.connection import Connection, wait
from typing import Any, Protocol

from sim.child_failure import ChildFailed
from sim.params import TaskParams
from sim.sampler_worker import Close, EnvFactory, worker_main

_POLL_S = 0.05


class SamplerError(ChildFailed):
    """A worker raised, died, or the sampler was used after ``close``: a child's failure, naming the worker."""


class WorkerPool(Protocol):
    """The transport under :class:`VectorSampler`: one request at a time per worker, replies in any order.

    A worker answers its construction with one reply (None once its envs are built, or :class:`Failed`).
    Every method raises :class:`SamplerError` for a worker that died, never waits on it forever.
    """

    nodes: tuple[str, ...]
    """where each worker runs (this machine's name for processes, the Ray node id for actors)"""
    cpus: int
    """the CPUs the workers draw on: this machine's for processes, the whole Ray cluster's for actors"""

    def send(self, worker: int, message: object) -> None:
        """Hand ``message`` to ``worker`` (its reply is then owed)."""
        ...

    def receive(self, worker: int) -> Any:
        """The reply ``worker`` owes, once it is there."""
        ...

    def next_ready(self, workers: list[int]) -> int:
        """The first of ``workers`` whose reply is there."""
        ...

    def close(self) -> None:
        """Stop every worker and release what the pool started; safe to call twice."""
        ...


class ProcessWorkerPool:
    """Workers as child processes of this one, each holding its slice of envs, talking over a pipe."""

    def __init__(
        self, factory: EnvFactory, slices: Sequence[Sequence[TaskParams]], labels: Sequence[str], start_method: str
    ) -> None:
        """Start one process per slice (``labels`` name each in errors); the first replies say they are ready."""
        ctx: Any = mp.get_context(start_method)  # typeshed's BaseContext lacks Process/Pipe
        self._labels = list(labels)
        self._conns: list[Connection] = []
        self._procs: list[mp.process.BaseProcess] = []
        self._closed = False
        self.nodes = (platform.node(),) * len(slices)
        self.cpus = os.cpu_count() or 1
        try:
            for tasks in slices:
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=worker_main, args=(child, factory, list(tasks)), daemon=True)
                proc.start()
                child.close()
                self._conns.append(parent)
                self._procs.append(proc)
        except BaseException:
            self.close()
            raise

    def send(self, worker: int, message: object) -> None:
        """Write ``message`` to the worker's pipe."""
        try:
            self._conns[worker].send(message)
        except (BrokenPipeError, OSError) as err:
            raise self._death(worker) from err

    def receive(self, worker: int) -> Any:
        """Poll the worker's pipe, checking between polls that the process lives."""
        conn, proc = self._conns[worker], self._procs[worker]
        while not conn.poll(_POLL_S):
            if not proc.is_alive():
                raise self._death(worker)
        try:
            return conn.recv()
        except (EOFError, OSError) as err:
            raise self._death(worker) from err

    def next_ready(self, workers: list[int]) -> int:
        """The first of ``workers`` with a reply waiting (a dead one raises instead of hanging)."""
        conns = {id(self._conns[w]): w for w in workers}
        while True:
            ready = wait([self._conns[w] for w in workers], timeout=_POLL_S)
            if ready:
                return conns[id(ready[0])]
            for worker in workers:
                if not self._procs[worker].is_alive():
                    raise self._death(worker)

    def close(self) -> None:
        """Ask every worker to close its envs, wait for it, kill one that does not end."""
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

    def _death(self, worker: int) -> SamplerError:
        proc = self._procs[worker]
        proc.join(timeout=1.0)
        return SamplerError(f"sampler worker {worker} ({self._labels[worker]}) died with exit code {proc.exitcode}")
