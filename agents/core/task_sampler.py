"""Which training tasks to draw: uniformly from the family, or where the agent is still learning.

A learner asks :meth:`TaskSampler.sample` for an iteration's tasks and, once it has trained on
them, tells :meth:`TaskSampler.update` how each went (a score, higher is better: the mean episode
return). :class:`UniformTaskSampler` ignores the scores and draws exactly as
:meth:`sim.tasks.TaskDistribution.sample_tasks` always did. :class:`ProgressTaskSampler` is an
absolute-learning-progress teacher in the manner of ALP-GMM (Portelas et al. 2019, "Teacher
algorithms for curriculum learning of deep RL in continuously parameterized environments"):

- the **progress** of a task is ``|score - score of the nearest earlier task|`` in the family's
  normalised feature space (:meth:`~sim.tasks.TaskDistribution.task_features`): where performance
  still changes, up or down, the agent is learning or forgetting there;
- every ``fit_every`` results, a Gaussian mixture is fitted to the recent ``(features, progress)``
  points (the number of components chosen by AIC), so each component is a region of the task space
  with its mean progress;
- a draw picks a component with probability proportional to its mean progress and samples a task
  from it; a share ``uniform_share`` (~20 %, as in ALP-GMM) of the draws stays uniform over the
  family, so no region is forgotten and new progress can be discovered anywhere.

A learner that trains on a fixed list of tasks (PEARL's ``num_train_tasks``) draws indices into it
instead: :class:`UniformIndexSampler` (what it always drew) or :class:`ProgressIndexSampler` (the same
progress mixture, each draw mapped to the nearest training task not yet chosen).

Everything is deterministic: draws use only the generator the learner passes (derived from its
seed and iteration), and each mixture fit is seeded from the sampler's seed and the fit's number.
The whole state is a plain dict (:meth:`state_dict`), so a resumed run continues as if never stopped.
Numpy only; the mixture is a small EM of our own (:mod:`agents.core.gaussian_mixture`: no scikit-learn
dependency for ~60 lines).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from agents.core.gaussian_mixture import Mixture, best_mixture
from sim.params import TaskParams, field_by_path, with_values
from sim.tasks import ChoiceSet, TaskDistribution, UniformRange

TASK_SAMPLERS = ("uniform", "progress")
"""the names ``--config task_sampler=NAME`` accepts"""


class TaskSampler(Protocol):
    """Where a learner's training tasks come from."""

    def sample(self, n: int, rng: np.random.Generator) -> list[TaskParams]:
        """``n`` tasks drawn with ``rng`` (the same generator state gives the same tasks)."""
        ...

    def update(self, tasks: Sequence[TaskParams], scores: Sequence[float]) -> None:
        """How each task went (higher is better), once the learner trained on it."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs, as plain values."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` gave."""
        ...


