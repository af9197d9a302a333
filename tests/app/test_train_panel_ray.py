"""The meta-train panel samples on Ray when asked: a local Ray here, a cluster's address in general."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.runtime.train_control import TrainState
from tests.app.test_train_panel import make_panel

pytest.importorskip("ray", reason="the ray backend needs the cluster extra (scripts/setup.sh installs it)")
os.environ["RAY_AUTH_MODE"] = "disabled"  # as tests/agents/test_train_ray.py: throw-away local Ray instances


@pytest.mark.slow
def test_a_run_started_with_ray_samples_on_ray_actors_and_says_so(qtbot, tmp_path: Path) -> None:
    panel = make_panel(qtbot, tmp_path, 1)
    assert not panel.ray_address.isEnabled()  # an address means nothing to the process pool
    panel.backend.setCurrentIndex(panel.backend.findData("ray"))
    assert panel.ray_address.isEnabled()
    panel.start_button.click()
    assert not panel.backend.isEnabled() and not panel.ray_address.isEnabled()  # locked while it runs
    qtbot.waitUntil(lambda: panel.state in (TrainState.FINISHED, TrainState.FAILED), timeout=120_000)
    log = panel.log.toPlainText()
    assert panel.state is TrainState.FINISHED, log
    assert "sampling on a local Ray" in log
    assert "1 Ray actor" in log and "CPU" in log, log  # where the workers ran, and the cluster's CPUs


def test_an_unreachable_cluster_fails_the_run_with_one_line_naming_the_address(qtbot, tmp_path: Path) -> None:
    panel = make_panel(qtbot, tmp_path, 1)
    panel.backend.setCurrentIndex(panel.backend.findData("ray"))
    panel.ray_address.setText("127.0.0.1:1")
    errors: list[str] = []
    panel.error_occurred.connect(errors.append)
    panel.start_button.click()
    qtbot.waitUntil(lambda: panel.state in (TrainState.FINISHED, TrainState.FAILED), timeout=120_000)
    assert panel.state is TrainState.FAILED
    assert len(errors) == 1 and "127.0.0.1:1" in errors[0] and "\n" not in errors[0], errors
