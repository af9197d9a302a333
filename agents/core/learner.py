"""What every meta-learner offers the training driver: one iteration at a time, checkpoint state, agents.

:mod:`agents.training.train` drives any :class:`Learner` the same way (MAML, PEARL, the multi-task
baseline), and the CLI, the GUI and the metrics files read the same :class:`IterationStats`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

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
