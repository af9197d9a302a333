"""Settings of the toy: the fields the driver reads (``horizon``), a ``quick()`` preset and ``to_dict()``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True)
class ToyConfig:
    """REINFORCE on a linear policy that also reads the mean reward of the episode so far."""

    tasks_per_iteration: int = 8
    """tasks drawn from the family per iteration"""
    episodes_per_task: int = 4
    """episodes per task per iteration"""
    horizon: int = 50
    """steps per episode (the exported memory holds this many steps)"""
    lr: float = 1e-2
    """Adam step size"""
    gamma: float = 0.99
    """discount of the returns REINFORCE weighs the log-probabilities with"""
    init_log_std: float = -0.5
    """initial log-std of the actions"""

    def __post_init__(self) -> None:
        for name in ("tasks_per_iteration", "episodes_per_task", "horizon", "lr"):
            if not getattr(self, name) > 0:
                raise ValueError(f"ToyConfig.{name} = {getattr(self, name)!r} is not allowed: must be > 0")
        if not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"ToyConfig.gamma = {self.gamma!r} is not allowed: in (0, 1]")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings."""
        return asdict(self)

    @classmethod
    def quick(cls) -> ToyConfig:
        """A smoke-test budget: a couple of tasks, short episodes."""
        return cls(tasks_per_iteration=2, episodes_per_task=2, horizon=8)
