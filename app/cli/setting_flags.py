"""The agents' commands' flags as typed values: ``KEY=VALUE`` overrides, whole numbers, the sampler backend.

Kept apart from the commands (:mod:`app.cli.agents`) because this is the one place where a flag's
text meets a settings class's types: a ``--config`` or ``--env-config`` word becomes a field of the
algorithm's config or of :class:`~sim.envs.locomotion.EnvConfig`, typed from the dataclass's own
annotations and then validated by that class, so a new algorithm's settings need no edit here. Every
refusal is one line naming the flag as the user typed it.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agents.algorithms import Algorithm


def _parse_setting(flag: str, kind: str, key: str, raw: str) -> Any:
    """``raw`` as the settings field's type (annotations are strings: ``int``, ``float``, ``bool``, ``tuple[...]``)."""
    try:
        if kind == "bool":
            if raw.lower() not in ("true", "false", "1", "0"):
                raise ValueError(raw)
            return raw.lower() in ("true", "1")
        if kind.startswith("tuple"):
            return tuple(int(v) for v in raw.split(","))
        return {"int": int, "float": float, "str": str}[kind](raw)
    except (ValueError, KeyError) as err:
        raise ValueError(f"{flag} {key} = {raw!r} is not allowed: expected {kind}") from err


def parse_assignments(flag: str, settings_type: type[Any], assignments: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` words as typed values of ``settings_type``'s fields (errors name ``flag``, key and value)."""
    types = {f.name: str(f.type) for f in dataclasses.fields(settings_type)}
    values: dict[str, Any] = {}
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        if not sep or key not in types:
            raise ValueError(f"{flag} {assignment!r} is not allowed: KEY=VALUE with KEY one of {', '.join(types)}")
        values[key] = _parse_setting(flag, types[key], key, raw)
    return values


def config_overrides(algorithm: Algorithm, preset: str, assignments: list[str]) -> Any:
    """The algorithm's preset settings with ``KEY=VALUE`` overrides, validated by its settings class."""
    return algorithm.config(parse_assignments("--config", algorithm.config_type, assignments), preset=preset)


def env_config_overrides(assignments: list[str]) -> Any:
    """The default env settings with ``KEY=VALUE`` overrides, validated by :class:`EnvConfig`."""
    from sim.envs.locomotion import EnvConfig

    return EnvConfig(**parse_assignments("--env-config", EnvConfig, assignments))


def check_whole_number(flag: str, value: int | None, *, low: int, high: int | None = None) -> None:
    """Refuse a flag's value outside ``[low, high]`` with one line naming the flag as the user typed it."""
    if value is None or (low <= value and (high is None or value <= high)):
        return
    allowed = f"a whole number from {low} to {high}" if high is not None else f"a whole number >= {low}"
    raise ValueError(f"{flag} {value} is not allowed: {allowed}")


def sampling_from_args(args: argparse.Namespace) -> Any:
    """``--backend`` and ``--ray-address`` as a :class:`sim.sampler.SamplingConfig` (an address implies Ray)."""
    from sim.sampler import SamplingConfig

    backend = args.backend or ("ray" if args.ray_address else "process")
    return SamplingConfig(backend=backend, ray_address=args.ray_address)
