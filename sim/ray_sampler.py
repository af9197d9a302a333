"""Sampler workers as Ray actors: the same worker logic as the process pool, on this machine or a cluster.

:class:`sim.sampler.VectorSampler` with ``SamplingConfig(backend="ray")`` runs its workers here. Each
actor reserves one CPU, builds its slice of envs (and so its PyBullet clients) inside its own process,
as a process worker does, and answers the same typed messages with the same code
(:class:`sim.sampler_worker.WorkerEnvs`), so the same seeds give the same episodes on either backend.
A method call costs ~0.9 ms here (MEASURED.md), so, as with processes, the messages that matter
carry whole episodes (:class:`~sim.sampler_worker.RunEpisodes`).

Ray is an optional extra (``pip install sim2adapt[cluster]``) and is imported only when this backend is
chosen. Without an address a local Ray is started with one CPU per worker and stopped with the
sampler; with one (``auto``, ``HOST:PORT``) the actors spread over that cluster's nodes, and only they
are stopped. A local Ray also ends within moments of this process's death, however it died: a reaper
(:mod:`sim.ray_reaper`) kills what Ray itself would leave running for a minute (issue 14). An actor
that dies (its process, or the node under it) is reported as the :class:`~sim.sampler.SamplerError`
the process pool raises, never waited on forever.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import traceback
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from sim.params import TaskParams
from sim.ray_reaper import start_reaper, stop_reaper
from sim.sampler import SamplerError
from sim.sampler_worker import EnvFactory, Failed, Trajectories, WorkerEnvs

INSTALL_HINT = "pip install sim2adapt[cluster]"
PLACEMENT_TIMEOUT_S = 120.0
"""how long actors may wait for free CPUs on a cluster before the sampler gives up (a busy or small cluster)"""
_POLL_S = 0.05
CONNECT_TIMEOUT_S = 5.0
"""how long a cluster's head may take to accept a connection before the address is reported unreachable"""


def check_reachable(address: str) -> None:
    """Fail at once, naming the address, when nothing accepts connections at a ``HOST:PORT`` address.

    Ray itself retries an unreachable head for minutes, printing warnings, before it gives up; a user
    who mistyped the address should hear so in seconds. ``auto`` (and any address Ray resolves itself)
    is left to Ray, which fails fast when no cluster runs here.

    Raises:
        SamplerError: the address names a host and port that refused or did not answer.
    """
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as err:
        raise SamplerError(
            f"could not join the Ray cluster at {address}: nothing answers there ({err.strerror or err}); "
            "start its head with `ray start --head` or give its HOST:PORT"
        ) from err


def require_ray() -> Any:
    """The ray module; SamplerError with the install hint where it is missing (an optional extra)."""
    try:
        import ray
    except ImportError as err:
        raise SamplerError(f"the ray backend needs ray, which is not installed: {INSTALL_HINT}") from err
    return ray


class SamplerActor:
    """One Ray worker: its slice of envs, built inside the actor, answering the process worker's messages."""

    def __init__(self, factory: EnvFactory, tasks: list[TaskParams]) -> None:
        """Keep the factory and tasks; nothing is simulated before :meth:`start`."""
        # One CPU reserved: torch, imported here when the first policy arrives, must not start more
        # threads than that (the shipped PolicySnapshot sets its own threads to 1 as well).
        for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[variable] = "1"
        self._factory, self._tasks = factory, tasks
        self._worker = WorkerEnvs([])

    def start(self) -> Failed | None:
        """Build the envs; None when ready, the traceback when a factory raised."""
        try:
            self._worker = WorkerEnvs([self._factory(task) for task in self._tasks])
        except Exception:
            return Failed(traceback.format_exc())
        return None

    def node_id(self) -> str:
        """The Ray node this actor runs on."""
        import ray

        return str(ray.get_runtime_context().get_node_id())

    def handle(self, message: object) -> object:
        """The reply to one sampler message, or :class:`Failed` with the traceback (as a process worker sends)."""
        try:
            return self._worker.handle(message)
        except Exception:
            return Failed(traceback.format_exc())


