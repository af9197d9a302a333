"""Bundled agents: each replays the adaptation its sidecar records; an untrained one cannot; held-out
records carry the physical measures."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.storage.bundle import (
    bundle_run,
    check_returns,
    refresh_held_out,
    resolve_agent,
    retrain_command,
    working_seconds,
)
from agents.storage.checkpoint import load_checkpoint, save_checkpoint
from agents.storage.runs import code_version
from agents.training.train import TrainSettings, build_learner, run_training, start_run
from sim.params import TaskParams, with_values
from sim.tasks import AGENTS_DIR, TaskDistribution, UniformRange, load_family

BUNDLED = sorted(AGENTS_DIR.glob("*.pt"))


def sidecar_of(path: Path) -> dict:
    return json.loads(path.with_suffix(".json").read_text())


@pytest.mark.parametrize("checkpoint", BUNDLED, ids=[p.stem for p in BUNDLED])
@pytest.mark.slow
def test_a_bundled_agent_reproduces_its_recorded_adaptation_and_an_untrained_one_does_not(
    checkpoint: Path, tmp_path: Path
) -> None:
    sidecar = sidecar_of(checkpoint)
    check = sidecar["check"]
    replayed = check_returns(checkpoint, check)
    assert np.allclose(replayed, check["episode_returns"], atol=check["tolerance"]), (replayed, check)

    state = load_checkpoint(checkpoint)
    settings = TrainSettings.from_dict(state["settings"])
    untrained = build_learner(settings, TaskDistribution.from_dict(state["family"]), torch.device("cpu"))
    save_checkpoint(tmp_path / "untrained.pt", {**state, "learner": untrained.state_dict()})
    random_returns = check_returns(tmp_path / "untrained.pt", check)
    assert not np.allclose(random_returns, check["episode_returns"], atol=check["tolerance"])
    assert checkpoint.stat().st_size < 5e6  # "a few MB at most"


@pytest.mark.slow
def test_bundling_a_run_records_how_to_retrain_it_and_family_names_find_it(tmp_path: Path) -> None:
    family = load_family("cheetah-velocity")
    config = dataclasses.replace(
        TrainSettings().config, meta_batch_size=2, episodes_per_task=2, horizon=5, hidden_sizes=(8,)
    )
    settings = TrainSettings(iterations=1, num_workers=1, env="point_mass", device="cpu", config=config)
    run = start_run(tmp_path / "run", settings=settings, family=family)
    list(run_training(run))
    out = tmp_path / "agents" / "cheetah-velocity-maml.pt"
    sidecar = bundle_run(run.path, out)
    assert sidecar["command"] == retrain_command(settings, "cheetah-velocity")
    assert "--config meta_batch_size=2" in sidecar["command"] and "--config hidden_sizes=8" in sidecar["command"]
    assert "--config gamma" not in sidecar["command"]  # paper defaults are not repeated
    assert sidecar["env_steps"] == 2 * 2 * 2 * 5 and len(sidecar["held_out"]["mean"]) == 4
    assert sidecar["held_out"]["max_steps"] == sidecar["check"]["max_steps"] == 600  # 10 s, not the horizon
    assert sidecar["held_out"]["fall_share"] == {"mean": [None] * 4, "ci95": [None] * 4}  # the toy has no torso
    assert sidecar["code_version"] == code_version()  # recorded when training started, not when bundled
    assert sidecar["pieces"] == [0]  # trained in one go
    assert sidecar["wall_clock_without_pauses_s"] == sidecar["wall_clock_s"] > 0
    assert sidecar_of(out) == sidecar
    assert resolve_agent("cheetah-velocity", folder=out.parent) == out
    with pytest.raises(ValueError, match=r"with algorithm 'pearl' is not bundled: .*cheetah-velocity-maml"):
        resolve_agent("cheetah-velocity", algorithm="pearl", folder=out.parent)
    with pytest.raises(ValueError, match="a checkpoint file, a run directory or a bundled family"):
        resolve_agent("no-such-thing", folder=out.parent)


@pytest.mark.slow
def test_refreshing_a_held_out_record_adds_the_physical_measures_and_leaves_the_checkpoint_alone(
    tmp_path: Path,
) -> None:
    family = TaskDistribution(
        name="cheetah-tiny",
        base=with_values(TaskParams(), {"robot.name": "half_cheetah"}),
        vary={"goal.target_velocity_mps": UniformRange(0.5, 1.5)},
        num_test_tasks=1,
    )
    config = dataclasses.replace(TrainSettings().config, meta_batch_size=2, episodes_per_task=1, horizon=5)
    settings = TrainSettings(iterations=1, num_workers=1, env="locomotion", device="cpu", config=config)
    run = start_run(tmp_path / "run", settings=settings, family=family)
    list(run_training(run))
    out = tmp_path / "agents" / "cheetah-tiny-maml.pt"
    old = bundle_run(run.path, out, max_steps=5)
    old["held_out"] = {key: old["held_out"][key] for key in ("label", "mean", "ci95", "runs", "max_steps")}
    out.with_suffix(".json").write_text(json.dumps(old))  # a sidecar from before the physical measures
    checkpoint_bytes = out.read_bytes()

    sidecar = refresh_held_out(out, max_steps=70)  # past the first second
    assert out.read_bytes() == checkpoint_bytes and sidecar_of(out) == sidecar
    assert {k: v for k, v in sidecar.items() if k != "held_out"} == {k: v for k, v in old.items() if k != "held_out"}
    held_out = sidecar["held_out"]
    assert held_out["max_steps"] == 70 and held_out["seconds"] == pytest.approx(70 / 60) and held_out["runs"] == 3
    for key in ("tracking_error_mps", "fall_share", "distance_m"):
        assert len(held_out[key]["mean"]) == len(held_out[key]["ci95"]) == 4
        assert all(isinstance(v, float) for v in held_out[key]["mean"] + held_out[key]["ci95"]), (key, held_out[key])
    assert all(error > 0 for error in held_out["tracking_error_mps"]["mean"])


def test_the_working_wall_clock_leaves_out_an_iteration_that_was_paused() -> None:
    """A run stopped (SIGSTOP) for 53 minutes inside one 9-s iteration did not work for those minutes."""
    assert working_seconds([9.0, 8.5, 3217.0, 9.5, 10.0]) == [9.0, 8.5, 9.5, 10.0]
    assert working_seconds([9.0, 30.0, 12.0]) == [9.0, 30.0, 12.0]  # slower under load is still work
    assert working_seconds([]) == []
