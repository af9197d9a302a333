"""The performance map: the grid covers its ranges, a scripted agent gives the map it should, workers change nothing.

The scripted agent and env are PyBullet-free and module-level (a spawned map worker imports them by
name): the env reports the torso readings :class:`sim.metrics.EpisodeMeter` reads, with a speed
error of ``0.1 m/s per kg of payload`` times the agent's remaining gap, which each update halves;
with a payload over 10 kg the unadapted robot falls.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from numpy.typing import NDArray

from agents.core.adaptation import AdaptiveAgent, BetweenEpisodesAgent, EpisodeRecord, UpdateInfo
from agents.core.task_map import (
    MapAxis,
    MapSpec,
    axis_for,
    grid_values,
    model_family,
    numeric_field,
    run_map,
)
from sim.params import TaskParams
from sim.tasks import TaskDistribution, UniformRange
from tests.processes import command_line, descendants_of, seconds_until_gone, start_time

FAMILY = TaskDistribution(
    name="scripted",
    vary={"robot.payload_kg": UniformRange(0.0, 15.0), "terrain.friction": UniformRange(0.2, 1.5)},
)


class ScriptedSpeedEnv(gym.Env[NDArray[np.float32], NDArray[np.float32]]):
    """Velocity = target - 0.1 * payload * action[0]; with payload > 10 and a gap over 0.75 it falls at step 3."""

    def __init__(self, task: TaskParams) -> None:
        self.task = task
        self.observation_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self.position, self.steps = 0.0, 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        self.position, self.steps = 0.0, 0
        target = self.task.goal.target_velocity_mps
        return np.zeros(1, np.float32), {
            "control_dt_s": 0.1,
            "target_velocity_mps": target,
            "position_along_heading_m": 0.0,
        }

    def step(self, action: NDArray[np.float32]) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        velocity = self.task.goal.target_velocity_mps - 0.1 * self.task.robot.payload_kg * float(action[0])
        self.position += 0.1 * velocity
        self.steps += 1
        fell = self.task.robot.payload_kg > 10.0 and float(action[0]) > 0.75 and self.steps == 3
        info = {"velocity_along_heading_mps": velocity, "position_along_heading_m": self.position, "fallen": fell}
        return np.zeros(1, np.float32), -abs(velocity), fell, False, info


class GapAgent(BetweenEpisodesAgent):
    """Acts with its gap (1 at first); every update halves it."""

    def __init__(self) -> None:
        self.gap = 1.0

    def act(self, obs: NDArray[np.float32], rng: np.random.Generator) -> NDArray[np.float32]:
        return np.array([self.gap], np.float32)

    def learn(self, episodes: list[EpisodeRecord]) -> UpdateInfo:
        self.gap /= 2.0
        return UpdateInfo(loss=0.0, kl=0.0, step_size=0.5)

    def adapted_policy(self) -> None:
        return None


class ScriptedAgent:
    """The :class:`~agents.core.task_map.MapAgent` of the scripted pair."""

    def new_agent(self) -> AdaptiveAgent:
        return GapAgent()

    def make_env(self, task: TaskParams) -> gym.Env[Any, Any]:
        return ScriptedSpeedEnv(task)


@dataclass(frozen=True)
class ScriptedLoader:
    """Picklable: what each worker process calls to build its agent."""

    def __call__(self) -> ScriptedAgent:
        return ScriptedAgent()


def map_workers() -> dict[int, int | None]:
    """This test process's spawned children (pid -> start time), not multiprocessing's resource tracker."""
    return {pid: start_time(pid) for pid in descendants_of(os.getpid()) if "spawn_main" in command_line(pid)}


def all_end(pids: dict[int, int | None]) -> bool:
    return all(seconds is not None for seconds in seconds_until_gone(pids, timeout_s=10.0).values())


def spec(nx: int = 4, ny: int = 3, **kw: Any) -> MapSpec:
    x = axis_for("--x", "robot.payload_kg", FAMILY, count=nx)
    y = axis_for("--y", "terrain.friction", FAMILY, count=ny)
    return MapSpec(base=FAMILY.base, x=x, y=y, shots=kw.pop("shots", 2), seeds=kw.pop("seeds", 2), max_steps=20, **kw)


def test_the_grid_covers_the_familys_ranges_end_to_end_with_the_other_fields_at_the_base_task() -> None:
    cells = spec().cells()
    assert len(cells) == 12
    assert sorted({c.task.robot.payload_kg for c in cells}) == [0.0, 5.0, 10.0, 15.0]
    assert sorted({round(c.task.terrain.friction, 6) for c in cells}) == [0.2, 0.85, 1.5]
    assert {c.task.goal for c in cells} == {FAMILY.base.goal}
    assert [(c.ix, c.iy) for c in cells[:5]] == [(0, 0), (1, 0), (2, 0), (3, 0), (0, 1)]  # row-major, y outer


def test_a_field_the_family_keeps_fixed_spans_the_schema_bounds_and_a_given_range_wins() -> None:
    axis = axis_for("--x", "goal.target_velocity_mps", FAMILY, count=3)
    low, high, _ = numeric_field("--x", "goal.target_velocity_mps")
    assert (axis.low, axis.high) == (low, high)
    assert axis_for("--x", "robot.payload_kg", FAMILY, count=2, value_range=(2.0, 4.0)).values() == (2.0, 4.0)


def test_the_scripted_agent_gives_the_expected_map_before_and_after_adapting() -> None:
    map_spec = spec()
    results = sorted(run_map(map_spec, ScriptedLoader(), workers=1), key=lambda r: r.cell.index)
    before = grid_values(map_spec, results, lambda r: float(r.mean("tracking_error_mps")[0]))
    after = grid_values(map_spec, results, lambda r: float(r.mean("tracking_error_mps")[-1]))
    payloads = np.array([0.0, 5.0, 10.0, 15.0])
    assert np.allclose(before, np.tile(0.1 * payloads, (3, 1)))  # the error depends on the payload only
    assert np.allclose(after, np.tile(0.1 * payloads / 4, (3, 1)))  # two updates halve it twice
    falls = grid_values(map_spec, results, lambda r: float(r.mean("fall_share")[0]))
    assert np.array_equal(falls, np.tile([0.0, 0.0, 0.0, 1.0], (3, 1)))  # only the 15-kg column, unadapted
    assert all(r.mean("fall_share")[-1] == 0.0 for r in results)
    assert np.allclose(results[3].gain(), [0.1 * 15 * 0.75] * 2)
    assert results[0].per_seed("return").shape == (2, 3)  # seeds x (1 + shots) episodes


@pytest.mark.slow  # two spawned workers import torch and PyBullet
@pytest.mark.slow
def test_two_workers_give_the_same_cells_as_one_and_leave_no_process_behind() -> None:
    map_spec = spec(nx=2, ny=2, shots=1, seeds=1)
    alone = {r.cell.index: r.per_seed("tracking_error_mps") for r in run_map(map_spec, ScriptedLoader(), workers=1)}
    shared = {r.cell.index: r.per_seed("tracking_error_mps") for r in run_map(map_spec, ScriptedLoader(), workers=2)}
    assert alone.keys() == shared.keys() == {0, 1, 2, 3}
    assert all(np.array_equal(alone[i], shared[i]) for i in alone)
    assert all_end(map_workers())


@pytest.mark.slow
def test_closing_the_map_early_stops_its_workers() -> None:
    cells = run_map(spec(nx=8, ny=8, shots=1, seeds=1), ScriptedLoader(), workers=2)
    next(cells)
    workers = map_workers()
    assert len(workers) == 2
    cells.close()
    assert all_end(workers)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: MapAxis("terrain.kind", 0.0, 1.0, 3), "--x 'terrain.kind' is not allowed: a numeric task field"),
        (lambda: MapAxis("robot.payload", 0.0, 1.0, 3), "--x 'robot.payload' is not allowed: a known field path"),
        (lambda: MapAxis("robot.payload_kg", 0.0, 1.0, 0), "--grid: 0 points along robot.payload_kg is not allowed"),
        (lambda: MapAxis("robot.payload_kg", 5.0, 1.0, 3, "--y"), "--y-range 5,1 is not allowed: low < high"),
        (lambda: MapAxis("robot.payload_kg", 0.0, 1e9, 3), "--x-range 0,1e+09 is not allowed"),
        (lambda: spec(shots=0), "--shots 0 is not allowed"),
    ],
    ids=["choice-field", "unknown-field", "grid-0", "reversed-range", "beyond-bounds", "shots-0"],
)
def test_bad_axes_and_budgets_are_refused_naming_the_flag(make: Any, message: str) -> None:
    with pytest.raises(ValueError) as err:
        make()
    assert message in str(err.value)


def test_the_same_field_on_both_axes_is_refused() -> None:
    x = axis_for("--x", "robot.payload_kg", FAMILY, count=2)
    y = axis_for("--y", "robot.payload_kg", FAMILY, count=2)
    with pytest.raises(ValueError, match=r"--y robot\.payload_kg is not allowed: a field other than --x"):
        MapSpec(base=FAMILY.base, x=x, y=y, max_steps=5)


def test_the_models_family_adds_mapped_fields_the_family_keeps_fixed() -> None:
    x = axis_for("--x", "robot.payload_kg", FAMILY, count=2)
    y = axis_for("--y", "goal.target_velocity_mps", FAMILY, count=2, value_range=(0.5, 1.5))
    family = model_family(FAMILY, MapSpec(base=FAMILY.base, x=x, y=y, max_steps=5))
    assert list(family.vary) == ["robot.payload_kg", "terrain.friction", "goal.target_velocity_mps"]
    assert family.vary["goal.target_velocity_mps"] == UniformRange(0.5, 1.5)
    assert model_family(FAMILY, MapSpec(base=FAMILY.base, x=x, max_steps=5)) is FAMILY