class RayWorkerPool:
    """The sampler's workers as Ray actors (one CPU each); see the module docstring."""

    def __init__(
        self, factory: EnvFactory, slices: Sequence[Sequence[TaskParams]], labels: Sequence[str], *, address: str | None
    ) -> None:
        """Join or start Ray, then place one actor per slice; their first replies say the envs are built.

        Raises:
            SamplerError: Ray is missing, cannot be reached, or the cluster has fewer CPUs than workers.
        """
        ray = require_ray()
        self._ray, self._labels, self._closed = ray, list(labels), False
        self._owns_ray = not ray.is_initialized()
        self._reaper: subprocess.Popen[bytes] | None = None
        if self._owns_ray:
            if address is not None:
                check_reachable(address)
            elif sys.platform.startswith("linux"):  # a Ray of our own: the reaper first, to watch all of it
                self._reaper = start_reaper(str(Path(ray.__file__).parent) + os.sep)
            try:
                ray.init(
                    address=address,
                    num_cpus=None if address else len(slices),
                    include_dashboard=False,
                    log_to_driver=False,  # PyBullet's banner from every actor; failures come back as tracebacks
                    logging_level=logging.WARNING,
                )
            except Exception as err:  # Ray reports an unreachable cluster with several exception types
                self._stop_reaper()
                raise SamplerError(f"could not join the Ray cluster at {address}: {err}") from err
        self._actors: list[Any] = []
        self._pending: dict[int, Any] = {}
        try:
            self._check_cpus(len(slices), address)
            actor_class = ray.remote(num_cpus=1, max_restarts=0)(SamplerActor)
            self._actors = [actor_class.remote(factory, list(tasks)) for tasks in slices]
            self.nodes = self._place()
            self._pending = {w: actor.start.remote() for w, actor in enumerate(self._actors)}
        except BaseException:
            self.close()
            raise

    def _check_cpus(self, workers: int, address: str | None) -> None:
        self.cpus = cpus = int(self._ray.cluster_resources().get("CPU", 0))
        if cpus < workers:
            where = f"the Ray cluster at {address}" if address else "this Ray instance"
            raise SamplerError(f"{where} has {cpus} CPUs: {workers} sampler workers need one each")

    def _place(self) -> tuple[str, ...]:
        """Each actor's node, once all are placed; SamplerError if the cluster's CPUs stay busy too long."""
        refs = [actor.node_id.remote() for actor in self._actors]
        ready, _ = self._ray.wait(refs, num_returns=len(refs), timeout=PLACEMENT_TIMEOUT_S)
        if len(ready) < len(refs):
            raise SamplerError(
                f"{len(refs) - len(ready)} of {len(refs)} sampler actors found no free CPU "
                f"within {PLACEMENT_TIMEOUT_S:.0f} s: the cluster's CPUs are busy"
            )
        return tuple(self._get(worker, ref) for worker, ref in enumerate(refs))

    def send(self, worker: int, message: object) -> None:
        """Call the actor's ``handle``; a dead actor's reply resolves to its error, read by :meth:`receive`."""
        self._pending[worker] = self._actors[worker].handle.remote(message)

    def receive(self, worker: int) -> Any:
        """The actor's reply, with writable arrays (Ray hands out read-only views of its object store)."""
        return _writable(self._get(worker, self._pending.pop(worker)))

    def next_ready(self, workers: list[int]) -> int:
        """The first of ``workers`` whose reply (or death) has arrived."""
        by_ref = {self._pending[w]: w for w in workers}
        while True:
            ready, _ = self._ray.wait(list(by_ref), num_returns=1, timeout=_POLL_S)
            if ready:
                return by_ref[ready[0]]

    def close(self) -> None:
        """Kill the actors (their envs go with their processes) and stop the Ray this pool started."""
        if self._closed:
            return
        self._closed = True
        for actor in self._actors:
            try:
                self._ray.kill(actor, no_restart=True)
            except Exception:  # already dead with its node: nothing left to stop
                pass
        self._actors, self._pending = [], {}
        if self._owns_ray:
            try:
                self._ray.shutdown()
            finally:
                self._stop_reaper()  # it kills what shutdown left ending in the background

    def _stop_reaper(self) -> None:
        if self._reaper is not None:
            stop_reaper(self._reaper)
            self._reaper = None

    def _get(self, worker: int, ref: Any) -> Any:
        try:
            return self._ray.get(ref)
        except self._ray.exceptions.RayError as err:
            cause = " ".join(str(err).split())[:300]
            raise SamplerError(f"sampler worker {worker} ({self._labels[worker]}, a Ray actor) died: {cause}") from err


def _writable(reply: Any) -> Any:
    """``reply`` with every numpy array copied: learners may write into what they get, as from a pipe."""
    if isinstance(reply, Trajectories):
        return Trajectories(*(np.array(getattr(reply, f.name)) for f in fields(Trajectories)))
    if isinstance(reply, np.ndarray):
        return np.array(reply)
    if isinstance(reply, list | tuple):
        return type(reply)(_writable(item) for item in reply)
    if isinstance(reply, dict):
        return {key: _writable(value) for key, value in reply.items()}
    return reply
