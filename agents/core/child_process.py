"""Jobs as generators of plain events, run in this thread or in a spawned child process: one mechanism.

A *job* is a module-level function ``job(control, *args) -> Iterator[event]``: it simulates,
renders, adapts or trains, yields frozen dataclasses of plain values, and reads the newest control
values (a camera, a task) and whether to stop from ``control``. :class:`LocalJob` iterates it in
the calling thread (tests keep instrumented envs in their process that way); :class:`ChildProcess`
runs it in a spawned child process. The window's simulation jobs and meta-training both use
:class:`ChildProcess`, so there is one spawn set-up, one failure type (:class:`ChildFailed`), one
stop protocol and one queue discipline:

- **Spawn, never fork** (the parent may hold Qt, torch threads and PyBullet clients), and the child
  ties its life to the parent's first thing (:func:`sim.lifeline.tie_to_parent`): it ends within
  moments of its parent's death, however the parent died.
- **Stop** in three steps, each safe at any moment: :meth:`ChildProcess.request_stop` (the job is
  closed after the event in hand, so its ``finally`` runs; a training run ends between iterations
  with its checkpoint written), then SIGTERM, which the child turns into the same clean unwinding,
  then SIGKILL. :meth:`ChildProcess.stop` runs all three with deadlines; the reader keeps draining
  events meanwhile, so a child blocked on a full queue can always finish.
- **Queue**: events cross as plain pickles (the queue's own pickler would hand torch tensors over
  as shared memory, which vanishes when the child exits before the reader opens it) through a
  bounded queue, so a stalled reader throttles the child instead of filling memory with frames.
  The stream ends with an end marker or a failure; a child that vanishes without either (killed,
  crashed in C code) is a failure too. Every failure reaches the reader as :class:`ChildFailed`.

Why here, in ``agents/core``: both users may import it (``agents.training.background`` for the
training child, ``app.runtime`` for the window's jobs), while ``agents`` may not import ``app``. It
imports neither torch nor Qt, so a child that only previews a robot never loads torch. The sampler's
workers (``sim``, which may import nothing of ``agents``) are a different shape, a pool of
request/reply workers, and share only the lifeline. What runs inside the child (its control,
its loop, the end markers) is :mod:`agents.core.child_side`.
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from agents.core.child_side import Ended, Failed, child_main
from agents.core.child_side import describe_error as describe_error
from sim.child_failure import ChildFailed

EVENT_QUEUE_SIZE = 64
"""Events a child may run ahead of its reader: enough to ride out a busy GUI for a moment, few enough
that a stalled reader throttles the child instead of filling memory with frames."""


class JobControl(Protocol):
    """What a running job reads: the newest value per key, and whether it should stop."""

    def take(self, key: str) -> Any:
        """The newest value put under ``key`` since the last take, or None."""
        ...

    def stop_requested(self) -> bool:
        """Whether the job should end at its next check."""
        ...

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, cut short by a stop request; whether one came."""
        ...


Job = Callable[..., Iterator[Any]]
"""``job(control, *args)``: a module-level function (a child process imports it by name)."""


class RunningJob(Protocol):
    """What a reader drives, whether the job runs in its thread or in a child process."""

    def put(self, key: str, value: Any) -> None:
        """Send the job a new value under ``key`` (safe from any thread)."""
        ...

    def request_stop(self) -> None:
        """Ask the job to end after its current event (safe from any thread, never blocks)."""
        ...

    def events(self) -> Iterator[Any]:
        """The job's events until it ends or is stopped; its failure is raised."""
        ...


class LocalControl:
    """A :class:`JobControl` shared by threads of one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, Any] = {}
        self._stop = threading.Event()

    def put(self, key: str, value: Any) -> None:
        """Replace the pending value under ``key`` (an older one not yet taken is dropped)."""
        with self._lock:
            self._pending[key] = value

    def take(self, key: str) -> Any:
        with self._lock:
            return self._pending.pop(key, None)

    def stop(self) -> None:
        """Ask the job to end (safe from any thread)."""
        self._stop.set()

    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def wait(self, seconds: float) -> bool:
        return self._stop.wait(max(0.0, seconds))


class LocalJob:
    """A job iterated in the calling thread (the reference behaviour; tests use it with fake envs)."""

    def __init__(self, job: Job, *args: Any) -> None:
        self._job, self._args = job, args
        self._control = LocalControl()

    def put(self, key: str, value: Any) -> None:
        """Send the job a new value under ``key`` (safe from any thread, before or after it starts)."""
        self._control.put(key, value)

    def request_stop(self) -> None:
        """Ask the job to end after its current event (safe from any thread)."""
        self._control.stop()

    def events(self) -> Iterator[Any]:
        """The job's events until it ends or is stopped; its exception propagates."""
        events = self._job(self._control, *self._args)
        try:
            for event in events:
                if self._control.stop_requested():
                    return
                yield event
        finally:
            close = getattr(events, "close", None)
            if callable(close):
                close()


