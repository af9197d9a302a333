"""scripts/sampler_comparison.py without training: the share of tracking cells and its interval from given
errors, the plan over finished / partial / missing / foreign run directories, and the cached map's checks."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import scripts.sampler_comparison as comparison
from agents.core.evaluation import t95
from agents.core.task_map import CellResult, MapSpec, axis_for
from agents.storage.runs import CHECKPOINT_FILE, FAMILY_FILE, METRICS_FILE, RUN_FILE
from app.cli.bench_map import write_csv
from scripts.sampler_comparison import (
    RunResult,
    RunSpec,
    build_parser,
    errors_after_shot,
    expected_settings,
    format_table,
    interval_text,
    main,
    map_csv,
    map_is_current,
    plan_run,
    run_path,
    tracking_share,
    train_argv,
)
from sim.tasks import load_family

FAMILY = load_family("ant-wide")
SETTINGS = {
    "algorithm": "rma",
    "seed": 0,
    "env": "locomotion",
    "config": {"horizon": 600, "task_sampler": "uniform"},
    "env_config": {"observe_goal": True},
}
FLAGS = ["--family", "ant-wide", "--algo", "rma", "--iterations", "5", "--seeds", "0", "1"]
FIELDS = ["--x", "robot.payload_kg", "--y", "robot.motor_strength_scale", "--grid", "2x3"]


@pytest.fixture(autouse=True)
def no_sim2adapt_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing here may train or map for real: a flag that slips through fails the test instead of training."""

    def refuse(argv: list[str]) -> None:
        raise AssertionError(f"the test ran sim2adapt {' '.join(argv)}")

    monkeypatch.setattr(comparison, "sim2adapt", refuse)


def fake_run(path: Path, settings: dict[str, Any], *, target: int, lines: int, checkpoint: bool = True) -> None:
    """A run directory as ``sim2adapt train`` leaves it after ``lines`` iterations (the checkpoint is empty)."""
    path.mkdir(parents=True)
    (path / FAMILY_FILE).write_text(FAMILY.to_json())
    (path / RUN_FILE).write_text(json.dumps({**settings, "iterations": target, "device": "auto", "num_workers": 2}))
    rows = [
        {"iteration": i, "pre_return": 0.0, "post_return": None, "loss": 0.0, "env_steps": 100} for i in range(lines)
    ]
    (path / METRICS_FILE).write_text("".join(json.dumps(row) + "\n" for row in rows))
    if checkpoint:
        (path / CHECKPOINT_FILE).write_bytes(b"")
        newer = (path / METRICS_FILE).stat().st_mtime_ns + 10**9
        os.utime(path / CHECKPOINT_FILE, ns=(newer, newer))  # saved after the iteration's metrics line


def spec(path: Path, sampler: str = "uniform") -> RunSpec:
    return RunSpec(sampler, 0, path, {**SETTINGS, "config": {**SETTINGS["config"], "task_sampler": sampler}}, FAMILY)


def test_share_counts_cells_within_the_tolerance_over_measured_cells() -> None:
    assert tracking_share([0.1, 0.15, 0.2, math.nan]) == pytest.approx(2 / 3)  # 0.15 itself tracks
    assert tracking_share([0.3, 0.4], tolerance=0.35) == 0.5
    assert math.isnan(tracking_share([math.nan, math.nan]))  # the toy env measures no error


def test_interval_is_student_t_over_seeds() -> None:
    half = t95(2) * 0.1 / math.sqrt(3)  # shares 0.5, 0.6, 0.7: std 0.1
    assert interval_text([0.5, 0.6, 0.7]) == (
        "60 %",
        f"{100 * (0.6 - half):.0f} %-{100 * (0.6 + half):.0f} % (± {100 * half:.0f} %)",
    )
    assert interval_text([0.4]) == ("40 %", "- (one seed)")
    assert interval_text([math.nan, math.nan]) == ("-", "-")  # the toy env measures no error
    results = [RunResult("uniform", 0, 0.5, 1_000_000), RunResult("progress", 1, 0.25, 2_000_000)]
    table = format_table(results, [0, 1]).splitlines()
    assert table[2] == "| uniform | 50 % | - | 50 % | - (one seed) | 1,000,000, - |"
    assert table[3] == "| progress | - | 25 % | 25 % | - (one seed) | -, 2,000,000 |"


