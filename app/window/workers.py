"""Qt workers: each job runs in its own QThread and talks to the GUI only through signals.

What crosses the thread boundary is frozen dataclasses of scalars and numpy arrays (:class:`Frame`,
:class:`StepStat`), never envs or PyBullet handles (STYLE.md §2-3). Control flows the other way
through thread-safe plain Python (a job's :meth:`put` for the newest task or camera, a
:class:`threading.Event` to stop), because a queued Qt call to an object whose thread is busy in a
loop would never run. Every worker is a :class:`JobWorker` run by a :class:`WorkerThread`; the
simulating ones are :class:`StreamWorker` s, which pump the events of a job the window's
:class:`~app.runtime.launcher.JobLauncher` made (in the app, a child process:
:mod:`agents.core.child_process`). A panel that runs one long job at a time (Adapt, Map) keeps it in a
:class:`RunSlot`, which starts, stops, joins and shuts it down the same way for each.
"""

from __future__ import annotations

import threading
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from agents.core.child_process import RunningJob, describe_error
from app.runtime.preview import Frame
from sim.params import TaskParams
from sim.render import Camera

W = TypeVar("W", bound="JobWorker")


class JobWorker(QObject):
    """A job for a :class:`WorkerThread`: its :meth:`work` runs in the thread; :meth:`stop` is thread-safe.

    An exception from :meth:`work` becomes ``failed``; ``finished`` is emitted last either way.
    """

    failed = Signal(str)
    """A one-line description of the exception that ended the job."""
    finished = Signal()
    """Emitted last, whether the job ended by itself, by stop or by failure."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._stop = threading.Event()
        self._ended = threading.Event()

    def stop(self) -> None:
        """Ask the job to end at its next check (safe from any thread)."""
        self._stop.set()

    def ended(self) -> bool:
        """Whether :meth:`run` returned (its thread is about to end)."""
        return self._ended.is_set()

    def stop_requested(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stop.is_set()

    @Slot()
    def run(self) -> None:
        """The thread's body: :meth:`work`, failures turned into ``failed``, then ``finished``."""
        try:
            self.work()
        except Exception as err:
            self.failed.emit(describe_error(err))
        finally:
            self._ended.set()
            self.finished.emit()

    def work(self) -> None:
        """The job itself (subclasses)."""
        raise NotImplementedError


class StreamWorker(JobWorker):
    """Pumps a job's events into signals (:meth:`route`), whether it runs in a child process or in this thread.

    Stop ends the stream before the next event is emitted; the job's child is gone when :meth:`work` returns.
    """

    def __init__(self, job: RunningJob, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._job = job

    def put(self, key: str, value: Any) -> None:
        """Send the job the newest value under ``key`` (safe from any thread)."""
        self._job.put(key, value)

    def stop(self) -> None:
        """Ask the job to end; nothing more is emitted (safe from any thread)."""
        super().stop()
        self._job.request_stop()

    def work(self) -> None:
        """Emit the job's events until it ends or stop is asked; its exception becomes ``failed``."""
        for event in self._job.events():
            if self.stop_requested():
                return
            self.route(event)

    def route(self, event: Any) -> None:
        """Emit ``event`` on its signal (subclasses)."""
        raise NotImplementedError


class PreviewWorker(StreamWorker):
    """Steps a task's env with an open-loop gait and streams frames and rewards.

    The job itself is :func:`app.runtime.preview.preview_job`.

    Run it with :class:`WorkerThread`. :meth:`set_task`, :meth:`set_camera` and :meth:`stop` may be
    called from any thread.
    """

    frame_rendered = Signal(object)
    """A :class:`Frame`, about ``fps`` times a second."""
    step_done = Signal(object)
    """A :class:`~app.runtime.preview.StepStat` for every env step."""

    def __init__(self, job: RunningJob, parent: QObject | None = None) -> None:
        """``job``: a :func:`~app.runtime.preview.preview_job` from :meth:`JobLauncher.preview`."""
        super().__init__(job, parent)

    def set_task(self, task: TaskParams) -> None:
        """Ask the running preview to switch to ``task`` (only the newest pending task is kept)."""
        self.put("task", task)

    def set_camera(self, camera: Camera) -> None:
        """Turn the preview's camera from the next frame on (only the newest pending camera is kept)."""
        self.put("camera", camera)

    def set_paused(self, paused: bool) -> None:
        """Pause (no steps, no frames, no CPU) or resume the preview (safe from any thread)."""
        self.put("paused", paused)

    def route(self, event: Any) -> None:
        if isinstance(event, Frame):
            self.frame_rendered.emit(event)
        else:
            self.step_done.emit(event)


class WorkerThread(Generic[W]):
    """Runs a :class:`JobWorker` in a fresh QThread; :meth:`stop` asks it to end and joins it.

    Keep this object referenced until :meth:`stop` returned True or the thread ended: Qt aborts the
    process when a QThread is destroyed while it runs.
    """

    def __init__(self, worker: W) -> None:
        self.worker = worker
        self.thread = QThread()
        worker.moveToThread(self.thread)
        self.thread.started.connect(worker.run)
        # quit() is thread-safe; a direct call needs no GUI event loop to end the thread.
        worker.finished.connect(self.thread.quit, Qt.ConnectionType.DirectConnection)

    def start(self) -> None:
        """Start the thread (and so the worker's ``run``)."""
        self.thread.start()

    def is_running(self) -> bool:
        """Whether the thread has started and not yet ended."""
        return self.thread.isRunning()

    def stop(self, timeout_ms: int = 5000) -> bool:
        """Ask the worker to stop and wait for its thread; False if it did not end in time."""
        self.worker.stop()
        self.thread.quit()
        return self.thread.wait(timeout_ms)


class RunSlot(Generic[W]):
    """The one long job a panel runs at a time (an adaptation, a map), from its start until the panel has
    handled its end.

    The panel calls :meth:`end` from the slot connected to its worker's ``finished``: the thread alone ends
    before its last queued events (the outcome among them) reach the GUI thread, so "running" lasts until
    then, not while the thread lives.
    """

    def __init__(self) -> None:
        self._run: WorkerThread[W] | None = None

    @property
    def worker(self) -> W | None:
        """The running job's worker, or None."""
        return None if self._run is None else self._run.worker

    def is_running(self) -> bool:
        """Whether a job started and the panel has not yet handled its end."""
        return self._run is not None

    def start(self, worker: W) -> None:
        """Run ``worker`` in a new thread (connect its signals first)."""
        self._run = WorkerThread(worker)
        self._run.start()

    def stop(self) -> bool:
        """Ask the job to end (its ``finished`` still comes); False when none runs."""
        if self._run is None:
            return False
        self._run.worker.stop()
        return True

    def end(self, timeout_ms: int = 5000) -> bool:
        """The worker's ``finished`` arrived: join its thread and forget it; returns whether Stop ended the job."""
        run, self._run = self._run, None
        if run is None:
            return False
        run.thread.wait(timeout_ms)
        return run.worker.stop_requested()

    def shutdown(self, timeout_ms: int) -> bool:
        """Stop the job and join its thread (the window is closing); False if it did not end in time."""
        run, self._run = self._run, None
        if run is not None and not run.stop(timeout_ms):
            self._run = run  # keep the QThread referenced rather than destroy it running
            return False
        return True
