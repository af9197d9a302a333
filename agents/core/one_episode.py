"""Acting one episode at a time through a batched sampler policy, for agents whose memory lives there.

An agent that adapts within the episode keeps its memory (RMA's history, a running mean...) in the
same :class:`~sim.sampler.Policy` the sampler workers run during training, one row per env. At test
time the adaptation loop drives one episode: :class:`OneEpisodeActing` maps the agent's
``start_episode`` / ``act`` / ``observe`` onto that policy's single row, so such an agent writes
none of the three itself.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from agents.core.adaptation import StepFeedback
from sim.sampler import Policy


class OneEpisodeActing:
    """The acting half of an agent, as one row of the batched policy ``actor`` (set by the subclass)."""

    actor: Policy

    def start_episode(self) -> None:
        """A new episode: the row forgets what it remembered."""
        self.actor.start_episodes(np.ones(1, bool))

    def act(self, obs: NDArray[np.float32], rng: np.random.Generator) -> NDArray[np.float32]:
        """A sampled action for one observation, given the row's memory so far."""
        action: NDArray[np.float32] = self.actor(np.asarray(obs, np.float32)[None], rng)[0]
        return action

    def observe(self, feedback: StepFeedback) -> None:
        """What followed the action joins the row's memory."""
        done = np.array([feedback.terminated or feedback.truncated])
        self.actor.observe(np.array([feedback.reward]), np.asarray(feedback.next_obs, np.float32)[None], done)
