"""Task distributions ("families") for meta-training: a base task plus the fields that vary.

A family is data, not code: ``assets/families/*.json`` holds each one as
``{"name", "description", "base": <task>, "vary": {"goal.target_velocity_mps": {"uniform": [0, 2]}}}``.
The varied paths and their ranges are validated against the one task schema in :mod:`sim.params`,
so a range outside a field's bounds is rejected when the family is loaded, not mid-training.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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
    parse_json,
    with_values,
)

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
FAMILIES_DIR = ASSETS_DIR / "families"
AGENTS_DIR = ASSETS_DIR / "agents"
"""bundled trained agents (named here only so that every layer finds the same folder)"""

_TEST_SEED_OFFSET = 1_000_003
"""Held-out test tasks are drawn from a seed stream no training seed below one million reaches."""


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


def _parse_distribution(path: str, raw: object) -> FieldDistribution:
    if isinstance(raw, Mapping) and set(raw) == {"uniform"}:
        bounds = raw["uniform"]
        if isinstance(bounds, list) and len(bounds) == 2 and all(isinstance(b, (int, float)) for b in bounds):
            return UniformRange(float(bounds[0]), float(bounds[1]))
    if isinstance(raw, Mapping) and set(raw) == {"choice"} and isinstance(raw["choice"], list):
        return ChoiceSet(tuple(raw["choice"]))
    raise TaskParamError(f"vary.{path}", raw, '{"uniform": [low, high]} or {"choice": [values...]}')


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
        if not self.name.strip() or any(sep in self.name for sep in ("/", "\\")):
            raise TaskParamError(
                "family.name", self.name, "a non-empty name without '/' or '\\' (it names files and run folders)"
            )
        for path, dist in self.vary.items():
            _check_range(path, dist)
        if isinstance(self.num_test_tasks, bool) or not isinstance(self.num_test_tasks, int) or self.num_test_tasks < 1:
            raise TaskParamError("num_test_tasks", self.num_test_tasks, "a whole number >= 1")

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
                raise TaskParamError(f"family.{key}", data[key], "no such key; known: " + ", ".join(allowed))
        vary_raw = data.get("vary", {})
        if not isinstance(vary_raw, Mapping):
            raise TaskParamError("family.vary", vary_raw, "an object mapping field paths to distributions")
        return cls(
            name=str(data.get("name", "")),
            description=str(data.get("description", "")),
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
    if not path.suffix:
        path = FAMILIES_DIR / f"{name_or_path}.json"
        if not path.exists():
            raise TaskParamError("family", str(name_or_path), "one of " + ", ".join(family_names()))
    if not path.exists():
        raise TaskParamError("family", str(path), "an existing family JSON file")
    return TaskDistribution.from_json(path.read_text())
