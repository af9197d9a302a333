"""What the Map tab does, Qt-free: the map job (:meth:`~app.runtime.launcher.JobLauncher.map` runs it, in a
child process in the app), the request built from the tab's choices, and what the finished cells say
(grids, curves, colour levels, the clicked cell).

:func:`map_job` loads the checkpoint where it runs (torch stays out of the window's thread), builds the
grid over the agent's own family (ranges default to the family's, else the schema's bounds; the other
fields at the family's base task, as ``sim2adapt bench map`` does), yields a :class:`MapStarted`, then
each :class:`~agents.core.task_map.CellResult` of :func:`~agents.core.task_map.run_map` as it finishes
(with ``workers >= 2`` spread over that many processes of its own, so the child is not a daemon). The
panel (``app.window.widgets.map_panel``) only draws what :class:`MapController` says, so the rules are
testable without Qt.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from agents.core.child_process import JobControl
from agents.core.evaluation import t95
from agents.core.task_map import MAX_AXIS_CELLS, CellResult, MapCell, MapSpec, axis_for, numeric_field
from sim.params import get_value, task_fields
from sim.tasks import TaskDistribution, UniformRange

MEASURES = {"tracking_error_mps": "tracking error (m/s)", "fall_share": "falls (share of runs)", "return": "return"}
"""what the tab can draw, by the key :class:`CellResult` stores (the toy env measures the return only)"""
HIGHER_IS_BETTER = frozenset({"return"})
"""measures whose gain is after minus before (for the others, before minus after): gain > 0 means adapting helped"""
VIEWS = ("before", "after", "gain")


def numeric_fields() -> list[str]:
    """The task fields a map can sweep: numbers with bounds, in schema order."""
    return [leaf.path for leaf in task_fields() if leaf.type in (int, float) and leaf.spec.low is not None]


@dataclass(frozen=True, kw_only=True)
class MapRequest:
    """One map as the tab's choices describe it; built on the GUI thread, read where the job runs."""

    checkpoint: Path
    x: str
    y: str | None
    """None: a curve over ``x``"""
    counts: tuple[int, int]
    """points along x and along y (the second is unused for a curve)"""
    shots: int
    seeds: int
    max_steps: int
    workers: int
    """processes measuring cells (0 or 1: in the job's own process)"""
    seed: int = 0

    def spec(self, family: TaskDistribution) -> MapSpec:
        """The grid over ``family``'s base task; raises ValueError naming the setting refused."""
        x = axis_for("X field", self.x, family, count=self.counts[0])
        y = None if self.y is None else axis_for("Y field", self.y, family, count=self.counts[1])
        return MapSpec(
            base=family.base, x=x, y=y, shots=self.shots, seeds=self.seeds, max_steps=self.max_steps, seed=self.seed
        )


@dataclass(frozen=True)
class MapStarted:
    """The checkpoint is loaded: the grid being measured and the family the agent trained on."""

    spec: MapSpec
    family: TaskDistribution
    algorithm: str


def map_job(control: JobControl, request: MapRequest) -> Iterator[MapStarted | CellResult]:
    """Measure the request's map, yielding :class:`MapStarted` then each cell as it finishes (see the module doc)."""
    import torch

    from agents.core.task_map import CheckpointLoader, MapAgent, run_map
    from agents.training.train import load_trained

    trained = load_trained(request.checkpoint, device=torch.device("cpu"))
    spec = request.spec(trained.family)
    yield MapStarted(spec, trained.family, trained.algorithm)

    def loaded() -> MapAgent:
        return trained  # one process measures every cell: the agent loaded above

    loader = CheckpointLoader(str(request.checkpoint)) if request.workers > 1 else loaded
    # closing this job (Stop) closes run_map too, which stops its worker processes there and then
    yield from run_map(spec, loader, workers=request.workers)


def training_span(family: TaskDistribution, path: str) -> tuple[float, float]:
    """The family's range of ``path`` (low == high: it trained at the base value only)."""
    varied = family.vary.get(path)
    if isinstance(varied, UniformRange):
        return float(varied.low), float(varied.high)
    base = float(get_value(family.base, path))
    return base, base


