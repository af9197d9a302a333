"""``sim2adapt train`` / ``adapt`` end to end on the toy env: run directories, resume, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from agents.runs import RunDir
from agents.train import TrainSettings, run_training, start_run
from app.cli import main
from sim.params import TaskParams, with_values
from sim.tasks import TaskDistribution, UniformRange

FAMILY = TaskDistribution(
    name="point-heading",
    base=with_values(TaskParams(), {"goal.target_velocity_mps": 1.0}),
    vary={"goal.target_heading_deg": UniformRange(-180.0, 180.0)},
    num_test_tasks=2,
)
TINY = {"meta_batch_size": 2, "episodes_per_task": 2, "horizon": 5, "outer_epochs": 1, "hidden_sizes": (8,)}


def tiny_settings(iterations: int) -> TrainSettings:
    config = {**TrainSettings().config, **TINY}
    return TrainSettings(seed=1, iterations=iterations, num_workers=1, env="point_mass", device="cpu", config=config)


def timeless(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if not k.endswith("_s")} for row in rows]


def test_train_then_adapt_from_the_command_line(tmp_path: Path, capsys) -> None:
    family_file = tmp_path / "family.json"
    family_file.write_text(FAMILY.to_json())
    run_dir = tmp_path / "run"
    overrides = [arg for key, value in TINY.items() if key != "hidden_sizes" for arg in ("--config", f"{key}={value}")]
    argv = ["train", "--family", str(family_file), "--env", "point_mass", "--iterations", "2", "--workers", "1"]
    assert main([*argv, *overrides, "--config", "hidden_sizes=8", "--run-dir", str(run_dir), "--device", "cpu"]) == 0
    assert len(RunDir.open(run_dir).metrics()) == 2
    assert capsys.readouterr().out.startswith(f"done: {run_dir}")

    assert main(["adapt", str(run_dir), "--test-task", "1", "--shots", "2", "--steps", "5", "--updates", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["episode", "phase", "return", "steps"]
    assert [line.split()[0] for line in out[1:3]] == ["0", "1"]
    assert "pre-adaptation" in out[1] and "after update 1" in out[2]


def test_resumed_run_equals_an_uninterrupted_one(tmp_path: Path) -> None:
    straight = start_run(tmp_path / "straight", settings=tiny_settings(3), family=FAMILY)
    list(run_training(straight))
    interrupted = start_run(tmp_path / "interrupted", settings=tiny_settings(3), family=FAMILY)
    training = run_training(interrupted)
    next(training)
    training.close()  # as if the process stopped after iteration 0
    list(run_training(RunDir.open(interrupted.path), resume=True))
    assert timeless(interrupted.metrics()) == timeless(straight.metrics())
    assert len(interrupted.metrics()) == 3


def test_bad_input_gives_one_error_line(tmp_path: Path, capsys) -> None:
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    cases = [
        (["adapt", str(foreign)], "not a sim2adapt checkpoint"),
        (["adapt", str(tmp_path / "missing.pt")], "missing.pt"),
        (["train", "--family", "cheetah-velocity", "--config", "nope=1"], "--config 'nope=1' is not allowed"),
        (["train", "--family", "cheetah-velocity", "--config", "horizon=abc"], "--config horizon = 'abc'"),
        (["train", "--family", "no-such-family"], "family = 'no-such-family' is not allowed"),
        (["train", "--family", "cheetah-velocity", "--algo", "dqn"], "algorithm = 'dqn' is not allowed"),
        (["train", "--resume", str(tmp_path)], "is not a resumable run"),
    ]
    for argv, fragment in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("sim2adapt: error: ") and fragment in err[0], (argv, err)


def test_a_run_directory_is_never_overwritten(tmp_path: Path) -> None:
    start_run(tmp_path, settings=tiny_settings(1), family=FAMILY)
    before = (tmp_path / "run.json").read_text()
    with pytest.raises(ValueError, match="already holds a run"):
        start_run(tmp_path, settings=tiny_settings(5), family=FAMILY)
    assert json.loads(before) == json.loads((tmp_path / "run.json").read_text())
