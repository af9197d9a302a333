"""The child's side of a :class:`~agents.core.child_process.ChildProcess`: what runs in the spawned process.

A spawned child imports this module and runs :func:`child_main`: it ties its life to the parent,
turns SIGTERM into a clean unwinding, iterates the job with a :class:`ChildControl` fed by the
control queue, and forwards each event as a plain pickle (never the queue's own pickler: see
:mod:`agents.core.child_process`), ending the stream with :class:`Ended` or :class:`Failed`.

Kept apart from :class:`~agents.core.child_process.ChildProcess`, the parent's handle, because the
two sides never run in the same process: everything here executes in the child and must stay
importable there without the parent's state, and the parent's code (start, receive, stop) reads
better without the child's loop in between. The two meet only in the end markers defined here.
"""

from __future__ import annotations

import pickle
import queue
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sim.child_failure import ChildFailed
from sim.lifeline import tie_to_parent

PUT_RETRY_S = 0.1
"""How long a child waits for room in the queue before it looks at the stop request again."""


def describe_error(err: BaseException) -> str:
    """One line for the status bar and the log: the exception's type and message (a child's failure: its own)."""
    if isinstance(err, ChildFailed):
        return err.message
    return f"{type(err).__name__}: {err}"


@dataclass(frozen=True)
class Ended:
    """The child's job returned, or was closed after a stop request."""


@dataclass(frozen=True)
class Failed:
    """The child's job raised."""

    failure: ChildFailed


class ChildControl:
    """What a job reads in the child (a :class:`~agents.core.child_process.JobControl`): values come over a queue."""

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
    sys.exit(0)  # SystemExit unwinds the job's finally: its env closes, a training run closes its sampler


def _put(events: Any, item: Any, stop: Any) -> bool:
    """Put ``item`` as soon as the reader has room; False if a stop came while the queue was full."""
    data = pickle.dumps(item)
    while True:
        try:
            events.put(data, timeout=PUT_RETRY_S)
            return True
        except queue.Full:
            if stop.is_set():
                return False


def _failure(err: BaseException) -> ChildFailed:
    try:
        pickle.loads(pickle.dumps(err))
        carried: BaseException | None = err
    except Exception:
        carried = None  # an exception type that cannot cross: the reader gets its message
    return ChildFailed(describe_error(err), details=traceback.format_exc(), error=carried)


def child_main(job: Callable[..., Iterator[Any]], args: tuple[Any, ...], events: Any, controls: Any, stop: Any) -> None:
    """The child's body: tie to the parent, iterate the job, forward its events, end with a marker."""
    tie_to_parent()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal is the parent's to handle
    try:
        iterator = job(ChildControl(controls, stop), *args)
        try:
            for event in iterator:
                if not _put(events, event, stop) or stop.is_set():
                    break
        finally:
            close = getattr(iterator, "close", None)
            if callable(close):
                close()
        last: Ended | Failed = Ended()
    except Exception as err:
        last = Failed(_failure(err))
    if not _put(events, last, stop):
        events.cancel_join_thread()  # nobody reads any more: do not wait on the pipe at exit
