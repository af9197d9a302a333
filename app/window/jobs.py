"""The adaptation job's worker and short one-off jobs (file reads and writes, exports), each in its own thread.

:class:`AdaptWorker` pumps :func:`app.runtime.adapt_job.adapt_job` (in the app, in a child process),
re-emitting its events (frozen dataclasses of plain values) as signals; Stop ends the stream between
two events, so a run ends within one env step. :class:`CallWorker` runs one function and emits its
result; :class:`JobRunner` keeps such short jobs' threads alive until they end.

torch and the agents package load in the child process or in worker threads, so the window opens
without them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from agents.core.child_process import RunningJob
from app.runtime.adapt_job import AdaptOutcome, AdaptRequest, AdaptStarted
from app.runtime.preview import Frame
from app.window.workers import JobWorker, StreamWorker, WorkerThread
from sim.params import TaskParams
from sim.render import Camera


class AdaptWorker(StreamWorker):
    """Adapts a checkpoint's agent to a task; run it with :class:`WorkerThread`."""

    adaptation_started = Signal(object)
    """An :class:`AdaptStarted` once the checkpoint is loaded."""
    step_done = Signal(object)
    """An :class:`agents.core.adaptation.StepEvent` for every env step."""
    episode_done = Signal(object)
    """An :class:`agents.core.adaptation.EpisodeEvent` per finished episode."""
    update_done = Signal(object)
    """An :class:`agents.core.adaptation.UpdateEvent` per adaptation update."""
    frame_rendered = Signal(object)
    """A :class:`~app.runtime.preview.Frame` every ``config.frame_every`` steps."""
    adaptation_finished = Signal(object)
    """An :class:`AdaptOutcome`: the run completed (not emitted when stopped or failed)."""
    task_changed = Signal(object)
    """An :class:`agents.core.adaptation.TaskChangeEvent`: an edit reached the running episode at its step."""
    task_estimated = Signal(object)
    """An :class:`agents.core.adaptation.EstimateEvent` every ``config.estimate_every`` steps (online agents)."""

    def __init__(self, job: RunningJob, request: AdaptRequest, parent: QObject | None = None) -> None:
        """``job``: the run of ``request``, from :meth:`~app.runtime.launcher.JobLauncher.adapt`."""
        super().__init__(job, parent)
        self.request = request

    def set_camera(self, camera: Camera) -> None:
        """Turn the adapting env's camera from the next frame on (safe from any thread)."""
        self.put("camera", camera)

    def set_task(self, task: TaskParams) -> None:
        """Put the running episode on ``task`` from the next step (safe from any thread).

        ``task`` must differ from the run's only in dynamics fields (see
        :meth:`~app.runtime.adapt_control.AdaptController.live_edit`); a newer task replaces one not yet taken.
        """
        self.put("task", task)

    def route(self, event: Any) -> None:
        from agents.core.adaptation import EpisodeEvent, EstimateEvent, StepEvent, TaskChangeEvent, UpdateEvent

        if isinstance(event, StepEvent):
            self.step_done.emit(event)
        elif isinstance(event, EstimateEvent):
            self.task_estimated.emit(event)
        elif isinstance(event, TaskChangeEvent):
            self.task_changed.emit(event)
        elif isinstance(event, Frame):
            self.frame_rendered.emit(event)
        elif isinstance(event, EpisodeEvent):
            self.episode_done.emit(event)
        elif isinstance(event, UpdateEvent):
            self.update_done.emit(event)
        elif isinstance(event, AdaptStarted):
            self.adaptation_started.emit(event)
        elif isinstance(event, AdaptOutcome):
            self.adaptation_finished.emit(event)
        else:
            raise TypeError(f"an adaptation job yielded {type(event).__name__}, which no signal carries")


class CallWorker(JobWorker):
    """Runs ``function()`` once in its thread and emits what it returned as ``done``."""

    done = Signal(object)
    """The function's return value."""

    def __init__(self, function: Callable[[], object], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._function = function

    def work(self) -> None:
        """Call the function."""
        self.done.emit(self._function())


class _Relay(QObject):
    """Hands a job's result to its callbacks on the GUI thread.

    A signal connected to a plain function or lambda calls it in the *emitting* thread (measured with
    PySide6 6.11), so callbacks are called from this QObject's slots instead: it lives in the thread
    that created it, the GUI thread, which makes the connections queued.
    """

    def __init__(self, on_done: Callable[[Any], None], on_failed: Callable[[str], None], parent: QObject) -> None:
        super().__init__(parent)
        self._on_done, self._on_failed = on_done, on_failed

    @Slot(object)
    def deliver(self, value: object) -> None:
        self._on_done(value)

    @Slot(str)
    def fail(self, message: str) -> None:
        self._on_failed(message)


class JobRunner(QObject):
    """Starts short jobs in their own threads and keeps each thread referenced until it ended.

    ``on_done`` and ``on_failed`` run on the GUI thread with the result or the one-line error.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._jobs: list[tuple[WorkerThread[CallWorker], _Relay]] = []

    def call(
        self, function: Callable[[], object], *, on_done: Callable[[Any], None], on_failed: Callable[[str], None]
    ) -> CallWorker:
        """Run ``function`` in a new thread; returns its worker (for tests to wait on)."""
        worker = CallWorker(function)
        relay = _Relay(on_done, on_failed, self)
        worker.done.connect(relay.deliver)
        worker.failed.connect(relay.fail)
        handle = WorkerThread(worker)
        handle.thread.finished.connect(self._reap)
        self._jobs.append((handle, relay))
        handle.start()
        return worker

    def running(self) -> int:
        """Jobs not yet ended."""
        return sum(job.is_running() for job, _ in self._jobs)

    @Slot()
    def _reap(self) -> None:
        # Queued from a thread's own `finished`, which it emits just before it ends: the wait is brief.
        # A relay goes later than its job's results: they were queued before this.
        for entry in list(self._jobs):
            job, relay = entry
            if job.worker.ended() and job.thread.wait(1000):
                self._jobs.remove(entry)
                relay.deleteLater()

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Wait for every job (they cannot be interrupted midway); False if one is still running."""
        ended = all(job.stop(timeout_ms) for job, _ in self._jobs)
        self._jobs = [(job, relay) for job, relay in self._jobs if job.is_running()]
        return ended
