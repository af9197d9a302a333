"""Jobs in a child process behave like jobs in this thread: events in order, control values, errors, stop;
a failure of any kind reaches the reader as the one failure type, ChildFailed.

The jobs here are module-level (a spawned child imports them by name) and Qt-free.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.core.child_process import ChildProcess, JobControl, LocalJob
from sim.child_failure import ChildFailed


def count_job(control: JobControl, n: int) -> Iterator[tuple[int, Any, int]]:
    """Yields (i, the newest "label" put, this process's id) n times, 20 ms apart."""
    for i in range(n):
        yield i, control.take("label"), os.getpid()
        control.wait(0.02)


def forever_job(control: JobControl) -> Iterator[int]:
    i = 0
    while True:
        yield i
        i += 1
        time.sleep(0.01)  # deaf to stop requests: only the reader's stop can end it


def failing_job(control: JobControl, at: int) -> Iterator[int]:
    yield from range(at)
    raise ValueError(f"field robot.mass_scale: {at} is not allowed")


class UnpicklableError(Exception):
    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"{detail} ({code})")  # unpickling calls __init__ with one argument: it fails


def unpicklable_failure_job(control: JobControl) -> Iterator[int]:
    yield 0
    raise UnpicklableError(7, "the motor driver is gone")


def slow_job_with_cleanup(control: JobControl, marker: str) -> Iterator[str]:
    """Reports its start, works 0.3 s per step; its finally writes ``marker``."""
    try:
        yield "started"
        for i in range(1000):
            time.sleep(0.3)  # deaf to stop requests while it works, like a training iteration
            yield f"step {i}"
    finally:
        Path(marker).write_text("cleaned up")


def dying_job(control: JobControl) -> Iterator[int]:
    yield 0
    os._exit(3)  # as if the simulator crashed in C code


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("launch", [LocalJob, ChildProcess])
def test_events_arrive_in_order_with_the_newest_control_value(launch) -> None:
    job = launch(count_job, 5)
    job.put("label", "old")
    job.put("label", "new")  # replaces the one not yet taken
    events = list(job.events())
    assert [i for i, _, _ in events] == [0, 1, 2, 3, 4]
    assert [label for _, label, _ in events] == ["new", None, None, None, None]
    runs_here = {pid for _, _, pid in events} == {os.getpid()}
    assert runs_here == (launch is LocalJob)


def test_the_jobs_exception_reaches_the_reader_after_its_events_with_its_type_and_message() -> None:
    seen: list[int] = []
    with pytest.raises(ChildFailed, match=r"^ValueError: field robot.mass_scale: 3 is not allowed$") as caught:
        for event in ChildProcess(failing_job, 3).events():
            seen.append(event)
    assert seen == [0, 1, 2]
    assert isinstance(caught.value.error, ValueError) and caught.value.__cause__ is caught.value.error
    assert "failing_job" in caught.value.details  # the child's traceback, for the log


def test_an_exception_that_cannot_cross_arrives_as_its_message() -> None:
    with pytest.raises(ChildFailed, match=r"UnpicklableError: the motor driver is gone \(7\)") as caught:
        list(ChildProcess(unpicklable_failure_job).events())
    assert caught.value.error is None


def test_stop_ends_the_stream_and_the_child_process() -> None:
    job = ChildProcess(forever_job)
    events = job.events()
    assert [next(events) for _ in range(3)] == [0, 1, 2]
    assert job.pid is not None and pid_alive(job.pid)
    job.request_stop()
    rest = list(events)
    assert len(rest) <= 1  # at most the event already in hand
    assert not pid_alive(job.pid)


def test_dropping_the_reader_midway_ends_the_child() -> None:
    job = ChildProcess(forever_job)
    events = job.events()
    next(events)
    events.close()
    assert job.pid is not None and not pid_alive(job.pid)


def test_a_child_that_dies_is_reported() -> None:
    with pytest.raises(ChildFailed, match="ended unexpectedly \\(exit code 3\\)") as caught:
        list(ChildProcess(dying_job).events())
    assert caught.value.exitcode == 3


def test_polling_hands_out_every_event_then_the_end() -> None:
    job = ChildProcess(count_job, 4)
    job.start()
    seen: list[int] = []
    deadline = time.monotonic() + 30
    while not job.finished() and time.monotonic() < deadline:
        seen += [i for i, _, _ in job.receive(0.1)]
    assert seen == [0, 1, 2, 3] and job.finished()
    assert job.wait(5.0)


def test_a_stop_request_still_delivers_the_event_in_hand_and_the_job_unwinds(tmp_path: Path) -> None:
    """A paused training run: the iteration in progress is reported, then the job's finally runs."""
    marker = tmp_path / "marker"
    job = ChildProcess(slow_job_with_cleanup, str(marker))
    job.start()
    first = job.receive(30.0)
    assert first == ["started"]
    job.request_stop()
    rest: list[str] = []
    deadline = time.monotonic() + 30
    while not job.finished() and time.monotonic() < deadline:
        rest += job.receive(0.1)
    assert rest == ["step 0"]
    assert job.wait(5.0) and marker.read_text() == "cleaned up"
    assert job.receive() == []  # an end, not a failure


def test_sigterm_unwinds_the_job_and_the_child_is_not_reported_as_dead() -> None:
    job = ChildProcess(forever_job)
    job.start()
    assert job.receive(30.0)
    job.terminate()
    job.stop(grace_s=5.0, term_s=5.0)
    assert job.finished() and not job.is_alive()
    assert job._process.exitcode == 0  # SIGTERM became a clean exit, not a kill
