"""The one place that decides where the window's jobs run and what they build: a :class:`JobLauncher`.

The window and its panels never construct a job themselves; they ask the launcher injected into the
window for a running job (:class:`agents.core.child_process.RunningJob`) and pump its events. In the
app every job runs in a spawned child process (:class:`agents.core.child_process.ChildProcess`);
tests inject ``JobLauncher(in_child_process=False, preview_env=...)`` to keep simulation jobs
(previews, adaptations, maps) in a thread of their own process with an instrumented env, one argument
at the window instead of a flag handed down through the window, the panels, the workers and the job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents.core.child_process import ChildProcess, Job, LocalJob, RunningJob
from agents.training.background import training_process
from app.runtime.adapt_job import AdaptRequest, adapt_job
from app.runtime.map_control import MapRequest, map_job
from app.runtime.preview import EnvFactory, make_preview_env, preview_job
from sim.params import TaskParams
from sim.render import Camera
from sim.sampler import SamplingConfig


class JobLauncher:
    """Starts previews, adaptation runs, maps, training runs and the jobs that draw plot files.

    ``in_child_process=False`` runs previews, adaptations and maps in the reader's thread (tests);
    training always runs in a child process, since it starts sampler processes of its own, and so do
    the jobs that draw plot files (:meth:`plot_files`).
    ``preview_env`` builds the preview's env (a module-level function or a picklable object).
    """

    def __init__(self, *, in_child_process: bool = True, preview_env: EnvFactory = make_preview_env) -> None:
        self.in_child_process = in_child_process
        self.preview_env = preview_env

    def preview(self, task: TaskParams, *, camera: Camera | None, fps: float) -> RunningJob:
        """A preview of ``task`` (not started: reading its events starts it)."""
        args = (self.preview_env, task, camera, fps)
        if self.in_child_process:
            return ChildProcess(preview_job, *args, name="sim2adapt-preview")
        return LocalJob(preview_job, *args)

    def adapt(self, request: AdaptRequest, *, camera: Camera | None) -> RunningJob:
        """An adaptation run (not started: reading its events starts it)."""
        if self.in_child_process:
            return ChildProcess(adapt_job, request, camera, name="sim2adapt-adapt")
        return LocalJob(adapt_job, request, camera)

    def map(self, request: MapRequest) -> RunningJob:
        """A map of an agent's failures over one or two task fields (not started: reading its events starts it)."""
        if self.in_child_process:
            # not a daemon: with workers >= 2 it starts processes of its own, which daemons may not
            return ChildProcess(map_job, request, name="sim2adapt-map", daemon=False)
        return LocalJob(map_job, request)

    def plot_files(self, job: Job, *args: Any, name: str) -> ChildProcess:
        """A job that draws plots with pyqtgraph and writes them to files (not started), always in a child:
        pyqtgraph draws only in the thread that owns the QApplication, and the child's own offscreen one
        neither blocks the window nor flashes on the user's screen. The job lives beside its panel, since
        drawing code may not enter this Qt-free package."""
        return ChildProcess(job, *args, name=name)

    def training(self, run_path: Path, *, resume: bool, sampling: SamplingConfig | None = None) -> ChildProcess:
        """A training child for the run directory ``run_path``, started; ``sampling``: where its workers run."""
        process = training_process(run_path, resume=resume, sampling=sampling)
        process.start()
        return process
