"""The one typed schema of a task: which robot, on what ground, chasing which goal.

Every consumer reads this module and nothing else: the env applies it, the CLI builds its flags from
it, the GUI generates its form from it, presets and exports store it as JSON. Each field carries its
unit, bounds and one-line help in its ``metadata`` (see :class:`FieldSpec`), so changing a field is
one edit here. Constructing a value that breaks the schema raises :class:`TaskParamError` naming the
field, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, TypeVar

from sim.param_errors import MAX_ALLOWED_CHARS as MAX_ALLOWED_CHARS
from sim.param_errors import MAX_SHOWN_CHARS as MAX_SHOWN_CHARS
from sim.param_errors import TaskParamError as TaskParamError
from sim.param_errors import short_repr as short_repr
from sim.param_errors import shorten as shorten

SPEC_KEY = "sim2adapt"

ROBOT_NAMES: tuple[str, ...] = ("half_cheetah", "ant", "hexapod", "a1", "urdf")
"""Built-in robots, plus ``urdf`` for a user's own model given by ``robot.urdf_path``."""

TERRAIN_KINDS: tuple[str, ...] = ("flat", "slope", "rough", "stairs")

ACTUATIONS: tuple[str, ...] = ("auto", "torque", "position")
"""How actions drive the joints: ``auto`` is the robot's own (position targets for the A1, torques for
the others), ``torque`` a fraction of each joint's torque limit, ``position`` a PD target around the
standing pose."""

ROBOT_LEGS: dict[str, int] = {"half_cheetah": 2, "ant": 4, "hexapod": 6, "a1": 4, "urdf": 0}
"""Legs of each robot, for ``weak_leg`` (a user URDF's legs are unknown). Each robot's actuated joints
come leg by leg, the same number per leg."""


@dataclass(frozen=True)
class FieldSpec:
    """What the schema knows about one field beyond its type: help, unit, bounds or choices."""

    help: str
    unit: str = ""
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | None = None

    def describe_allowed(self) -> str:
        """Human-readable statement of the allowed values, used in every error message."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.low is not None and self.high is not None:
            unit = f" {self.unit}" if self.unit else ""
            return f"a number from {_fmt(self.low)} to {_fmt(self.high)}{unit}"
        return "any text"


def _fmt(bound: float) -> str:
    return str(bound) if isinstance(bound, int) else f"{bound:g}"


def number(default: float, *, low: float, high: float, unit: str, help: str) -> Any:
    """A bounded float field (``int`` values are accepted and stored as ``float``)."""
    return field(default=default, metadata={SPEC_KEY: FieldSpec(help, unit, low, high)})


def integer(default: int, *, low: int, high: int, help: str) -> Any:
    """A bounded integer field."""
    return field(default=default, metadata={SPEC_KEY: FieldSpec(help, "", low, high)})


def choice(default: str, *, choices: tuple[str, ...], help: str) -> Any:
    """A field holding one of a fixed set of strings."""
    return field(default=default, metadata={SPEC_KEY: FieldSpec(help, choices=choices)})


def text(default: str, *, help: str) -> Any:
    """A free-text field (a file path)."""
    return field(default=default, metadata={SPEC_KEY: FieldSpec(help)})


def spec_of(f: dataclasses.Field[Any]) -> FieldSpec:
    """The :class:`FieldSpec` attached to a schema field."""
    spec = f.metadata[SPEC_KEY]
    assert isinstance(spec, FieldSpec)
    return spec


def _checked_value(path: str, expected: object, spec: FieldSpec, value: object) -> object:
    """Validate one value against its type and spec; returns it coerced (int -> float) or raises."""
    if expected is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TaskParamError(path, value, spec.describe_allowed())
        try:
            number = float(value)
        except OverflowError as err:  # a whole number beyond the largest float (~1.8e308)
            raise TaskParamError(path, value, spec.describe_allowed()) from err
        if not math.isfinite(number):
            raise TaskParamError(path, number, spec.describe_allowed() + " (finite)")
        value = number
    elif expected is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TaskParamError(path, value, "a whole number; " + spec.describe_allowed())
    elif not isinstance(value, str):
        raise TaskParamError(path, value, spec.describe_allowed())
    if spec.choices is not None and value not in spec.choices:
        raise TaskParamError(path, value, spec.describe_allowed())
    if spec.low is not None and spec.high is not None:
        assert isinstance(value, (int, float))
        if not spec.low <= value <= spec.high:
            raise TaskParamError(path, value, spec.describe_allowed())
    return value


_FIELD_TYPES: dict[str, type] = {"float": float, "int": int, "str": str}


class _Section:
    """Shared validation and dict conversion for the three flat parameter sections."""

    SECTION: ClassVar[str]

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            checked = _checked_value(
                f"{self.SECTION}.{f.name}", _FIELD_TYPES[str(f.type)], spec_of(f), getattr(self, f.name)
            )
            object.__setattr__(self, f.name, checked)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of this section, JSON-ready."""
        return dataclasses.asdict(self)  # type: ignore[call-overload, no-any-return]


