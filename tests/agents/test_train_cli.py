"""``sim2adapt train`` / ``adapt`` end to end on the toy env: run directories, resume, one-line errors."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.storage.runs import RunDir
from agents.training.train import TrainSettings, run_training, start_run
from app.cli.main import main
from sim.params import TaskParams, with_values
from sim.tasks import TaskDistribution, UniformRange, load_family

FAMILY = TaskDistribution(
    name="point-heading",
    base=with_values(TaskParams(), {"goal.target_velocity_mps": 1.0}),
    vary={"goal.target_heading_deg": UniformRange(-180.0, 180.0)},
    num_test_tasks=2,
)
TINY = {"meta_batch_size": 2, "episodes_per_task": 2, "horizon": 5, "outer_epochs": 1, "hidden_sizes": (8,)}


def tiny_settings(iterations: int) -> TrainSettings:
    config = dataclasses.replace(TrainSettings().config, **TINY)
    return TrainSettings(seed=1, iterations=iterations, num_workers=1, env="point_mass", device="cpu", config=config)


def timeless(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if not k.endswith("_s")} for row in rows]


@pytest.mark.slow
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
    assert out[0].split() == ["episode", "phase", "return", "steps", "error", "m/s", "fell", "dist", "m"]
    assert [line.split()[0] for line in out[1:3]] == ["0", "1"]
    assert out[1].split()[-3:] == ["-", "-", "-"]  # the toy env has no torso to measure
    assert "pre-adaptation" in out[1] and "after update 1" in out[2]


@pytest.mark.slow
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
        (["train", "--resume", str(tmp_path)], "is not a run directory: run.json is missing"),
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


@pytest.mark.slow
def test_adapt_exports_and_play_runs_an_exported_policy_with_only_the_file(tmp_path: Path, capsys) -> None:
    from agents.core.policies import GaussianMLPPolicy
    from agents.storage.export import export_policy
    from sim.envs.locomotion import LocomotionEnv

    run = start_run(tmp_path / "run", settings=tiny_settings(1), family=FAMILY)
    list(run_training(run))
    assert (
        main(["adapt", str(run.path), "--shots", "2", "--steps", "5", "--updates", "1", "--export", str(tmp_path)]) == 0
    )
    assert "exported" in capsys.readouterr().out
    assert {p.suffix for p in tmp_path.glob("policy.*")} == {".pt2", ".onnx", ".json"}
    # the point-mass policy cannot drive a robot: one clear line, no traceback
    assert main(["play", str(tmp_path / "policy.onnx")]) == 2
    assert "expects 4 observation values" in capsys.readouterr().err

    task = with_values(TaskParams(), {"robot.name": "hexapod"})
    with LocomotionEnv(task) as env:
        obs_dim, action_dim = env.observation_space.shape[0], env.action_space.shape[0]
    out = tmp_path / "hexapod"
    export_policy(
        GaussianMLPPolicy(obs_dim=obs_dim, action_dim=action_dim), out_dir=out, sidecar={"task": task.to_dict()}
    )
    assert main(["play", str(out / "policy.pt2"), "--episodes", "2", "--steps", "20"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[:2] for line in lines] == [["episode", "0:"], ["episode", "1:"]]
    pattern = (
        r"episode 0: return -?\d+\.\d\d over 20 steps \(0\.3 s\), tracking error \d+\.\d{3} m/s, "
        r"fell (yes|no), distance -?\d+\.\d\d m"
    )
    assert re.fullmatch(pattern, lines[0]), lines[0]
    for flag, value, allowed in (("--seconds", "-1", "> 0"), ("--steps", "0", "at least 1"), ("--episodes", "0", "1")):
        assert main(["play", str(out / "policy.pt2"), flag, value]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"sim2adapt: error: {flag} {value}") and allowed in err and "\n" not in err


@pytest.mark.slow
def test_bench_train_prints_the_time_split_of_each_iteration(capsys) -> None:
    assert main(["bench", "train", "--preset", "quick", "--iterations", "1", "--workers", "1"]) == 0
    header, row, *_ = capsys.readouterr().out.strip().splitlines()
    assert header.split()[:3] == ["device", "iter", "env"]
    device, iteration, env_steps, *timings = row.split()
    assert (device, iteration, env_steps) == ("cpu", "0", "12800")
    assert all(float(t) > 0 for t in timings)


@pytest.mark.slow
def test_export_command_writes_the_trained_policy_that_play_and_onnx_reproduce(tmp_path: Path, capsys) -> None:
    from agents.storage.export import load_exported
    from agents.training.train import load_trained

    run = start_run(tmp_path / "run", settings=tiny_settings(1), family=FAMILY)
    list(run_training(run))
    assert main(["export", str(run.path), "--out", str(tmp_path / "out"), "--name", "init"]) == 0
    assert "exported" in capsys.readouterr().out
    sidecar = json.loads((tmp_path / "out" / "init.json").read_text())
    assert sidecar["algorithm"] == "maml" and sidecar["training_iterations"] == 1 and sidecar["adaptation"] is None
    live = load_trained(run.path, device=torch.device("cpu")).new_agent().adapted_policy()
    obs = torch.randn(16, 4)
    expected = live.act(obs, deterministic=True).clamp(-1.0, 1.0).numpy()
    for suffix in (".pt2", ".onnx"):
        got = load_exported(tmp_path / "out" / f"init{suffix}")(obs.numpy(), np.zeros((16, 2), np.float32))
        assert abs(got - expected).max() < 1e-5


@pytest.mark.slow
def test_play_renders_a_video_file_and_refuses_other_formats(tmp_path: Path, capsys) -> None:
    from agents.core.policies import GaussianMLPPolicy
    from agents.storage.export import export_policy
    from sim.envs.locomotion import LocomotionEnv

    task = with_values(TaskParams(), {"robot.name": "half_cheetah"})
    with LocomotionEnv(task) as env:
        obs_dim, action_dim = env.observation_space.shape[0], env.action_space.shape[0]
    export_policy(
        GaussianMLPPolicy(obs_dim=obs_dim, action_dim=action_dim), out_dir=tmp_path, sidecar={"task": task.to_dict()}
    )
    video = tmp_path / "run.mp4"
    assert main(["play", str(tmp_path / "policy.pt2"), "--steps", "30", "--video", str(video)]) == 0
    assert f"video: {video}" in capsys.readouterr().out
    assert video.stat().st_size > 1000 and video.read_bytes()[4:8] == b"ftyp"  # an MP4 container
    assert not list(tmp_path.glob(".*partial*"))
    assert main(["play", str(tmp_path / "policy.pt2"), "--video", str(tmp_path / "run.avi")]) == 2
    assert "must end in .mp4 or .gif" in capsys.readouterr().err


@pytest.mark.slow
def test_multitask_baseline_and_scratch_from_the_command_line(tmp_path: Path, capsys) -> None:
    family_file = tmp_path / "family.json"
    family_file.write_text(FAMILY.to_json())
    run_dir = tmp_path / "mt"
    tiny = ["--config", "tasks_per_iteration=2", "--config", "episodes_per_task=2", "--config", "horizon=5"]
    argv = ["train", "--algo", "multitask", "--family", str(family_file), "--env", "point_mass", "--iterations", "1"]
    assert main([*argv, "--workers", "1", "--device", "cpu", "--run-dir", str(run_dir), *tiny]) == 0
    assert main(["adapt", str(run_dir), "--test-task", "0", "--shots", "2", "--steps", "5", "--updates", "1"]) == 0
    assert "after update 1" in capsys.readouterr().out
    scratch = ["adapt", "scratch", "--family", str(family_file), "--env", "point_mass", "--test-task", "1"]
    assert main([*scratch, "--shots", "2", "--steps", "5", "--updates", "1"]) == 0
    assert "after update 1" in capsys.readouterr().out
    assert main(["adapt", "scratch", "--test-task", "1"]) == 2
    assert "--family is required with 'scratch'" in capsys.readouterr().err
    assert main(["train", "--resume", str(run_dir), "--algo", "maml"]) == 2
    assert f"--algo maml is not allowed with --resume {run_dir}: it holds a multitask run" in capsys.readouterr().err


@pytest.mark.slow
def test_bench_adapt_prints_the_tables_and_writes_csv_and_png_with_physical_measures(tmp_path: Path, capsys) -> None:
    cheetah = TaskDistribution(
        name="cheetah-tiny",
        base=with_values(TaskParams(), {"robot.name": "half_cheetah"}),
        vary={"goal.target_velocity_mps": UniformRange(0.5, 1.5)},
        num_test_tasks=2,
    )
    family_file = tmp_path / "family.json"
    family_file.write_text(cheetah.to_json())
    settings = dataclasses.replace(tiny_settings(1), env="locomotion")
    run = start_run(tmp_path / "run", settings=settings, family=cheetah)
    list(run_training(run))
    argv = ["bench", "adapt", "--family", str(family_file), "--agents", str(run.path), "--seeds", "2", "--shots", "2"]
    assert main([*argv, "--steps", "70", "--out", str(tmp_path / "bench")]) == 0  # 70 steps: past the first second
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "cheetah-tiny: 70 steps (1.16667 s) per episode"
    table = lines[lines.index(next(line for line in lines if line.split()[:2] == ["agent", "before"])) :]
    assert [row.split()[0] for row in table[1:4]] == ["maml", "scratch", "random"]
    for title in ("tracking error (m/s)", "falls (share of episodes)", "distance (m)"):
        block = table[table.index(f"{title}, mean ± 95 % interval") + 1 :][:4]
        assert block[0].split() == ["agent", "before", "after", "1"]
        assert [row.split()[0] for row in block[1:]] == ["maml", "scratch", "random"]
        assert all(len(row.split()) == 7 and row.split()[2] == "±" for row in block[1:]), block  # agent, 2 cells
    rows = list(csv.DictReader((tmp_path / "bench" / "adapt-cheetah-tiny.csv").open()))
    assert list(rows[0]) == [
        "agent", "shot", "mean_return", "ci95", "tracking_error_mps", "tracking_error_mps_ci95",
        "fall_share", "fall_share_ci95", "distance_m", "distance_m_ci95", "runs",
    ]  # fmt: skip
    assert len(rows) == 3 * 2 and all(row["runs"] == "4" for row in rows)  # 2 held-out tasks x 2 seeds
    assert all(float(row["tracking_error_mps"]) > 0 and 0 <= float(row["fall_share"]) <= 1 for row in rows)
    assert all(math.isfinite(float(row[key])) for row in rows for key in row if key != "agent")
    png = (tmp_path / "bench" / "adapt-cheetah-tiny.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    bad = [["--seconds", "-3"], ["--seconds", "20"], ["--steps", "0"], ["--tasks", "0"]]
    bad += [["--tasks", "1", "--seeds", "1"]]  # one run: no interval
    for extra in bad:
        assert main([*argv, *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"sim2adapt: error: {' '.join(extra[-2:])} is not allowed"), err


def test_the_normalised_score_takes_the_better_task_aware_reference_as_100_percent() -> None:
    import numpy as np

    from agents.core.evaluation import AdaptationScores
    from app.cli.bench_adapt import normalised_after_one, reference_label

    def row(label: str, before: float, after: float) -> AdaptationScores:
        return AdaptationScores(label, np.array([[[before, after]]]))

    pearl, random = row("pearl", -50.0, -30.0), row("random", -100.0, -100.0)
    weak_ppo, sac = row("oracle", -60.0, -60.0), row("oracle-pearl", -20.0, -20.0)
    scores = [pearl, weak_ppo, sac, random]
    assert reference_label(scores) == "oracle-pearl"
    assert normalised_after_one(pearl, scores) == pytest.approx(70 / 80)
    assert normalised_after_one(pearl, [pearl, random]) is None  # no task-aware row: no scale


@pytest.mark.slow
def test_runs_write_tensorboard_scalars_when_tensorboard_is_installed(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = start_run(tmp_path / "run", settings=tiny_settings(2), family=FAMILY)
    list(run_training(run))
    events = EventAccumulator(str(run.path / "tensorboard"))
    events.Reload()
    assert {"pre_return", "post_return", "loss", "env_steps", "sampling_s"} <= set(events.Tags()["scalars"])
    assert [e.step for e in events.Scalars("pre_return")] == [0, 1]
    assert [e.value for e in events.Scalars("pre_return")] == pytest.approx([r["pre_return"] for r in run.metrics()])


@pytest.mark.slow
def test_resume_with_more_iterations_equals_a_longer_run(tmp_path: Path, capsys) -> None:
    straight = start_run(tmp_path / "straight", settings=tiny_settings(3), family=FAMILY)
    list(run_training(straight))
    shorter = start_run(tmp_path / "shorter", settings=tiny_settings(2), family=FAMILY)
    list(run_training(shorter))
    assert main(["train", "--resume", str(shorter.path), "--iterations", "3"]) == 0
    assert timeless(RunDir.open(shorter.path).metrics()) == timeless(straight.metrics())
    starts = [json.loads(line) for line in (shorter.path / "provenance.jsonl").read_text().splitlines()]
    assert [start["iteration"] for start in starts] == [0, 2]  # each start says which code trained from where
    assert main(["train", "--resume", str(shorter.path), "--iterations", "1"]) == 2
    assert "iterations = 1 is not allowed" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["train"], ["adapt"], ["bench", "train"]])
def test_algorithm_help_lists_every_registered_algorithm(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from agents.algorithms import ALGORITHMS

    with pytest.raises(SystemExit):
        main([*command, "--help"])
    # argparse may wrap oracle-pearl at its hyphen
    text = re.sub(r"-\s+", "-", " ".join(capsys.readouterr().out.split()))
    assert all(name in text for name in ALGORITHMS) and "{algorithms}" not in text


def test_play_feeds_sampled_noise_by_default_zeros_for_the_mean_action_and_refuses_memory_it_cannot_keep() -> None:
    from agents.storage.exported_actor import ExportedActor

    def graph(obs: np.ndarray, noise: np.ndarray) -> np.ndarray:
        return noise.copy()  # the action is the noise fed: what play feeds is what it applies

    sidecar = {"action_dim": 3, "inputs": [{"name": "obs", "shape": [4]}, {"name": "noise", "shape": [3]}]}
    obs = np.zeros(4, np.float32)
    sampled = ExportedActor(graph, sidecar, mean_action=False)
    expected = np.random.default_rng(5).standard_normal(3).astype(np.float32)
    assert np.array_equal(sampled(obs, np.random.default_rng(5)), expected)
    assert np.array_equal(ExportedActor(graph, sidecar, mean_action=True)(obs, np.random.default_rng(5)), np.zeros(3))
    recurrent = {"action_dim": 3, "inputs": [{"name": "obs", "shape": [4]}, {"name": "state", "shape": [16]}]}
    with pytest.raises(ValueError, match="needs the inputs state"):
        ExportedActor(graph, recurrent, mean_action=False)


def test_play_keeps_the_history_a_memory_policy_reads_and_empties_it_each_episode() -> None:
    from agents.storage.exported_actor import ExportedActor

    seen: list[np.ndarray] = []

    def graph(obs: np.ndarray, history: np.ndarray) -> np.ndarray:
        seen.append(history.copy())
        return obs[:2] * 0.5

    sidecar = {"action_dim": 2, "inputs": [{"name": "obs", "shape": [3]}, {"name": "history", "shape": [2, 6]}]}
    actor, rng = ExportedActor(graph, sidecar, mean_action=False), np.random.default_rng(0)
    for step in range(3):
        actor(np.full(3, step + 1.0, np.float32), rng)
    assert not seen[0].any()  # the first step sees an empty history
    assert np.array_equal(seen[2], [[1, 1, 1, 0.5, 0.5, 1], [2, 2, 2, 1, 1, 1]])  # oldest first, valid flag 1
    actor.start_episode()
    actor(np.zeros(3, np.float32), rng)
    assert not seen[3].any()


@pytest.mark.slow
def test_env_config_is_stored_with_the_run_used_where_it_is_evaluated_and_exported(tmp_path: Path, capsys) -> None:
    """--env-config reaches the training envs, the adapting env, the export's sidecar and play."""
    from agents.training.train import TrainSettings, env_factory, load_trained

    family = load_family("cheetah-velocity")
    argv = ["train", "--family", "cheetah-velocity", "--iterations", "1", "--workers", "1", "--device", "cpu"]
    tiny = ["--config", "meta_batch_size=1", "--config", "episodes_per_task=1", "--config", "horizon=4"]
    env_flags = ["--env-config", "tracking_reward=exp", "--env-config", "observe_goal=true"]
    assert main([*argv, *tiny, *env_flags, "--run-dir", str(tmp_path / "run")]) == 0
    settings = TrainSettings.from_dict(json.loads((tmp_path / "run" / "run.json").read_text()))
    assert (settings.env_config.tracking_reward, settings.env_config.observe_goal) == ("exp", True)
    training_env = env_factory(settings, family)(family.base)
    evaluated = load_trained(tmp_path / "run", device=torch.device("cpu")).make_env(family.base)
    try:
        assert training_env.unwrapped.config.max_episode_steps == 4  # training episodes: the horizon
        assert evaluated.unwrapped.config.tracking_reward == "exp" and evaluated.unwrapped.config.observe_goal
        evaluated.reset(seed=0)
        _, reward, *_ = evaluated.step(np.zeros(6, np.float32))
        assert 0.0 < reward <= 1.0  # the bounded kernel (the control cost of a zero action is 0)
    finally:
        training_env.close()
        evaluated.close()
    out = tmp_path / "export"
    adapt = ["adapt", str(tmp_path / "run"), "--test-task", "0", "--shots", "1", "--updates", "0", "--steps", "5"]
    assert main([*adapt, "--export", str(out)]) == 0
    sidecar = json.loads((out / "policy.json").read_text())
    assert sidecar["env_config"]["tracking_reward"] == "exp" and sidecar["env_config"]["observe_goal"] is True
    capsys.readouterr()
    assert main(["play", str(out / "policy.onnx"), "--steps", "5"]) == 0  # its observation has the goal: sizes match
    assert "episode 0" in capsys.readouterr().out


