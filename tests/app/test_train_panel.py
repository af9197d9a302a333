"""The meta-train panel: settings generated from the algorithm, a child-process run drawn live, stop and resume."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLineEdit, QSpinBox

from app.window.widgets.train_panel import TrainPanel, format_eta
from tests.processes import children_of

TINY = {"meta_batch_size": 2, "episodes_per_task": 2, "horizon": 5, "outer_epochs": 1}


def make_panel(qtbot, tmp_path: Path, iterations: int) -> TrainPanel:
    panel = TrainPanel(runs_root=tmp_path, env_kind="point_mass", poll_ms=20)
    qtbot.addWidget(panel)
    panel.algorithm.setCurrentIndex(panel.algorithm.findData("maml"))
    for name, value in TINY.items():
        editor = panel.settings_form.editor(name)
        assert isinstance(editor, QSpinBox)
        editor.setValue(value)
    hidden = panel.settings_form.editor("hidden_sizes")
    assert isinstance(hidden, QLineEdit)
    hidden.setText("8")
    hidden.editingFinished.emit()
    panel.iterations.setValue(iterations)
    panel.workers.setValue(1)
    panel.device.setCurrentText("cpu")
    return panel


def test_settings_come_from_the_algorithm_and_a_bad_one_blocks_start(qtbot, tmp_path: Path) -> None:
    panel = make_panel(qtbot, tmp_path, 1)
    panel.algorithm.setCurrentIndex(panel.algorithm.findData("multitask"))
    assert isinstance(panel.settings_form.editor("minibatch_size"), QSpinBox)
    panel.algorithm.setCurrentIndex(panel.algorithm.findData("maml"))
    assert (
        panel.settings_form.editor("inner_lr").toolTip() == "step size of the inner loop (initial value when learned)"
    )
    horizon = panel.settings_form.editor("horizon")
    assert isinstance(horizon, QSpinBox)
    horizon.setValue(0)
    assert panel.settings_form.error() == "MAMLConfig.horizon = 0 is not allowed: must be > 0"
    assert not panel.start_button.isEnabled()
    assert "border" in horizon.styleSheet()
    horizon.setValue(5)
    assert panel.settings_form.error() is None and panel.start_button.isEnabled()


def test_a_run_draws_one_point_per_iteration_without_stalling_the_event_loop(qtbot, tmp_path: Path) -> None:
    panel = make_panel(qtbot, tmp_path, 3)
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(10)
    panel.start_button.click()
    qtbot.waitUntil(lambda: panel.state in ("finished", "failed"), timeout=120_000)
    timer.stop()
    assert panel.state == "finished", panel.log.toPlainText()
    assert panel.curves.point_count() == 3 and panel.progress.value() == 3
    assert "ETA" in panel.eta.text()
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert len(gaps) > 20 and max(gaps) < 0.1 + 0.01, f"longest event-loop stall {max(gaps) * 1000:.0f} ms"


def test_stop_ends_the_child_now_and_resume_continues_the_run(qtbot, tmp_path: Path) -> None:
    panel = make_panel(qtbot, tmp_path, 100_000)
    panel.start_button.click()
    qtbot.waitUntil(lambda: panel.curves.point_count() >= 1, timeout=120_000)
    pid = panel._process.pid if panel._process else None
    assert pid is not None
    panel.stop_button.click()
    qtbot.waitUntil(lambda: panel.state == "stopped", timeout=30_000)
    assert not Path(f"/proc/{pid}").exists() or not children_of(pid)
    assert panel.resume_button.isEnabled()
    done = panel.curves.point_count()
    panel.resume_button.click()
    qtbot.waitUntil(lambda: panel.curves.point_count() > done, timeout=120_000)
    assert "resumed" in panel.log.toPlainText()
    panel.shutdown()
    assert not panel.is_running()


def test_eta_reads_like_a_clock() -> None:
    assert (format_eta(45), format_eta(200), format_eta(3720)) == ("45s", "3m 20s", "1h 02m")
