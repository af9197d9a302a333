"""Tie a child process's life to its parent's: when the parent dies, however it died, the child ends too.

Measured on main (MEASURED.md, issue 14): children of the window survived its death by SIGTERM,
SIGKILL or SIGHUP alike, re-parented to PID 1, holding ~400 MB and sometimes half a core, and deaf
to SIGTERM while a multiprocessing queue was unread. Nothing in multiprocessing prevents that: its
``daemon`` flag only acts when the parent's interpreter exits normally.

:func:`tie_to_parent` is called first thing in every child this project starts (the window's
simulation and training children, the sampler's workers). It sets two independent lifelines:

- ``PR_SET_PDEATHSIG`` (Linux, through ``prctl`` with ctypes): the kernel sends the child SIGKILL
  the moment its parent exits. Immediate, even while the child sits in a long C call holding the
  GIL (a PyBullet rebuild, the EGL plugin's load). Caveat, from prctl(2): "parent" is the *thread*
  that started the child, so a child must be started from a thread that outlives it (all ours are:
  the GUI thread, a job's worker thread that pumps the child until it ends, a sampler's owner).
- a watchdog thread that waits on the parent's end of multiprocessing's sentinel pipe (or, for a
  process not started by multiprocessing, polls ``os.getppid()``), for systems without prctl and
  for the window between fork and the prctl call.

Why SIGKILL and not a clean exit: nobody is left to read what a clean exit would write (events,
the end of a queue), and a clean exit can hang on exactly that (a queue's feeder thread joining a
full pipe). Everything the children write to disk is written atomically (checkpoints, task files),
so a kill loses at most the iteration in progress. Killed children print nothing, so workers
killed with their parent end quietly instead of dying on a BrokenPipeError traceback.

Standard library only: ``sim`` may not import torch, Qt or ``agents``, and every layer uses this.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
import threading
from multiprocessing.connection import wait

PR_SET_PDEATHSIG = 1
"""prctl option: the signal the kernel sends this process when its parent thread exits (linux/prctl.h)."""
WATCHDOG_POLL_S = 0.5
"""How often the watchdog compares ``os.getppid()`` when it has no sentinel to wait on."""


def _die() -> None:
    """End this process now and silently: no handlers, no atexit, no traceback."""
    if hasattr(signal, "SIGKILL"):
        os.kill(os.getpid(), signal.SIGKILL)
    os._exit(1)  # pragma: no cover - platforms without SIGKILL


def set_parent_death_signal(signum: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send ``signum`` to this process when its parent exits; False where prctl is missing."""
    if not sys.platform.startswith("linux"):
        return False
    libc_name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        libc = ctypes.CDLL(libc_name, use_errno=True)
    except OSError:
        return False
    return int(libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0)) == 0


def _parent_sentinel() -> tuple[int | None, int | None]:
    """The parent's pid and multiprocessing's sentinel of it (readable once it is gone), when there is one."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return None, None
    try:
        return parent.pid, parent.sentinel
    except ValueError:  # pragma: no cover - a parent handle without a sentinel
        return parent.pid, None


def _watch(parent_pid: int, sentinel: int | None) -> None:
    """The watchdog thread's body: return never; end the process once the parent is gone."""
    if sentinel is not None:
        try:
            wait([sentinel])  # readable (EOF) exactly when the parent's end of the pipe closes
        except OSError:
            pass
    else:
        while os.getppid() == parent_pid:
            threading.Event().wait(WATCHDOG_POLL_S)
    _die()


def tie_to_parent(*, parent_pid: int | None = None) -> None:
    """End this process (SIGKILL) as soon as its parent dies; call it first thing in a child process.

    ``parent_pid`` is the pid the child expects as parent; by default multiprocessing's record of it
    (for a spawned child), else the parent at the time of the call. A parent that died before this
    call (before the prctl could take effect) ends the child here and now.
    """
    mp_pid, sentinel = _parent_sentinel()
    expected = parent_pid if parent_pid is not None else mp_pid if mp_pid is not None else os.getppid()
    set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != expected:  # re-parented already: the parent died before the prctl
        _die()
    watchdog = threading.Thread(target=_watch, args=(expected, sentinel), name="sim2adapt-lifeline", daemon=True)
    watchdog.start()
