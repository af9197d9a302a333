"""The Map tab's jobs: :class:`MapWorker` pumps a map job's events into signals, :func:`save_map_job` writes
its files.

Both come from the window's :class:`~app.runtime.launcher.JobLauncher`. The save runs in a child process
(:meth:`~app.runtime.launcher.JobLauncher.plot_files`) because ``bench map``'s plots are drawn by pyqtgraph
widgets of their own: on the GUI thread they would block it for a second per heatmap and flash on the
user's screen. Its body lives here, not in the Qt-free runtime, because it draws.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal

from agents.core.child_process import JobControl, RunningJob
from agents.core.task_map import CellResult, MapSpec
from app.runtime.launcher import JobLauncher
from app.runtime.map_control import MapRequest, MapStarted
from app.window.workers import StreamWorker
from sim.tasks import TaskDistribution


class MapWorker(StreamWorker):
    """Pumps a map job's events into signals; run it with :class:`WorkerThread`."""

    map_started = Signal(object)
    """A :class:`MapStarted` once the checkpoint is loaded."""
    cell_done = Signal(object)
    """A :class:`~agents.core.task_map.CellResult` per finished cell, in the order they finish."""

    def route(self, event: Any) -> None:
        if isinstance(event, MapStarted):
            self.map_started.emit(event)
        elif isinstance(event, CellResult):
            self.cell_done.emit(event)
        else:
            raise TypeError(f"a map job yielded {type(event).__name__}, which no signal carries")


def save_map_job(
    control: JobControl, spec: MapSpec, results: list[CellResult], stem: Path, family: TaskDistribution, title: str
) -> Iterator[list[Path]]:
    """Write ``STEM.csv`` and the PNGs of ``bench map`` (each file atomically); yield the paths written."""
    os.environ["QT_QPA_PLATFORM"] = "offscreen"  # this child draws for files only: no window on the user's screen
    from app.cli.bench_map import write_csv
    from app.cli.map_plots import write_map_plots

    csv_path = stem.with_name(f"{stem.name}.csv")
    write_csv(spec, results, csv_path)
    yield [csv_path, *write_map_plots(spec, results, stem, family=family, title=title)]


def run_save(job: RunningJob) -> list[Path]:
    """Run a save job to its end (in a job thread); its failure is raised."""
    written: list[Path] = []
    for event in job.events():
        written = event
    return written


def save_job(
    launcher: JobLauncher, request: MapRequest, started: MapStarted, results: list[CellResult], folder: Path
) -> RunningJob:
    """A job from ``launcher`` (not started) writing ``map-AGENT-X[-Y].csv`` and its PNGs into ``folder``, named as
    ``bench map`` names them."""
    from app.cli.bench_map import agent_label, file_stem

    stem = folder / file_stem(argparse.Namespace(x=request.x, y=request.y), request.checkpoint)
    title = agent_label(request.checkpoint)
    args = (started.spec, results, stem, started.family, title)
    return launcher.plot_files(save_map_job, *args, name="sim2adapt-map-save")
