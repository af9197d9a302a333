"""Training in a child process: events arrive in order, stop leaves no process behind and a resumable run."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from agents.core.child_process import ChildProcess
from agents.core.learner import IterationStats
from agents.storage.runs import RunDir
from agents.training.background import training_process
from agents.training.train import TrainSettings, run_training, start_run
from sim.child_failure import ChildFailed
from sim.params import TaskParams, with_values
from sim.tasks import TaskDistribution, UniformRange
from tests.processes import children_of

FAMILY = TaskDistribution(
    name="point-heading",
    base=with_values(TaskParams(), {"goal.target_velocity_mps": 1.0}),
    vary={"goal.target_heading_deg": UniformRange(-180.0, 180.0)},
)
TINY = {"meta_batch_size": 2, "episodes_per_task": 2, "horizon": 5, "outer_epochs": 1, "hidden_sizes": (8,)}


def settings(iterations: int) -> TrainSettings:
    config = dataclasses.replace(TrainSettings().config, **TINY)
    return TrainSettings(iterations=iterations, num_workers=1, env="point_mass", device="cpu", config=config)


def events_until_end(process: ChildProcess, timeout_s: float = 120.0) -> list:
    events: list = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        events += process.receive(0.05)
        if process.finished():
            return events
    raise AssertionError(f"no end within {timeout_s} s: {events}")


@pytest.mark.slow
def test_a_child_run_reports_every_iteration_then_its_end(tmp_path: Path) -> None:
    run = start_run(tmp_path / "run", settings=settings(3), family=FAMILY)
    process = training_process(run.path, device="cpu")
    process.start()
    events = events_until_end(process)
    assert [e.iteration for e in events if isinstance(e, IterationStats)] == [0, 1, 2]
    assert process.receive() == []  # the end marker: no failure
    assert process.wait(30.0)
    assert len(RunDir.open(run.path).metrics()) == 3


@pytest.mark.slow
def test_stop_mid_run_leaves_no_process_and_a_run_that_resumes(tmp_path: Path) -> None:
    run = start_run(tmp_path / "run", settings=settings(100_000), family=FAMILY)
    process = training_process(run.path, device="cpu")
    process.start()
    deadline = time.monotonic() + 120.0
    while not any(isinstance(e, IterationStats) for e in process.receive(0.05)):
        assert time.monotonic() < deadline and process.is_alive()
    pid = process.pid
    assert pid is not None and children_of(pid)  # its sampler worker
    process.stop(grace_s=0.0)  # no waiting for the iteration: SIGTERM straight away
    assert not process.is_alive()
    assert not children_of(pid)  # the sampler worker went with it
    saved = RunDir.open(run.path)
    done = int(saved.load_checkpoint()["learner"]["iteration"])
    assert done >= 1
    resumed = run_training(saved, resume=True)
    assert next(resumed).iteration == done
    resumed.close()


@pytest.mark.slow
def test_pausing_reports_the_iteration_in_hand_then_ends_between_iterations(tmp_path: Path) -> None:
    run = start_run(tmp_path / "run", settings=settings(100_000), family=FAMILY)
    process = training_process(run.path, device="cpu")
    process.start()
    deadline = time.monotonic() + 120.0
    while not (seen := process.receive(0.05)):
        assert time.monotonic() < deadline and process.is_alive()
    process.request_stop()
    events = seen + events_until_end(process)
    assert process.receive() == []  # ended, not failed
    done = [e.iteration for e in events if isinstance(e, IterationStats)]
    assert done == list(range(len(done)))
    assert len(RunDir.open(run.path).metrics()) == len(done)  # every iteration reported has its checkpoint


@pytest.mark.slow
def test_a_run_that_cannot_start_reports_why(tmp_path: Path) -> None:
    process = training_process(tmp_path / "nowhere")
    process.start()
    with pytest.raises(ChildFailed, match="nowhere") as caught:
        events_until_end(process)
        process.receive()
    assert "Traceback" in caught.value.details
