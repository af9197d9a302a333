"""Task distributions ("families") for meta-training: a base task plus the fields that vary.

A family is data, not code: ``assets/families/*.json`` holds each one as
``{"name", "description", "base": <task>, "vary": {"goal.target_velocity_mps": {"uniform": [0, 2]}}}``.
The varied paths and their ranges are validated against the one task schema in :mod:`sim.params`,
so a range outside a field's bounds is rejected when the family is loaded, not mid-training.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim.params import (
    ParamField,
    TaskParamError,
    TaskParams,
    check_field_value,
    field_by_path,
    get_value,
    key_path,
    parse_json,
    shorten,
    with_values,
)

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
FAMILIES_DIR = ASSETS_DIR / "families"
AGENTS_DIR = ASSETS_DIR / "agents"
"""bundled trained agents (named here only so that every layer finds the same folder)"""

_TEST_SEED_OFFSET = 1_000_003
"""Held-out test tasks are drawn from a seed stream no training seed below one million reaches."""

MAX_TEST_TASKS = 1000
"""Most held-out tasks a family may ask for: every evaluation draws all of them (10^12 hung ``adapt``)."""
MAX_NAME_CHARS = 100
"""Longest family name: it names files and run folders, whose names the file system bounds."""
FIXED_ROBOT_FIELDS = ("robot.name", "robot.urdf_path")
"""Fields a family cannot vary: the envs of a run share one robot model (its observation and action sizes).
They are also the only fields the schema ties together, so a family whose base and ranges pass their
checks draws only valid tasks: none fails mid-training."""


@dataclass(frozen=True)
class UniformRange:
    """A numeric field drawn uniformly from ``[low, high]`` (whole numbers for integer fields)."""

    low: float
    high: float

    def draw(self, rng: np.random.Generator, leaf: ParamField) -> Any:
        """One value for ``leaf``."""
        if leaf.type is int:
            return int(rng.integers(int(self.low), int(self.high) + 1))
        return float(rng.uniform(self.low, self.high))

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"uniform": [self.low, self.high]}

    def features(self, value: Any) -> list[float]:
        """``value`` scaled to ``[-1, 1]`` over the range (0 for a range of one value)."""
        half = (self.high - self.low) / 2.0
        return [0.0 if half == 0 else (float(value) - self.low) / half - 1.0]


@dataclass(frozen=True)
class ChoiceSet:
    """A field drawn uniformly from a fixed set of values (e.g. terrain kinds)."""

    values: tuple[Any, ...]

    def draw(self, rng: np.random.Generator, leaf: ParamField) -> Any:
        """One value for ``leaf``."""
        return self.values[int(rng.integers(len(self.values)))]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"choice": list(self.values)}

    def features(self, value: Any) -> list[float]:
        """One-hot over the values (all zero for a value outside the set)."""
        return [1.0 if value == option else 0.0 for option in self.values]


FieldDistribution = UniformRange | ChoiceSet


def _check_range(path: str, dist: FieldDistribution) -> None:
    if path in FIXED_ROBOT_FIELDS:
        raise TaskParamError(
            f"vary.{path}", dist.to_dict(), "not varied: every task of a family uses the base's robot model"
        )
    leaf = field_by_path(path)
    spec = leaf.spec
    if isinstance(dist, ChoiceSet):
        if not dist.values:
            raise TaskParamError(f"vary.{path}", [], "at least one value")
        for value in dist.values:
            check_field_value(f"vary.{path}", leaf, value)
        return
    if leaf.type is str:
        raise TaskParamError(f"vary.{path}", dist.to_dict(), "a 'choice' list (this field is not numeric)")
    low, high = dist.low, dist.high
    assert spec.low is not None and spec.high is not None
    if not (spec.low <= low <= high <= spec.high):
        raise TaskParamError(
            f"vary.{path}", [low, high], f"low <= high within the field's bounds [{spec.low:g}, {spec.high:g}]"
        )


def _is_number(value: object) -> bool:
    """An int or float that is not a bool (JSON ``true`` is not a bound) and fits a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, float) or abs(value) <= 2**1023  # beyond, float() overflows


def _parse_distribution(path: str, raw: object) -> FieldDistribution:
    if isinstance(raw, Mapping) and set(raw) == {"uniform"}:
        bounds = raw["uniform"]
        if isinstance(bounds, list) and len(bounds) == 2 and all(_is_number(b) for b in bounds):
            return UniformRange(float(bounds[0]), float(bounds[1]))
    if isinstance(raw, Mapping) and set(raw) == {"choice"} and isinstance(raw["choice"], list):
        return ChoiceSet(tuple(raw["choice"]))
    raise TaskParamError(
        f"vary.{path}", raw, '{"uniform": [low, high]} with two numbers (not true/false), or {"choice": [values...]}'
    )


_FORBIDDEN = frozenset("/\\\0")


