"""What one PEARL iteration collects: its episodes by task and buffer, and the scores the task sampler reads.

Kept apart from :mod:`agents.pearl.learner` so that the learner reads as its iteration, update step
and checkpoint state; these are the plain records its collection hands back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from agents.pearl.encoder import ContextEncoder
from agents.pearl.sac import TanhGaussianPolicy


@dataclass(frozen=True)
class Episode:
    """One collected episode of a training task, as replay rows."""

    task: int
    """index into the learner's training tasks"""
    rows: Tensor
    episode_return: float


@dataclass(frozen=True)
class Collection:
    """One iteration's episodes, by the buffers they go to."""

    prior: list[Episode]
    """prior-z episodes (replay and context)"""
    posterior: list[Episode]
    """the posterior rounds (replay and context)"""
    extra: list[Episode]
    """extra posterior-z episodes (replay only)"""


@dataclass(frozen=True)
class FrozenActors:
    """Copies of the policy and the encoder as the iteration began: what its collection acts and infers with."""

    policy: TanhGaussianPolicy
    encoder: ContextEncoder

    @torch.no_grad()
    def posterior_latents(
        self, tasks: list[int], context: dict[int, list[Tensor]], context_dim: int, gen: torch.Generator
    ) -> Tensor:
        """One ``z`` per entry of ``tasks``, sampled from the posterior of all that task's ``context`` rows."""
        latents = [self.encoder(torch.cat(context[task])[None, :, :context_dim]).rsample(gen) for task in tasks]
        return torch.cat(latents)


def remember(context: dict[int, list[Tensor]], episodes: list[Episode]) -> None:
    """Add each episode's rows to its task's context (what the next posterior round infers from)."""
    for episode in episodes:
        context[episode.task].append(episode.rows)


def task_scores(tasks: list[int], prior: list[Episode], posterior: list[Episode]) -> list[float]:
    """Each task's mean return with posterior z (after adapting), or with prior z where it ran none."""
    scores = []
    for task in tasks:
        returns = [e.episode_return for e in posterior if e.task == task]
        returns = returns or [e.episode_return for e in prior if e.task == task]
        scores.append(float(np.mean(returns)))
    return scores
