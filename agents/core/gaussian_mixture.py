"""A small Gaussian mixture fitted by EM and chosen by AIC: the model behind the progress task samplers.

:class:`~agents.core.task_sampler.ProgressTaskSampler` fits one to its recent ``(task features,
learning progress)`` points (ALP-GMM); each component is a region of the task space with its mean
progress, the last coordinate of its mean. Kept apart from the samplers because it is plain
numerical code with one job, fitting and serialising a mixture, that knows nothing of tasks,
families or learners: the samplers decide what to fit and how to draw from it, this module only
fits. Numpy only (full covariances, a small ridge; deterministic given the generator it is passed),
so the project needs no scikit-learn for ~60 lines.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray


class Mixture:
    """A fitted Gaussian mixture: weights, means and covariances; ``progress`` is each mean's last coordinate."""

    def __init__(self, weights: NDArray[np.float64], means: NDArray[np.float64], covs: NDArray[np.float64]) -> None:
        self.weights, self.means, self.covs = weights, means, covs
        self.progress = np.clip(means[:, -1], 0.0, None)

    def to_dict(self) -> dict[str, Any]:
        """Plain lists, for a checkpoint (a resumed run draws from the same mixture)."""
        return {"weights": self.weights.tolist(), "means": self.means.tolist(), "covs": self.covs.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Mixture:
        """Back from :meth:`to_dict`."""
        return cls(*(np.asarray(data[key], dtype=np.float64) for key in ("weights", "means", "covs")))


def log_densities(data: NDArray[np.float64], mix: Mixture) -> NDArray[np.float64]:
    """``[n, k]``: log weight plus log Gaussian density of every point under every component."""
    n, d = data.shape
    out = np.empty((n, len(mix.weights)))
    for j, (weight, mean, cov) in enumerate(zip(mix.weights, mix.means, mix.covs, strict=True)):
        chol = np.linalg.cholesky(cov)
        z = np.linalg.solve(chol, (data - mean).T)
        log_det = 2.0 * np.log(np.diag(chol)).sum()
        out[:, j] = math.log(max(weight, 1e-300)) - 0.5 * ((z**2).sum(0) + log_det + d * math.log(2 * math.pi))
    return out


def fit_mixture(data: NDArray[np.float64], k: int, rng: np.random.Generator, iters: int = 100) -> tuple[Mixture, float]:
    """EM for ``k`` full-covariance components from ``k`` distinct data points; returns it and its log-likelihood."""
    n, d = data.shape
    ridge = 1e-4 * np.eye(d)  # one-hot or constant features have no spread: keep covariances invertible
    spread = np.cov(data.T).reshape(d, d) + ridge
    mix = Mixture(np.full(k, 1.0 / k), data[rng.choice(n, size=k, replace=False)], np.stack([spread] * k))
    previous = -math.inf
    for _ in range(iters):
        log_p = log_densities(data, mix)
        log_norm = np.logaddexp.reduce(log_p, axis=1)
        resp = np.exp(log_p - log_norm[:, None])
        counts = resp.sum(axis=0) + 1e-10
        means = (resp.T @ data) / counts[:, None]
        covs = np.stack(
            [((resp[:, j, None] * (data - means[j])).T @ (data - means[j])) / counts[j] + ridge for j in range(k)]
        )
        mix = Mixture(counts / n, means, covs)
        likelihood = float(log_norm.sum())
        if likelihood - previous < 1e-6 * n:
            break
        previous = likelihood
    return mix, float(np.logaddexp.reduce(log_densities(data, mix), axis=1).sum())


def best_mixture(data: NDArray[np.float64], max_components: int, rng: np.random.Generator) -> Mixture:
    """The mixture of 1 to ``max_components`` components with the lowest AIC (ALP-GMM's criterion)."""
    n, d = data.shape
    best: tuple[float, Mixture] | None = None
    for k in range(1, min(max_components, n // 3) + 1):
        mix, likelihood = fit_mixture(data, k, rng)
        parameters = k * (d + d * (d + 1) / 2) + (k - 1)
        aic = 2.0 * parameters - 2.0 * likelihood
        if best is None or aic < best[0]:
            best = (aic, mix)
    if best is None:  # fewer than three points: one component over them all
        return fit_mixture(data, 1, rng)[0]
    return best[1]
