"""What the meta-train panel does, Qt-free: the next run's family, the run directory, the training child,
its progress and ETA, and an explicit state machine (:class:`TrainState`).

The panel (``app.window.widgets.train_panel``) only draws: it reads its choices from the form, hands
them to :class:`TrainController`, polls it from a timer and shows what the controller reports
through a :class:`TrainView`. Keeping this apart from Qt lets tests drive a run without widgets and
keeps the panel a view.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from agents.core.child_process import ChildProcess
from agents.core.learner import IterationStats
from agents.storage.runs import RunDir
from agents.training.background import TrainingNote
from sim.child_failure import ChildFailed
from sim.sampler import SamplingConfig
from sim.tasks import TaskDistribution, family_names, load_family

ETA_WINDOW = 10
"""The ETA extrapolates the mean duration of this many last iterations."""


class TrainState(enum.Enum):
    """Where a run stands; which controls are available follows from it (:meth:`TrainController.can`)."""

    IDLE = "idle"
    """no run yet"""
    RUNNING = "running"
    PAUSING = "pausing"
    """asked to stop after the current iteration"""
    PAUSED = "paused"
    """ended between iterations, or opened from disk: Resume continues it"""
    STOPPING = "stopping"
    """SIGTERM sent: ending now"""
    STOPPED = "stopped"
    FINISHED = "finished"
    FAILED = "failed"

    @property
    def active(self) -> bool:
        """Whether a child is (still) running: the choices are locked."""
        return self in (TrainState.RUNNING, TrainState.PAUSING, TrainState.STOPPING)


def format_eta(seconds: float) -> str:
    """``1h 02m``, ``3m 20s`` or ``45s``."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


@dataclass(frozen=True)
class Progress:
    """Iterations done of the run's total, and the estimated seconds left (None before the first)."""

    done: int
    total: int
    eta_s: float | None = None

    def text(self) -> str:
        """``iteration 3/100, ETA 4m 10s``."""
        eta = "" if self.eta_s is None else f", ETA {format_eta(self.eta_s)}"
        return f"iteration {self.done}/{self.total}{eta}"


class TrainView(Protocol):
    """What the controller tells its view (the panel); every call comes from the thread that drives it."""

    def show_state(self, state: TrainState) -> None:
        """The state changed."""
        ...

    def show_status(self, text: str) -> None:
        """A line of news for the log and the status bar."""
        ...

    def show_error(self, message: str, details: str) -> None:
        """A failure: one line, and a traceback or "" for the log."""
        ...

    def show_iteration(self, stats: IterationStats, progress: Progress) -> None:
        """One iteration done (also each one read back by :meth:`TrainController.open_run`)."""
        ...

    def show_run(self, run: RunDir, progress: Progress) -> None:
        """The run directory the controls now act on, and how far it is."""
        ...


Launch = Callable[[Path, bool, SamplingConfig], ChildProcess]
"""``launch(run_path, resume, sampling)``: a started training child (the window's job launcher provides it)."""