@dataclass(frozen=True, kw_only=True)
class TaskDistribution:
    """A family of tasks: ``base`` with the fields in ``vary`` drawn independently per task."""

    name: str
    description: str = ""
    base: TaskParams = field(default_factory=TaskParams)
    vary: Mapping[str, FieldDistribution] = field(default_factory=dict)
    num_test_tasks: int = 8
    """size of the fixed held-out test set (see :meth:`test_tasks`)"""

    def __post_init__(self) -> None:
        name = self.name
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_CHARS or _FORBIDDEN & set(name):
            raise TaskParamError(
                "family.name",
                name,
                f"a non-empty text of at most {MAX_NAME_CHARS} characters without '/', '\\' or NUL "
                "(it names files and run folders)",
            )
        if not isinstance(self.description, str):
            raise TaskParamError("family.description", self.description, "a text")
        if not isinstance(self.base, TaskParams):
            raise TaskParamError("family.base", self.base, "a TaskParams")
        for path, dist in self.vary.items():
            _check_range(path, dist)
        count = self.num_test_tasks
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_TEST_TASKS:
            raise TaskParamError("num_test_tasks", count, f"a whole number from 1 to {MAX_TEST_TASKS}")

    def sample_tasks(self, n: int, seed: int | np.random.Generator) -> list[TaskParams]:
        """``n`` tasks drawn with ``seed``; the same seed gives the same list."""
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        leaves = {path: field_by_path(path) for path in self.vary}
        tasks = []
        for _ in range(n):
            changes = {path: dist.draw(rng, leaves[path]) for path, dist in self.vary.items()}
            tasks.append(with_values(self.base, changes))
        return tasks

    def task_features(self, task: TaskParams) -> list[float]:
        """The varied fields of ``task`` as numbers a network can take (ranges scaled to [-1, 1], choices one-hot).

        What a task-aware reference observes besides the robot's state: the true task, which
        meta-learners must infer.
        """
        return [x for path, dist in self.vary.items() for x in dist.features(get_value(task, path))]

    def test_tasks(self, limit: int | None = None) -> list[TaskParams]:
        """The family's fixed held-out tasks, from a seed stream that training seeds do not use.

        ``limit`` gives only the first ones (the same tasks: each is drawn after the one before it).
        """
        count = self.num_test_tasks if limit is None else min(limit, self.num_test_tasks)
        return self.sample_tasks(count, seed=_TEST_SEED_OFFSET)

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as stored under ``assets/families``."""
        return {
            "name": self.name,
            "description": self.description,
            "base": self.base.to_dict(),
            "vary": {path: dist.to_dict() for path, dist in self.vary.items()},
            "num_test_tasks": self.num_test_tasks,
        }

    @classmethod
    def from_dict(cls, data: object) -> TaskDistribution:
        """Parse the JSON form; unknown keys and bad ranges raise :class:`TaskParamError`."""
        allowed = ("name", "description", "base", "vary", "num_test_tasks")
        if not isinstance(data, Mapping):
            raise TaskParamError("family", data, "an object with keys " + ", ".join(allowed))
        for key in data:
            if key not in allowed:
                raise TaskParamError(key_path("family", key), data[key], "no such key; known: " + ", ".join(allowed))
        vary_raw = data.get("vary", {})
        if not isinstance(vary_raw, Mapping):
            raise TaskParamError("family.vary", vary_raw, "an object mapping field paths to distributions")
        return cls(
            name=data.get("name", ""),  # checked as it is: 5 is not the name "5"
            description=data.get("description", ""),
            base=TaskParams.from_dict(data.get("base", {})),
            vary={path: _parse_distribution(path, raw) for path, raw in vary_raw.items()},
            num_test_tasks=data.get("num_test_tasks", 8),  # checked whole, not truncated: 2.7 is an error
        )

    def to_json(self) -> str:
        """JSON text that :meth:`from_json` reads back equal."""
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> TaskDistribution:
        """Parse JSON text."""
        return cls.from_dict(parse_json("family", text))


def family_names() -> list[str]:
    """Names of the bundled families under ``assets/families``."""
    return sorted(p.stem for p in FAMILIES_DIR.glob("*.json"))


def load_family(name_or_path: str | Path) -> TaskDistribution:
    """A bundled family by name, or a family JSON file by path."""
    path = Path(name_or_path)
    if _checks(path.is_dir):
        raise TaskParamError("family", str(path), "a family JSON file, not a directory")
    if not path.suffix:
        path = FAMILIES_DIR / f"{name_or_path}.json"
        if not _checks(path.is_file):
            raise TaskParamError("family", str(name_or_path), "one of " + ", ".join(family_names()))
    try:
        raw = path.read_bytes()
    except (OSError, ValueError) as err:  # missing, unreadable, a name too long, a NUL in it
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise TaskParamError("family", str(path), f"an existing, readable family JSON file ({reason})") from err
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise TaskParamError(
            "family", str(path), f"a UTF-8 text file (byte {err.start} is 0x{raw[err.start]:02x}, not UTF-8)"
        ) from err
    try:
        return TaskDistribution.from_json(text)
    except TaskParamError as err:
        raise TaskParamError(err.path, err.value, f"{err.allowed} (in {shorten(str(path), 200)})") from err


def _checks(test: Callable[[], bool]) -> bool:
    """``path.is_file`` or ``path.is_dir``, False for a path the OS cannot look up (too long, a NUL in it)."""
    try:
        return test()
    except (OSError, ValueError):
        return False
