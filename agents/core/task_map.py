"""Where does an agent fail? Its physical performance over a grid of one or two task fields.

A map answers the first question after training, "for which payloads, frictions and slopes does my
agent work, and where does adaptation rescue it?": every cell of a grid over one or two numeric task
fields (the other fields at the family's base task) is adapted to ``shots`` times with a fresh
agent, several seeds per cell, by the one adaptation generator :func:`agents.core.adaptation.adapt`,
and measured in the units a roboticist reads (tracking error in m/s, falls, distance) before any
adaptation (episode 0) and after each adaptation episode.

:func:`run_map` is a generator of :class:`CellResult`, plain frozen dataclasses yielded as cells
finish, so that the CLI prints progress and a window draws cells as they arrive; the CLI, the
window and the tests iterate the same generator. With ``workers >= 2`` the cells are spread over
that many spawned child processes (:class:`agents.core.child_process.ChildProcess`: PyBullet holds
the GIL while it steps, so only processes use the second core; each child builds its own agent and
envs, ties its life to its parent's, and is stopped when the generator is closed). A cell gives the
same numbers in any worker: its runs are seeded from the cell's index, not from the worker.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import queue
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

from agents.core.adaptation import AdaptConfig, AdaptiveAgent, AdaptResult, EpisodeEvent, adapt
from agents.core.child_process import ChildProcess, JobControl
from agents.core.evaluation import TASK_SEED_STRIDE, t95
from sim.params import TaskParamError, TaskParams, field_by_path, with_values
from sim.tasks import TaskDistribution, UniformRange

MAX_AXIS_CELLS = 64
"""Most grid points along one field: a 64 x 64 map of 10-s episodes is already hours on two cores."""
MEASURES = ("tracking_error_mps", "fall_share", "distance_m", "return")
"""what a cell records per seed and episode (``fall_share``: 1.0 fell, 0.0 did not)"""


def numeric_field(flag: str, path: str) -> tuple[float, float, bool]:
    """The schema bounds of a numeric field and whether it holds whole numbers.

    Raises:
        ValueError: ``path`` unknown or not a number (a choice such as ``terrain.kind``), naming ``flag``.
    """
    try:
        leaf = field_by_path(path)
    except TaskParamError as err:
        raise ValueError(f"{flag} {path!r} is not allowed: {err.allowed}") from err
    spec = leaf.spec
    if leaf.type not in (int, float) or spec.low is None or spec.high is None:
        raise ValueError(f"{flag} {path!r} is not allowed: a numeric task field ({path} is {spec.describe_allowed()})")
    return float(spec.low), float(spec.high), leaf.type is int


@dataclass(frozen=True)
class MapAxis:
    """``count`` evenly spaced values of one numeric task field from ``low`` to ``high``, both ends included."""

    path: str
    low: float
    high: float
    count: int
    flag: str = "--x"
    """the command-line flag that named this axis: every error names it"""

    def __post_init__(self) -> None:
        bound_low, bound_high, _ = numeric_field(self.flag, self.path)
        if isinstance(self.count, bool) or not isinstance(self.count, int) or not 2 <= self.count <= MAX_AXIS_CELLS:
            raise ValueError(
                f"--grid: {self.count!r} points along {self.path} is not allowed: "
                f"a whole number from 2 to {MAX_AXIS_CELLS} (both ends of the range are measured)"
            )
        if not (
            math.isfinite(self.low) and math.isfinite(self.high) and bound_low <= self.low < self.high <= bound_high
        ):
            raise ValueError(
                f"{self.flag}-range {self.low:g},{self.high:g} is not allowed: "
                f"low < high within {self.path}'s bounds [{bound_low:g}, {bound_high:g}]"
            )

    @property
    def is_integer(self) -> bool:
        """Whether the field holds whole numbers (its values are rounded)."""
        return numeric_field(self.flag, self.path)[2]

    def values(self) -> tuple[float, ...]:
        """The grid's values along this field, low to high."""
        points = np.linspace(self.low, self.high, self.count)
        return tuple(float(round(v)) if self.is_integer else float(v) for v in points)

    def value_for_task(self, value: float) -> float | int:
        """``value`` as the schema stores it (an int field takes an int)."""
        return round(value) if self.is_integer else float(value)


def axis_for(
    flag: str, path: str, family: TaskDistribution, *, count: int, value_range: tuple[float, float] | None = None
) -> MapAxis:
    """An axis over ``path``: ``value_range`` if given, else the family's range, else the schema's bounds."""
    low_bound, high_bound, _ = numeric_field(flag, path)
    if value_range is None:
        varied = family.vary.get(path)
        value_range = (varied.low, varied.high) if isinstance(varied, UniformRange) else (low_bound, high_bound)
        if value_range[0] == value_range[1]:  # a family range of one value: nothing to map within it
            value_range = (low_bound, high_bound)
    return MapAxis(path, float(value_range[0]), float(value_range[1]), count, flag)


