"""The main window: the preview runs off the GUI thread, failures land in the status bar, close joins."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtWidgets import QDoubleSpinBox

from app.main_window import MainWindow
from sim.params import TaskParams

TIMEOUT_MS = 5000


@pytest.fixture
def windows(qtbot) -> Iterator[list[MainWindow]]:
    """Windows the test opened; closed (so their preview threads joined) at teardown.

    A strong reference is needed: qtbot.addWidget holds widgets weakly, and a window collected while
    its preview runs would destroy a running QThread, which aborts the process.
    """
    opened: list[MainWindow] = []
    yield opened
    for window in opened:
        window.close()
        assert not window.is_previewing()


def open_window(windows: list[MainWindow], factory) -> MainWindow:
    window = MainWindow(TaskParams(), env_factory=factory, fps=100)
    windows.append(window)
    window.show()
    window.start_preview()
    return window


def test_preview_feeds_viewport_and_plot_and_close_joins(qtbot, make_factory, windows) -> None:
    factory = make_factory()
    window = open_window(windows, factory)
    qtbot.waitUntil(lambda: window.viewport.frames_shown >= 2, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: window.reward_plot.point_count() >= 2, timeout=TIMEOUT_MS)
    assert "previewing ant on flat ground" in window.statusBar().currentMessage()

    spin = window.form.editor("robot.payload_kg")
    assert isinstance(spin, QDoubleSpinBox)
    spin.setValue(7.0)
    qtbot.waitUntil(lambda: factory.env.task.robot.payload_kg == 7.0, timeout=TIMEOUT_MS)
    assert len(factory.envs) == 1

    window.close()
    assert not window.is_previewing()
    assert factory.env.closed


def test_a_failing_env_shows_in_the_status_bar_and_an_edit_restarts(qtbot, make_factory, windows) -> None:
    factory = make_factory(fail_at_step=3)
    window = open_window(windows, factory)
    qtbot.waitUntil(lambda: "motor 3 exploded" in window.statusBar().currentMessage(), timeout=TIMEOUT_MS)
    assert window.statusBar().currentMessage() == "preview stopped: RuntimeError: motor 3 exploded"
    qtbot.waitUntil(lambda: not window.is_previewing(), timeout=TIMEOUT_MS)
    assert window.isVisible()

    factory.env_kwargs = {}  # the next env works
    window.form.editor("terrain.friction").setValue(0.5)  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: len(factory.envs) == 2 and factory.env.steps > 5, timeout=TIMEOUT_MS)
    assert factory.env.task.terrain.friction == 0.5
    assert window.is_previewing()
