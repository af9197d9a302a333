"""Process helpers for tests that must prove no child process outlives a job or its parent.

They read /proc (Linux). A process counts as gone once it has exited, even if nobody reaped it yet:
an orphan's zombie waits for whatever PID 1 is, which in a container may never reap it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), or None if there is no such process."""
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def children_of(pid: int) -> list[int]:
    """The live processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[1]) == pid and fields[0] not in "ZX":
                found.append(int(entry.name))
    return found


def descendants_of(pid: int) -> list[int]:
    """Every live process below ``pid``: children, their children, and so on."""
    found, frontier = [], [pid]
    while frontier:
        children = [child for parent in frontier for child in children_of(parent)]
        found += children
        frontier = children
    return found


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (tells a pid apart from a later process reusing it)."""
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[19])


def is_alive(pid: int, started: int | None = None) -> bool:
    """Whether ``pid`` runs (not a zombie) and, given ``started``, is still the process that started then."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] in "ZX":
        return False
    return started is None or int(fields[19]) == started


def command_line(pid: int) -> str:
    """The process's command line, arguments joined by spaces ("" once it is gone)."""
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def has_loaded(pid: int, library: str) -> bool:
    """Whether a shared library whose path contains ``library`` is mapped into the process."""
    try:
        return library in (Path("/proc") / str(pid) / "maps").read_text()
    except OSError:
        return False


def seconds_until_gone(pids: dict[int, int | None], timeout_s: float) -> dict[int, float | None]:
    """How long each process (pid -> start time) took to end from now, or None if it outlived ``timeout_s``."""
    start = time.monotonic()
    gone: dict[int, float | None] = dict.fromkeys(pids)
    while time.monotonic() - start < timeout_s and any(seconds is None for seconds in gone.values()):
        for pid, started in pids.items():
            if gone[pid] is None and not is_alive(pid, started):
                gone[pid] = time.monotonic() - start
        time.sleep(0.02)
    for pid, started in pids.items():
        if gone[pid] is None and not is_alive(pid, started):
            gone[pid] = time.monotonic() - start
    return gone


def kill_survivors(pids: dict[int, int | None]) -> None:
    """SIGKILL those of ``pids`` still alive (so a failing test leaves nothing behind)."""
    for pid, started in pids.items():
        if is_alive(pid, started):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