def test_plan_trains_missing_resumes_partial_and_skips_finished_runs(tmp_path: Path) -> None:
    assert plan_run(spec(tmp_path / "missing"), 5).action == "train"
    (tmp_path / "killed-before-run-json").mkdir()
    assert plan_run(spec(tmp_path / "killed-before-run-json"), 5).action == "train"
    fake_run(tmp_path / "no-checkpoint", SETTINGS, target=5, lines=0, checkpoint=False)
    assert (
        plan_run(spec(tmp_path / "no-checkpoint"), 5).action,
        plan_run(spec(tmp_path / "no-checkpoint"), 5).done,
    ) == (
        "resume",
        0,
    )
    fake_run(tmp_path / "partial", SETTINGS, target=5, lines=3)
    assert (plan_run(spec(tmp_path / "partial"), 5).action, plan_run(spec(tmp_path / "partial"), 5).done) == (
        "resume",
        3,
    )
    fake_run(tmp_path / "finished", SETTINGS, target=5, lines=5)
    assert plan_run(spec(tmp_path / "finished"), 5).action == "skip"
    assert plan_run(spec(tmp_path / "finished"), 8).action == "resume"  # a larger budget extends it


def test_a_line_written_after_the_last_checkpoint_is_not_counted(tmp_path: Path) -> None:
    fake_run(tmp_path / "run", SETTINGS, target=5, lines=5)
    metrics = tmp_path / "run" / METRICS_FILE
    later = (tmp_path / "run" / CHECKPOINT_FILE).stat().st_mtime_ns + 10**9
    os.utime(metrics, ns=(later, later))  # killed between the 5th metrics line and its checkpoint
    plan = plan_run(spec(tmp_path / "run"), 5)
    assert (plan.action, plan.done) == ("resume", 4)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"config": {**SETTINGS["config"], "task_sampler": "progress"}}, "config.task_sampler = 'progress'"),
        ({"config": {**SETTINGS["config"], "horizon": 200}}, "config.horizon = 200 (this comparison: 600)"),
        ({"algorithm": "maml"}, "algorithm = 'maml'"),
        ({"env_config": {}}, "env_config.observe_goal = None (this comparison: True)"),
    ],
    ids=["sampler", "config", "algorithm", "env-config"],
)
def test_a_run_with_other_settings_is_refused_naming_the_key(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    fake_run(tmp_path / "run", {**SETTINGS, **change}, target=5, lines=5)
    with pytest.raises(ValueError, match=r"--runs-dir .* holds another run") as caught:
        plan_run(spec(tmp_path / "run"), 5)
    assert message in str(caught.value)


def test_a_larger_target_or_another_family_is_refused(tmp_path: Path) -> None:
    fake_run(tmp_path / "long", SETTINGS, target=10, lines=5)
    with pytest.raises(ValueError, match=r"--iterations 5 is not allowed: .* is set to train 10"):
        plan_run(spec(tmp_path / "long"), 5)
    fake_run(tmp_path / "other", SETTINGS, target=5, lines=5)
    (tmp_path / "other" / FAMILY_FILE).write_text(load_family("ant-dynamics").to_json())
    with pytest.raises(ValueError, match="trained on family 'ant-dynamics'"):
        plan_run(spec(tmp_path / "other"), 5)


def test_train_words_set_the_sampler_and_resume_keeps_the_stored_settings(tmp_path: Path) -> None:
    args = build_parser().parse_args([*FLAGS, "--runs-dir", str(tmp_path), *FIELDS, "--config", "lr=0.001"])
    fresh = train_argv(plan_run(spec(tmp_path / "progress-seed0", "progress"), 5), args)
    assert fresh[:2] == ["train", "--algo"]
    assert " --config lr=0.001 --config task_sampler=progress" in " ".join(fresh)
    assert fresh[fresh.index("--run-dir") + 1] == str(tmp_path / "progress-seed0")
    fake_run(tmp_path / "uniform-seed0", SETTINGS, target=5, lines=2)
    resumed = train_argv(plan_run(spec(tmp_path / "uniform-seed0"), 5), args)
    assert resumed == ["train", "--resume", str(tmp_path / "uniform-seed0"), "--iterations", "5"]


def write_map(path: Path, errors_after: list[float], *, seeds: int = 2) -> Path:
    """A ``bench map`` CSV of a 2x3 grid written by bench map's own writer, with given errors after one shot."""
    x = axis_for("--x", "robot.payload_kg", FAMILY, count=2)
    y = axis_for("--y", "robot.motor_strength_scale", FAMILY, count=3)
    map_spec = MapSpec(base=FAMILY.base, x=x, y=y, shots=1, seeds=seeds)
    results = []
    for cell, error in zip(map_spec.cells(), errors_after, strict=True):
        values = {key: np.zeros((seeds, 2)) for key in ("tracking_error_mps", "fall_share", "distance_m", "return")}
        values["tracking_error_mps"][:, 1] = error
        results.append(CellResult(cell, values, 0.0))
    csv_path = map_csv(path, "robot.payload_kg", "robot.motor_strength_scale")
    csv_path.parent.mkdir(parents=True)
    write_csv(map_spec, results, csv_path)
    return csv_path


def test_a_cached_map_gives_the_share_and_is_current_only_for_this_grid_after_the_checkpoint(tmp_path: Path) -> None:
    fake_run(tmp_path / "run", SETTINGS, target=5, lines=5)
    csv_path = write_map(tmp_path / "run", [0.1, 0.2, 0.15, 0.5, 0.05, 0.3])
    assert errors_after_shot(csv_path) == pytest.approx([0.1, 0.2, 0.15, 0.5, 0.05, 0.3])
    assert tracking_share(errors_after_shot(csv_path)) == 0.5
    fields = ["robot.payload_kg", "robot.motor_strength_scale"]
    checkpoint = tmp_path / "run" / CHECKPOINT_FILE
    os.utime(checkpoint, ns=(csv_path.stat().st_mtime_ns - 10**9,) * 2)
    assert map_is_current(csv_path, fields=fields, cells=6, seeds=2)
    assert not map_is_current(csv_path, fields=fields, cells=6, seeds=3)
    assert not map_is_current(csv_path, fields=fields, cells=9, seeds=2)
    assert not map_is_current(csv_path, fields=["robot.payload_kg", "terrain.friction"], cells=6, seeds=2)
    os.utime(checkpoint, ns=(csv_path.stat().st_mtime_ns + 10**9,) * 2)  # the run trained on after its map
    assert not map_is_current(csv_path, fields=fields, cells=6, seeds=2)


def test_dry_run_prints_the_plan_and_trains_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args([*FLAGS, "--runs-dir", str(tmp_path), *FIELDS])
    fake_run(run_path(tmp_path, "uniform", 0), expected_settings(args, "uniform", 0), target=5, lines=5)
    fake_run(run_path(tmp_path, "progress", 1), expected_settings(args, "progress", 1), target=5, lines=2)
    assert main([*FLAGS, "--runs-dir", str(tmp_path), *FIELDS, "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert f"{tmp_path}/uniform-seed0: skip (5/5 iterations), map to measure" in err
    assert f"{tmp_path}/uniform-seed1: train (0/5 iterations)" in err
    assert f"{tmp_path}/progress-seed1: resume (2/5 iterations)" in err
    assert not (tmp_path / "uniform-seed1").exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--seeds", "1", "1"], "--seeds 1 1 is not allowed: distinct whole numbers"),
        (["--algo", "multitask"], "--algo multitask is not allowed: one with a task_sampler setting"),
        (["--config", "task_sampler=uniform"], "--config task_sampler=uniform is not allowed"),
        (["--grid", "6x6x6"], "--grid '6x6x6' is not allowed"),
        (["--cell-seeds", "0"], "--cell-seeds 0 is not allowed"),
    ],
    ids=["seeds", "algo", "sampler", "grid", "cell-seeds"],
)
def test_bad_flags_are_one_line_naming_the_flag(
    tmp_path: Path, flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*FLAGS, "--runs-dir", str(tmp_path), *FIELDS, *flags, "--dry-run"]) == 2  # never trains
    err = capsys.readouterr().err
    assert err.startswith("sampler_comparison: error: ") and err.count("\n") == 1
    assert message in err
