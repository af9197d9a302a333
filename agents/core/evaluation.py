"""How well an agent adapts: returns and physical metrics per shot on held-out tasks, with confidence intervals.

Every score in the adaptation benchmark and in a bundled agent's sidecar comes from
:func:`evaluate_adaptation`, which drives the same :func:`agents.core.adaptation.adapt` generator as the
GUI and the CLI: episode 0 acts before any adaptation, episode ``k`` after ``k`` updates. Beside
the return, each cell carries what a roboticist reads (:mod:`sim.metrics`): the velocity-tracking
error in m/s after the first second, the share of episodes that end in a fall, and the distance
covered, over 10 s of simulated time by default. The benchmark's summary scores (the share of
tasks improved, the return normalised between the random agent and the best task-aware reference)
are computed here too, so the CLI only prints and plots them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

from agents.core.adaptation import (
    AdaptConfig,
    AdaptiveAgent,
    AdaptResult,
    BetweenEpisodesAgent,
    EpisodeEvent,
    EpisodeRecord,
    UpdateInfo,
    adapt,
)
from agents.core.threads import one_torch_thread
from sim.metrics import EVAL_SECONDS, episode_steps
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
class Measure:
    """One figure reported per agent x shot: the return, or an episode metric in physical units."""

    key: str
    """``return`` or a key of :attr:`AdaptationScores.physical`"""
    title: str
    unit: str
    decimals: int
    """digits after the point in tables"""


MEASURES = (
    Measure("return", "return", "", 1),
    Measure("tracking_error_mps", "tracking error", "m/s", 3),
    Measure("fall_share", "falls", "share of episodes", 2),
    Measure("distance_m", "distance", "m", 2),
)
"""everything the benchmark, its CSV and plot, and the bundled sidecars report, in this order"""
PHYSICAL_KEYS = tuple(m.key for m in MEASURES[1:])


def eval_episode_steps(seconds: float = EVAL_SECONDS) -> int:
    """Steps of an evaluation episode of ``seconds`` simulated seconds at the locomotion env's control rate.

    Raises:
        ValueError: ``seconds`` not a positive finite number.
    """
    from sim.envs.locomotion import EnvConfig  # PyBullet is imported only when a default is needed

    return episode_steps(seconds, EnvConfig().control_dt)


def _json_floats(values: NDArray[np.float64]) -> list[float | None]:
    """A list for JSON, NaN (not measured) as null: ``json.dumps`` would write the invalid token ``NaN``."""
    return [None if math.isnan(v) else float(v) for v in values]


@dataclass(frozen=True)
class AdaptationScores:
    """Returns and episode metrics of every (task, seed) run, per shot: ``returns[task, seed, shot]``."""

    label: str
    returns: NDArray[np.float64]
    physical: Mapping[str, NDArray[np.float64]] = field(default_factory=dict)
    """per key of :data:`PHYSICAL_KEYS`, values ``[task, seed, shot]`` (``fall_share``: 1.0 fell, 0.0 not);
    NaN where the env reports no torso (the toy point mass); a missing key reads as all NaN"""

    def values(self, measure: str = "return") -> NDArray[np.float64]:
        """``[task, seed, shot]`` values of one of :data:`MEASURES`.

        Raises:
            ValueError: an unknown measure, naming the known ones.
        """
        if measure == "return":
            return self.returns
        if measure not in PHYSICAL_KEYS:
            raise ValueError(f"measure = {measure!r} is not allowed: one of return, {', '.join(PHYSICAL_KEYS)}")
        return self.physical.get(measure, np.full(self.returns.shape, math.nan))

    def per_run(self, measure: str = "return") -> NDArray[np.float64]:
        """``[runs, shots]``: one row per (task, seed)."""
        values = self.values(measure)
        return values.reshape(-1, values.shape[-1])

    def mean(self, measure: str = "return") -> NDArray[np.float64]:
        """Mean per shot over tasks and seeds (of the return unless ``measure`` says otherwise)."""
        return self.per_run(measure).mean(axis=0)  # type: ignore[no-any-return]

    def ci95(self, measure: str = "return") -> NDArray[np.float64]:
        """Half-width of the 95 % confidence interval of :meth:`mean`, per shot (t distribution)."""
        runs = self.per_run(measure)
        count = runs.shape[0]
        if count < 2:
            return np.full(runs.shape[1], math.nan)
        return t95(count - 1) * runs.std(axis=0, ddof=1) / math.sqrt(count)  # type: ignore[no-any-return]

    def improved_fraction(self, shot: int) -> float:
        """Share of tasks whose mean return after ``shot`` shots beats their mean return before adaptation."""
        per_task = self.returns.mean(axis=1)
        return float((per_task[:, shot] > per_task[:, 0]).mean())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: the return's mean and interval per shot, then each physical measure's
        (null where not measured)."""
        summary: dict[str, Any] = {
            "label": self.label,
            "mean": self.mean().tolist(),
            "ci95": self.ci95().tolist(),
            "runs": int(self.per_run().shape[0]),
        }
        for key in PHYSICAL_KEYS:
            summary[key] = {"mean": _json_floats(self.mean(key)), "ci95": _json_floats(self.ci95(key))}
        return summary


