"""A model of how well an agent does after adaptation, over the family's normalised task vector.

Why a Gaussian process and not an ensemble of small MLPs: the data are few and expensive (a map
of 3 x 3 to 8 x 8 cells, a few seeds each; a training run's tasks arrive by the dozen), the input
is low-dimensional and already scaled to ``[-1, 1]`` (:meth:`sim.tasks.TaskDistribution.task_features`),
and the question asked of it is "how sure are we?" as much as "how good?". A GP answers both in
closed form, exactly, deterministically (no initialisation or training seed, so the same results
always give the same map), and its uncertainty grows honestly away from what was measured; an
ensemble of five MLPs fitted to nine points disagrees mostly about its own initialisation. Its
cost, a Cholesky factorisation of ``n x n``, is why it keeps only the newest :attr:`max_points`
results: during meta-training the agent changes, so old results are also the least relevant.

Kernel: squared exponential with one length scale over the normalised features, plus observation
noise (seeds of one task differ), on errors standardised to mean 0 and variance 1 (the signal
variance); the length scale and the noise are picked by the log marginal likelihood over a fixed
grid of candidates, deterministic and free of an optimiser dependency. A log-normal prior on the
length scale (around 0.6 of a normalised range) keeps a 2 x 2 map from choosing a length so short
that every cell is unrelated to its neighbours, which the likelihood of four points alone allows.
Numpy only: it runs in the CLI, a learner or a window's child process without torch.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from sim.params import TaskParams
from sim.tasks import TaskDistribution

LENGTH_SCALES = (0.15, 0.25, 0.4, 0.6, 1.0, 1.6, 2.5)
"""candidate length scales over features in [-1, 1]: from a tenth of a range to smooth over all of it"""
NOISE_SHARES = (1e-4, 1e-3, 1e-2, 0.05, 0.15, 0.4)
"""candidate noise variances as shares of the errors' variance"""
PRIOR_LENGTH, PRIOR_LOG_SD = 0.6, 0.8
"""the length scale's log-normal prior: median and standard deviation of its logarithm"""
MODEL_KIND = "gaussian-process"
RUN_MODEL_FILE = "performance.model.json"
"""a training run's model, in its run directory, rewritten after every iteration"""
RUN_MODEL_POINTS = 300
"""results a training run's model keeps, the newest: the agent as it is lately (and a fit in well under a
second; 1000 points take 7 s on one core, measured)"""


@dataclass(frozen=True)
class Measure:
    """What a model's values are: a name for files, words and a unit for labels."""

    key: str
    label: str
    unit: str
    """empty for a return (reward units)"""

    def with_unit(self, value: float) -> str:
        """``value`` formatted with the unit (three decimals)."""
        return f"{value:.3f}" + (f" {self.unit}" if self.unit else "")


TRACKING_ERROR = Measure("tracking_error_mps", "error after adapting", "m/s")
"""what ``bench map`` measures: the tracking error, mean |v - v*| of the episode after the adaptation episodes"""
TRAINING_RETURN = Measure("training_return_after_adapting", "return after adapting", "")
"""what a training run records per task: the mean return of its post-adaptation episodes (MAML: after
the inner step; PEARL: z from the posterior). Returns, not m/s: training episodes come back from the
sampler's workers as rewards, with no per-episode physical metrics"""
MEASURES = {m.key: m for m in (TRACKING_ERROR, TRAINING_RETURN)}


@dataclass(frozen=True)
class _Fit:
    """A fitted GP: what prediction needs."""

    features: NDArray[np.float64]
    chol: NDArray[np.float64]
    alpha: NDArray[np.float64]
    length_scale: float
    signal_var: float
    offset: float
    scale: float


@runtime_checkable
class ReportsTaskResults(Protocol):
    """A learner that says how each training task of its last iteration went (what feeds a run's model)."""

    def task_results(self) -> list[tuple[TaskParams, float]]:
        """Each task of the last iteration and its score in :data:`TRAINING_RETURN`'s measure."""
        ...


def _sq_dists(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.maximum(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1), 0.0)  # type: ignore[no-any-return]