class TrainController:
    """Starts and watches one training run at a time; poll it from a timer."""

    def __init__(self, *, runs_root: Path, launch: Launch, view: TrainView, env_kind: str = "locomotion") -> None:
        """``env_kind="point_mass"`` trains the toy env (smoke tests)."""
        self.runs_root, self.env_kind = runs_root, env_kind
        self._launch, self._view = launch, view
        self.family: TaskDistribution = load_family(family_names()[0])
        """the family the next run trains on"""
        self.sampling = SamplingConfig()
        """where the next start's or resume's sampler workers run (not stored with the run)"""
        self.run: RunDir | None = None
        self.process: ChildProcess | None = None
        self.state = TrainState.IDLE
        self._iteration_seconds: list[float] = []
        self._done = 0

    # --- what is allowed ---------------------------------------------------------------------------
    def can(self, action: str) -> bool:
        """Whether ``start``, ``pause``, ``stop``, ``resume`` or ``open`` makes sense now."""
        allowed = {
            "start": not self.state.active,
            "open": not self.state.active,
            "pause": self.state is TrainState.RUNNING,
            "stop": self.state in (TrainState.RUNNING, TrainState.PAUSING),
            "resume": self.state in (TrainState.PAUSED, TrainState.STOPPED) and self.run is not None,
        }
        return allowed[action]

    def is_running(self) -> bool:
        """Whether a training child is alive."""
        return self.process is not None and self.process.is_alive()

    # --- the family --------------------------------------------------------------------------------
    def choose_family(self, name_or_path: str | Path | TaskDistribution) -> TaskDistribution:
        """Make a bundled family (by name), a family file or a family itself the next run's; raises
        OSError or ValueError (naming the field) for a file that cannot be one."""
        family = name_or_path if isinstance(name_or_path, TaskDistribution) else load_family(name_or_path)
        self.family = family
        return family

    # --- where sampling runs ------------------------------------------------------------------------
    def choose_sampling(self, backend: str, ray_address: str = "") -> bool:
        """Sample the next start or resume with ``backend`` (``process`` or ``ray``); with Ray, join the cluster
        at ``ray_address`` (``auto`` or ``HOST:PORT``; empty starts a local Ray). False, with the reason shown,
        when the choice is refused (it names the field)."""
        address = ray_address.strip() or None
        try:
            self.sampling = SamplingConfig(backend=backend, ray_address=address if backend == "ray" else None)
        except ValueError as err:
            self._view.show_error(str(err), "")
            return False
        return True

    # --- run control -------------------------------------------------------------------------------
    def start(self, **settings: Any) -> bool:
        """Create a run directory from ``settings`` (the fields of :class:`TrainSettings` but ``env``) and
        train it; False, with the reason shown, when the settings or the directory are refused."""
        from agents.training.train import TrainSettings, start_run  # torch: loaded when a run starts

        try:
            train_settings = TrainSettings(env=self.env_kind, **settings)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            name = f"{self.family.name}-{train_settings.algorithm}-seed{train_settings.seed}-{stamp}"
            self.run = start_run(self.runs_root / name, settings=train_settings, family=self.family)
        except (OSError, ValueError) as err:
            self._view.show_error(f"could not start: {err}", "")
            return False
        self._start_child(resume=False)
        return True

    def resume(self) -> None:
        """Continue the current run from its last checkpoint."""
        if self.can("resume"):
            self._start_child(resume=True)

    def pause(self) -> None:
        """Stop after the current iteration (its checkpoint is written first)."""
        if self.process is not None and self.can("pause"):
            self.process.request_stop()
            self._set_state(TrainState.PAUSING)

    def stop(self) -> None:
        """End the run now (SIGTERM, a clean exit); its last checkpoint stays, and Resume continues it."""
        if self.process is not None and self.can("stop"):
            self.process.terminate()
            self._set_state(TrainState.STOPPING)

    def open_run(self, path: Path) -> bool:
        """Show a run directory from disk (its metrics so far) and make it the one Resume continues."""
        try:
            run = RunDir.open(path, require_checkpoint=False)  # Resume starts a run killed before its first save
        except ValueError as err:
            self._view.show_error(str(err), "")
            return False
        self.run, self._iteration_seconds = run, []
        metrics = run.metrics()
        total = self._total()
        self._view.show_run(run, Progress(len(metrics), total))
        for row in metrics:
            stats = IterationStats.from_dict(row)
            self._view.show_iteration(stats, Progress(stats.iteration + 1, total))
        self._done = len(metrics)
        self._set_state(TrainState.PAUSED)
        return True

    def shutdown(self) -> None:
        """Stop training for good (the window is closing): waits for the child, which keeps its checkpoint."""
        process, self.process = self.process, None
        if process is not None:
            process.stop(grace_s=0.5)

    def _start_child(self, *, resume: bool) -> None:
        assert self.run is not None
        self.process = self._launch(self.run.path, resume, self.sampling)
        self._iteration_seconds.clear()
        self._view.show_run(self.run, Progress(self._done if resume else 0, self._total()))
        where = "processes"
        if self.sampling.backend == "ray":
            where = f"the Ray cluster at {self.sampling.ray_address}" if self.sampling.ray_address else "a local Ray"
        self._view.show_status(f"{'resumed' if resume else 'started'} {self.run.path.name}, sampling on {where}")
        self._set_state(TrainState.RUNNING)

    def _total(self) -> int:
        return int(self.run.settings["iterations"]) if self.run is not None else 0

    # --- events ------------------------------------------------------------------------------------
    def poll(self) -> None:
        """Take the child's events (never blocks) and notice its end, its failure or its death."""
        process = self.process
        if process is None:
            return
        try:
            for event in process.receive():
                self._on_event(event)
        except ChildFailed as failure:
            self.process = None
            self._view.show_error(f"training failed: {failure.message}", failure.details)
            self._set_state(TrainState.FAILED)
            return
        if process.finished():
            self.process = None
            self._on_end()

    def _on_event(self, event: object) -> None:
        if isinstance(event, IterationStats):
            self._done = event.iteration + 1
            self._iteration_seconds.append(event.total_seconds)
            recent = self._iteration_seconds[-ETA_WINDOW:]
            progress = Progress(self._done, self._total(), (self._total() - self._done) * sum(recent) / len(recent))
            self._view.show_iteration(event, progress)
            post = "" if event.post_return is None else f", after adaptation {event.post_return:.1f}"
            self._view.show_status(
                f"iteration {event.iteration}: return {event.pre_return:.1f}{post}, {event.env_steps} env steps"
            )
        elif isinstance(event, TrainingNote):
            self._view.show_status(f"note: {event.text}")

    def _on_end(self) -> None:
        if self._done >= self._total():
            self._view.show_status("training finished")
            self._set_state(TrainState.FINISHED)
        elif self.state is TrainState.STOPPING:
            self._view.show_status(f"stopped after iteration {self._done}")
            self._set_state(TrainState.STOPPED)
        else:
            self._view.show_status(f"paused after iteration {self._done}")
            self._set_state(TrainState.PAUSED)

    def _set_state(self, state: TrainState) -> None:
        self.state = state
        self._view.show_state(state)