def evaluate_adaptation(
    make_agent: Callable[[], AdaptiveAgent],
    make_env: Callable[[TaskParams], gym.Env[Any, Any]],
    tasks: Sequence[TaskParams],
    *,
    label: str,
    shots: int = 4,
    max_steps: int | None = None,
    seeds: Sequence[int] = (0, 1, 2),
) -> AdaptationScores:
    """Adapt a fresh agent to every task with every seed; ``shots`` episodes each, an update after all but the last.

    Episodes last ``max_steps`` (default: :func:`eval_episode_steps`, 10 s of simulated time, the
    horizon a person watches). Each episode's return and its metrics in physical units come from
    the adaptation generator's own events.

    Run ``(i, j)`` uses seed ``seeds[j] + TASK_SEED_STRIDE * i``: with one seed list shared by all
    tasks, every task would replay the same env resets and action noise, and the runs that the
    confidence interval treats as independent would be strongly correlated.
    """
    max_steps = eval_episode_steps() if max_steps is None else max_steps
    returns = np.zeros((len(tasks), len(seeds), shots))
    physical = {key: np.full(returns.shape, math.nan) for key in PHYSICAL_KEYS}
    with one_torch_thread():
        for i, task in enumerate(tasks):
            for j, seed in enumerate(seeds):
                run_seed = seed + TASK_SEED_STRIDE * i
                config = AdaptConfig(shots=shots, updates=shots - 1, max_steps=max_steps, seed=run_seed)
                for event in adapt(make_agent, make_env, task, config):
                    if isinstance(event, EpisodeEvent) and event.metrics is not None:
                        physical["tracking_error_mps"][i, j, event.episode] = event.metrics.tracking_error_mps
                        physical["fall_share"][i, j, event.episode] = float(event.metrics.fell)
                        physical["distance_m"][i, j, event.episode] = event.metrics.distance_m
                    elif isinstance(event, AdaptResult):
                        returns[i, j] = event.episode_returns
    return AdaptationScores(label, returns, physical)


RANDOM_LABEL = "random"
"""the label of :class:`RandomAgent`'s row: the zero of normalised scores"""


def reference_label(scores: Sequence[AdaptationScores], references: Collection[str]) -> str | None:
    """Among the rows labelled with one of ``references`` (task-aware agents), the one with the highest mean
    return over all its episodes: the ceiling of normalised scores. None without such a row."""
    aware = [s for s in scores if s.label in references]
    return max(aware, key=lambda s: float(s.mean().mean())).label if aware else None


def normalised_after_one(
    score: AdaptationScores, scores: Sequence[AdaptationScores], *, references: Collection[str]
) -> float | None:
    """Return after one shot on a scale where the random agent is 0 and the best task-aware reference 1.

    Both anchors are averaged over all their episodes (neither adapts); None without both rows
    among ``scores`` (the random one labelled :data:`RANDOM_LABEL`, a reference labelled with one of
    ``references``) or when they score the same.
    """
    by_label = {s.label: s for s in scores}
    reference = reference_label(scores, references)
    if RANDOM_LABEL not in by_label or reference is None:
        return None
    zero, one = float(by_label[RANDOM_LABEL].mean().mean()), float(by_label[reference].mean().mean())
    return (float(score.mean()[1]) - zero) / (one - zero) if one != zero else None


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