def test_a_bad_env_config_names_the_flag_and_the_allowed_values(capsys) -> None:
    argv = ["train", "--family", "cheetah-velocity", "--iterations", "1", "--run-dir", "/nonexistent/never"]
    assert main([*argv, "--env-config", "tracking_reward=cubic"]) == 2
    assert "tracking_reward = 'cubic' is not allowed: one of linear, exp" in capsys.readouterr().err
    assert main([*argv, "--env-config", "frame_skip=fast"]) == 2
    assert "--env-config frame_skip = 'fast' is not allowed: expected int" in capsys.readouterr().err


# --- runs that could be neither resumed nor started again, and flags named as typed (issue 14) ---


def _train_argv(tmp_path: Path, *extra: str) -> list[str]:
    family_file = tmp_path / "family.json"
    family_file.write_text(FAMILY.to_json())
    overrides = [arg for key, value in TINY.items() if key != "hidden_sizes" for arg in ("--config", f"{key}={value}")]
    return [
        "train", "--family", str(family_file), "--env", "point_mass", "--workers", "1", "--iterations", "1",
        *overrides, "--config", "hidden_sizes=8", "--run-dir", str(tmp_path / "run"), *extra,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--seed", "-1"], "--seed -1 is not allowed: a whole number from 0 to 4294967295"),
        (["--iterations", "0"], "--iterations 0 is not allowed"),
        (["--workers", "0"], "--workers 0 is not allowed"),
        (["--device", "tpu"], "--device = 'tpu' is not allowed"),
    ],
)
def test_bad_train_flags_name_the_flag_and_leave_no_run_directory(
    tmp_path: Path, capsys, extra: list[str], fragment: str
) -> None:
    assert main(_train_argv(tmp_path, *extra)) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and "\n" not in err
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")
def test_device_cuda_without_cuda_leaves_no_run_directory(tmp_path: Path, capsys) -> None:
    assert main(_train_argv(tmp_path, "--device", "cuda")) == 2
    assert "--device = 'cuda' is not available" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    settings = dataclasses.replace(tiny_settings(1), device="cuda")
    with pytest.raises(ValueError, match="not available"):
        start_run(tmp_path / "direct", settings=settings, family=FAMILY)
    assert not (tmp_path / "direct").exists()


