"""The meta-train panel: settings generated from the algorithm, a child-process run drawn live, stop and resume."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel, QLineEdit, QSpinBox, QWidget

from agents.algorithms import get_algorithm
from app.runtime.train_control import TrainState
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


def red_pixels(widget: QWidget) -> int:
    """Pixels of the form's error red in what ``widget`` draws: what a user sees as a red outline."""
    image = widget.grab().toImage()
    red = QColor("#d32f2f")
    return sum(
        abs(QColor(image.pixel(x, y)).red() - red.red()) < 40
        and abs(QColor(image.pixel(x, y)).green() - red.green()) < 40
        and abs(QColor(image.pixel(x, y)).blue() - red.blue()) < 40
        for x in range(image.width())
        for y in range(image.height())
    )


def shown_messages(widget: QWidget) -> list[str]:
    return [label.text() for label in widget.findChildren(QLabel) if label.isVisibleTo(widget) and label.text()]


def test_settings_come_from_the_algorithm_and_explain_themselves(qtbot, tmp_path: Path) -> None:
    panel = make_panel(qtbot, tmp_path, 1)
    panel.algorithm.setCurrentIndex(panel.algorithm.findData("multitask"))
    assert isinstance(panel.settings_form.editor("minibatch_size"), QSpinBox)
    panel.algorithm.setCurrentIndex(panel.algorithm.findData("maml"))
    fields = get_algorithm("maml").settings_fields()
    tips = {field.name: panel.settings_form.editor(field.name).toolTip() for field in fields}
    assert tips == {field.name: field.help for field in fields}  # in the words the CLI's --config help prints
    documented = [tip for tip in tips.values() if tip]
    assert len(documented) >= 10 and len(set(documented)) == len(documented)  # each its own explanation


def test_every_algorithm_starts_with_valid_settings_and_a_named_choice_is_checked(qtbot, tmp_path: Path) -> None:
    """RMA's task_sampler is text: its defaults are valid, and an unknown sampler is refused by name."""
    panel = make_panel(qtbot, tmp_path, 1)
    for index in range(panel.algorithm.count()):
        panel.algorithm.setCurrentIndex(index)
        assert panel.settings_form.config() is not None, panel.algorithm.itemData(index)
    panel.algorithm.setCurrentIndex(panel.algorithm.findData("rma"))
    sampler = panel.settings_form.editor("task_sampler")
    assert isinstance(sampler, QLineEdit) and sampler.text() == "uniform"
    sampler.setText("psychic")
    sampler.editingFinished.emit()
    assert panel.settings_form.config() is None and "task_sampler" in panel.settings_form.error()


def test_a_bad_setting_is_outlined_and_explained_and_blocks_start(qtbot, tmp_path: Path) -> None:
    panel = make_panel(qtbot, tmp_path, 1)
    panel.show()
    horizon = panel.settings_form.editor("horizon")
    assert isinstance(horizon, QSpinBox)
    assert red_pixels(horizon) == 0
    horizon.setValue(0)
    message = "MAMLConfig.horizon = 0 is not allowed: must be > 0"
    assert message in shown_messages(panel.settings_form)
    assert not panel.start_button.isEnabled()
    assert red_pixels(horizon) > 0  # the field at fault is outlined
    assert red_pixels(panel.settings_form.editor("outer_epochs")) == 0  # and only that one
    horizon.setValue(5)
    assert message not in shown_messages(panel.settings_form) and red_pixels(horizon) == 0
    assert panel.start_button.isEnabled()


@pytest.mark.slow
def test_a_run_draws_one_point_per_iteration_without_stalling_the_event_loop(qtbot, tmp_path: Path) -> None:
    panel = make_panel(qtbot, tmp_path, 3)
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(10)
    panel.start_button.click()
    qtbot.waitUntil(lambda: panel.state in (TrainState.FINISHED, TrainState.FAILED), timeout=120_000)
    timer.stop()
    assert panel.state is TrainState.FINISHED, panel.log.toPlainText()
    assert panel.curves.point_count() == 3 and panel.progress.value() == 3
    assert "ETA" in panel.eta.text()
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert len(gaps) > 20 and max(gaps) < 0.1 + 0.01, f"longest event-loop stall {max(gaps) * 1000:.0f} ms"


@pytest.mark.slow
def test_stop_ends_the_child_now_and_resume_continues_the_run(qtbot, tmp_path: Path) -> None:
    panel = make_panel(qtbot, tmp_path, 100_000)
    panel.start_button.click()
    qtbot.waitUntil(lambda: panel.curves.point_count() >= 1, timeout=120_000)
    pid = panel.controller.process.pid if panel.controller.process else None
    assert pid is not None
    panel.stop_button.click()
    qtbot.waitUntil(lambda: panel.state is TrainState.STOPPED, timeout=30_000)
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
