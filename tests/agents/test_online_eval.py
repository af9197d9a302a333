"""Recovery from a mid-episode change: scripted tracking errors give the known before, peak and recovery time."""

from __future__ import annotations

import csv
import math
import warnings

import numpy as np
import pytest

from agents.core.online_eval import (
    PERTURBATIONS,
    SLOPE_STEP_DEG,
    perturbations_for,
    recovery,
    rolling_mean,
    summarise,
)
from app.cli.main import main
from sim.params import TaskParams, with_values
from sim.tasks import AGENTS_DIR

DT = 0.1  # ten steps per simulated second: a 0.5-s window is 5 steps


def test_a_known_error_trace_gives_the_known_recovery() -> None:
    before = [0.1] * 10  # the second before the change
    after = [0.5] * 7 + [0.1] * 13  # 0.7 s of large error, then back at the old level
    result = recovery(before + after, change_step=10, control_dt=DT, fell=False)
    assert result.before_mps == pytest.approx(0.1)
    assert result.peak_mps == pytest.approx(0.5)
    assert result.after_mps == pytest.approx((7 * 0.5 + 13 * 0.1) / 20)  # from the change to the end
    # the first 5-step window within 1.2 x 0.1 covers steps 7..11 after the change: recovered at 1.2 s
    assert result.recovery_s == pytest.approx(1.2)
    assert not result.fell


def test_never_recovering_reads_as_the_time_left_and_a_fall_before_the_change_as_unmeasured() -> None:
    never = recovery([0.1] * 10 + [0.9] * 30, change_step=10, control_dt=DT, fell=True)
    assert never.recovery_s == pytest.approx(3.0) and never.fell
    early = recovery([0.1] * 4, change_step=10, control_dt=DT, fell=True)
    assert math.isnan(early.recovery_s) and math.isnan(early.peak_mps)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "mean of empty slice" on a bench online run's output
        fell_at_once = recovery([], change_step=10, control_dt=DT, fell=True)
    assert math.isnan(fell_at_once.before_mps)


def test_rolling_mean_and_summary() -> None:
    assert np.allclose(rolling_mean(np.arange(6.0), 3), [1.0, 2.0, 3.0, 4.0])
    runs = [recovery([0.1] * 10 + [0.1] * 10, change_step=10, control_dt=DT, fell=f) for f in (False, True)]
    row = summarise(runs)
    assert row["runs"] == 2 and row["falls"] == pytest.approx(0.5) and row["recovery_s"] == pytest.approx(0.5)


def test_the_changes_follow_the_task_and_the_robot() -> None:
    payload, friction, motors, slope = PERTURBATIONS
    changes = [p.change_at(300, TaskParams(), 20.0) for p in (payload, friction, motors)]
    assert (changes[0].path, changes[0].value) == ("robot.payload_kg", 10.0)  # +50 % of a 20 kg body
    assert (changes[1].value, changes[2].value, changes[2].step) == (0.3, 0.6, 300)
    on_a_slope = with_values(TaskParams(), {"terrain.kind": "slope", "terrain.slope_deg": 10.0})
    assert slope.change_at(300, on_a_slope, 20.0).value == 10.0 + SLOPE_STEP_DEG
    assert slope.change_at(300, with_values(on_a_slope, {"terrain.slope_deg": 29.0}), 20.0).value == 30.0  # the bound


def test_a_slope_change_is_measured_only_on_slope_ground() -> None:
    slope = PERTURBATIONS[-1]
    on_a_slope = with_values(TaskParams(), {"terrain.kind": "slope"})
    assert slope.applies_to(on_a_slope) and not slope.applies_to(TaskParams())
    assert slope not in perturbations_for([TaskParams()])
    assert perturbations_for([TaskParams(), on_a_slope]) == PERTURBATIONS


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--change-at", "0.5"], "--change-at 0.5 is not allowed"),
        (["--seconds", "4", "--change-at", "5"], "--change-at 5 is not allowed"),
        (["--tasks", "0"], "--tasks 0 --seeds 3 are not allowed"),
    ],
)
def test_bench_online_refuses_bad_flags_in_one_line(flags: list[str], message: str, capsys) -> None:
    assert main(["bench", "online", "--family", "ant-dynamics", *flags]) == 2
    assert message in capsys.readouterr().err


def test_bench_online_refuses_per_step_rows_when_no_agent_updates_a_posterior(capsys) -> None:
    maml = str(AGENTS_DIR / "cheetah-velocity-maml.pt")
    assert main(["bench", "online", "--family", "cheetah-velocity", "--agents", maml, "--pearl-per-step"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("--pearl-per-step is not allowed here: none of the agents is a pearl or oracle-pearl agent")
    assert len(err.splitlines()) == 1


@pytest.mark.slow
def test_bench_online_writes_one_row_per_agent_and_change_and_a_plot(tmp_path, capsys) -> None:
    """The bundled cheetah agents on one short held-out episode each: the CSV a user reads, and its plot."""
    flags = ["--tasks", "1", "--seeds", "1", "--seconds", "1.5", "--change-at", "1", "--pearl-per-step"]
    assert main(["bench", "online", "--family", "cheetah-velocity", *flags, "--out", str(tmp_path)]) == 0
    with (tmp_path / "online-cheetah-velocity.csv").open() as file:
        rows = list(csv.DictReader(file))
    agents = {row["agent"] for row in rows}
    assert {"pearl", "pearl-step", "multitask"} <= agents
    assert len(rows) == len(agents) * 3  # payload, friction, motors: no slope on cheetah-velocity's flat ground
    assert {"agent", "change", "before_mps", "after_mps", "recovery_s", "falls"} <= set(rows[0])
    assert (tmp_path / "online-cheetah-velocity.png").stat().st_size > 10_000
    assert not list(tmp_path.glob(".*"))  # nothing half-written left beside them
