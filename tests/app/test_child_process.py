"""Jobs in a child process behave like jobs in this thread: events in order, control values, errors, stop.

The jobs here are module-level (a spawned child imports them by name) and Qt-free.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from app.runtime.child_job import ChildJob, ChildJobDied, JobControl, LocalJob


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


def dying_job(control: JobControl) -> Iterator[int]:
    yield 0
    os._exit(3)  # as if the simulator crashed in C code


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("launch", [LocalJob, ChildJob])
def test_events_arrive_in_order_with_the_newest_control_value(launch) -> None:
    job = launch(count_job, 5)
    job.put("label", "old")
    job.put("label", "new")  # replaces the one not yet taken
    events = list(job.events())
    assert [i for i, _, _ in events] == [0, 1, 2, 3, 4]
    assert [label for _, label, _ in events] == ["new", None, None, None, None]
    runs_here = {pid for _, _, pid in events} == {os.getpid()}
    assert runs_here == (launch is LocalJob)


@pytest.mark.parametrize("launch", [LocalJob, ChildJob])
def test_the_jobs_exception_reaches_the_reader_with_its_type_and_message(launch) -> None:
    seen: list[int] = []
    with pytest.raises(ValueError, match=r"field robot.mass_scale: 3 is not allowed"):
        for event in launch(failing_job, 3).events():
            seen.append(event)
    assert seen == [0, 1, 2]


def test_an_exception_that_cannot_cross_arrives_as_its_message() -> None:
    with pytest.raises(RuntimeError, match=r"UnpicklableError: the motor driver is gone \(7\)"):
        list(ChildJob(unpicklable_failure_job).events())


def test_stop_ends_the_stream_and_the_child_process() -> None:
    job = ChildJob(forever_job)
    events = job.events()
    assert [next(events) for _ in range(3)] == [0, 1, 2]
    assert job.pid is not None and pid_alive(job.pid)
    job.stop()
    rest = list(events)
    assert len(rest) <= 1  # at most the event already in hand
    assert not pid_alive(job.pid)


def test_dropping_the_reader_midway_ends_the_child() -> None:
    job = ChildJob(forever_job)
    events = job.events()
    next(events)
    events.close()
    assert job.pid is not None and not pid_alive(job.pid)


def test_a_child_that_dies_is_reported() -> None:
    with pytest.raises(ChildJobDied, match="exit code 3"):
        list(ChildJob(dying_job).events())