class UniformTaskSampler:
    """Every task uniformly from the family: what every learner did before there was a choice."""

    def __init__(self, family: TaskDistribution) -> None:
        self.family = family

    def sample(self, n: int, rng: np.random.Generator) -> list[TaskParams]:
        """:meth:`TaskDistribution.sample_tasks`, unchanged (a run with this sampler repeats an older run)."""
        return self.family.sample_tasks(n, rng)

    def update(self, tasks: Sequence[TaskParams], scores: Sequence[float]) -> None:
        """Nothing to learn from: uniform draws do not depend on results."""

    def state_dict(self) -> dict[str, Any]:
        """No state."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """No state."""


def task_from_features(family: TaskDistribution, features: NDArray[np.float64]) -> TaskParams:
    """The inverse of :meth:`TaskDistribution.task_features`: a feature vector back to a task of the family.

    Range features are clipped to ``[-1, 1]`` and rounded for integer fields; a choice takes its
    largest one-hot entry.
    """
    changes: dict[str, Any] = {}
    at = 0
    for path, dist in family.vary.items():
        if isinstance(dist, UniformRange):
            value = dist.low + (float(np.clip(features[at], -1.0, 1.0)) + 1.0) * (dist.high - dist.low) / 2.0
            is_int = field_by_path(path).type is int
            changes[path] = int(np.clip(round(value), dist.low, dist.high)) if is_int else float(value)
            at += 1
        elif isinstance(dist, ChoiceSet):
            width = len(dist.values)
            changes[path] = dist.values[int(np.argmax(features[at : at + width]))]
            at += width
    return with_values(family.base, changes)


class ProgressTaskSampler:
    """ALP-GMM-style sampling: tasks where absolute learning progress is high, plus a uniform share."""

    def __init__(
        self,
        family: TaskDistribution,
        *,
        seed: int,
        uniform_share: float = 0.2,
        fit_every: int = 32,
        window: int = 320,
        max_components: int = 6,
        max_history: int = 4000,
    ) -> None:
        """``fit_every`` results between mixture fits, on the newest ``window`` progress points;
        ``max_history`` earlier results are kept to find each new task's nearest neighbour."""
        if not 0.0 <= uniform_share <= 1.0:
            raise ValueError(f"uniform_share = {uniform_share!r} is not allowed: a share from 0 to 1")
        limits = (("fit_every", fit_every), ("window", window), ("max_components", max_components))
        for name, value in (*limits, ("max_history", max_history)):
            if value < 1:
                raise ValueError(f"{name} = {value!r} is not allowed: at least 1")
        self.family, self.seed, self.uniform_share = family, seed, uniform_share
        self.fit_every, self.window, self.max_components, self.max_history = (
            fit_every,
            window,
            max_components,
            max_history,
        )
        self._history: deque[tuple[list[float], float]] = deque(maxlen=max_history)  # (features, score) so far
        self._progress: deque[tuple[list[float], float]] = deque(maxlen=window)  # (features, progress), newest last
        self._since_fit = 0
        self._fits = 0
        self._mixture: Mixture | None = None

    def update(self, tasks: Sequence[TaskParams], scores: Sequence[float]) -> None:
        """Record each task's progress against its nearest earlier task; refit every ``fit_every`` results.

        Raises:
            ValueError: ``tasks`` and ``scores`` of different lengths.
        """
        if len(tasks) != len(scores):
            raise ValueError(f"scores: {len(scores)} values is not allowed: one per task ({len(tasks)})")
        for task, score in zip(tasks, scores, strict=True):
            if not math.isfinite(float(score)):
                continue
            features = [float(f) for f in self.family.task_features(task)]
            progress = 0.0 if not self._history else abs(float(score) - self._nearest_score(features))
            self._history.append((features, float(score)))
            self._progress.append((features, progress))
            self._since_fit += 1
            if self._since_fit >= self.fit_every:
                self._refit()

    def _nearest_score(self, features: list[float]) -> float:
        points = np.asarray([f for f, _ in self._history])
        nearest = int(np.argmin(((points - np.asarray(features)) ** 2).sum(axis=1)))
        return self._history[nearest][1]

    def _refit(self) -> None:
        """A mixture over (features, progress scaled to [0, 1]); none while no progress was seen."""
        self._since_fit = 0
        self._fits += 1
        data = np.asarray([[*f, p] for f, p in self._progress], dtype=np.float64)
        top = float(data[:, -1].max())
        if top <= 0.0:
            self._mixture = None
            return
        data[:, -1] /= top
        rng = np.random.default_rng([self.seed, self._fits])
        self._mixture = best_mixture(data, self.max_components, rng)

    def sample(self, n: int, rng: np.random.Generator) -> list[TaskParams]:
        """``n`` tasks: each uniform with probability ``uniform_share`` (or while no mixture is fitted),
        else from a mixture component chosen in proportion to its mean progress."""
        uniform = rng.random(n) < self.uniform_share
        if not self.has_regions:
            uniform[:] = True
        drawn = iter(self.family.sample_tasks(int(uniform.sum()), rng))
        tasks = []
        for is_uniform in uniform:
            tasks.append(next(drawn) if is_uniform else self._from_mixture(rng))
        return tasks

    @property
    def has_regions(self) -> bool:
        """Whether a fitted mixture has a region of positive progress to draw from (else every draw is uniform)."""
        return self._mixture is not None and bool(self._mixture.progress.any())

    def _from_mixture(self, rng: np.random.Generator) -> TaskParams:
        return task_from_features(self.family, self.region_point(rng))

    def region_point(self, rng: np.random.Generator) -> NDArray[np.float64]:
        """A feature vector from a mixture component chosen in proportion to its mean progress.

        Raises:
            ValueError: no region to draw from yet (see :attr:`has_regions`).
        """
        if self._mixture is None or not self._mixture.progress.any():
            raise ValueError("the progress sampler has no region of progress yet: draw uniformly")
        mix = self._mixture
        weights = mix.progress / mix.progress.sum()
        k = int(rng.choice(len(weights), p=weights))
        d = mix.means.shape[1] - 1  # the last dimension is the progress
        point: NDArray[np.float64] = rng.multivariate_normal(mix.means[k, :d], mix.covs[k, :d, :d], method="cholesky")
        return point

    def region_progress(self) -> list[tuple[list[float], float]]:
        """Each mixture component's centre in feature space and mean progress (scaled to [0, 1]): what it favours."""
        if self._mixture is None:
            return []
        return [(m[:-1].tolist(), float(p)) for m, p in zip(self._mixture.means, self._mixture.progress, strict=True)]

    def state_dict(self) -> dict[str, Any]:
        """Results seen, progress window, fit counters and the fitted mixture, as plain lists."""
        mixture = None if self._mixture is None else self._mixture.to_dict()
        return {
            "history": [[f, s] for f, s in self._history],
            "progress": [[f, p] for f, p in self._progress],
            "since_fit": self._since_fit,
            "fits": self._fits,
            "mixture": mixture,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self._history.clear()
        self._history.extend(([float(x) for x in f], float(s)) for f, s in state["history"])
        self._progress.clear()
        self._progress.extend(([float(x) for x in f], float(p)) for f, p in state["progress"])
        self._since_fit, self._fits = int(state["since_fit"]), int(state["fits"])
        self._mixture = None if state["mixture"] is None else Mixture.from_dict(state["mixture"])


def make_task_sampler(name: str, family: TaskDistribution, *, seed: int) -> UniformTaskSampler | ProgressTaskSampler:
    """The sampler a learner's ``task_sampler`` setting names.

    Raises:
        ValueError: an unknown name, listing the known ones.
    """
    if name == "uniform":
        return UniformTaskSampler(family)
    if name == "progress":
        return ProgressTaskSampler(family, seed=seed)
    raise ValueError(f"task_sampler = {name!r} is not allowed: one of {', '.join(TASK_SAMPLERS)}")


class UniformIndexSampler:
    """Distinct training-task indices uniformly: what PEARL drew before there was a choice."""

    def __init__(self, num_tasks: int) -> None:
        self.num_tasks = num_tasks

    def sample(self, n: int, rng: np.random.Generator) -> list[int]:
        """``n`` distinct indices, exactly ``rng.choice(num_tasks, n, replace=False)`` (older runs repeat)."""
        return [int(t) for t in rng.choice(self.num_tasks, n, replace=False)]

    def update(self, indices: Sequence[int], scores: Sequence[float]) -> None:
        """Nothing to learn from: uniform draws do not depend on results."""

    def state_dict(self) -> dict[str, Any]:
        """No state."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """No state."""


class ProgressIndexSampler:
    """:class:`ProgressTaskSampler` choosing among a fixed list of training tasks (PEARL's ``num_train_tasks``).

    The same absolute-learning-progress mixture is fitted to the tasks' results; each draw is, with
    probability ``uniform_share`` (or while no region of progress is known), uniform over the tasks
    not yet chosen this time, else the not-yet-chosen task nearest (in feature space) to a point drawn
    from a component picked in proportion to its progress. A fixed task's nearest earlier result is
    usually its own from an earlier iteration, so its progress is the change of its own score.
    """

    def __init__(self, family: TaskDistribution, tasks: Sequence[TaskParams], *, seed: int) -> None:
        self.tasks = list(tasks)
        self.progress = ProgressTaskSampler(family, seed=seed)
        self._features = np.asarray([family.task_features(t) for t in self.tasks], dtype=np.float64)

    def sample(self, n: int, rng: np.random.Generator) -> list[int]:
        """``n`` distinct indices into :attr:`tasks`.

        Raises:
            ValueError: more indices asked for than there are tasks.
        """
        if n > len(self.tasks):
            raise ValueError(f"n = {n} is not allowed: at most the {len(self.tasks)} training tasks")
        uniform = rng.random(n) < self.progress.uniform_share
        if not self.progress.has_regions:
            uniform[:] = True
        left = list(range(len(self.tasks)))
        chosen = []
        for is_uniform in uniform:
            if is_uniform:
                at = int(rng.integers(len(left)))
            else:
                point = self.progress.region_point(rng)
                at = int(np.argmin(((self._features[left] - point) ** 2).sum(axis=1)))
            chosen.append(left.pop(at))
        return chosen

    def update(self, indices: Sequence[int], scores: Sequence[float]) -> None:
        """How each chosen task went (higher is better): :meth:`ProgressTaskSampler.update` on its task."""
        self.progress.update([self.tasks[i] for i in indices], scores)

    def state_dict(self) -> dict[str, Any]:
        """The progress sampler's state (the tasks themselves are the learner's)."""
        return self.progress.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.progress.load_state_dict(state)


def make_index_sampler(
    name: str, family: TaskDistribution, tasks: Sequence[TaskParams], *, seed: int
) -> UniformIndexSampler | ProgressIndexSampler:
    """The sampler of training-task indices a ``task_sampler`` setting names, over the fixed ``tasks``.

    Raises:
        ValueError: an unknown name, listing the known ones.
    """
    if name == "uniform":
        return UniformIndexSampler(len(tasks))
    if name == "progress":
        return ProgressIndexSampler(family, tasks, seed=seed)
    raise ValueError(f"task_sampler = {name!r} is not allowed: one of {', '.join(TASK_SAMPLERS)}")