class PerformanceModel:
    """Gaussian-process regression of post-adaptation performance over a family's task features.

    Its :attr:`measure` says what the values are: tracking error in m/s (a map's cells) or the return
    after adapting (every training task's result, :data:`TRAINING_RETURN`). Feed it with
    :meth:`update`, ask it with :meth:`predict`. The fit is lazy: updates only store, the next
    prediction refits once.
    """

    def __init__(self, family: TaskDistribution, *, max_points: int = 1000, measure: Measure = TRACKING_ERROR) -> None:
        """``family`` defines the features (its varied fields, normalised over their ranges)."""
        if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 1:
            raise ValueError(f"max_points = {max_points!r} is not allowed: a whole number >= 1")
        self.family, self.max_points, self.measure = family, max_points, measure
        self._features: list[list[float]] = []
        self._errors: list[float] = []
        self._fit: _Fit | None = None

    @property
    def num_points(self) -> int:
        """Results the model holds now."""
        return len(self._errors)

    def features(self, tasks: Sequence[TaskParams]) -> NDArray[np.float64]:
        """``[n, d]`` normalised task vectors."""
        return np.asarray([self.family.task_features(t) for t in tasks], dtype=np.float64).reshape(len(tasks), -1)

    def update(self, tasks: Sequence[TaskParams], errors: Sequence[float]) -> None:
        """Add one result per task, in the model's :attr:`measure` (NaN, e.g. from an env that measures
        no tracking error, is skipped).

        Raises:
            ValueError: ``tasks`` and ``errors`` of different lengths.
        """
        if len(tasks) != len(errors):
            raise ValueError(f"errors: {len(errors)} values is not allowed: one per task ({len(tasks)})")
        for row, error in zip(self.features(tasks).tolist(), errors, strict=True):
            if math.isfinite(float(error)):
                self._features.append(row)
                self._errors.append(float(error))
        del self._features[: -self.max_points], self._errors[: -self.max_points]
        self._fit = None

    def add_results(self, results: Sequence[tuple[TaskParams, float]]) -> None:
        """:meth:`update` with ``(task, value)`` pairs, as :meth:`ReportsTaskResults.task_results` gives them."""
        self.update([task for task, _ in results], [value for _, value in results])

    def predict(self, tasks: Sequence[TaskParams]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Predicted mean error and its standard deviation (of the mean, not of one noisy run), per task.

        Raises:
            ValueError: the model holds no result yet.
        """
        return self.predict_features(self.features(tasks))

    def predict_features(self, features: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """:meth:`predict` for ``[n, d]`` feature rows."""
        fit = self._fitted()
        cross = fit.signal_var * np.exp(-0.5 * _sq_dists(features, fit.features) / fit.length_scale**2)
        mean = cross @ fit.alpha
        v = np.linalg.solve(fit.chol, cross.T)
        var = np.maximum(fit.signal_var - (v**2).sum(0), 0.0)
        return fit.offset + fit.scale * mean, fit.scale * np.sqrt(var)

    def _fitted(self) -> _Fit:
        if not self._errors:
            raise ValueError("the performance model has no results yet: update it with (task, error) pairs first")
        if self._fit is None:
            self._fit = _fit_gp(np.asarray(self._features, np.float64), np.asarray(self._errors, np.float64))
        return self._fit

    @property
    def hyperparameters(self) -> dict[str, float]:
        """Length scale and signal standard deviation (in the measure's unit) chosen by the marginal likelihood."""
        fit = self._fitted()
        return {"length_scale": fit.length_scale, "signal_std": math.sqrt(fit.signal_var) * fit.scale}

    def to_dict(self) -> dict[str, Any]:
        """JSON form: the family and the results (the fit is recomputed on load: it is deterministic)."""
        return {
            "kind": MODEL_KIND,
            "measure": self.measure.key,
            "family": self.family.to_dict(),
            "max_points": self.max_points,
            "features": self._features,
            "errors": self._errors,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PerformanceModel:
        """Rebuild from :meth:`to_dict`.

        Raises:
            ValueError: not a performance model's JSON, naming what was found.
        """
        if not isinstance(data, dict) or data.get("kind") != MODEL_KIND:
            found = data.get("kind") if isinstance(data, dict) else type(data).__name__
            raise ValueError(
                f"model kind = {found!r} is not allowed: a {MODEL_KIND!r} written by bench map or a training run"
            )
        # the first word: files written before training runs had models say "tracking_error_mps after adaptation"
        key = str(data.get("measure", TRACKING_ERROR.key)).split(" ")[0]
        if key not in MEASURES:
            raise ValueError(f"model measure = {key!r} is not allowed: one of {', '.join(MEASURES)}")
        model = cls(
            TaskDistribution.from_dict(data["family"]), max_points=int(data["max_points"]), measure=MEASURES[key]
        )
        model._features = [list(map(float, row)) for row in data["features"]]
        model._errors = [float(e) for e in data["errors"]]
        return model

    def save(self, path: Path) -> None:
        """Write the JSON form atomically."""
        from agents.storage.atomic import atomic_write

        text = json.dumps(self.to_dict())
        atomic_write(path, lambda f: f.write(text.encode()))

    @classmethod
    def load(cls, path: Path) -> PerformanceModel:
        """Read a model :meth:`save` wrote.

        Raises:
            ValueError: a missing, unreadable or foreign file, naming it.
        """
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
            raise ValueError(
                f"model {path} is not allowed: a model file bench map or a training run wrote ({err})"
            ) from err


def _fit_gp(x: NDArray[np.float64], y: NDArray[np.float64]) -> _Fit:
    """Standardise the errors, then keep the (length scale, noise) pair of highest log marginal likelihood
    plus log prior of the length scale."""
    offset = float(y.mean())
    scale = float(y.std()) if y.size > 1 and y.std() > 1e-9 else 1.0
    z = (y - offset) / scale
    sq = _sq_dists(x, x)
    best: tuple[float, _Fit] | None = None
    for length in LENGTH_SCALES:
        kernel = np.exp(-0.5 * sq / length**2)
        for noise in NOISE_SHARES:
            chol = np.asarray(np.linalg.cholesky(kernel + (noise + 1e-8) * np.eye(len(z))), dtype=np.float64)
            alpha = np.linalg.solve(chol.T, np.linalg.solve(chol, z))
            log_ml = -0.5 * float(z @ alpha) - float(np.log(np.diag(chol)).sum())
            log_posterior = log_ml - 0.5 * (math.log(length / PRIOR_LENGTH) / PRIOR_LOG_SD) ** 2
            if best is None or log_posterior > best[0]:
                best = (log_posterior, _Fit(x, chol, alpha, length, 1.0, offset, scale))
    assert best is not None
    return best[1]
