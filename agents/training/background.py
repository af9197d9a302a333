"""Training in a child process: crash isolation and a free core for the GUI, with events over a queue.

:func:`training_job` is a job in the sense of :mod:`agents.core.child_process`: it runs
:func:`agents.training.train.run_training` and yields the same plain objects the CLI sees
(:class:`~agents.core.learner.IterationStats`) plus :class:`TrainingNote`. :func:`training_process`
wraps it in a :class:`~agents.core.child_process.ChildProcess`, the one child-process mechanism the
window's simulation jobs use too; the caller polls its events without blocking (the GUI from a
timer), and a failure arrives as :class:`~sim.child_failure.ChildFailed`.

Stopping is safe at any moment because a run directory is: checkpoints are replaced atomically
after each iteration and a resumed run drops a metrics line the checkpoint does not cover. So a
stop request ends the run between iterations (the job is closed after the iteration it is in, and
closing it closes the sampler), SIGTERM ends it from wherever it is in the same way, and the child
dies with its parent (:mod:`sim.lifeline`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from agents.core.child_process import ChildProcess, JobControl
from agents.core.learner import IterationStats
from sim.sampler import SamplingConfig


@dataclass(frozen=True)
class TrainingNote:
    """A remark for the user's log (e.g. a resume without replay buffers)."""

    text: str


TrainingEvent = IterationStats | TrainingNote


def training_job(
    control: JobControl, run_path: str, resume: bool, device: str | None, sampling: SamplingConfig | None = None
) -> Iterator[TrainingEvent]:
    """Train the run directory ``run_path`` until done or asked to stop, yielding every iteration and note.

    ``device`` overrides the run's stored device; the child is this run's entry point, so it resolves it.
    ``sampling`` says where the sampler's workers run (default: this machine's processes).
    """
    from agents.core.device import resolve_device
    from agents.storage.runs import RunDir
    from agents.training.train import run_training

    run = RunDir.open(run_path, require_checkpoint=False)  # a run killed before its first checkpoint starts over
    notes: list[TrainingNote] = []
    torch_device = resolve_device(device or str(run.settings["device"]))
    training = run_training(
        run,
        device=torch_device,
        resume=resume,
        notes=lambda text: notes.append(TrainingNote(text)),
        sampling=sampling,
    )
    try:
        for stats in training:
            yield from _flush(notes)
            yield stats
            if control.stop_requested():
                return
        yield from _flush(notes)
    finally:
        training.close()  # closes the sampler's workers, whichever way the job ends


def _flush(notes: list[TrainingNote]) -> Iterator[TrainingNote]:
    """The notes run_training made since the last flush (they come through a callback, not the generator)."""
    pending = list(notes)
    notes.clear()
    yield from pending


def training_process(
    run_path: str | Path,
    *,
    resume: bool = False,
    device: str | None = None,
    sampling: SamplingConfig | None = None,
) -> ChildProcess:
    """A child (not started) that trains the run directory ``run_path``; ``resume`` continues its checkpoint,
    ``sampling`` chooses the sampler's backend (processes, or Ray actors on this machine or a cluster)."""
    return ChildProcess(
        training_job,
        str(run_path),
        resume,
        device,
        sampling,
        name="sim2adapt-training",
        daemon=False,  # it starts sampler processes of its own, which daemons may not
    )
