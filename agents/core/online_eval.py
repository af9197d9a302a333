"""How an agent copes when the task changes under its feet: error before, peak after, time to recover, falls.

Each run is one episode on a held-out task, with one :class:`Perturbation` applied mid-episode
(through :func:`agents.core.adaptation.adapt`'s schedule). From the per-step velocity along the
target heading it measures, in simulated time:

* ``before_mps``: mean tracking error over the second before the change;
* ``peak_mps``: the largest 0.5-s rolling mean error after it;
* ``after_mps``: the mean error from the change to the end of the episode (how well it tracks on the
  changed task, recovery included);
* ``recovery_s``: seconds from the change until the 0.5-s rolling error is back within 1.2x the
  level before it (capped at the episode's end: never recovered reads as the time left);
* ``fell``: the episode ended in a fall.

Agents that adapt only between episodes run their first episode here (what they do before any
adaptation), so the comparison is with what an online agent must do within that one episode.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

from agents.core.adaptation import AdaptConfig, AdaptiveAgent, EpisodeEvent, StepEvent, adapt
from agents.core.evaluation import t95
from agents.core.threads import one_torch_thread
from sim.envs.locomotion import LocomotionEnv
from sim.params import TaskParams, field_by_path
from sim.task_changes import TaskChange

RECOVERY_WINDOW_S = 0.5
"""the rolling window of the peak and recovery measures, s"""
RECOVERY_TOLERANCE = 1.2
"""recovered: the rolling error is within this factor of the error before the change"""
SLOPE_STEP_DEG = 6.0
"""how much steeper the slope perturbation makes 'slope' ground"""
MAX_SLOPE_DEG = float(field_by_path("terrain.slope_deg").spec.high or 0.0)


@dataclass(frozen=True)
class Perturbation:
    """A named mid-episode change, its value derived from the task and the robot it meets."""

    name: str
    path: str
    value: Callable[[TaskParams, float], float]
    """(task, robot mass in kg) -> the new value of ``path``"""
    ground: str | None = None
    """the ``terrain.kind`` it needs (a slope turns only on 'slope' ground), None: any task"""

    def applies_to(self, task: TaskParams) -> bool:
        """Whether ``task`` can take this change mid-episode."""
        return self.ground is None or task.terrain.kind == self.ground

    def change_at(self, step: int, task: TaskParams, robot_mass_kg: float) -> TaskChange:
        """The scheduled change for ``task``."""
        return TaskChange(step, self.path, float(self.value(task, robot_mass_kg)))


PERTURBATIONS: tuple[Perturbation, ...] = (
    Perturbation("payload +50% body mass", "robot.payload_kg", lambda task, mass: task.robot.payload_kg + 0.5 * mass),
    Perturbation("friction 0.3", "terrain.friction", lambda task, mass: 0.3),
    Perturbation("motors 0.6x", "robot.motor_strength_scale", lambda task, mass: 0.6 * task.robot.motor_strength_scale),
    Perturbation(
        f"slope +{SLOPE_STEP_DEG:g} deg",
        "terrain.slope_deg",
        lambda task, mass: min(task.terrain.slope_deg + SLOPE_STEP_DEG, MAX_SLOPE_DEG),
        ground="slope",
    ),
)
"""the issue's fixed set of changes; the slope turns under the robot on a family's 'slope' tasks only (a
rough patch would rebuild the world mid-episode, so none here)"""


def perturbations_for(tasks: Sequence[TaskParams]) -> tuple[Perturbation, ...]:
    """The perturbations that at least one of ``tasks`` can take."""
    return tuple(p for p in PERTURBATIONS if any(p.applies_to(task) for task in tasks))


@dataclass(frozen=True)
class Recovery:
    """One run's measures around the change (see the module docstring)."""

    before_mps: float
    peak_mps: float
    after_mps: float
    recovery_s: float
    fell: bool


def rolling_mean(values: NDArray[np.float64], window: int) -> NDArray[np.float64]:
    """Mean of each ``window`` consecutive values (``len - window + 1`` of them; one mean if shorter)."""
    if len(values) <= window:
        return np.array([float(values.mean())]) if len(values) else np.array([np.nan])
    sums = np.cumsum(np.concatenate([[0.0], values]))
    return np.asarray((sums[window:] - sums[:-window]) / window)


