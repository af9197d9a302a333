"""The algorithms a run can train, by name: their typed settings and how to build their learner.

The CLI's ``--algo`` choices, the GUI's algorithm menu and its generated settings form, run
directories, checkpoints and the choices in how a trained agent acts (``adapt --posterior``, bench
adapt's no-adaptation rows) all read this one table, so adding an algorithm is one entry here.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import itertools
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from agents.core.learner import ActingOption, Learner
from agents.maml.learner import MAMLConfig, build_maml_learner
from agents.pearl.agent import POSTERIOR
from agents.pearl.config import PEARLConfig
from agents.pearl.learner import PEARLLearner
from agents.ppo.multitask import MultiTaskPPOLearner
from agents.ppo.update import PPOConfig
from agents.rma.agent import ADAPTATION
from agents.rma.config import RMAConfig
from agents.rma.learner import RMALearner
from sim.tasks import TaskDistribution


class AlgorithmConfig(Protocol):
    """What the driver needs of every algorithm's settings dataclass."""

    @property
    def horizon(self) -> int:
        """Steps per episode (the driver builds its envs with it)."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings."""
        ...


class LearnerBuilder(Protocol):
    """The constructor shape every algorithm offers (seeded, on ``device``)."""

    def __call__(
        self, *, obs_dim: int, action_dim: int, family: TaskDistribution, config: Any, seed: int, device: torch.device
    ) -> Learner:
        """A learner at its initial weights."""
        ...


@dataclass(frozen=True)
class SettingField:
    """One field of an algorithm's settings, for generated forms and ``--config`` help."""

    name: str
    type_name: str
    """the annotation as written: ``int``, ``float``, ``bool``, ``tuple[int, ...]``"""
    help: str
    """the field's attribute docstring (empty when it has none)"""


def _attribute_docstrings(cls: type[Any]) -> dict[str, str]:
    """``name -> docstring`` of a class's annotated attributes (the string literal right after each)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body if isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for node, following in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[node.target.id] = " ".join(following.value.value.split())
    return docs


@dataclass(frozen=True)
class Algorithm:
    """One trainable algorithm."""

    name: str
    summary: str
    """one line for menus and ``--help``"""
    config_type: type[Any]
    """its settings dataclass (fields with docstrings, ``quick()``, ``to_dict()``)"""
    build: LearnerBuilder
    envs_per_worker: Callable[[Any], int]
    """how many envs each sampler worker holds for this config"""
    observes_task: bool = False
    """its envs append the true task's features to the observation (the task-aware reference)"""
    privileged_training: bool = False
    """only its training envs append the true task's features (a teacher's input, a student's target);
    the agent it hands out acts on the robot's observation alone"""
    acting_options: tuple[ActingOption, ...] = ()
    """choices in how its trained agent acts at test time; its learner hands out the variants
    (:class:`~agents.core.learner.OffersActingOptions`)"""

    def settings_fields(self) -> list[SettingField]:
        """Every setting with its type and help, in declaration order."""
        docs = _attribute_docstrings(self.config_type)
        return [SettingField(f.name, str(f.type), docs.get(f.name, "")) for f in dataclasses.fields(self.config_type)]

    def config(self, values: Mapping[str, Any] | None = None, *, preset: str = "paper") -> Any:
        """Typed settings: the preset (``paper`` defaults or ``quick``) updated with ``values``.

        Raises:
            ValueError: an unknown preset, an unknown key, or a value the settings class rejects.
        """
        if preset not in ("paper", "quick"):
            raise ValueError(f"preset = {preset!r} is not allowed: paper or quick")
        base = self.config_type.quick() if preset == "quick" else self.config_type()
        known = {f.name for f in dataclasses.fields(self.config_type)}
        unknown = sorted(set(values or {}) - known)
        if unknown:
            raise ValueError(f"{self.name} setting {unknown[0]!r} is not allowed: one of {', '.join(sorted(known))}")
        return dataclasses.replace(base, **dict(values or {}))


def _episodes_per_worker(config: Any) -> int:
    """Up to 4 envs per worker, no more than a task's episodes (one job is a task's episodes side by side)."""
    return min(4, int(config.episodes_per_task))


def _multitask_ppo(name: str, summary: str, *, observes_task: bool = False) -> Algorithm:
    """Multi-task PPO over the family; with ``observes_task``, the task-aware reference."""
    return Algorithm(
        name=name,
        summary=summary,
        config_type=PPOConfig,
        build=MultiTaskPPOLearner,
        envs_per_worker=_episodes_per_worker,
        observes_task=observes_task,
    )


def _pearl(name: str, summary: str, *, observes_task: bool = False) -> Algorithm:
    """PEARL; with ``observes_task``, a task-aware reference as sample-efficient as PEARL itself (SAC).

    A PPO reference needs far more samples than SAC: on ant-dynamics, multi-task PPO observing the
    task reached -51 after 1.3 M steps where PEARL reached -23 after 0.18 M, so it was no ceiling.
    """
    return Algorithm(
        name=name,
        summary=summary,
        config_type=PEARLConfig,
        build=PEARLLearner,
        envs_per_worker=lambda config: min(4, config.tasks_per_iteration),  # a round runs every task once
        observes_task=observes_task,
        acting_options=(POSTERIOR,),
    )


ALGORITHMS: dict[str, Algorithm] = {
    algorithm.name: algorithm
    for algorithm in (
        Algorithm(
            name="maml",
            summary="MAML: an initialisation that one or two policy-gradient steps adapt (ProMP outer loop)",
            config_type=MAMLConfig,
            build=build_maml_learner,
            envs_per_worker=_episodes_per_worker,
        ),
        _pearl("pearl", "PEARL: a context encoder infers the task latent from transitions; SAC acts on it"),
        _multitask_ppo("multitask", "multi-task PPO baseline over the family, adapted by PPO fine-tuning"),
        _multitask_ppo(
            "oracle",
            "task-aware reference: multi-task PPO that observes the true task (the ceiling, not a method)",
            observes_task=True,
        ),
        Algorithm(
            name="rma",
            summary="RMA: a PPO teacher that sees the task, then a module that infers it each step from the last steps",
            config_type=RMAConfig,
            build=RMALearner,
            envs_per_worker=_episodes_per_worker,
            privileged_training=True,
            acting_options=(ADAPTATION,),
        ),
        _pearl(
            "oracle-pearl",
            "task-aware reference: PEARL's SAC agent that also observes the true task (the ceiling, not a method)",
            observes_task=True,
        ),
    )
}


def get_algorithm(name: str) -> Algorithm:
    """The algorithm called ``name``; ValueError listing the allowed names otherwise."""
    if name not in ALGORITHMS:
        raise ValueError(f"algorithm = {name!r} is not allowed: one of {', '.join(ALGORITHMS)}")
    return ALGORITHMS[name]


def offering(option: str) -> list[str]:
    """The names of the algorithms whose agents offer the acting option called ``option``, in registry order."""
    return [a.name for a in ALGORITHMS.values() if any(o.name == option for o in a.acting_options)]


def acting_option(name: str) -> ActingOption:
    """The acting option called ``name``, as the algorithms offering it declare it (one declaration each).

    Raises:
        ValueError: naming ``--name`` when no algorithm offers an option so called.
    """
    declared = {o.name: o for a in ALGORITHMS.values() for o in a.acting_options}
    if name not in declared:
        raise ValueError(f"--{name} is not allowed: no algorithm offers it (acting options: {', '.join(declared)})")
    return declared[name]
