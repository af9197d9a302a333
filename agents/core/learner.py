"""What every meta-learner offers the training driver: one iteration at a time, checkpoint state, agents.

:mod:`agents.training.train` drives any :class:`Learner` the same way (MAML, PEARL, the multi-task
baseline), and the CLI, the GUI and the metrics files read the same :class:`IterationStats`. A learner
whose agents can act in more than one way declares each choice as an :class:`ActingOption` and hands
out the variants through :class:`OffersActingOptions`, so no command needs to know which algorithm
offers what.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from agents.core.adaptation import AdaptiveAgent
from sim.sampler import VectorSampler


@dataclass(frozen=True)
class IterationStats:
    """What one training iteration achieved; plain floats for logs, plots and metrics files."""

    iteration: int
    pre_return: float
    """mean undiscounted return before any adaptation (MAML: pre-update; PEARL: z from the prior)"""
    post_return: float | None
    """mean return after adaptation (MAML: post-update; PEARL: posterior z); None when not measured"""
    loss: float
    """the learner's main objective (MAML: outer loss; PEARL: critic loss; PPO: surrogate loss)"""
    env_steps: int
    """simulated steps collected this iteration"""
    seconds: Mapping[str, float] = field(default_factory=dict)
    """wall-clock time per phase, e.g. ``{"sampling": 12.1, "inner": 0.4, "outer": 2.0}``"""
    extra: Mapping[str, float] = field(default_factory=dict)
    """algorithm-specific scalars (entropy coefficient, KL, ...) for logs and TensorBoard"""

    @property
    def total_seconds(self) -> float:
        """Wall-clock of the whole iteration (the sum of its phases)."""
        return float(sum(self.seconds.values()))

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> IterationStats:
        """Back from a metrics line (phases from ``<phase>_s`` keys; other extra keys are kept as extras)."""
        core = {"iteration", "pre_return", "post_return", "loss", "env_steps"}
        seconds = {key[:-2]: float(value) for key, value in row.items() if key.endswith("_s")}
        extra = {
            key: float(v) for key, v in row.items() if key not in core and not key.endswith("_s") and v is not None
        }
        post = row.get("post_return")
        return cls(
            iteration=int(row["iteration"]),
            pre_return=float(row["pre_return"]),
            post_return=None if post is None else float(post),
            loss=float(row["loss"]),
            env_steps=int(row["env_steps"]),
            seconds=seconds,
            extra=extra,
        )

    def to_dict(self) -> dict[str, Any]:
        """One flat metrics line: phases become ``<phase>_s`` keys, extras keep their names."""
        row: dict[str, Any] = {
            "iteration": self.iteration,
            "pre_return": self.pre_return,
            "post_return": self.post_return,
            "loss": self.loss,
            "env_steps": self.env_steps,
        }
        row.update({f"{phase}_s": value for phase, value in self.seconds.items()})
        row.update(self.extra)
        return row


class AgentSource(Protocol):
    """Anything that hands out adapting agents: a trained learner, or the from-scratch baseline."""

    iteration: int
    """training iterations behind the agents it hands out"""

    def new_agent(self) -> AdaptiveAgent:
        """An adapting agent on a private copy of the current weights (safe to hand to another thread)."""
        ...


class Learner(AgentSource, Protocol):
    """A meta-learner as the training driver sees it."""

    resume_note: str | None
    """set by :meth:`load_state_dict` when a resumed run is not exactly what it was (PEARL's replay
    buffers left out of checkpoints); the driver tells the user"""

    def train_iteration(self, sampler: VectorSampler) -> IterationStats:
        """Collect with ``sampler`` (envs of the family's robot) and update once; deterministic in (seed, iteration)."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs (plain tensors, numbers, strings, dicts and lists only)."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved."""
        ...


@dataclass(frozen=True)
class ActingOption:
    """A choice in how a trained agent acts at test time, which only some algorithms offer.

    Training fixes the weights; some algorithms can still act on them in more than one way (PEARL's
    posterior inferred between episodes or after every step too; RMA with its within-episode
    adaptation switched off, the ablation). Each algorithm's registry entry lists the options it
    offers, so the CLI asks for a variant by name and refuses one an algorithm lacks in one line,
    with the flag named, instead of ignoring it.
    """

    name: str
    """its name, spelt as a command-line flag without the dashes: ``posterior``"""
    values: tuple[str, ...]
    """what it may be set to; the first is the default, how :meth:`AgentSource.new_agent`'s agents act"""
    offered_as: str
    """what offering it means, completing "only pearl agents ...": ``update their posterior within the episode``"""

    @property
    def default(self) -> str:
        """The value every agent of an algorithm acts with unless asked otherwise."""
        return self.values[0]

    def check(self, name: str, value: str) -> None:
        """Refuse another option's name, or a value that is not one of :attr:`values`.

        Raises:
            ValueError: naming the flag ``--name``, the value and what is allowed.
        """
        if name != self.name:
            raise ValueError(f"--{name} is not allowed here: the only acting option is --{self.name}")
        if value not in self.values:
            raise ValueError(f"--{name} {value!r} is not allowed: one of {', '.join(self.values)}")


@runtime_checkable
class OffersActingOptions(Protocol):
    """An agent source whose agents can act in more than one way: the options its registry entry lists."""

    def new_agent_with(self, option: str, value: str) -> AdaptiveAgent:
        """An agent as :meth:`AgentSource.new_agent` gives, acting with ``option`` set to ``value``.

        Raises:
            ValueError: naming ``--option`` when it is not offered here or ``value`` is not one of its values.
        """
        ...
