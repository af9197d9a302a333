"""A run's settings (``run.json``): the typed schema every front end writes and every reader validates once.

Kept apart from the training driver (:mod:`agents.training.train`) because far more code reads a
run's settings than trains one: the command line checks its flags against them, the window's
controller builds them from its form, checkpoints, bundles and exports carry them. None of those
needs the sampler, the learner or the env factories; they need the schema and its one-line errors.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agents.algorithms import ALGORITHMS, AlgorithmConfig, get_algorithm
from agents.maml.learner import MAMLConfig
from sim.envs.locomotion import EnvConfig
from sim.params import key_path, short_repr, shorten

ENV_KINDS = ("locomotion", "point_mass")
MAX_SEED = 2**32 - 1
"""Largest seed: numpy, torch and gymnasium all take 0 to 2**32 - 1 (a negative seed fails in numpy)."""


@dataclass(frozen=True, kw_only=True)
class TrainSettings:
    """Everything that defines a run besides its family; stored as ``run.json``."""

    algorithm: str = "maml"
    """one of :data:`agents.algorithms.ALGORITHMS`"""
    seed: int = 0
    iterations: int = 100
    device: str = "auto"
    num_workers: int = 2
    env: str = "locomotion"
    """``locomotion`` (PyBullet) or ``point_mass`` (the PyBullet-free toy, for smoke runs)"""
    config: AlgorithmConfig = field(default_factory=MAMLConfig)
    """the algorithm's typed settings (an instance of its ``config_type``)"""
    env_config: EnvConfig = field(default_factory=EnvConfig)
    """the run's simulation and reward settings (control rate, reward kernel, observed goal): training,
    adaptation, benchmarks and exports all simulate with these; training episodes last the algorithm's
    horizon, evaluated ones up to ``env_config.max_episode_steps``"""

    def __post_init__(self) -> None:
        for name, kind in (("algorithm", str), ("device", str), ("env", str)):
            if not isinstance(getattr(self, name), kind):
                raise ValueError(f"{name} = {short_repr(getattr(self, name))} is not allowed: a text")
        if self.env not in ENV_KINDS:
            raise ValueError(f"env = {short_repr(self.env)} is not allowed: one of {', '.join(ENV_KINDS)}")
        for name, low, high in (("seed", 0, MAX_SEED), ("iterations", 1, None), ("num_workers", 1, None)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low or (high and value > high):
                allowed = f"a whole number from {low} to {high}" if high else f"a whole number >= {low}"
                raise ValueError(f"{name} = {short_repr(value)} is not allowed: {allowed}")
        if not isinstance(self.env_config, EnvConfig):
            raise ValueError(f"env_config = {short_repr(self.env_config)} is not allowed: an EnvConfig")
        algorithm = get_algorithm(self.algorithm)
        if not isinstance(self.config, algorithm.config_type):
            raise ValueError(
                f"config of type {type(self.config).__name__} is not allowed for {self.algorithm}: "
                f"a {algorithm.config_type.__name__}"
            )

    @classmethod
    def from_dict(cls, row: object) -> TrainSettings:
        """Back from :meth:`to_dict` (``run.json``, a checkpoint): the settings are validated once, here.

        Raises:
            ValueError: naming the key and what is allowed, for anything :meth:`to_dict` would not write
                (a file edited by hand or damaged must not end in a TypeError deep inside).
        """
        settings_row = _mapping(row, "settings", [f.name for f in dataclasses.fields(cls)])
        algorithm = settings_row.get("algorithm", "maml")
        if algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm = {short_repr(algorithm)} is not allowed: one of {', '.join(ALGORITHMS)}")
        config_type = get_algorithm(algorithm).config_type
        config_row = _mapping(
            settings_row.get("config", {}), "config", [f.name for f in dataclasses.fields(config_type)]
        )
        env_row = _mapping(  # runs from before env_config: the defaults
            settings_row.get("env_config", {}), "env_config", [f.name for f in dataclasses.fields(EnvConfig)]
        )
        try:
            config = get_algorithm(algorithm).config(config_row)
            env_config = EnvConfig(**env_row)
        except (ValueError, TypeError) as err:  # a value of the wrong type fails in a comparison
            raise ValueError(one_line(str(err))) from err
        return cls(**{**settings_row, "config": config, "env_config": env_config})

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the settings as a plain mapping)."""
        row = {k: getattr(self, k) for k in self.__dataclass_fields__}
        return {**row, "config": self.config.to_dict(), "env_config": dataclasses.asdict(self.env_config)}


def _mapping(value: object, name: str, known: list[str]) -> dict[str, Any]:
    """``value`` as a dict whose keys are all in ``known``, or a ValueError naming ``name`` or the key."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} = {short_repr(value)} is not allowed: an object of named settings")
    for key in value:
        if key not in known:
            raise ValueError(f"{key_path(name, key)} is not allowed: one of {', '.join(known)}")
    return dict(value)


def one_line(text: str, limit: int = 300) -> str:
    """An error text as one bounded line (settings classes may echo a long or multi-line value)."""
    return shorten(" ".join(text.split()), limit)
