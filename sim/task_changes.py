"""Changing the task while an episode runs: a payload dropped on the robot, a slippery patch, weak motors.

A :class:`TaskChange` names one schema field, its new value and the step of the episode at which it
applies. Only run-time properties can change mid-episode (masses, friction, damping, motor strength,
gravity, the goal, and the slope of 'slope' ground, which turns about the robot): :class:`TaskChange`
refuses, naming the field, any change that would rebuild the world (the robot, its limb length, the
terrain's kind or shape), because a rebuild restarts the robot from its standing pose.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sim.params import TaskParams, field_by_path, get_value, parse_value, with_values
from sim.robots import ROBOT_GEOMETRY_FIELDS
from sim.terrain import SLOPE_FIELDS, TERRAIN_GEOMETRY_FIELDS

REBUILD_FIELDS = frozenset(
    [f"robot.{name}" for name in ROBOT_GEOMETRY_FIELDS]
    + [f"terrain.{name}" for name in TERRAIN_GEOMETRY_FIELDS if name not in SLOPE_FIELDS]
)
"""fields whose change rebuilds the world: allowed between episodes, refused within one"""


def rebuild_key(task: TaskParams) -> tuple[Any, ...]:
    """The values of ``task``'s :data:`REBUILD_FIELDS`: two tasks need different worlds when these differ."""
    return tuple(get_value(task, path) for path in sorted(REBUILD_FIELDS))


SLOPE_PATHS = frozenset(f"terrain.{name}" for name in SLOPE_FIELDS)
"""fields that change mid-episode only on 'slope' ground, which turns about the robot (elsewhere they
shape nothing, so a change would show nothing)"""


@dataclass(frozen=True)
class TaskChange:
    """Set ``path`` to ``value`` before the action of step ``step`` (0-based) of every episode."""

    step: int
    path: str
    value: Any

    def __post_init__(self) -> None:
        if isinstance(self.step, bool) or not isinstance(self.step, int) or self.step < 0:
            raise ValueError(f"change step = {self.step!r} is not allowed: a whole number of steps >= 0")
        field_by_path(self.path)  # an unknown field is named by the schema's own error
        if self.path in REBUILD_FIELDS:
            raise ValueError(
                f"{self.path} cannot change mid-episode: it rebuilds the world; "
                "set it on the task between episodes instead"
            )

    def applied_to(self, task: TaskParams) -> TaskParams:
        """``task`` with this change (validated by the schema: a bad value names the field).

        Raises:
            ValueError: a slope change on ground that is not a slope, naming the field and the kind.
        """
        if self.path in SLOPE_PATHS and task.terrain.kind != "slope":
            raise ValueError(
                f"{self.path} cannot change mid-episode on {task.terrain.kind!r} ground: only 'slope' ground "
                "turns in place; set terrain.kind to 'slope' between episodes"
            )
        return with_values(task, {self.path: self.value})


def parse_change(text: str) -> TaskChange:
    """``STEP:PATH=VALUE`` (e.g. ``300:robot.payload_kg=10``) as a :class:`TaskChange`.

    Raises:
        ValueError: naming the text and the form allowed, or the field and its allowed values.
    """
    step_text, colon, assignment = text.partition(":")
    path, equals, raw = assignment.partition("=")
    if not colon or not equals or not step_text.strip().isdigit():
        raise ValueError(f"--change {text[:80]!r} is not allowed: STEP:FIELD=VALUE, e.g. 300:robot.payload_kg=10")
    path = path.strip()
    return TaskChange(int(step_text), path, parse_value(path, raw.strip()))


def validate_schedule(schedule: Sequence[TaskChange], task: TaskParams) -> None:
    """Apply every change of ``schedule`` to ``task`` once, in order, so a bad value fails before any episode.

    Raises:
        TaskParamError: a value the schema refuses, naming the field (or a combination it refuses).
    """
    current = task
    for change in sorted(schedule, key=lambda c: c.step):
        current = change.applied_to(current)
