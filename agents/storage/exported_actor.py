"""An exported policy as a controller runs it: the observation in, and whatever else its graph takes.

The files from :func:`agents.storage.export.export_policy` are pure graphs; their sidecar lists the
inputs after ``obs``. This class feeds them the way the agent fed itself in the app: ``noise`` as
standard normal draws (zeros for the mean action) and ``history`` as the last steps of
(observation, action, 1), oldest first, empty at each episode start. ``play`` runs it, and so can
any deployment that has only the exported files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

FEEDABLE_INPUTS = ("noise", "history")
"""inputs after ``obs`` that this actor knows how to feed"""


class ExportedActor:
    """``(obs, rng) -> action`` for an exported graph, keeping its history between steps of an episode."""

    def __init__(
        self, run: Callable[..., NDArray[np.float32]], sidecar: Mapping[str, Any], *, mean_action: bool
    ) -> None:
        """Refuse, naming them, inputs it cannot feed (a recurrent state, say), before any step runs."""
        self.run, self.mean_action = run, mean_action
        self.inputs = [entry for entry in sidecar.get("inputs", [{"name": "obs"}])][1:]
        unknown = [entry["name"] for entry in self.inputs if entry["name"] not in FEEDABLE_INPUTS]
        if unknown:
            raise ValueError(f"the exported policy needs the inputs {', '.join(unknown)}, which play cannot feed yet")
        self.action_dim = int(sidecar.get("action_dim", 0))
        shapes = {entry["name"]: tuple(entry["shape"]) for entry in self.inputs}
        self.history = np.zeros(shapes.get("history", (0, 0)), np.float32)
        self.start_episode()

    def start_episode(self) -> None:
        """A new episode: the history is empty (all rows zero, their valid flag 0)."""
        self.history[:] = 0.0

    def __call__(self, obs: NDArray[np.float32], rng: np.random.Generator) -> NDArray[np.float32]:
        """The action for one observation; the step then joins the history."""
        obs = np.asarray(obs, np.float32)
        fed = [self._input(entry["name"], rng) for entry in self.inputs]
        action: NDArray[np.float32] = np.asarray(self.run(obs, *fed), np.float32)
        if self.history.size:
            row = np.concatenate([obs, action, np.ones(1, np.float32)])
            self.history = np.concatenate([self.history[1:], row[None]])
        return action

    def _input(self, name: str, rng: np.random.Generator) -> NDArray[np.float32]:
        if name == "history":
            return self.history
        if self.mean_action:
            return np.zeros(self.action_dim, np.float32)
        return rng.standard_normal(self.action_dim).astype(np.float32)
