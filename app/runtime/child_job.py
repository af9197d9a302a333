"""Jobs as generators of plain events, run in this process or in a spawned child process.

A *job* is a function ``job(control, *args) -> Iterator[event]``: it simulates, renders or adapts,
yields frozen dataclasses of plain values, and reads the newest control values (a camera, a task)
from ``control`` between events. :class:`LocalJob` iterates it in the calling thread;
:class:`ChildJob` runs it in a spawned process and hands its events to the calling thread.

Why a child process: PyBullet and its EGL plugin hold the GIL in long C calls (loading the plugin
alone holds it for 0.3-0.75 s; rebuilding a robot with meshes for as long), so a simulation in a
thread of the GUI's process stalls the window however well the thread behaves. In a child, those
calls cost the GUI nothing, and the second core does the rendering.

Both kinds offer the same three calls (:meth:`put`, :meth:`stop`, :meth:`events`), so a Qt worker
pumps either one, and tests can keep an instrumented env in their own process. This module is
Qt-free: the child imports it.
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
import queue
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from agents.training.background import end_process

EVENT_QUEUE_SIZE = 64
"""Events a child may run ahead of its reader: enough to ride out a busy GUI for a moment, few enough
that a stalled reader throttles the child instead of filling memory with frames."""


def describe_error(err: BaseException) -> str:
    """One line for the status bar and the log: the exception's type and message."""
    return f"{type(err).__name__}: {err}"


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


Job = Callable[..., Generator[Any, None, None]]
"""``job(control, *args)``: a module-level function (a child process imports it by name)."""


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

    def stop(self) -> None:
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
            events.close()


@dataclass(frozen=True)
class _Ended:
    """The child's job returned or saw the stop request."""


@dataclass(frozen=True)
class _Failed:
    """The child's job raised: the exception itself when it pickles, else its one-line description."""

    error: BaseException | None
    message: str
    details: str


class _ChildControl:
    """The child's side of a :class:`ChildJob`: control values arrive over a queue."""

    def __init__(self, controls: Any, stop: Any) -> None:
        self._controls, self._stop = controls, stop
        self._pending: dict[str, Any] = {}

    def take(self, key: str) -> Any:
        while True:
            try:
                name, value = self._controls.get_nowait()
            except queue.Empty:
                break
            self._pending[name] = value
        return self._pending.pop(key, None)

    def stop_requested(self) -> bool:
        return bool(self._stop.is_set())

    def wait(self, seconds: float) -> bool:
        return bool(self._stop.wait(max(0.0, seconds)))


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    sys.exit(0)  # SystemExit unwinds the job's finally: its env closes


def _put_unless_stopped(events: Any, item: Any, stop: Any) -> bool:
    """Put ``item`` once the reader has room; False if a stop came first.

    Items cross as plain pickles: the queue's own pickler would hand torch tensors over as shared
    memory, which vanishes when the child exits before the reader opens it.
    """
    data = pickle.dumps(item)
    while not stop.is_set():
        try:
            events.put(data, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _failure(err: BaseException) -> _Failed:
    try:
        pickle.loads(pickle.dumps(err))
        carried: BaseException | None = err
    except Exception:
        carried = None  # an exception type that cannot cross: the reader gets the message
    return _Failed(carried, describe_error(err), traceback.format_exc())


def _child_main(job: Job, args: tuple[Any, ...], events: Any, controls: Any, stop: Any) -> None:
    """The child's body: iterate the job, forward its events, end with :class:`_Ended` or :class:`_Failed`."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        iterator = job(_ChildControl(controls, stop), *args)
        try:
            for event in iterator:
                if not _put_unless_stopped(events, event, stop):
                    break
        finally:
            iterator.close()
        last: _Ended | _Failed = _Ended()
    except Exception as err:
        last = _failure(err)
    if not _put_unless_stopped(events, last, stop):
        events.cancel_join_thread()  # nobody reads any more: do not wait on the pipe at exit


class ChildJobDied(RuntimeError):
    """The child process ended without saying why (killed, or crashed in C code)."""


class ChildJob:
    """A job run in a spawned child process; :meth:`events` yields its events in the calling thread.

    Arguments and events cross by pickling, so the job must be a module-level function and its
    arguments plain data or module-level callables. The child starts with the first call to
    :meth:`events` and is always gone when that iterator ends: asked to stop, then terminated,
    then killed if it lingers.
    """

    def __init__(self, job: Job, *args: Any, name: str = "sim2adapt-job") -> None:
        context = mp.get_context("spawn")  # no fork: the parent holds Qt, torch threads and PyBullet clients
        self._events: Any = context.Queue(maxsize=EVENT_QUEUE_SIZE)
        self._controls: Any = context.Queue()
        self._stop = context.Event()
        self._process = context.Process(
            target=_child_main,
            args=(job, args, self._events, self._controls, self._stop),
            name=name,
            daemon=True,  # never outlives the app, even if the app dies without cleaning up
        )

    @property
    def pid(self) -> int | None:
        """The child's process id once started."""
        return self._process.pid

    def put(self, key: str, value: Any) -> None:
        """Send the job a new value under ``key`` (safe from any thread, before or after it starts)."""
        self._controls.put((key, value))

    def stop(self) -> None:
        """Ask the job to end after its current event (safe from any thread)."""
        self._stop.set()

    def events(self, *, poll_s: float = 0.1, grace_s: float = 2.0) -> Iterator[Any]:
        """Start the child and yield its events until it ends, fails (re-raised here) or is stopped."""
        self._process.start()
        try:
            while not self._stop.is_set():
                try:
                    event = pickle.loads(self._events.get(timeout=poll_s))
                except queue.Empty:
                    if not self._process.is_alive() and self._events.empty():
                        code = self._exitcode()
                        raise ChildJobDied(f"the simulation process ended unexpectedly (exit code {code})") from None
                    continue
                if isinstance(event, _Ended):
                    return
                if isinstance(event, _Failed):
                    raise event.error if event.error is not None else RuntimeError(event.message)
                yield event
        finally:
            self._finish(grace_s)

    def _exitcode(self) -> int | None:
        self._process.join(0.5)
        return self._process.exitcode

    def _finish(self, grace_s: float) -> None:
        """Make sure the child is gone: a stop request, then SIGTERM, then SIGKILL."""
        self._stop.set()
        self._drain()
        end_process(self._process, grace_s=grace_s, term_s=grace_s)
        self._events.cancel_join_thread()
        self._controls.cancel_join_thread()

    def _drain(self) -> None:
        """Empty the event queue so that a child blocked on a full queue sees the stop."""
        while True:
            try:
                self._events.get_nowait()  # left unpickled: nobody wants it
            except (queue.Empty, OSError, ValueError):
                return