_S = TypeVar("_S", bound=_Section)


def key_path(parent: str, key: object) -> str:
    """The dotted path of ``key`` under ``parent`` for an error message; a key that would read oddly
    there (empty, spaces, dots, not a string) is quoted, so the message still names it."""
    if isinstance(key, str) and key and key.isidentifier():
        return f"{parent}.{key}"
    return f"{parent}[{short_repr(key)}]"


def _section_from_dict(cls: type[_S], data: object) -> _S:
    if not isinstance(data, Mapping):
        raise TaskParamError(cls.SECTION, data, "an object of fields")
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    for key in data:
        if key not in names:
            raise TaskParamError(key_path(cls.SECTION, key), data[key], "no such field; known: " + ", ".join(names))
    return cls(**data)


@dataclass(frozen=True, kw_only=True)
class RobotParams(_Section):
    """The robot and the physical properties the user may change on it."""

    SECTION: ClassVar[str] = "robot"

    name: str = choice("ant", choices=ROBOT_NAMES, help="which robot to simulate")
    urdf_path: str = text("", help="path of the user's URDF file (only when name is 'urdf')")
    mass_scale: float = number(1.0, low=0.25, high=4.0, unit="", help="multiplier on every link's mass")
    payload_kg: float = number(0.0, low=0.0, high=30.0, unit="kg", help="extra mass fixed to the torso")
    limb_length_scale: float = number(
        1.0, low=0.6, high=1.5, unit="", help="multiplier on leg segment lengths (rebuilds the body)"
    )
    motor_strength_scale: float = number(
        1.0, low=0.1, high=3.0, unit="", help="multiplier on every joint's torque limit"
    )
    joint_damping: float = number(
        0.1, low=0.0, high=5.0, unit="N·m·s/rad", help="viscous damping of every actuated joint"
    )
    foot_friction: float = number(
        1.0, low=0.01, high=3.0, unit="", help="lateral friction of the robot's links (times the ground's)"
    )
    actuation: str = choice("auto", choices=ACTUATIONS, help="how actions drive the joints (rebuilds the body)")
    weak_leg: int = integer(
        -1, low=-1, high=5, help="index of a leg whose motors are weakened by weak_leg_strength; -1: none"
    )
    weak_leg_strength: float = number(
        0.3, low=0.0, high=1.0, unit="", help="multiplier on the weak leg's torque limits (0: a limp leg)"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.name == "urdf" and not self.urdf_path:
            raise TaskParamError("robot.urdf_path", self.urdf_path, "a URDF file path when robot.name is 'urdf'")
        if self.name != "urdf" and self.urdf_path:
            raise TaskParamError(
                "robot.urdf_path", self.urdf_path, f"empty unless robot.name is 'urdf' (it is {self.name!r})"
            )
        legs = ROBOT_LEGS[self.name]
        if self.weak_leg >= legs:
            allowed = (
                "-1 (a URDF's legs are unknown)" if legs == 0 else f"-1 or a leg index 0-{legs - 1} of the {self.name}"
            )
            raise TaskParamError("robot.weak_leg", self.weak_leg, allowed)


@dataclass(frozen=True, kw_only=True)
class TerrainParams(_Section):
    """The ground: its shape and its contact and gravity properties."""

    SECTION: ClassVar[str] = "terrain"

    kind: str = choice("flat", choices=TERRAIN_KINDS, help="shape of the ground")
    slope_deg: float = number(0.0, low=0.0, high=30.0, unit="deg", help="inclination of 'slope' ground")
    slope_heading_deg: float = number(
        0.0, low=-180.0, high=180.0, unit="deg", help="direction the slope rises toward, from +x"
    )
    rough_amplitude_m: float = number(0.05, low=0.0, high=0.3, unit="m", help="peak-to-valley height of 'rough' ground")
    rough_feature_m: float = number(
        0.8, low=0.2, high=5.0, unit="m", help="typical horizontal size of the bumps of 'rough' ground"
    )
    rough_seed: int = integer(0, low=0, high=2**31 - 1, help="seed of the 'rough' height map")
    step_rise_m: float = number(0.05, low=0.0, high=0.25, unit="m", help="height of each step of 'stairs'")
    step_run_m: float = number(0.6, low=0.2, high=3.0, unit="m", help="depth of each step of 'stairs'")
    friction: float = number(1.0, low=0.01, high=3.0, unit="", help="lateral friction coefficient of the ground")
    restitution: float = number(0.0, low=0.0, high=1.0, unit="", help="bounciness of the ground")
    gravity_mps2: float = number(9.81, low=0.0, high=30.0, unit="m/s²", help="magnitude of gravity")


@dataclass(frozen=True, kw_only=True)
class GoalParams(_Section):
    """What the robot is asked to do."""

    SECTION: ClassVar[str] = "goal"

    target_velocity_mps: float = number(
        1.0, low=-3.0, high=3.0, unit="m/s", help="desired speed along the target heading"
    )
    target_heading_deg: float = number(
        0.0, low=-180.0, high=180.0, unit="deg", help="desired direction of travel, from +x (planar robots: ignored)"
    )


_SECTIONS: dict[str, type[_Section]] = {"robot": RobotParams, "terrain": TerrainParams, "goal": GoalParams}


@dataclass(frozen=True, kw_only=True)
class TaskParams:
    """One task: a robot on a terrain with a goal. Immutable; derive variants with :func:`with_values`."""

    robot: RobotParams = field(default_factory=RobotParams)
    terrain: TerrainParams = field(default_factory=TerrainParams)
    goal: GoalParams = field(default_factory=GoalParams)

    def __post_init__(self) -> None:
        for name, cls in _SECTIONS.items():
            if not isinstance(getattr(self, name), cls):
                raise TaskParamError(name, getattr(self, name), f"a {cls.__name__}")

    def to_dict(self) -> dict[str, Any]:
        """Nested plain dict, the JSON form of a task."""
        return {name: getattr(self, name).to_dict() for name in _SECTIONS}

    @classmethod
    def from_dict(cls, data: object) -> TaskParams:
        """Build a task from its dict form; missing fields take defaults, unknown ones are rejected."""
        if not isinstance(data, Mapping):
            raise TaskParamError("task", data, "an object with sections " + ", ".join(_SECTIONS))
        for key in data:
            if key not in _SECTIONS:
                label = key if isinstance(key, str) and key.isidentifier() else key_path("task", key)
                raise TaskParamError(label, data[key], "no such section; known: " + ", ".join(_SECTIONS))
        sections = {name: _section_from_dict(sec, data.get(name, {})) for name, sec in _SECTIONS.items()}
        return cls(**sections)  # type: ignore[arg-type]

    def to_json(self) -> str:
        """JSON text; ``TaskParams.from_json(t.to_json()) == t`` holds exactly."""
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> TaskParams:
        """Parse JSON text written by :meth:`to_json` (or by hand)."""
        return cls.from_dict(parse_json("task", text))


def parse_json(label: str, text: str) -> object:
    """``json.loads``, with anything it cannot read reported as a :class:`TaskParamError` on ``label``.

    Besides syntax errors, Python's reader refuses numbers of more than 4300 digits (a ValueError)
    and exhausts its recursion limit on about a thousand levels of nesting (a RecursionError).
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise TaskParamError(label, text[:40], f"valid JSON ({err})") from err
    except RecursionError as err:
        raise TaskParamError(label, text[:40], "JSON nested at most a few hundred levels deep") from err
    except ValueError as err:  # the digit limit (or bytes that are not UTF-8/16/32)
        if "digits" in str(err):
            allowed = f"JSON whose numbers have at most {sys.get_int_max_str_digits()} digits"
        else:
            allowed = f"JSON text ({shorten(str(err), 120)})"
        raise TaskParamError(label, text[:40], allowed) from err


@dataclass(frozen=True)
class ParamField:
    """One leaf of the schema, addressed by its dotted path (``"robot.payload_kg"``)."""

    path: str
    type: type
    default: Any
    spec: FieldSpec


def task_fields() -> list[ParamField]:
    """Every leaf field of :class:`TaskParams` in schema order: what the GUI form and CLI iterate over."""
    leaves = []
    for section, cls in _SECTIONS.items():
        for f in fields(cls):  # type: ignore[arg-type]
            leaves.append(ParamField(f"{section}.{f.name}", _FIELD_TYPES[str(f.type)], f.default, spec_of(f)))
    return leaves


def field_by_path(path: str) -> ParamField:
    """The schema leaf at ``path``, or a :class:`TaskParamError` listing the known paths."""
    for leaf in task_fields():
        if leaf.path == path:
            return leaf
    known = ", ".join(leaf.path for leaf in task_fields())
    raise TaskParamError("field", path, f"a known field path; known: {known}")


def check_field_value(label: str, leaf: ParamField, value: object) -> object:
    """Validate ``value`` for ``leaf`` on its own (type, bounds, choices); errors are labelled ``label``."""
    return _checked_value(label, leaf.type, leaf.spec, value)


def get_value(task: TaskParams, path: str) -> Any:
    """The value of the leaf at ``path`` in ``task``."""
    section, name = field_by_path(path).path.split(".")
    return getattr(getattr(task, section), name)


def with_values(task: TaskParams, changes: Mapping[str, Any]) -> TaskParams:
    """A copy of ``task`` with the dotted-path ``changes`` applied and validated."""
    by_section: dict[str, dict[str, Any]] = {}
    for path, value in changes.items():
        section, name = field_by_path(path).path.split(".")
        by_section.setdefault(section, {})[name] = value
    replaced = {s: dataclasses.replace(getattr(task, s), **kw) for s, kw in by_section.items()}
    return dataclasses.replace(task, **replaced)


def parse_value(path: str, raw: str) -> Any:
    """Convert command-line text to the type of the leaf at ``path`` (validation happens on construction)."""
    leaf = field_by_path(path)
    try:
        return leaf.type(raw)
    except ValueError as err:
        raise TaskParamError(path, raw, leaf.spec.describe_allowed()) from err
