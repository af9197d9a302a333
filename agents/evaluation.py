"""How well an agent adapts: returns per shot on held-out tasks, with confidence intervals.

Every score in the adaptation benchmark and in a bundled agent's sidecar comes from
:func:`evaluate_adaptation`, which drives the same :func:`agents.adaptation.adapt` generator as the
GUI and the CLI: episode 0 acts before any adaptation, episode ``k`` after ``k`` updates.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

from agents.adaptation import (
    AdaptConfig,
    AdaptiveAgent,
    AdaptResult,
    BetweenEpisodesAgent,
    EpisodeRecord,
    UpdateInfo,
    adapt,
)
from sim.params import TaskParams

TASK_SEED_STRIDE = 1000
"""seed offset between held-out tasks (see :func:`evaluate_adaptation`)"""

# Two-sided 95 % Student-t quantiles by degrees of freedom (the normal 1.96 beyond the table).
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
        12: 2.179, 15: 2.131, 20: 2.086, 25: 2.060, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}  # fmt: skip


def t95(dof: int) -> float:
    """The 97.5 % quantile of Student's t with ``dof`` degrees of freedom (conservative between table rows)."""
    if dof < 1:
        return math.nan
    usable = [d for d in _T95 if d <= dof]
    return _T95[max(usable)] if dof <= 120 else 1.96


@dataclass(frozen=True)
class AdaptationScores:
    """Returns of every (task, seed) run, per shot: ``returns[task, seed, shot]``."""

    label: str
    returns: NDArray[np.float64]

    def per_run(self) -> NDArray[np.float64]:
        """``[runs, shots]``: one row per (task, seed)."""
        return self.returns.reshape(-1, self.returns.shape[-1])

    def mean(self) -> NDArray[np.float64]:
        """Mean return per shot over tasks and seeds."""
        return self.per_run().mean(axis=0)  # type: ignore[no-any-return]

    def ci95(self) -> NDArray[np.float64]:
        """Half-width of the 95 % confidence interval of :meth:`mean`, per shot (t distribution)."""
        runs = self.per_run()
        count = runs.shape[0]
        if count < 2:
            return np.full(runs.shape[1], math.nan)
        return t95(count - 1) * runs.std(axis=0, ddof=1) / math.sqrt(count)  # type: ignore[no-any-return]

    def improved_fraction(self, shot: int) -> float:
        """Share of tasks whose mean return after ``shot`` shots beats their mean return before adaptation."""
        per_task = self.returns.mean(axis=1)
        return float((per_task[:, shot] > per_task[:, 0]).mean())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "label": self.label,
            "mean": self.mean().tolist(),
            "ci95": self.ci95().tolist(),
            "runs": int(self.per_run().shape[0]),
        }


def evaluate_adaptation(
    make_agent: Callable[[], AdaptiveAgent],
    make_env: Callable[[TaskParams], gym.Env[Any, Any]],
    tasks: Sequence[TaskParams],
    *,
    label: str,
    shots: int = 4,
    max_steps: int = 200,
    seeds: Sequence[int] = (0, 1, 2),
) -> AdaptationScores:
    """Adapt a fresh agent to every task with every seed; ``shots`` episodes each, an update after all but the last.

    Run ``(i, j)`` uses seed ``seeds[j] + TASK_SEED_STRIDE * i``: with one seed list shared by all
    tasks, every task would replay the same env resets and action noise, and the runs that the
    confidence interval treats as independent would be strongly correlated.
    """
    returns = np.zeros((len(tasks), len(seeds), shots))
    for i, task in enumerate(tasks):
        for j, seed in enumerate(seeds):
            run_seed = seed + TASK_SEED_STRIDE * i
            config = AdaptConfig(shots=shots, updates=shots - 1, max_steps=max_steps, seed=run_seed)
            for event in adapt(make_agent, make_env, task, config):
                if isinstance(event, AdaptResult):
                    returns[i, j] = event.episode_returns
    return AdaptationScores(label, returns)


class RandomAgent(BetweenEpisodesAgent):
    """Uniform random actions, no learning: the zero of normalised scores."""

    def __init__(self, action_dim: int) -> None:
        self.action_dim = action_dim

    def act(self, obs: NDArray[np.float32], rng: np.random.Generator) -> NDArray[np.float32]:
        """A uniform action in ``[-1, 1]``."""
        return rng.uniform(-1.0, 1.0, self.action_dim).astype(np.float32)

    def learn(self, episodes: list[EpisodeRecord]) -> UpdateInfo:
        """Nothing to learn."""
        return UpdateInfo(loss=0.0, kl=0.0, step_size=0.0)

    def adapted_policy(self) -> None:
        """No policy worth exporting."""
        return None
