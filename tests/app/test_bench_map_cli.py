"""``sim2adapt bench map``: bad flags fail in one line before anything loads; a tiny real map writes its files,
and ``--predict`` draws the saved model without running an episode."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from app.cli.bench_map import parse_grid, parse_range
from app.cli.main import main

AGENT = ["bench", "map", "cheetah-velocity", "--algo", "maml"]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--x", "terrain.kind"], "--x 'terrain.kind' is not allowed: a numeric task field"),
        (["--x", "robot.payload_kg", "--y", "robot.payload_kg"], "--y robot.payload_kg is not allowed: a field other"),
        (["--x", "robot.payload_kg", "--y", "terrain.friction", "--grid", "0x3"], "--grid '0x3' is not allowed: NxM"),
        (["--x", "robot.payload_kg", "--grid", "3x3"], "--grid '3x3' is not allowed: N, a whole number >= 2"),
        (["--x", "robot.payload_kg", "--x-range", "heavy"], "--x-range 'heavy' is not allowed: LOW,HIGH"),
        (
            ["--x", "robot.payload_kg", "--x-range=5,1"],
            "--x-range '5,1' is not allowed: LOW,HIGH with finite LOW < HIGH",
        ),
        (["--x", "robot.payload_kg", "--x-range=0,500"], "--x-range 0,500 is not allowed: low < high within"),
        (["--x", "robot.payload_kg", "--y-range=0,1"], "--y-range 0,1 is not allowed without --y"),
        (["--x", "robot.payload_kg", "--seeds", "0"], "--seeds 0 is not allowed"),
        (["--x", "robot.payload_kg", "--seconds", "100"], "--seconds 100 is not allowed: at most"),
    ],
    ids=[
        "choice",
        "same-field",
        "grid-0",
        "grid-2d-for-curve",
        "range-text",
        "range-reversed",
        "range-out",
        "y-range",
        "seeds",
        "too-long",
    ],
)
def test_bad_flags_are_one_error_line_naming_flag_value_and_what_is_allowed(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*AGENT, *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sim2adapt: error: ") and err.count("\n") == 1
    assert message in err


def test_grids_and_ranges_parse() -> None:
    assert parse_grid(None, two_fields=True) == (8, 8)
    assert parse_grid("5", two_fields=True) == (5, 5)
    assert parse_grid("4x3", two_fields=True) == (4, 3)
    assert parse_grid(None, two_fields=False) == (8, None)
    assert parse_range("--x-range", "-20,20") == (-20.0, 20.0)
    assert parse_range("--x-range", None) is None


@pytest.mark.slow  # a bundled agent adapts on 6 cheetah tasks (short episodes)
def test_a_tiny_map_writes_one_csv_row_per_cell_and_episode_plots_a_model_and_a_prediction(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["--x", "goal.target_velocity_mps", "--y", "robot.payload_kg", "--grid", "3x2", "--seeds", "1"]
    flags += ["--steps", "15", "--workers", "1", "--out", str(tmp_path)]
    assert main([*AGENT, *flags]) == 0
    stem = tmp_path / "map-cheetah-velocity-maml-goal.target_velocity_mps-robot.payload_kg"
    with Path(f"{stem}.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 * 2 * 2  # cells x (before, after one shot)
    assert sorted({float(r["goal.target_velocity_mps"]) for r in rows}) == [0.0, 1.0, 2.0]  # the family's range
    assert sorted({float(r["robot.payload_kg"]) for r in rows}) == [0.0, 30.0]  # not varied: the schema's bounds
    for suffix in ("tracking", "falls", "gain"):
        assert Path(f"{stem}-{suffix}.png").stat().st_size > 10_000
    model = json.loads(Path(f"{stem}.model.json").read_text())
    assert len(model["errors"]) == 6
    assert "cells within 0.15 m/s" in capsys.readouterr().out
    assert main([*AGENT, *flags, "--grid", "6x4", "--predict"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("prediction (not measured)") and out.count("predicted error after adapting") == 24
    assert Path(f"{stem}-predicted.png").stat().st_size > 10_000