def test_a_family_whose_robot_cannot_load_leaves_no_run_directory(tmp_path: Path) -> None:
    broken = TaskDistribution(
        name="ghost",
        base=with_values(TaskParams(), {"robot.name": "urdf", "robot.urdf_path": str(tmp_path / "x.urdf")}),
    )
    settings = dataclasses.replace(tiny_settings(1), env="locomotion")
    with pytest.raises(ValueError, match=r"robot\.urdf_path"):
        start_run(tmp_path / "run", settings=settings, family=broken)
    assert not (tmp_path / "run").exists()


def test_a_seed_the_rngs_refuse_is_a_settings_error() -> None:
    with pytest.raises(ValueError, match=r"^seed = -1 is not allowed"):
        dataclasses.replace(tiny_settings(1), seed=-1)


@pytest.mark.slow
def test_resume_of_a_run_killed_before_its_first_checkpoint_starts_it_from_its_settings(tmp_path: Path, capsys) -> None:
    run = start_run(tmp_path / "run", settings=tiny_settings(2), family=FAMILY)
    (run.path / "metrics.jsonl").write_text('{"iteration": 0, "pre_ret')  # cut by the kill
    assert main(["train", "--resume", str(run.path)]) == 0
    captured = capsys.readouterr()
    assert "has no checkpoint yet" in captured.out + captured.err
    assert [row["iteration"] for row in run.metrics()] == [0, 1]
    assert run.has_checkpoint
    straight = start_run(tmp_path / "straight", settings=tiny_settings(2), family=FAMILY)
    list(run_training(straight))
    assert timeless(run.metrics()) == timeless(straight.metrics())


