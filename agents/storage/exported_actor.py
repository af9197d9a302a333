"""An exported policy as a controller runs it: the observation in, and whatever else its graph takes.

The files from :func:`agents.storage.export.export_policy` are pure graphs; their sidecar lists the
inputs after ``obs``. This class feeds them the way the agent fed itself in the app: ``noise`` as
standard normal draws (zeros for the mean action) and ``history`` as the last steps, oldest first,
empty at each episode start, each row laid out as the sidecar's ``memory.row`` says (RMA's
observation, action and valid flag; a policy that remembers rewards takes them through
:meth:`ExportedActor.observe`). ``play`` runs it, and so can any deployment that has only the exported files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

FEEDABLE_INPUTS = ("noise", "history")
"""inputs after ``obs`` that this actor knows how to feed"""
ROW_FIELDS = ("obs", "action", "reward", "valid")
"""what a history row may hold, in the order the sidecar's ``memory.row`` lists them"""
DEFAULT_ROW = ("obs", "action", "valid")
"""the row of a sidecar that names none (RMA's layout, the first policy with a history)"""


def _history_row(sidecar: Mapping[str, Any]) -> tuple[str, ...]:
    """The sidecar's ``memory.row``, refusing, naming them, fields this actor cannot fill."""
    memory = sidecar.get("memory")
    row = tuple(memory.get("row", DEFAULT_ROW)) if isinstance(memory, Mapping) else DEFAULT_ROW
    unknown = [name for name in row if name not in ROW_FIELDS]
    if unknown:
        raise ValueError(
            f"memory.row {', '.join(map(str, unknown))} is not allowed: play feeds {', '.join(ROW_FIELDS)}"
        )
    return row


def _check_row_width(row: tuple[str, ...], width: int, *, obs_dim: int, action_dim: int) -> None:
    """Refuse a history whose rows are not as wide as ``row``'s fields (before a step fails in numpy)."""
    wanted = sum({"obs": obs_dim, "action": action_dim, "reward": 1, "valid": 1}[name] for name in row)
    if wanted != width:
        raise ValueError(f"history rows of {width} values are not allowed with memory.row {list(row)}: {wanted} values")


class ExportedActor:
    """``(obs, rng) -> action`` for an exported graph, keeping its history between steps of an episode."""

    def __init__(
        self, run: Callable[..., NDArray[np.float32]], sidecar: Mapping[str, Any], *, mean_action: bool
    ) -> None:
        """Refuse, naming them, inputs it cannot feed (a recurrent state, say), before any step runs."""
        self.run, self.mean_action = run, mean_action
        inputs = list(sidecar.get("inputs", [{"name": "obs"}]))
        self.inputs = inputs[1:]
        unknown = [entry["name"] for entry in self.inputs if entry["name"] not in FEEDABLE_INPUTS]
        if unknown:
            raise ValueError(f"the exported policy needs the inputs {', '.join(unknown)}, which play cannot feed yet")
        self.action_dim = int(sidecar.get("action_dim", 0))
        shapes = {entry["name"]: tuple(entry["shape"]) for entry in self.inputs}
        self.history = np.zeros(shapes.get("history", (0, 0)), np.float32)
        self.row = _history_row(sidecar)
        if self.history.size:
            _check_row_width(
                self.row, self.history.shape[-1], obs_dim=int(inputs[0]["shape"][0]), action_dim=self.action_dim
            )
        self._step: dict[str, NDArray[np.float32]] | None = None
        self.start_episode()

    def start_episode(self) -> None:
        """A new episode: the history is empty (all rows zero, their valid flag 0)."""
        self.history[:] = 0.0
        self._step = None

    def __call__(self, obs: NDArray[np.float32], rng: np.random.Generator) -> NDArray[np.float32]:
        """The action for one observation; the step then joins the history (with its reward: at :meth:`observe`).

        Raises:
            ValueError: the history's rows hold the reward and the last step's was not observed.
        """
        if self._step is not None:
            raise ValueError("an action before observe() of the last step is not allowed: the history holds rewards")
        obs = np.asarray(obs, np.float32)
        fed = [self._input(entry["name"], rng) for entry in self.inputs]
        action: NDArray[np.float32] = np.asarray(self.run(obs, *fed), np.float32)
        if self.history.size:
            self._step = {"obs": obs, "action": action, "valid": np.ones(1, np.float32)}
            if "reward" not in self.row:  # the row is complete once the action is chosen
                self._remember()
        return action

    def observe(self, reward: float) -> None:
        """What followed the last action: a history whose rows hold the reward takes the step's row now."""
        if self._step is not None:
            self._step["reward"] = np.array([reward], np.float32)
            self._remember()

    def _remember(self) -> None:
        """The last step's row joins the history, the oldest row leaves."""
        assert self._step is not None
        row = np.concatenate([self._step[name] for name in self.row])
        self.history = np.concatenate([self.history[1:], row[None]])
        self._step = None

    def _input(self, name: str, rng: np.random.Generator) -> NDArray[np.float32]:
        if name == "history":
            return self.history
        if self.mean_action:
            return np.zeros(self.action_dim, np.float32)
        return rng.standard_normal(self.action_dim).astype(np.float32)
