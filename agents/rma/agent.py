"""RMA acting: a history per env row, ``z_hat`` re-estimated every step, no gradient steps at test time.

:class:`HistoryPolicy` is what sampler workers run in phase 2 of training (DAgger rollouts) and
what :class:`RMAAgent` runs in :func:`agents.core.adaptation.adapt`: the same stateful policy, fed
the per-step feedback the acting contract provides. Both act through
:class:`~agents.rma.networks.OnlinePolicy`, the module that is exported.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from agents.core.adaptation import EpisodeRecord, StepFeedback, UpdateInfo
from agents.core.learner import ActingOption
from agents.core.one_episode import OneEpisodeActing
from agents.rma.networks import OnlinePolicy, history_width
from sim.params import TaskParams


class HistoryPolicy:
    """A batched sampler policy with memory: each row keeps its last ``history_len`` steps.

    Observations may carry more than the robot's own values (training envs append the true task's
    features): only the first ``obs_dim`` are read, so the student never sees the task.
    """

    def __init__(self, module: OnlinePolicy, *, deterministic: bool = False) -> None:
        """Act with a CPU copy of ``module``; ``deterministic`` feeds zero noise (the mean action)."""
        self.module = copy.deepcopy(module).to("cpu").eval().requires_grad_(False)
        self.deterministic = deterministic
        self.width = history_width(module.obs_dim, module.action_dim)
        self.history = np.zeros((0, module.history_len, self.width), np.float32)
        self._last_obs = np.zeros((0, module.obs_dim), np.float32)
        self._last_actions = np.zeros((0, module.action_dim), np.float32)

    def start_episodes(self, rows: NDArray[np.bool_]) -> None:
        """Rows whose env has just reset start with an empty (all-invalid) history."""
        if len(self.history) != len(rows):
            self.history = np.zeros((len(rows), self.module.history_len, self.width), np.float32)
        self.history[rows] = 0.0

    def __call__(self, obs: NDArray[np.float32], rng: np.random.Generator) -> NDArray[np.float32]:
        """Actions for ``obs`` ``[k, >= obs_dim]`` given each row's history; noise from ``rng``."""
        raw = np.asarray(obs, np.float32)[:, : self.module.obs_dim]
        shape = (len(raw), self.module.action_dim)
        noise = np.zeros(shape, np.float32) if self.deterministic else rng.standard_normal(shape).astype(np.float32)
        with torch.no_grad():
            tensors = (torch.as_tensor(raw), torch.as_tensor(self.history), torch.as_tensor(noise))
            actions: NDArray[np.float32] = self.module(*tensors).numpy()
        self._last_obs, self._last_actions = raw, actions
        return actions

    def observe(self, rewards: NDArray[np.float64], next_obs: NDArray[np.float32], done: NDArray[np.bool_]) -> None:
        """Append the step just taken (observation, action, valid) to every row's history."""
        rows = np.concatenate([self._last_obs, self._last_actions, np.ones((len(self._last_obs), 1), np.float32)], 1)
        self.history = np.concatenate([self.history[:, 1:], rows[:, None]], axis=1)

    def estimate(self) -> NDArray[np.float32]:
        """Each row's current ``z_hat`` (what the agent believes about the task, in latent units)."""
        with torch.no_grad():
            z: NDArray[np.float32] = self.module.estimate(torch.as_tensor(self.history)).numpy()
        return z

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        torch.set_num_threads(1)  # in a sampler worker: the other core simulates


ADAPTATION = ActingOption(
    name="adaptation", values=("on", "off"), offered_as="adapt within the episode, so theirs can be switched off"
)
"""whether an RMA agent adapts at test time: ``off`` is the RMA paper's "w/o adaptation" ablation, the
same policy with the estimate of the task from an empty history all episode (the before-adapting
row bench adapt compares the adapting agent with)"""


class RMAAgent(OneEpisodeActing):
    """Adapts within the episode: ``z_hat`` from the last steps, re-estimated before every action."""

    actor: HistoryPolicy

    def __init__(
        self,
        module: OnlinePolicy,
        *,
        reference: Callable[[TaskParams], NDArray[np.float32]] | None = None,
        adapting: bool = True,
    ) -> None:
        """Act with a private copy of ``module``; ``reference`` gives the teacher's ``z`` of a true task, if known.

        ``adapting=False`` never lets a step into the history, so ``z_hat`` stays the module's estimate
        from an empty history all episode: the same policy without its adaptation (the RMA paper's
        "w/o adaptation" ablation), the before-adapting row an online agent otherwise lacks.
        """
        self.actor = HistoryPolicy(module)
        self.actor.start_episodes(np.ones(1, bool))
        self.reference = reference
        self.adapting = adapting

    def observe(self, feedback: StepFeedback) -> None:
        """The step just taken joins the history (its reward is not used: RMA reads proprioception)."""
        if self.adapting:
            super().observe(feedback)

    def task_estimate(self, task: TaskParams) -> tuple[NDArray[np.float32], NDArray[np.float32] | None]:
        """``z_hat`` from the history so far, and the teacher's ``z`` of ``task`` (what ``z_hat`` should approach)."""
        return self.actor.estimate()[0], None if self.reference is None else self.reference(task)

    def learn(self, episodes: list[EpisodeRecord]) -> UpdateInfo:
        """No gradient steps at test time: adaptation happens inside every episode."""
        return UpdateInfo(loss=0.0, kl=0.0, step_size=0.0)

    def adapted_policy(self) -> OnlinePolicy:
        """The acting module (its history input is the caller's to keep)."""
        return copy.deepcopy(self.actor.module)
