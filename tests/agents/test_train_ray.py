"""``sim2adapt train --backend ray``: the same run as on the process pool, sampled by Ray actors."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from agents.storage.runs import RunDir
from app.cli.main import main
from sim.params import TaskParams, with_values
from sim.tasks import TaskDistribution, UniformRange

pytest.importorskip("ray", reason="the ray backend needs the cluster extra (scripts/setup.sh installs it)")
# Ray 2.60 asks for a token by default and fixes a driver's auth mode at its first ray.init; test
# processes join several throw-away Ray instances in a row (tests/sim/test_ray_cluster.py).
os.environ["RAY_AUTH_MODE"] = "disabled"

FAMILY = TaskDistribution(
    name="point-heading",
    base=with_values(TaskParams(), {"goal.target_velocity_mps": 1.0}),
    vary={"goal.target_heading_deg": UniformRange(-180.0, 180.0)},
    num_test_tasks=2,
)
TINY = ["meta_batch_size=2", "episodes_per_task=2", "horizon=5", "outer_epochs=1", "hidden_sizes=8"]


def timeless(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if not k.endswith("_s") and k != "seconds"} for row in rows]


@pytest.mark.slow
def test_a_run_sampled_by_ray_actors_equals_one_sampled_by_processes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    family_file = tmp_path / "family.json"
    family_file.write_text(FAMILY.to_json())
    argv = ["train", "--family", str(family_file), "--env", "point_mass", "--iterations", "2", "--workers", "2"]
    argv += ["--device", "cpu", *(arg for value in TINY for arg in ("--config", value))]
    assert main([*argv, "--run-dir", str(tmp_path / "process")]) == 0
    assert main([*argv, "--run-dir", str(tmp_path / "ray"), "--backend", "ray"]) == 0
    process, ray = (RunDir.open(tmp_path / name).metrics() for name in ("process", "ray"))
    assert len(ray) == 2 and timeless(ray) == timeless(process)
    assert "backend" not in RunDir.open(tmp_path / "ray").settings  # how a run was sampled is not what it is

    assert main([*argv, "--run-dir", str(tmp_path / "bad"), "--backend", "process", "--ray-address", "auto"]) == 2
    assert "ray_address = 'auto' is not allowed with backend = 'process'" in capsys.readouterr().err

    # A mistyped address is reported in seconds (Ray itself retries an unreachable head for minutes).
    started = time.perf_counter()
    assert main([*argv, "--run-dir", str(tmp_path / "lost"), "--backend", "ray", "--ray-address", "127.0.0.1:1"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]  # after the run's name and progress bar
    assert error.startswith("sim2adapt: error: could not join the Ray cluster at 127.0.0.1:1: nothing answers")
    assert time.perf_counter() - started < 60
