"""The command line, called as a function: task resolution, one-line errors, bench, gui wiring."""

from __future__ import annotations

import subprocess
import sys

import pytest

import app.window.main
from app.cli.main import main
from app.cli.task_args import flag_name
from sim.params import TaskParams, with_values


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_task_prints_the_defaults_as_json(capsys) -> None:
    status, out, err = run(capsys, "task")
    assert status == 0 and err == ""
    assert TaskParams.from_json(out) == TaskParams()


def test_task_file_round_trip_with_overrides(capsys, tmp_path) -> None:
    task = with_values(TaskParams(), {"robot.name": "a1", "terrain.kind": "slope", "terrain.slope_deg": 12.5})
    path = tmp_path / "task.json"
    path.write_text(task.to_json(), encoding="utf-8")

    status, out, _ = run(capsys, "task", "--task", str(path))
    assert status == 0 and TaskParams.from_json(out) == task

    status, out, _ = run(
        capsys, "task", "--task", str(path), "--robot.payload-kg", "2", "--set", "robot.payload_kg=3",
        "--set", "goal.target_velocity_mps=-0.5",
    )  # fmt: skip
    expected = with_values(task, {"robot.payload_kg": 3.0, "goal.target_velocity_mps": -0.5})
    assert status == 0 and TaskParams.from_json(out) == expected  # --set is applied last


def test_out_of_range_value_is_one_line_and_exit_2(capsys) -> None:
    status, out, err = run(capsys, "task", "--set", "robot.payload_kg=99")
    assert status == 2 and out == ""
    assert err == "sim2adapt: error: robot.payload_kg = 99.0 is not allowed: a number from 0 to 30 kg\n"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--set", "robot.wings=2"], "robot.wings"),
        (["--set", "robot.payload_kg"], "expected PATH=VALUE"),
        (["--set", "robot.payload_kg=heavy"], "robot.payload_kg = 'heavy'"),
        (["--terrain.rough-seed", "1.5"], "terrain.rough_seed"),
        (["--robot.name", "dragon"], "one of 'half_cheetah'"),
        (["--set", "robot.name=urdf"], "robot.urdf_path"),
        (["--task", "no/such/task.json"], "cannot read task file no/such/task.json"),
    ],
    ids=["unknown-field", "no-equals", "not-a-number", "not-an-int", "bad-choice", "urdf-needs-path", "no-file"],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv: list[str], needle: str) -> None:
    status, out, err = run(capsys, "task", *argv)
    assert status == 2 and out == ""
    assert err.startswith("sim2adapt: error: ") and err.count("\n") == 1 and needle in err


def test_bad_json_names_the_file(capsys, tmp_path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"robot": {"payload_kg": 3,}}', encoding="utf-8")
    status, _, err = run(capsys, "task", "--task", str(path))
    assert status == 2 and f"error: {path}: " in err and "valid JSON" in err and err.count("\n") == 1


def test_every_schema_field_has_a_flag(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["task", "--help"])
    help_text = capsys.readouterr().out
    for path in ("robot.payload_kg", "terrain.gravity_mps2", "goal.target_heading_deg"):
        assert flag_name(path) in help_text


def test_gui_resolves_the_task_before_qt(capsys, monkeypatch) -> None:
    opened: list[TaskParams] = []
    monkeypatch.setattr(app.window.main, "run_gui", lambda task: opened.append(task) or 0)
    assert main(["gui", "--set", "robot.payload_kg=99"]) == 2
    assert opened == []
    assert main(["gui", "--robot.name", "hexapod"]) == 0
    assert opened == [with_values(TaskParams(), {"robot.name": "hexapod"})]


@pytest.mark.slow
def test_bench_sim_measures_and_prints_the_table(capsys) -> None:
    argv = ["bench", "sim", "--robots", "half_cheetah", "--terrains", "flat", "--seconds", "0.3"]
    status, out, _ = run(capsys, *argv, "--workers", "1", "--num-envs", "2")
    assert status == 0
    header, _, row, footer = out.strip().splitlines()
    assert header.split()[:5] == ["robot", "terrain", "raw/s", "env/s", "env/raw"]
    assert row.split()[:2] == ["half_cheetah", "flat"]
    assert footer.startswith("targets:")


def test_bench_sim_rejects_an_unknown_robot_before_measuring(capsys) -> None:
    status, _, err = run(capsys, "bench", "sim", "--robots", "dog")
    assert status == 2
    assert err.startswith("sim2adapt: error: robot.name = 'dog' is not allowed")


def test_bench_needs_a_benchmark_name(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["bench"])
    assert exit_info.value.code == 2


def test_task_command_never_loads_qt() -> None:
    code = (
        "import sys; from app.cli.main import main; status = main(['task']); "
        "qt = sorted(m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph'))); "
        "sys.exit(f'Qt loaded: {qt}' if qt else status)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


# --- physics that leaves the world, as play and adapt print it (issue 14) ---

SLIDING_CHEETAH = {
    "robot.name": "half_cheetah",
    "terrain.kind": "slope",
    "terrain.slope_deg": 30.0,
    "terrain.friction": 0.01,
    "robot.foot_friction": 0.01,
}
"""The measured case: on the steepest, most slippery slope the cheetah slides off the terrain in ~11 s."""


def test_episode_endings_are_named() -> None:
    from sim.metrics import ENDINGS, ending_of

    assert ENDINGS[ending_of({"left_world": True, "physics_blowup": False})].startswith("left the world")
    assert ENDINGS[ending_of({"left_world": False, "physics_blowup": True})].startswith("physics blow-up")
    assert ending_of({"left_world": False, "fallen": True}) == ""


@pytest.mark.slow
def test_play_says_when_the_robot_left_the_world(tmp_path, capsys) -> None:
    from agents.core.policies import GaussianMLPPolicy
    from agents.storage.export import export_policy
    from sim.envs.locomotion import LocomotionEnv

    task = with_values(TaskParams(), SLIDING_CHEETAH)
    with LocomotionEnv(task) as env:
        obs_dim, action_dim = env.observation_space.shape[0], env.action_space.shape[0]
    export_policy(
        GaussianMLPPolicy(obs_dim=obs_dim, action_dim=action_dim), out_dir=tmp_path, sidecar={"task": task.to_dict()}
    )
    status, out, err = run(capsys, "play", str(tmp_path / "policy.onnx"), "--steps", "900", "--mean-action")
    assert status == 0, err
    line = out.strip().splitlines()[-1]
    assert line.startswith("episode 0: ") and line.endswith(
        "left the world (torso off the terrain or at an absurd height)"
    )


def test_an_episode_that_left_the_world_says_so_in_its_metrics() -> None:
    """The adaptation loop's episode metrics carry the ending: adapt's lines and the window read it there."""
    import numpy as np

    from sim.envs.locomotion import LocomotionEnv
    from sim.metrics import EpisodeMeter

    with LocomotionEnv(with_values(TaskParams(), {"robot.name": "ant"})) as env:
        _, reset_info = env.reset(seed=0)
        meter = EpisodeMeter.from_reset_info(reset_info)
        assert meter is not None
        meter.add(env.step(np.zeros(env.action_space.shape, np.float32))[4])
        assert meter.result().ending == ""
        body = env.unwrapped._robot.body_id
        env.unwrapped._sim.resetBasePositionAndOrientation(body, (0.0, 0.0, 40.0), (0.0, 0.0, 0.0, 1.0))
        _, _, terminated, _, info = env.step(np.zeros(env.action_space.shape, np.float32))
        meter.add(info)
        assert terminated and meter.result().ending == "left_world"