@dataclass(frozen=True)
class MapCell:
    """One grid point: its place (``ix``, ``iy``; ``iy`` is 0 on a one-field curve), values and task."""

    index: int
    """position in :meth:`MapSpec.cells` (row-major, ``y`` outer); it seeds the cell's runs"""
    ix: int
    iy: int
    x: float
    y: float | None
    task: TaskParams


@dataclass(frozen=True, kw_only=True)
class MapSpec:
    """What a map measures: the grid, the base task of the other fields, and each cell's budget."""

    base: TaskParams
    x: MapAxis
    y: MapAxis | None = None
    """None: a curve over ``x`` alone"""
    shots: int = 1
    """adaptation episodes after the first (unadapted) one: episode ``k`` acts after ``k`` updates"""
    seeds: int = 3
    """runs per cell, each with its own env resets and action noise"""
    max_steps: int = 600
    """steps per episode at most"""
    seed: int = 0

    def __post_init__(self) -> None:
        if self.y is not None and self.y.path == self.x.path:
            raise ValueError(f"--y {self.y.path} is not allowed: a field other than --x {self.x.path}")
        for flag, value, low in (
            ("--shots", self.shots, 1),
            ("--seeds", self.seeds, 1),
            ("--steps", self.max_steps, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{flag} {value!r} is not allowed: a whole number >= {low}")
        self.cells()  # building every task now: a value the schema refuses fails here, before any episode

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, columns)`` of the grid: ``(1, x.count)`` for a curve."""
        return (1 if self.y is None else self.y.count, self.x.count)

    def cells(self) -> list[MapCell]:
        """Every grid point with its task, row-major (``y`` outer, ``x`` inner)."""
        xs, ys = self.x.values(), (None,) if self.y is None else self.y.values()
        cells: list[MapCell] = []
        for iy, y in enumerate(ys):
            for ix, x in enumerate(xs):
                changes: dict[str, Any] = {self.x.path: self.x.value_for_task(x)}
                if self.y is not None and y is not None:
                    changes[self.y.path] = self.y.value_for_task(y)
                task = with_values(self.base, changes)
                cells.append(MapCell(index=len(cells), ix=ix, iy=iy, x=x, y=y, task=task))
        return cells

    def adapt_config(self, cell: MapCell, seed_index: int) -> AdaptConfig:
        """The budget and seed of one run: ``shots + 1`` episodes, an update after each but the last."""
        run_seed = self.seed + seed_index + TASK_SEED_STRIDE * cell.index  # no two cells replay the same noise
        return AdaptConfig(shots=self.shots + 1, updates=self.shots, max_steps=self.max_steps, seed=run_seed)


@dataclass(frozen=True)
class CellResult:
    """A finished cell: per measure, ``[seed, episode]`` values (episode 0 before adaptation; NaN unmeasured)."""

    cell: MapCell
    values: dict[str, NDArray[np.float64]]
    """one ``[seeds, shots + 1]`` array per key of :data:`MEASURES`"""
    seconds: float
    """wall time of the cell's runs"""

    def per_seed(self, measure: str) -> NDArray[np.float64]:
        """``[seeds, episodes]`` of one of :data:`MEASURES`.

        Raises:
            ValueError: an unknown measure, naming the known ones.
        """
        if measure not in self.values:
            raise ValueError(f"measure = {measure!r} is not allowed: one of {', '.join(MEASURES)}")
        return self.values[measure]

    def mean(self, measure: str) -> NDArray[np.float64]:
        """Mean per episode over seeds."""
        return self.per_seed(measure).mean(axis=0)  # type: ignore[no-any-return]

    def ci95(self, measure: str) -> NDArray[np.float64]:
        """Half-width of the Student-t 95 % interval of :meth:`mean` per episode (NaN with one seed)."""
        runs = self.per_seed(measure)
        if runs.shape[0] < 2:
            return np.full(runs.shape[1], math.nan)
        return t95(runs.shape[0] - 1) * runs.std(axis=0, ddof=1) / math.sqrt(runs.shape[0])  # type: ignore[no-any-return]

    def gain(self) -> NDArray[np.float64]:
        """Per seed, tracking error before minus after the last adaptation episode (m/s; > 0: adapting helped)."""
        error = self.per_seed("tracking_error_mps")
        return error[:, 0] - error[:, -1]


class MapAgent(Protocol):
    """What a map needs of a trained agent (:class:`agents.training.train.TrainedAgent` is one)."""

    def new_agent(self) -> AdaptiveAgent:
        """A fresh adapting agent on its own copy of the weights."""
        ...

    def make_env(self, task: TaskParams) -> gym.Env[Any, Any]:
        """An env for ``task`` with the settings the agent was trained with."""
        ...


AgentLoader = Callable[[], MapAgent]
"""Builds the agent in the process that runs cells: a picklable module-level callable or frozen dataclass."""


@dataclass(frozen=True)
class CheckpointLoader:
    """Loads a checkpoint (file or run directory) on the CPU: what each worker process calls once."""

    path: str

    def __call__(self) -> MapAgent:
        """The trained agent in :attr:`path`."""
        import torch

        from agents.training.train import load_trained  # the training package imports this core, not the reverse

        return load_trained(self.path, device=torch.device("cpu"))


def evaluate_cell(agent: MapAgent, spec: MapSpec, cell: MapCell) -> CellResult:
    """Adapt a fresh agent to the cell's task once per seed and record every episode's measures."""
    start = time.perf_counter()
    shape = (spec.seeds, spec.shots + 1)
    values = {key: np.full(shape, math.nan) for key in MEASURES}
    for j in range(spec.seeds):
        for event in adapt(agent.new_agent, agent.make_env, cell.task, spec.adapt_config(cell, j)):
            if isinstance(event, EpisodeEvent) and event.metrics is not None:
                values["tracking_error_mps"][j, event.episode] = event.metrics.tracking_error_mps
                values["fall_share"][j, event.episode] = float(event.metrics.fell)
                values["distance_m"][j, event.episode] = event.metrics.distance_m
            elif isinstance(event, AdaptResult):
                values["return"][j] = event.episode_returns
    return CellResult(cell, values, time.perf_counter() - start)


def map_worker_job(control: JobControl, loader: AgentLoader, spec: MapSpec, pending: Any) -> Iterator[CellResult]:
    """A worker process's job: take cell indices from ``pending`` until its end marker (None), yield each result.

    One torch thread per worker: the workers already fill the cores, and more threads only contend.
    """
    import torch

    torch.set_num_threads(1)
    agent = loader()
    cells = spec.cells()
    while not control.stop_requested():
        index = pending.get()
        if index is None:
            return
        yield evaluate_cell(agent, spec, cells[index])


def run_map(
    spec: MapSpec, loader: AgentLoader, *, workers: int = 2, cells: Sequence[int] | None = None
) -> Iterator[CellResult]:
    """Evaluate the map's cells (all, or the indices in ``cells``), yielding each result as it finishes.

    ``workers <= 1`` runs every cell in the calling thread (tests, or a caller that is itself a
    child process with one core to spare); otherwise the cells go to that many spawned workers,
    whichever is free first, so results arrive out of order (:attr:`MapCell.index` says where). Closing
    the generator stops the workers; a worker's failure is raised here as
    :class:`~sim.child_failure.ChildFailed`.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f"--workers {workers!r} is not allowed: a whole number >= 0 (0 or 1: in this process)")
    all_cells = spec.cells()
    order = list(range(len(all_cells))) if cells is None else list(cells)
    if workers <= 1:
        agent = loader()
        for index in order:
            yield evaluate_cell(agent, spec, all_cells[index])
        return
    yield from _run_in_workers(spec, loader, order, min(workers, len(order)))


def _run_in_workers(spec: MapSpec, loader: AgentLoader, order: list[int], workers: int) -> Iterator[CellResult]:
    """Hand ``order``'s cells to ``workers`` child processes through one queue; yield results as they come."""
    pending: Any = mp.get_context("spawn").Queue()
    for index in [*order, *([None] * workers)]:  # one end marker per worker
        pending.put(index)
    children = [ChildProcess(map_worker_job, loader, spec, pending, name=f"sim2adapt-map-{i}") for i in range(workers)]
    try:
        for child in children:
            child.start()
        remaining = len(order)
        while remaining:
            for child in children:
                for result in child.receive(0.05):
                    remaining -= 1
                    yield result
            if remaining and all(child.finished() for child in children):
                raise RuntimeError(f"the map's workers ended with {remaining} cell(s) not measured")
    finally:
        for child in children:
            child.stop(grace_s=1.0, term_s=2.0)
        pending.cancel_join_thread()
        _drain(pending)


def _drain(pending: Any) -> None:
    """Empty the queue of cells nobody will take (its pipe is then free to close)."""
    while True:
        try:
            pending.get_nowait()
        except (queue.Empty, OSError, ValueError):
            return


def grid_values(
    spec: MapSpec, results: Sequence[CellResult], value: Callable[[CellResult], float]
) -> NDArray[np.float64]:
    """``[rows, columns]`` of ``value(result)`` per finished cell (``rows`` = 1 on a curve), NaN where none yet:
    what a heatmap draws while cells are still arriving."""
    grid = np.full(spec.shape, math.nan)
    for result in results:
        grid[result.cell.iy, result.cell.ix] = value(result)
    return grid


def model_family(family: TaskDistribution, spec: MapSpec) -> TaskDistribution:
    """The family's features plus each mapped field it does not vary (over the map's range).

    A performance model fitted on a map needs the mapped fields among its inputs; a field the family
    keeps fixed (a payload on a velocity family) would otherwise be invisible to it.
    """
    extra = {
        a.path: UniformRange(a.low, a.high) for a in (spec.x, spec.y) if a is not None and a.path not in family.vary
    }
    if not extra:
        return family
    return TaskDistribution(
        name=family.name,
        description=family.description,
        base=family.base,
        vary={**family.vary, **extra},
        num_test_tasks=family.num_test_tasks,
    )
