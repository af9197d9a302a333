"""What a sampler worker runs: the batched :class:`Policy` protocol every rollout loop calls, and
the small stock policies that benchmarks and smoke tests ship to the workers (:mod:`sim.sampler`).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from numpy.typing import NDArray


class Policy(Protocol):
    """A batched acting policy as workers run it; it may carry per-env state across the steps of an episode.

    Maps observations ``[k, obs_dim]`` to actions ``[k, action_dim]``; must be picklable. The
    generator passed in is the worker's own, seeded from the episodes' seeds: a stochastic policy
    draws its noise there, so rollouts are reproducible and workers' noise differs.

    Every rollout loop calls, in this order: :meth:`start_episodes` for the rows whose env has just
    reset, ``__call__`` for the actions, then :meth:`observe` with what followed. A policy with
    memory (a history encoder, a recurrent core, a per-step posterior) keeps it per row and clears
    a row in :meth:`start_episodes`; a stateless one inherits :class:`StatelessPolicy`'s no-ops.

    It is shipped to the workers with each job, so a whole rollout costs one message per worker
    and its state lives in the worker's copy. The sampler only calls it: a torch policy arrives
    as the caller's object, and ``sim`` itself never imports torch.
    """

    def start_episodes(self, rows: NDArray[np.bool_]) -> None:
        """Rows (``[k]`` mask) whose env has just reset: forget what they remembered."""
        ...

    def __call__(self, obs: NDArray[np.float32], rng: np.random.Generator) -> NDArray[np.float32]:
        """Actions for a batch of observations."""
        ...

    def observe(self, rewards: NDArray[np.float64], next_obs: NDArray[np.float32], done: NDArray[np.bool_]) -> None:
        """What followed the last actions, per row; ``done`` rows ended their episode (or had already)."""
        ...


class StatelessPolicy:
    """Base of policies whose actions depend on the current observation alone: the hooks do nothing."""

    def start_episodes(self, rows: NDArray[np.bool_]) -> None:
        """Nothing to forget."""

    def observe(self, rewards: NDArray[np.float64], next_obs: NDArray[np.float32], done: NDArray[np.bool_]) -> None:
        """Nothing to remember."""


class UniformRandomPolicy(StatelessPolicy):
    """Uniform actions in ``[-1, 1]``; picklable, for benchmarks and smoke tests."""

    def __init__(self, action_dim: int) -> None:
        self.action_dim = action_dim

    def __call__(self, obs: NDArray[np.float32], rng: np.random.Generator) -> NDArray[np.float32]:
        return rng.uniform(-1.0, 1.0, (len(obs), self.action_dim)).astype(np.float32)


class ActionTablePolicy(StatelessPolicy):
    """Replays a fixed table of actions, the same row for every env; picklable, for benchmarks.

    Unlike random noise from the worker's generator, what each env does is then independent of
    how envs are spread over workers, so throughput comparisons across worker counts simulate the
    same motions.
    """

    def __init__(self, table: NDArray[np.float32]) -> None:
        self.table = table
        self.calls = 0

    def __call__(self, obs: NDArray[np.float32], rng: np.random.Generator) -> NDArray[np.float32]:
        row = self.table[self.calls % len(self.table)]
        self.calls += 1
        return np.broadcast_to(row, (len(obs), len(row))).copy()
