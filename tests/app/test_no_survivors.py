"""Nothing outlives its parent: kill the window, a training run or a memory bench with SIGTERM, SIGKILL or
SIGHUP (a crash, a closed terminal, a logout) and every process it started ends within moments (issue 14).

Each test starts the real command in a new session (so no signal reaches pytest), waits until its
children are past their imports (a child ties itself to its parent first thing once Python runs its
code; one killed while still importing ends as soon as its imports finish), records every
descendant (pid and start time, so a reused pid is not mistaken for a survivor), kills the parent
alone and measures how long each descendant takes to end. Only the processes the test started are
ever signalled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.runtime.task_files import HOME_ENV, write_family_file
from tests.app.conftest import POINT_FAMILY, TINY_MAML
from tests.processes import (
    command_line,
    descendants_of,
    has_loaded,
    kill_survivors,
    seconds_until_gone,
    start_time,
)

SIGNALS = [signal.SIGTERM, signal.SIGKILL, signal.SIGHUP]
DEADLINE_S = 2.0
"""Issue 14's 2 s, without slack: every process here ended within 0.26 s of its parent's death in three runs
of every case on the 2-core VM with two training runs beside them (load 5-7)."""
STARTUP_S = 120.0
REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def spawned(pid: int) -> list[int]:
    """The descendants of ``pid`` that multiprocessing spawned (jobs, trainers, sampler workers)."""
    return [child for child in descendants_of(pid) if "multiprocessing.spawn" in command_line(child)]


def hangup_as_a_terminal_would() -> None:
    """SIGHUP back to its default in the command: a test run under ``nohup`` hands its children an ignored
    SIGHUP, which no user's window has (it would make the SIGHUP cases test nothing)."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """``launch(args, ready)`` starts a command in its own session and returns once ``ready(pid)`` holds."""
    started: list[subprocess.Popen[bytes]] = []
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", HOME_ENV: str(tmp_path / "home")}

    def start(args: list[str], ready: Callable[[int], bool]) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            args,
            cwd=REPO,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=hangup_as_a_terminal_would,
        )
        started.append(process)
        deadline = time.monotonic() + STARTUP_S
        while not ready(process.pid):
            assert process.poll() is None, f"{args[0]} ended early: {process.stderr.read().decode()[-2000:]}"  # type: ignore[union-attr]
            assert time.monotonic() < deadline, f"{args} not ready within {STARTUP_S} s"
            time.sleep(0.1)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(30)


def kill_and_time(process: subprocess.Popen[bytes], signum: int) -> tuple[dict[int, float | None], str]:
    """Send ``signum`` to ``process`` alone; each descendant's seconds until it ended, and the parent's stderr."""
    family = {pid: start_time(pid) for pid in descendants_of(process.pid)}
    assert family, "nothing to outlive the parent"
    os.kill(process.pid, signum)
    try:
        gone = seconds_until_gone(family, DEADLINE_S + 7.0)
    finally:
        kill_survivors(family)
    process.wait(30)
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    report = {pid: (command_line(pid) or "?")[:80] for pid, seconds in gone.items() if seconds is None}
    print(f"{signal.Signals(signum).name}: {sorted(s for s in gone.values() if s is not None)} s, survivors {report}")
    return gone, stderr


def simulating(pid: int) -> bool:
    """Whether a spawned child of ``pid`` has loaded PyBullet (its job's module, so it runs its own code)."""
    return any(has_loaded(child, "pybullet") for child in spawned(pid))


def trained(run: Path) -> bool:
    """Whether the run wrote its first iteration (its sampler workers have worked)."""
    metrics = run / "metrics.jsonl"
    return metrics.exists() and bool(metrics.read_text().strip())


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
@pytest.mark.slow
def test_killing_the_window_leaves_no_process_behind(launch, signum: int) -> None:
    """``sim2adapt gui``: its simulation child and multiprocessing's resource tracker end with it."""
    window = launch([str(BIN / "sim2adapt"), "gui"], ready=simulating)
    gone, _ = kill_and_time(window, signum)
    assert all(seconds is not None and seconds < DEADLINE_S for seconds in gone.values()), gone


def write_point_family(folder: Path) -> Path:
    path = folder / "point-heading.json"
    write_family_file(path, POINT_FAMILY)
    return path


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
@pytest.mark.slow
def test_killing_a_training_run_leaves_no_worker_behind_and_no_traceback(launch, tmp_path: Path, signum: int) -> None:
    """``sim2adapt train``: both sampler workers end with it, quietly (no BrokenPipeError from a dead pipe)."""
    config = [f"--config={key}={value}" for key, value in TINY_MAML.items() if key != "hidden_sizes"]
    args = [str(BIN / "sim2adapt"), "train", "--env", "point_mass", "--family", str(write_point_family(tmp_path))]
    args += ["--run-dir", str(tmp_path / "run"), "--iterations", "100000", "--workers", "2", "--device", "cpu"]
    run = launch([*args, *config], ready=lambda pid: len(spawned(pid)) >= 2 and trained(tmp_path / "run"))
    gone, stderr = kill_and_time(run, signum)
    assert all(seconds is not None and seconds < DEADLINE_S for seconds in gone.values()), gone
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr[-2000:]


WINDOW_TRAINING = """
import sys
from pathlib import Path
from PySide6.QtWidgets import QApplication, QSpinBox
from app.window.main_window import MainWindow
from sim.params import TaskParams

app = QApplication(sys.argv[:1])
window = MainWindow(TaskParams(), runs_root=Path(sys.argv[1]), train_env_kind="point_mass")
window.start()
panel = window.train_panel
for name, value in {"meta_batch_size": 2, "episodes_per_task": 2, "horizon": 5}.items():
    editor = panel.settings_form.editor(name)
    assert isinstance(editor, QSpinBox)
    editor.setValue(value)
panel.iterations.setValue(100_000)
panel.device.setCurrentText("cpu")
panel.start_button.click()
app.exec()
"""


@pytest.mark.slow
def test_killing_the_window_while_it_trains_leaves_no_process_behind(launch, tmp_path: Path) -> None:
    """The window with its preview child, a training child and that child's sampler workers: SIGKILL, all gone."""

    def training(pid: int) -> bool:
        trainers = [child for child in spawned(pid) if spawned(child)]  # a child with workers of its own
        runs = list((tmp_path / "runs").glob("*"))
        return bool(trainers) and len(spawned(trainers[0])) >= 2 and bool(runs) and trained(runs[0])

    window = launch([sys.executable, "-c", WINDOW_TRAINING, str(tmp_path / "runs")], ready=training)
    gone, _ = kill_and_time(window, signal.SIGKILL)
    assert len(gone) >= 4  # preview child, training child, its two workers (and the resource tracker)
    assert all(seconds is not None and seconds < DEADLINE_S for seconds in gone.values()), gone


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
@pytest.mark.slow
def test_killing_bench_memory_leaves_no_measuring_process_behind(launch, signum: int) -> None:
    """``sim2adapt bench memory``: the process that measures and multiprocessing's resource tracker end with it."""
    args = [str(BIN / "sim2adapt"), "bench", "memory", "--robots", "ant", "--rebuilds", "5000"]
    bench = launch(args, ready=simulating)
    gone, stderr = kill_and_time(bench, signum)
    assert len(gone) >= 2, gone  # the measuring child and the resource tracker
    assert all(seconds is not None and seconds < DEADLINE_S for seconds in gone.values()), gone
    assert "Traceback" not in stderr, stderr[-2000:]
