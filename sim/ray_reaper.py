"""A local Ray that this process started ends within moments of this process's death, however it died.

Ray ties the processes ``ray.init`` starts (GCS, raylet, dashboard, monitors) to their parent with
PR_SET_PDEATHSIG, but not what the raylet starts under it. Measured here (issue 14, Ray 2.60, 2
sampler actors): SIGKILL of the driver left the actors running ~2.5 s and Ray's ``DashboardAgent``
and ``RuntimeEnvAgent`` (~85 MB each) another 55-115 s: they notice the raylet's death at once but
then report it to the dead GCS with a 60-s timeout. No ``ray.init`` option avoids those agents (the
raylet always starts both; ``include_dashboard=False`` only thins the dashboard).

So the process that starts a local Ray also starts a reaper (:func:`start_reaper`), a plain Python
process on the standard library alone, in a session of its own (a Ctrl-C or hang-up aimed at the
terminal's group must not end it before it has reaped). It records the local cluster's processes:
this process's children whose command line names the ray package (what ``ray.init`` started) and
everything below them (the agents, the actors' workers), each with its start time so that a pid
reused by another process is never mistaken for one of them. It reads them from /proc (Linux) every
0.1 s while they change, less often (up to every 2 s) while they stay the same: a read costs ~6 ms
with Ray's ~220 threads, ~0.15 % of a core once the cluster is up. Its stdin is a pipe from this
process alone; end of file there means this process died or closed it (:func:`stop_reaper`), and
the reaper SIGKILLs every recorded process still alive, then ends: measured, the whole local Ray
(GCS, raylet, both agents, two actors) and the reaper were gone within 0.35 s of a SIGKILL.
Only a local Ray this process started gets a reaper: a cluster it merely joined is never touched.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from pathlib import Path

POLL_MIN_S = 0.1
"""How soon the reaper re-reads the cluster's process tree after it changed; the wait doubles, up to
:data:`POLL_MAX_S`, while it stays the same. A worker Ray starts after the last read before its driver
dies is missed; such a worker ends by itself within seconds, having lost its raylet."""
POLL_MAX_S = 2.0
"""The longest wait between two reads of the cluster's process tree."""
STOP_TIMEOUT_S = 5.0
"""How long :func:`stop_reaper` waits for the reaper to end before it kills it."""


def start_reaper(marker: str) -> subprocess.Popen[bytes]:
    """Start the reaper of this process's children whose command line contains ``marker``, and their descendants.

    It runs this file as a script (``-I``: the standard library only, no import of :mod:`sim` and its
    PyBullet), so it starts in a few tens of milliseconds and holds ~12 MB.
    """
    return subprocess.Popen(
        [sys.executable, "-I", str(Path(__file__).resolve()), str(os.getpid()), marker],
        stdin=subprocess.PIPE,  # non-inheritable here, so no other child holds it open past our death
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop_reaper(reaper: subprocess.Popen[bytes]) -> None:
    """Close the reaper's pipe: it kills what is left of the cluster and ends; killed if it lingers."""
    if reaper.stdin is not None:
        reaper.stdin.close()
    try:
        reaper.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        reaper.kill()
        reaper.wait()


def _read(path: str) -> bytes:
    """The file's bytes; empty once its process has ended."""
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError:
        return b""


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot; None once it has ended (a zombie counts as ended)."""
    fields = _read(f"/proc/{pid}/stat").rsplit(b")", 1)[-1].split()
    return None if len(fields) < 20 or fields[0] in (b"Z", b"X") else int(fields[19])


def _children(pid: int) -> list[int]:
    """The process's children: the union over its threads (each thread's children are listed apart)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    return [int(child) for task in tasks for child in _read(f"/proc/{pid}/task/{task}/children").split()]


def _command_line(pid: int) -> str:
    return _read(f"/proc/{pid}/cmdline").replace(b"\0", b" ").decode(errors="replace")


def _below(roots: list[int]) -> dict[int, int]:
    """``roots`` and everything below them that is alive: pid -> start time."""
    found: dict[int, int] = {}
    frontier = roots
    while frontier:
        next_frontier = []
        for pid in frontier:
            started = _start_time(pid)
            if started is not None and pid not in found:
                found[pid] = started
                next_frontier += _children(pid)
        frontier = next_frontier
    return found


def cluster_processes(parent: int, marker: str) -> dict[int, int]:
    """``parent``'s children whose command line contains ``marker``, and all below them (pid -> start time)."""
    roots = [pid for pid in _children(parent) if pid != os.getpid() and marker in _command_line(pid)]
    return _below(roots)


def _parent_gone(timeout_s: float) -> bool:
    """Wait up to ``timeout_s`` on stdin; True at its end of file (the parent died or closed it)."""
    ready, _, _ = select.select([sys.stdin.fileno()], [], [], timeout_s)
    return bool(ready) and not os.read(sys.stdin.fileno(), 4096)


def reap(parent: int, marker: str) -> None:
    """The reaper's body: record the cluster until the parent is gone, then SIGKILL what is left of it."""
    recorded: dict[int, int] = {}
    wait_s = POLL_MIN_S
    while not _parent_gone(wait_s) and os.getppid() == parent:  # the pid too: a pipe some fork still holds
        alive = {pid: started for pid, started in recorded.items() if _start_time(pid) == started}
        now = {**alive, **cluster_processes(parent, marker)}  # the alive stay, though re-parented
        wait_s = min(2 * wait_s, POLL_MAX_S) if now.keys() == recorded.keys() else POLL_MIN_S
        recorded = now
    verified = [pid for pid, started in recorded.items() if _start_time(pid) == started]  # no reused pid
    recorded.update(_below(verified))  # with what they started since the last read
    for pid, started in recorded.items():
        if _start_time(pid) == started:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


if __name__ == "__main__":
    reap(int(sys.argv[1]), sys.argv[2])
