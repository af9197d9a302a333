"""One adaptation run as a job (:mod:`agents.core.child_process`), Qt-free: the window runs it in a child process.

:func:`adapt_job` loads a checkpoint, checks the task against the agent's robot, and re-yields the
events of :func:`agents.core.adaptation.adapt`, with rendered frames as :class:`~app.runtime.preview.Frame` s
and the end as an :class:`AdaptOutcome`. In a child process the env's C calls (the EGL plugin's load
holds the GIL for 0.3-0.75 s) and torch's work cost the GUI thread nothing.

While it runs, the window's task form reaches it through the control key ``"task"``: the newest task
the run should be on. Each step, the job hands the fields that differ from what it applied so far to
:func:`~agents.core.adaptation.adapt` as live changes, which apply them in place at that step. The
newest task is a state, not a stream of edits, so an edit is never lost when two arrive between
steps (the control channel keeps only the newest value per key). The window sends only tasks whose
differences are dynamics fields (:func:`changed_fields`, checked with
:class:`~sim.task_changes.TaskChange`).

torch and the agents package load inside the job, so importing this module (as the window does for
the request types) stays cheap.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from agents.core.child_process import JobControl
from app.runtime.preview import Frame, apply_camera, renderer_of
from sim.params import TaskParams, get_value, task_fields
from sim.render import Camera

if TYPE_CHECKING:
    from agents.core.adaptation import AdaptConfig, AdaptResult
    from agents.training.train import TrainedAgent


@dataclass(frozen=True)
class AdaptRequest:
    """Everything one adaptation run needs; built on the GUI thread, read where the job runs."""

    checkpoint: Path
    task: TaskParams
    config: AdaptConfig
    device: str = "auto"
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N``, resolved where the job runs"""


@dataclass(frozen=True)
class AdaptStarted:
    """The checkpoint is loaded and the first episode starts."""

    algorithm: str
    family: str
    device: str
    """the resolved torch device"""
    iteration: int
    """training iterations behind the agent"""
    estimates: bool = False
    """whether the agent reports a running estimate of the task (an online agent such as RMA does)"""


@dataclass(frozen=True)
class AdaptOutcome:
    """A finished run. ``result.policy`` is the adapted policy, a CPU copy owned by nobody else: the
    GUI holds it unopened and only hands it to an export job's thread."""

    result: AdaptResult
    algorithm: str
    checkpoint: str


class _FramelessEnv(gym.Wrapper[Any, Any, Any, Any]):
    """An env that cannot draw (the toy point mass): ``render()`` gives None, so adapt() yields no frames."""

    def render(self) -> None:
        return None


def changed_fields(before: TaskParams, after: TaskParams) -> list[tuple[str, Any]]:
    """``(path, value)`` for every schema field whose value in ``after`` differs from ``before``, in schema order."""
    return [
        (leaf.path, get_value(after, leaf.path))
        for leaf in task_fields()
        if get_value(after, leaf.path) != get_value(before, leaf.path)
    ]


class _LiveTask:
    """The job's side of live edits: the newest task the window asked for, as the changes not yet applied."""

    def __init__(self, control: JobControl, task: TaskParams) -> None:
        self._control, self._applied = control, task

    def __call__(self) -> list[tuple[str, Any]]:
        """Polled by adapt() before every step: the fields edited since the last poll (usually none)."""
        wanted = self._control.take("task")
        if wanted is None:
            return []
        edits, self._applied = changed_fields(self._applied, wanted), wanted
        return edits


def adapt_job(control: JobControl, request: AdaptRequest, camera: Camera | None) -> Generator[Any, None, None]:
    """Adapt the checkpoint's agent to the request's task, yielding the run's events (see the module doc).

    Control keys: ``"camera"`` (a :class:`Camera`, applied to the env from the next event on) and
    ``"task"`` (a :class:`TaskParams`: its dynamics fields apply at the next step, see the module doc).
    Raises ValueError naming the field when the task does not fit the agent's robot, or when a live
    task differs in a field that would rebuild the world.
    """
    import torch

    from agents.core.adaptation import AdaptResult, FrameEvent, TaskEstimator, adapt
    from agents.core.device import resolve_device
    from agents.training.train import load_trained

    torch.set_num_threads(1)  # this child acts on single observations (agents/core/threads.py says why)
    device = resolve_device(request.device)
    trained = load_trained(request.checkpoint, device=device)
    trained.check_task(request.task)
    agent = trained.new_agent()  # built here, not in adapt(), so that AdaptStarted can say what it reports
    estimates = isinstance(agent, TaskEstimator)
    yield AdaptStarted(trained.algorithm, trained.family.name, str(device), trained.iteration, estimates)

    envs: list[gym.Env[Any, Any]] = []

    def make_env(task: TaskParams) -> gym.Env[Any, Any]:
        env = _rendering_env(trained, task)
        view = control.take("camera") or camera
        if view is not None:
            apply_camera(env, view)
        envs.append(env)
        return env

    live = _LiveTask(control, request.task)
    events = adapt(lambda: agent, make_env, request.task, request.config, live_changes=live)
    try:
        for event in events:
            turned = control.take("camera")
            if turned is not None and envs:
                apply_camera(envs[-1], turned)
            if isinstance(event, FrameEvent):
                pixels = np.ascontiguousarray(np.asarray(event.rgb, dtype=np.uint8)[..., :3])
                yield Frame(image=pixels, step=event.step, renderer=renderer_of(envs[-1]) if envs else "")
            elif isinstance(event, AdaptResult):
                yield AdaptOutcome(event, trained.algorithm, str(request.checkpoint))
            else:
                yield event
    finally:
        events.close()


def _rendering_env(trained: TrainedAgent, task: TaskParams) -> gym.Env[Any, Any]:
    env = trained.make_env(task, render_mode="rgb_array")
    return env if env.render_mode == "rgb_array" else _FramelessEnv(env)