def cell_value(result: CellResult, measure: str, view: str) -> tuple[float, float]:
    """``(mean, 95 % half-width)`` over seeds of ``measure`` before / after adapting, or of the gain.

    Raises:
        ValueError: an unknown measure or view, naming the known ones.
    """
    runs = result.per_seed(measure)
    if view == "before":
        values = runs[:, 0]
    elif view == "after":
        values = runs[:, -1]
    elif view == "gain":
        values = runs[:, -1] - runs[:, 0] if measure in HIGHER_IS_BETTER else runs[:, 0] - runs[:, -1]
    else:
        raise ValueError(f"view = {view!r} is not allowed: one of {', '.join(VIEWS)}")
    mean = float(values.mean())
    if values.size < 2:
        return mean, math.nan
    return mean, t95(values.size - 1) * float(values.std(ddof=1)) / math.sqrt(values.size)


class MapState(enum.Enum):
    """Where the tab's map stands."""

    IDLE = "idle"
    RUNNING = "running"
    STOPPING = "stopping"
    """Stop was pressed: the job ends after the cell in hand"""


class MapController:
    """One map at a time: build its request, keep its cells as they arrive, say what to draw."""

    def __init__(self) -> None:
        self.state = MapState.IDLE
        self.request_made: MapRequest | None = None
        """the last map started (Save names its files after it)"""
        self.started: MapStarted | None = None
        """the map being drawn: its grid and the agent's family (None before its checkpoint loaded)"""
        self.results: dict[int, CellResult] = {}
        """finished cells by :attr:`MapCell.index`"""

    def can(self, action: str, *, checkpoint: Path | None = None) -> bool:
        """Whether ``run`` (given the chosen ``checkpoint``), ``stop`` or ``save`` makes sense now."""
        idle = self.state is MapState.IDLE
        allowed = {
            "run": idle and checkpoint is not None,
            "stop": self.state is MapState.RUNNING,
            "save": idle and bool(self.results),
        }
        return allowed[action]

    def request(
        self, *, checkpoint: Path, x: str, y: str | None, counts: tuple[int, int], shots: int, seeds: int,
        max_steps: int, workers: int,
    ) -> MapRequest:  # fmt: skip
        """The map the choices describe; raises ValueError naming the choice, its value and what is allowed."""
        numeric_field("X field", x)
        if y is not None:
            numeric_field("Y field", y)
            if y == x:
                raise ValueError(f"Y field {y} is not allowed: a field other than the X field ({x}), or none")
        for name, count in zip(("X", "Y") if y is not None else ("X",), counts, strict=False):
            if not 2 <= count <= MAX_AXIS_CELLS:
                raise ValueError(f"{name} points {count} is not allowed: a whole number from 2 to {MAX_AXIS_CELLS}")
        return MapRequest(
            checkpoint=checkpoint, x=x, y=y, counts=counts, shots=shots, seeds=seeds, max_steps=max_steps,
            workers=workers,
        )  # fmt: skip

    def begin(self, request: MapRequest) -> str:
        """A map starts: the last one's cells are forgotten; returns the status line."""
        self.state, self.request_made, self.started, self.results = MapState.RUNNING, request, None, {}
        return f"mapping: loading {request.checkpoint.name}"

    def on_started(self, started: MapStarted) -> str:
        """The checkpoint loaded and the grid is known: the status line."""
        self.started = started
        spec = started.spec
        return (
            f"mapping {started.algorithm} agent: {len(spec.cells())} cells x {spec.seeds} seed(s), "
            f"{spec.shots + 1} episodes of at most {spec.max_steps} steps each"
        )

    def on_cell(self, result: CellResult) -> str:
        """A finished cell: kept, and its status line."""
        self.results[result.cell.index] = result
        total = len(self.spec.cells())
        return f"map cell {len(self.results)}/{total}: {self.describe(result.cell, self.headline())}"

    def request_stop(self) -> str | None:
        """Stop was pressed: the status line, or None when no map runs."""
        if self.state is not MapState.RUNNING:
            return None
        self.state = MapState.STOPPING
        return "mapping: stopping after the cell in hand"

    def ended(self, *, stopped: bool) -> str:
        """The job's thread ended (completed, stopped or failed): a line saying how far it got."""
        self.state = MapState.IDLE
        total = len(self.spec.cells()) if self.started is not None else 0
        how = "stopped" if stopped else "map done" if total and len(self.results) == total else "map ended"
        return f"{how}: {len(self.results)} of {total} cells measured"

    # --- what to draw -------------------------------------------------------------------------------
    @property
    def spec(self) -> MapSpec:
        """The grid being drawn (raises before the checkpoint loaded)."""
        if self.started is None:
            raise RuntimeError("no map has started yet")
        return self.started.spec

    def headline(self) -> str:
        """The measure a status line quotes: tracking error, or the return where none is measured (the toy)."""
        cells = self.results.values()
        measured = any(np.isfinite(r.per_seed("tracking_error_mps")).any() for r in cells)
        return "tracking_error_mps" if measured else "return"

    def sorted_results(self) -> list[CellResult]:
        """The finished cells in grid order (what the CSV lists)."""
        return [self.results[i] for i in sorted(self.results)]

    def grid(self, measure: str, view: str) -> NDArray[np.float64]:
        """``[rows = y, columns = x]`` of the view's mean per finished cell, NaN where none yet."""
        grid = np.full(self.spec.shape, math.nan)
        for result in self.results.values():
            grid[result.cell.iy, result.cell.ix] = cell_value(result, measure, view)[0]
        return grid

    def curve(self, measure: str, view: str) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """x, mean and 95 % half-width (NaN with one seed) per finished cell, by x; NaN means left out."""
        points = sorted((r.cell.x, *cell_value(r, measure, view)) for r in self.results.values())
        rows = np.asarray([p for p in points if math.isfinite(p[1])], dtype=float).reshape(-1, 3)
        return rows[:, 0], rows[:, 1], rows[:, 2]

    def levels(self, measure: str, view: str) -> tuple[float, float]:
        """Colour-bar limits: one scale for before and after (switching views compares them), symmetric for gain."""
        if view == "gain":
            gain = self.grid(measure, "gain")
            reach = float(np.nanmax(np.abs(gain))) if np.isfinite(gain).any() else 0.0
            return -(reach or 1.0), reach or 1.0
        if measure == "fall_share":
            return 0.0, 1.0
        both = np.concatenate([self.grid(measure, "before").ravel(), self.grid(measure, "after").ravel()])
        both = both[np.isfinite(both)]
        if not both.size:
            return 0.0, 1.0
        low = 0.0 if measure == "tracking_error_mps" else float(both.min())
        high = float(both.max())
        return low, high if high > low else low + 1.0

    def training_ranges(self) -> tuple[tuple[float, float], tuple[float, float] | None]:
        """The family's range of the x field and of the y field (None for a curve)."""
        assert self.started is not None
        family, spec = self.started.family, self.started.spec
        return training_span(family, spec.x.path), None if spec.y is None else training_span(family, spec.y.path)

    def cell_at(self, x: float, y: float) -> MapCell | None:
        """The cell drawn at ``(x, y)`` in the fields' units (a curve: the nearest x), or None off the grid."""
        spec = self.spec
        ix = _nearest(spec.x.values(), x)
        iy = 0 if spec.y is None else _nearest(spec.y.values(), y)
        if ix is None or iy is None:
            return None
        return spec.cells()[iy * spec.x.count + ix]

    def describe(self, cell: MapCell, measure: str | None = None) -> str:
        """``robot.payload_kg = 7.5, terrain.friction = 0.3``: where a cell is; with ``measure``, how it went
        before and after adapting (when it has been measured)."""
        spec = self.spec
        place = f"{spec.x.path} = {cell.x:g}"
        place = place if spec.y is None else f"{place}, {spec.y.path} = {cell.y:g}"
        result = self.results.get(cell.index)
        if measure is None or result is None:
            return place
        before, after = (cell_value(result, measure, view)[0] for view in ("before", "after"))
        return f"{place} ({MEASURES[measure]} {before:.3g} before, {after:.3g} after adapting)"


def _nearest(values: tuple[float, ...], value: float) -> int | None:
    """The index of the grid value whose cell (half a step either side) holds ``value``, or None."""
    half = (values[-1] - values[0]) / (len(values) - 1) / 2
    index = int(np.argmin(np.abs(np.asarray(values) - value)))
    return index if abs(values[index] - value) <= half else None
