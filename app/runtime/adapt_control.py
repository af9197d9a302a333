"""What the Adapt panel does, Qt-free: the request built from its choices, the run's name, the status
lines it shows, the last outcome (what Export writes), and an explicit state machine (:class:`AdaptState`).

It also decides what an edit of the task form does while a run goes (:meth:`AdaptController.live_edit`):
the edited dynamics fields go to the running episode, and a field that would rebuild the world (or a
value the running task refuses) stays in the form for the next run, with the reason in one line.

The panel (``app.window.widgets.adapt_panel``) owns the widgets and the worker thread; it asks this
controller what to show and what is allowed, so the rules are testable without Qt.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.runtime.adapt_job import AdaptOutcome, AdaptRequest, AdaptStarted, changed_fields
from sim.metrics import ENDINGS
from sim.params import TaskParams, get_value
from sim.task_changes import TaskChange

FRAME_EVERY = 3
"""Steps between adaptation frames: 20 frames per simulated second (env steps are 1/60 s)."""
ESTIMATE_EVERY = 3
"""Steps between an online agent's task estimates on the estimate plot: as often as frames, so the
plot keeps pace with the viewport, at a fraction of the per-step events' cost"""


@dataclass(frozen=True)
class LiveEdit:
    """What one edit of the task form does to the running episode."""

    task: TaskParams | None
    """the task the run should now be on (send it to the job), or None when nothing reaches the run"""
    sent: tuple[str, ...] = ()
    """the fields that go to the running episode"""
    refused: str | None = None
    """one line saying why a field stays out of the running episode (it applies to the next run)"""


class AdaptState(enum.Enum):
    """Where the panel's run stands."""

    IDLE = "idle"
    RUNNING = "running"
    STOPPING = "stopping"
    """Stop was pressed: the run closes its generator before the next step"""


def describe_task(task: TaskParams) -> str:
    """A short name of a task for legends: robot, ground and goal speed."""
    return f"{task.robot.name} on {task.terrain.kind}, {task.goal.target_velocity_mps:.3g} m/s"


class AdaptController:
    """One adaptation run at a time: build it, name it, follow it, keep its outcome."""

    def __init__(self) -> None:
        self.state = AdaptState.IDLE
        self.last_outcome: AdaptOutcome | None = None
        """the last completed run (Export writes its adapted policy)"""
        self.run_label = ""
        """``#2 · ant on rough, 1 m/s``: the number tells apart runs on tasks that differ in a field not named"""
        self._shots = 0
        self._form_task: TaskParams | None = None
        """the form's task as last seen during the run: an edit is what differs from it"""
        self._running_task: TaskParams | None = None
        """the task the running episode is on: the request's, with every edit sent so far"""

    def can(self, action: str, *, checkpoint: Path | None = None) -> bool:
        """Whether ``run`` (given the chosen ``checkpoint``), ``stop``, ``clear`` or ``export`` makes sense now."""
        idle = self.state is AdaptState.IDLE
        allowed = {
            "run": idle and checkpoint is not None,
            "stop": self.state is AdaptState.RUNNING,
            "clear": idle,
            "export": idle and self.last_outcome is not None,
        }
        return allowed[action]

    def request(
        self,
        *,
        checkpoint: Path,
        task: TaskParams,
        shots: int,
        max_steps: int,
        updates: int,
        show_frames: bool,
        device: str,
    ) -> AdaptRequest:
        """The run the choices describe; raises ValueError naming the setting the adaptation refuses."""
        from agents.core.adaptation import AdaptConfig  # torch-free module, but part of agents: load on first use

        frame_every = FRAME_EVERY if show_frames else 0
        config = AdaptConfig(
            shots=shots,
            max_steps=max_steps,
            updates=updates,
            frame_every=frame_every,
            estimate_every=ESTIMATE_EVERY,
        )
        return AdaptRequest(checkpoint=checkpoint, task=task, config=config, device=device)

    def begin(self, request: AdaptRequest, *, number: int) -> str:
        """A run starts as the ``number``-th on the plots; returns its status line."""
        self.state = AdaptState.RUNNING
        self._shots = request.config.shots
        self._form_task = self._running_task = request.task
        self.run_label = f"#{number} · {describe_task(request.task)}"
        return f"adapting: loading {request.checkpoint.name}"

    def started(self, started: AdaptStarted) -> tuple[str, str]:
        """The checkpoint loaded: the run's legend (with its algorithm) and the status line."""
        number, _, task = self.run_label.partition(" · ")
        legend = f"{number} {started.algorithm} · {task}"
        return legend, f"adapting ({started.algorithm}, {started.device}): episode 1 of {self._shots}"

    def episode_done(self, event: Any) -> str | None:
        """After an episode: the status line of the next one (saying how this one ended, if it left the
        world or blew up), or None after the last with nothing to say."""
        ending = ENDINGS.get(event.metrics.ending, "") if event.metrics is not None else ""
        said = f"episode {event.episode + 1} {ending}; " if ending else ""
        if event.episode + 1 < self._shots:
            return f"{said}adapting: episode {event.episode + 2} of {self._shots}"
        return said.rstrip("; ") or None

    def live_edit(self, task: TaskParams) -> LiveEdit:
        """The form now shows ``task``: which of its edits reach the running episode, and why any does not.

        Each edited field is checked as a :class:`TaskChange` (which refuses a field that would rebuild
        the world) applied to the running task (which refuses a value that does not fit it, e.g. a
        URDF-specific value while the run keeps its robot). Nothing reaches a run that is not running.
        """
        if self.state is not AdaptState.RUNNING or self._form_task is None or self._running_task is None:
            return LiveEdit(None)
        edits, self._form_task = changed_fields(self._form_task, task), task
        running, sent, refusals = self._running_task, [], []
        for path, value in edits:
            if get_value(running, path) == value:
                continue  # back to what the episode runs on (a refused field set back): nothing to do
            try:
                running = TaskChange(0, path, value).applied_to(running)
            except ValueError as err:
                refusals.append(str(err))
                continue
            sent.append(path)
        self._running_task = running
        refused = None
        if refusals:
            more = f" (and {len(refusals) - 1} more field(s))" if len(refusals) > 1 else ""
            refused = f"{refusals[0]}{more} (the form keeps it for the next run)"
        return LiveEdit(running if sent else None, tuple(sent), refused)

    def task_changed(self, event: Any) -> str:
        """The status line of a change that reached the running episode (a ``TaskChangeEvent``)."""
        return f"episode {event.episode + 1}, step {event.step}: {event.label}"

    def finished(self, outcome: AdaptOutcome) -> str:
        """A completed run: kept for Export; returns how the return moved."""
        self.last_outcome = outcome
        returns = outcome.result.episode_returns
        return (
            f"done: return {returns[0]:.2f} before adapting, {returns[-1]:.2f} after {outcome.result.updates} "
            "update(s). Export policy... writes the adapted policy."
        )

    def request_stop(self) -> str | None:
        """Stop was pressed: the status line, or None when no run goes."""
        if self.state is not AdaptState.RUNNING:
            return None
        self.state = AdaptState.STOPPING
        return "adapting: stopping"

    def ended(self, *, stopped: bool = False) -> str | None:
        """The run's thread ended (completed, stopped or failed): "stopped" when it was stopped (through
        :meth:`request_stop`, or ``stopped``: its worker was asked directly), else None."""
        stopped = stopped or self.state is AdaptState.STOPPING
        self.state = AdaptState.IDLE
        self._form_task = self._running_task = None
        return "stopped" if stopped else None
