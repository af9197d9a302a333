"""What the task editor's panel does besides the form, Qt-free: the preset catalogue, the family beside
Randomise and the draws from it, with an explicit state (:class:`TaskState`).

The panel (``app.window.widgets.task_panel``) owns the widgets and runs file reads and writes in job
threads; it asks this controller which family to offer and which task a draw gives.
"""

from __future__ import annotations

import enum

import numpy as np

from app.runtime.task_files import PresetCatalogue
from sim.params import TaskParams


class TaskState(enum.Enum):
    """Whether the catalogue (families and presets) has been read."""

    LOADING = "loading"
    """before the first read: Randomise has no family yet"""
    READY = "ready"


class TaskController:
    """The catalogue and the Randomise generator (seeded: the same seed draws the same tasks)."""

    def __init__(self, *, seed: int = 0) -> None:
        self.state = TaskState.LOADING
        self.catalogue: PresetCatalogue | None = None
        self._rng = np.random.default_rng(seed)

    def set_catalogue(self, catalogue: PresetCatalogue, *, current: str, task: TaskParams) -> str | None:
        """Take a fresh catalogue; returns the family to offer beside Randomise (None: no family at all).

        The family shown stays if it still exists; at first, it is the family the task is a held-out
        task of, else one of its robot, else the first.
        """
        self.catalogue = catalogue
        self.state = TaskState.READY
        families = catalogue.families
        if current in families:
            return current
        held_out_in = [name for name, family in families.items() if task in family.test_tasks()]
        same_robot = [name for name, family in families.items() if family.base.robot.name == task.robot.name]
        candidates = held_out_in or same_robot or list(families)
        return candidates[0] if candidates else None

    def can_randomise(self) -> bool:
        """Whether there is a family to draw from."""
        return self.catalogue is not None and bool(self.catalogue.families)

    def randomise(self, family: str) -> TaskParams | None:
        """A task drawn from ``family`` (None when the catalogue has no such family)."""
        if self.catalogue is None or family not in self.catalogue.families:
            return None
        return self.catalogue.families[family].sample_tasks(1, self._rng)[0]