class ChildProcess:
    """A job run in a spawned child process; read its events with :meth:`receive` (polling) or :meth:`events`.

    Arguments and events cross by pickling, so the job must be a module-level function and its
    arguments plain data or module-level callables. Start the child from a thread that outlives it
    (the lifeline's parent-death signal follows the starting thread).
    """

    def __init__(
        self, job: Job, *args: Any, name: str = "sim2adapt-job", daemon: bool = True, queue_size: int = EVENT_QUEUE_SIZE
    ) -> None:
        """Prepare (not start) the child. ``daemon=False`` for a job that starts processes of its own
        (a training run's sampler), which daemonic processes may not."""
        context = mp.get_context("spawn")  # no fork: the parent may hold Qt, torch threads and PyBullet clients
        self._events: Any = context.Queue(maxsize=queue_size)
        self._controls: Any = context.Queue()
        self._stop = context.Event()
        self._process = context.Process(
            target=child_main, args=(job, args, self._events, self._controls, self._stop), name=name, daemon=daemon
        )
        self._backlog: list[Any] = []
        """events drained while waiting for the child to end, handed out by the next :meth:`receive`"""
        self._ended = False
        self._failure: ChildFailed | None = None
        self._ending = False
        """a stop was requested or a signal sent: a child gone without its marker is no failure"""

    @property
    def pid(self) -> int | None:
        """The child's process id once started."""
        return self._process.pid

    def start(self) -> None:
        """Start the child (once)."""
        self._process.start()

    def started(self) -> bool:
        """Whether :meth:`start` was called."""
        return self._process.pid is not None

    def is_alive(self) -> bool:
        """Whether the child process is running."""
        return self.started() and self._process.is_alive()

    def finished(self) -> bool:
        """Whether the stream is over: its end marker or failure arrived, or the stopped child is gone."""
        if self._ended or self._failure is not None:
            return True
        return self._ending and self.started() and not self._process.is_alive() and not self._backlog

    def put(self, key: str, value: Any) -> None:
        """Send the job a new value under ``key`` (safe from any thread, before or after it starts)."""
        self._controls.put((key, value))

    def request_stop(self) -> None:
        """Ask the job to end after the event in hand; it is closed there, so its ``finally`` runs (never blocks)."""
        self._ending = True
        self._stop.set()

    def terminate(self) -> None:
        """SIGTERM without waiting: the child unwinds as after a stop request, from wherever it is."""
        self._ending = True
        self._stop.set()
        if self.is_alive():
            self._process.terminate()

    def receive(self, timeout_s: float = 0.0) -> list[Any]:
        """The events that arrived, waiting up to ``timeout_s`` for the first; never more than the queue holds.

        Raises :class:`ChildFailed` once every event before the failure was received: when the job
        raised, or when the child vanished without its end marker and no stop was asked.
        """
        deadline = time.monotonic() + timeout_s
        while not self._ended and self._failure is None:
            wait_s = deadline - time.monotonic() if not self._backlog else 0.0
            try:
                data = self._events.get(timeout=wait_s) if wait_s > 0 else self._events.get_nowait()
            except (queue.Empty, OSError, ValueError):
                break
            self._accept(data)
        if not self._backlog and self._failure is None and not self._ended:
            self._check_alive()
        got, self._backlog = self._backlog, []
        if not got and self._failure is not None:
            raise self._failure
        return got

    def _accept(self, data: bytes) -> None:
        """One item from the queue: an event for the backlog, or the stream's end marker or failure."""
        item = pickle.loads(data)
        if isinstance(item, Ended):
            self._ended = True
        elif isinstance(item, Failed):
            self._failure = item.failure
        else:
            self._backlog.append(item)

    def _check_alive(self) -> None:
        """A child gone without its end marker, nothing left to read and no stop asked: a failure."""
        if self._ending or not self.started() or self._process.is_alive():
            return
        self._process.join(0.5)
        try:
            self._accept(self._events.get(timeout=0.1))  # what it sent just before it ended
        except (queue.Empty, OSError, ValueError):
            code = self._process.exitcode
            message = f"the {self._process.name} process ended unexpectedly (exit code {code})"
            self._failure = ChildFailed(message, exitcode=code)

    def events(self, *, poll_s: float = 0.1, grace_s: float = 2.0) -> Iterator[Any]:
        """Start the child if needed and yield its events until it ends, fails (raised here) or a stop is asked.

        The child is always gone when this iterator ends (:meth:`stop`).
        """
        if not self.started():
            self.start()
        try:
            while not self._stop.is_set():
                for event in self.receive(poll_s):
                    if self._stop.is_set():
                        return
                    yield event
                if self._ended:
                    return
        finally:
            self.stop(grace_s=grace_s, term_s=grace_s)

    def stop(self, *, grace_s: float = 2.0, term_s: float = 10.0) -> None:
        """End the child and wait for it: asked first, SIGTERM after ``grace_s``, SIGKILL after ``term_s`` more.

        Events that arrive meanwhile are kept for :meth:`receive` (a stopped training run's last
        iteration); reading them is also what lets a child blocked on a full queue finish.
        """
        self.request_stop()
        if self.started():
            for limit_s, escalate in ((grace_s, self._process.terminate), (term_s, self._process.kill)):
                self._drain_until_gone(limit_s)
                if self._process.is_alive():
                    escalate()
            self._drain_until_gone(None)
        self._events.cancel_join_thread()
        self._controls.cancel_join_thread()

    def _drain_until_gone(self, limit_s: float | None) -> None:
        deadline = None if limit_s is None else time.monotonic() + limit_s
        while self._process.is_alive() and (deadline is None or time.monotonic() < deadline):
            self._drain()
            self._process.join(0.02)
        self._drain()

    def _drain(self) -> None:
        while True:
            try:
                self._accept(self._events.get_nowait())
            except (queue.Empty, OSError, ValueError):
                return

    def wait(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the child to end on its own (draining its events); True if it has."""
        self._drain_until_gone(timeout_s)
        return not self._process.is_alive()