def recovery(errors: Sequence[float], *, change_step: int, control_dt: float, fell: bool) -> Recovery:
    """The measures of one episode's per-step tracking errors around ``change_step``."""
    errors_array = np.asarray(errors, dtype=np.float64)
    second = max(1, round(1.0 / control_dt))
    window = max(1, round(RECOVERY_WINDOW_S / control_dt))
    before_change = errors_array[max(0, change_step - second) : change_step]
    before = float(before_change.mean()) if len(before_change) else np.nan  # none: it fell before the second
    after = errors_array[change_step:]
    if not len(after):  # the episode ended (a fall) before the change: nothing to recover from
        return Recovery(before, np.nan, np.nan, np.nan, fell)
    rolled = rolling_mean(after, window)
    peak = float(np.nanmax(rolled))
    back = np.flatnonzero(rolled <= RECOVERY_TOLERANCE * before) if np.isfinite(before) else np.array([])
    # Window k ends at step change + k + window - 1: the error is back when that window is.
    recovered_steps = (int(back[0]) + window) if len(back) else len(after)
    return Recovery(before, peak, float(after.mean()), min(recovered_steps, len(after)) * control_dt, fell)


def evaluate_online(
    make_agent: Callable[[], AdaptiveAgent],
    make_env: Callable[[TaskParams], gym.Env[Any, Any]],
    tasks: Sequence[TaskParams],
    perturbation: Perturbation,
    *,
    seeds: Sequence[int],
    max_steps: int,
    change_step: int,
) -> list[Recovery]:
    """One episode per task x seed with ``perturbation`` at ``change_step``; the measures of each (tasks
    that cannot take the change, e.g. a slope change on rough ground, are left out)."""
    results = []
    with one_torch_thread():
        for i, task in enumerate(tasks):
            if not perturbation.applies_to(task):
                continue
            probe = make_env(task)
            try:
                base = probe.unwrapped
                if not isinstance(base, LocomotionEnv):
                    raise ValueError("bench online needs the locomotion env: the toy env has no torso to measure")
                mass, control_dt = base.robot_mass_kg, base.config.control_dt
            finally:
                probe.close()
            change = perturbation.change_at(change_step, task, mass)
            for seed in seeds:
                config = AdaptConfig(shots=1, updates=0, max_steps=max_steps, seed=seed + 1000 * i, changes=(change,))
                errors, fell = [], False
                for event in adapt(make_agent, make_env, task, config):
                    if isinstance(event, StepEvent) and event.velocity_mps is not None:
                        errors.append(abs(event.velocity_mps - task.goal.target_velocity_mps))
                    elif isinstance(event, EpisodeEvent) and event.metrics is not None:
                        fell = event.metrics.fell
                results.append(recovery(errors, change_step=change_step, control_dt=control_dt, fell=fell))
    return results


def mean_and_interval(values: Sequence[float]) -> tuple[float, float]:
    """Mean of the finite values and the half-width of its Student-t 95 % interval (NaN when undefined)."""
    array = np.asarray([v for v in values if np.isfinite(v)], dtype=np.float64)
    if not len(array):
        return math.nan, math.nan
    if len(array) < 2:
        return float(array.mean()), math.nan
    return float(array.mean()), t95(len(array) - 1) * float(array.std(ddof=1)) / math.sqrt(len(array))


def summarise(runs: Sequence[Recovery]) -> dict[str, float]:
    """Means and 95 % half-widths (``<measure>_ci95``) of the runs' measures, and their count."""
    row: dict[str, float] = {"runs": float(len(runs))}
    names = ("before_mps", "peak_mps", "after_mps", "recovery_s")
    measures = {name: [getattr(r, name) for r in runs] for name in names}
    measures["falls"] = [1.0 if r.fell else 0.0 for r in runs]
    for name, values in measures.items():
        row[name], row[f"{name}_ci95"] = mean_and_interval(values)
    return row
