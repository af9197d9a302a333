"""The reaper of a local Ray (sim/ray_reaper.py), without Ray: what it kills once its parent is gone, and what not.

The test process plays the driver; a child whose command line carries the marker (with a child of
its own) plays Ray's processes, another child without it plays a process the driver started for
something else.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from sim.ray_reaper import POLL_MIN_S, start_reaper, stop_reaper
from tests.processes import descendants_of, is_alive, kill_survivors, seconds_until_gone, start_time

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

SLEEPER = "import time; time.sleep(60)"
WITH_A_CHILD = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {SLEEPER!r}]); time.sleep(60)"


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes the test starts; whatever of them and below them is left is killed at the end."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    kill_survivors({pid: start_time(pid) for process in started for pid in [process.pid, *descendants_of(process.pid)]})
    for process in started:
        process.wait(10)


def test_the_reaper_kills_the_marked_children_and_all_below_them_and_nothing_else(
    children: list[subprocess.Popen[bytes]],
) -> None:
    marker = f"s2a-reaper-test-{os.getpid()}"
    marked = subprocess.Popen([sys.executable, "-c", WITH_A_CHILD, marker])
    other = subprocess.Popen([sys.executable, "-c", SLEEPER])
    children += [marked, other]
    deadline = time.monotonic() + 30.0
    while not descendants_of(marked.pid):
        assert time.monotonic() < deadline, "the marked child started no child of its own"
        time.sleep(0.02)
    cluster = {pid: start_time(pid) for pid in [marked.pid, *descendants_of(marked.pid)]}
    reaper = start_reaper(marker)
    time.sleep(5 * POLL_MIN_S)  # time for a few of its reads (0.1 s apart while the tree changes, then slower)
    stop_reaper(reaper)  # as the driver's death would: end of file on its stdin
    assert reaper.returncode == 0
    assert all(seconds is not None for seconds in seconds_until_gone(cluster, 2.0).values())
    assert is_alive(other.pid)