def test_a_run_directory_is_marked_by_run_json_written_last(tmp_path: Path, monkeypatch) -> None:
    """A kill between create's two writes left run.json without family.json: neither resumable nor restartable."""
    import agents.storage.runs as runs

    real_write, calls = runs._write_text, []

    def killed_on_the_second_write(path: Path, text: str) -> None:
        calls.append(path.name)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process dies here
        real_write(path, text)

    monkeypatch.setattr(runs, "_write_text", killed_on_the_second_write)
    with pytest.raises(KeyboardInterrupt):
        start_run(tmp_path, settings=tiny_settings(1), family=FAMILY)
    monkeypatch.setattr(runs, "_write_text", real_write)
    run = start_run(tmp_path, settings=tiny_settings(1), family=FAMILY)  # started again, from scratch
    assert run.family == FAMILY and calls == ["family.json", "run.json"]


def _trained_run(tmp_path: Path) -> RunDir:
    run = start_run(tmp_path / "run", settings=tiny_settings(1), family=FAMILY)
    list(run_training(run))
    return run


@pytest.mark.slow
def test_adapt_updates_follow_the_shots_and_errors_name_the_flags(tmp_path: Path, capsys) -> None:
    run = _trained_run(tmp_path)
    assert main(["adapt", str(run.path), "--test-task", "0", "--shots", "2", "--steps", "5"]) == 0
    out = capsys.readouterr().out
    assert "after update 1" in out and "after update 2" not in out
    cases = [
        (["--shots", "2", "--updates", "2"], "--updates 2 is not allowed with --shots 2: from 0 to 1"),
        (["--shots", "0"], "--shots 0 is not allowed"),
        (["--seed", "-1"], "--seed -1 is not allowed"),
    ]
    for extra, fragment in cases:
        assert main(["adapt", str(run.path), "--steps", "5", *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("sim2adapt: error: ") and fragment in err and "AdaptConfig" not in err, err


@pytest.mark.parametrize("entry", ["settings", "family", "learner"])
@pytest.mark.slow
def test_a_checkpoint_missing_an_entry_is_one_line_in_adapt_and_export(tmp_path: Path, capsys, entry: str) -> None:
    run = _trained_run(tmp_path)
    state = run.load_checkpoint()
    del state[entry]
    damaged = tmp_path / "damaged.pt"
    torch.save(state, damaged)
    for argv in (["adapt", str(damaged), "--steps", "5"], ["export", str(damaged), "--out", str(tmp_path / "x")]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("sim2adapt: error: ") and "\n" not in err
        assert f"its '{entry}' entry is missing" in err and str(damaged) in err


@pytest.mark.slow
def test_a_checkpoint_with_a_malformed_entry_names_it(tmp_path: Path, capsys) -> None:
    run = _trained_run(tmp_path)
    state = run.load_checkpoint()
    state["settings"] = {**state["settings"], "seed": "x" * 100_000}
    damaged = tmp_path / "damaged.pt"
    torch.save(state, damaged)
    assert main(["export", str(damaged), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert "its 'settings' entry is not allowed: seed = 'xxx" in err and len(err) < 600
