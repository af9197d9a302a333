"""Training in a child process: crash isolation and a free core for the GUI, with events over a queue.

:class:`TrainingProcess` runs :func:`agents.training.train.run_training` in a spawned process and hands its
progress back as the same plain objects the CLI sees (:class:`~agents.core.learner.IterationStats`)
plus :class:`TrainingNote`, :class:`TrainingFailed` and :class:`TrainingEnded`. The caller polls
:meth:`TrainingProcess.events` without blocking (the GUI does it from a timer).

Stopping is safe at any moment because a run directory is: checkpoints are replaced atomically
after each iteration and a resumed run drops a metrics line the checkpoint does not cover. So
:meth:`TrainingProcess.stop` first asks for a stop between iterations, and if the current
iteration does not end soon, sends SIGTERM, which the child turns into a normal exit (its sampler
workers are closed by the generator's ``finally``), and only then kills it.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from agents.core.learner import IterationStats


@dataclass(frozen=True)
class TrainingNote:
    """A remark for the user's log (e.g. a resume without replay buffers)."""

    text: str


@dataclass(frozen=True)
class TrainingFailed:
    """The child raised; ``message`` is one line, ``details`` the traceback."""

    message: str
    details: str


@dataclass(frozen=True)
class TrainingEnded:
    """The child finished; ``completed`` is False when it was stopped before its last iteration."""

    completed: bool
    iterations: int


TrainingEvent = IterationStats | TrainingNote | TrainingFailed | TrainingEnded


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    sys.exit(0)  # SystemExit unwinds run_training's finally: the sampler closes its workers


def _train_main(run_path: str, resume: bool, device: str | None, events: Any, stop: Event) -> None:
    """The child's body: train until done or asked to stop, reporting every iteration."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    from agents.core.device import resolve_device
    from agents.storage.runs import RunDir
    from agents.training.train import run_training

    done, total = 0, 0
    try:
        run = RunDir.open(run_path, require_checkpoint=resume)
        total = int(run.settings["iterations"])
        torch_device = resolve_device(device or str(run.settings["device"]))  # the child is this run's entry point
        training = run_training(
            run, device=torch_device, resume=resume, notes=lambda text: events.put(TrainingNote(text))
        )
        try:
            for stats in training:
                done = stats.iteration + 1
                events.put(stats)
                if stop.is_set():
                    break
        finally:
            training.close()
        events.put(TrainingEnded(completed=done >= total, iterations=done))
    except Exception as err:
        events.put(TrainingFailed(f"{type(err).__name__}: {err}", traceback.format_exc()))


def end_process(process: BaseProcess, *, grace_s: float, term_s: float) -> None:
    """Wait ``grace_s`` for a child asked to stop, then SIGTERM and wait ``term_s``, then SIGKILL: it is gone after."""
    process.join(grace_s)
    if process.is_alive():
        process.terminate()
        process.join(term_s)
    if process.is_alive():
        process.kill()
        process.join()


class TrainingProcess:
    """One training run in a spawned child process."""

    def __init__(self, run_path: str | Path, *, resume: bool = False, device: str | None = None) -> None:
        """Prepare (not start) a child that trains the run directory ``run_path``."""
        context = mp.get_context("spawn")  # no fork: the parent may hold Qt, torch threads and PyBullet clients
        self._events: Any = context.Queue()
        self._stop = context.Event()
        self._process = context.Process(
            target=_train_main,
            args=(str(run_path), resume, device, self._events, self._stop),
            name="sim2adapt-training",
            daemon=False,  # it starts sampler processes of its own, which daemons may not
        )

    def start(self) -> None:
        """Start the child."""
        self._process.start()

    def is_alive(self) -> bool:
        """Whether the child is running."""
        return self._process.is_alive()

    @property
    def pid(self) -> int | None:
        """The child's process id once started."""
        return self._process.pid

    def events(self) -> list[TrainingEvent]:
        """Every event that has arrived, without blocking."""
        drained: list[TrainingEvent] = []
        while True:
            try:
                drained.append(self._events.get_nowait())
            except queue.Empty:
                return drained

    def request_stop(self) -> None:
        """Ask the child to stop after the iteration it is in (its checkpoint is then on disk)."""
        self._stop.set()

    def terminate(self) -> None:
        """SIGTERM without waiting (the child exits cleanly; poll :meth:`is_alive`)."""
        if self._process.is_alive():
            self._process.terminate()

    def stop(self, *, grace_s: float = 2.0, term_s: float = 10.0) -> None:
        """Stop the child and wait for it: between iterations if that comes within ``grace_s``, else by SIGTERM.

        The run directory stays resumable either way (its last checkpoint is intact).
        """
        self.request_stop()
        end_process(self._process, grace_s=grace_s, term_s=term_s)

    def wait(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the child to end on its own; True if it has."""
        deadline = time.monotonic() + timeout_s
        while self._process.is_alive() and time.monotonic() < deadline:
            self._process.join(0.05)
        return not self._process.is_alive()
