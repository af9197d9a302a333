"""The Map tab: cells are drawn as they arrive, a click loads the cell's task, Stop ends the job, errors are one
line, a curve has intervals, Save writes the CSV; the window loads a clicked cell into the task editor."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from agents.core.task_map import CellResult, MapSpec, run_map
from app.runtime.launcher import JobLauncher
from app.runtime.map_control import MapRequest, MapStarted, cell_value
from app.window.dialogs import FileDialogs
from app.window.widgets.map_panel import NO_Y, MapPanel
from sim.params import TaskParams
from tests.app.conftest import POINT_FAMILY
from tests.app.test_main_window import open_window, windows  # noqa: F401 (a fixture)

TIMEOUT_MS = 30_000
X, Y = "goal.target_heading_deg", "goal.target_velocity_mps"
"""the point-mass family varies the heading (-180..180) and keeps the speed at 1 m/s"""


class CannedDialogs(FileDialogs):
    def __init__(self) -> None:
        self.folder: Path | None = None

    def directory(self, *args: object, **kwargs: object) -> Path | None:
        return self.folder


@pytest.fixture
def make_panel(qtbot) -> Iterator:
    """``make_panel(checkpoint)`` -> a MapPanel running its jobs in its own threads, joined at teardown."""
    panels: list[MapPanel] = []

    def make(checkpoint: Path, *, y: str | None = Y, counts: tuple[int, int] = (3, 2), seeds: int = 1) -> MapPanel:
        panel = MapPanel(dialogs=CannedDialogs(), launcher=JobLauncher(in_child_process=False))
        qtbot.addWidget(panel)
        panels.append(panel)
        panel.add_checkpoint(checkpoint)
        panel.x_field.setCurrentText(X)
        panel.y_field.setCurrentText(y or NO_Y)
        panel.x_points.setValue(counts[0])
        panel.y_points.setValue(counts[1])
        panel.seeds.setValue(seeds)
        panel.steps.setValue(5)
        panel.workers.setValue(1)  # cells in the job's thread: no processes, deterministic
        panel.measure.setCurrentIndex(panel.measure.findData("return"))  # the toy env measures its return only
        panel.resize(480, 720)
        panel.show()
        return panel

    yield make
    for panel in panels:
        assert panel.shutdown() and panel.jobs.shutdown()


def run_to_end(qtbot, panel: MapPanel) -> None:
    with qtbot.waitSignal(panel.running_changed, timeout=TIMEOUT_MS, check_params_cb=lambda running: not running):
        panel.run_button.click()


def drawn_cells(panel: MapPanel) -> int:
    values = panel.view.image_values()
    return 0 if values is None else int(np.isfinite(values).sum())


def tiny_cells(checkpoint: Path) -> tuple[MapSpec, list[CellResult]]:
    request = MapRequest(checkpoint=checkpoint, x=X, y=Y, counts=(3, 2), shots=1, seeds=1, max_steps=5, workers=1)
    spec = request.spec(POINT_FAMILY)
    from agents.core.task_map import CheckpointLoader

    return spec, list(run_map(spec, CheckpointLoader(str(checkpoint)), workers=1))


def click_at(qtbot, panel: MapPanel, x: float, y: float) -> None:
    """A real left click on the plot at ``(x, y)`` in the fields' units."""
    scene_point = panel.view.plot.vb.mapViewToScene(QPointF(x, y))
    graphics = panel.view.graphics
    qtbot.mouseClick(graphics.viewport(), Qt.MouseButton.LeftButton, pos=graphics.mapFromScene(scene_point))


def test_the_map_tab_draws_cells_as_they_arrive_and_a_click_loads_the_cells_task(
    qtbot, make_panel, point_checkpoint
) -> None:
    spec, results = tiny_cells(point_checkpoint)
    panel = make_panel(point_checkpoint)
    panel.on_map_started(MapStarted(spec, POINT_FAMILY, "maml"))
    assert drawn_cells(panel) == 0
    for arrived, result in enumerate(results, start=1):  # in the order a job yields them
        panel.on_cell_done(result)
        qtbot.waitUntil(lambda n=arrived: drawn_cells(panel) == n, timeout=TIMEOUT_MS)
        drawn = panel.view.image_values()
        assert drawn is not None
        assert drawn[result.cell.iy, result.cell.ix] == pytest.approx(cell_value(result, "return", "after")[0])

    # the job itself, as Run starts it, gives the same map
    run_to_end(qtbot, panel)
    assert drawn_cells(panel) == 6 and "map done: 6 of 6 cells" in panel.message.text()
    assert panel.view.image_values() == pytest.approx(panel.controller.grid("return", "after"))
    panel.view_choice.setCurrentText("gain")
    gain = panel.view.image_values()
    assert gain is not None and gain[0, 0] == pytest.approx(cell_value(results[0], "return", "gain")[0])

    target = spec.cells()[4]  # heading 0, speed +3 (the top row)
    with qtbot.waitSignal(panel.task_chosen, timeout=TIMEOUT_MS) as chosen:
        click_at(qtbot, panel, target.x, target.y)
    task = chosen.args[0]
    assert isinstance(task, TaskParams) and task == target.task
    assert task.goal.target_heading_deg == 0.0 and task.goal.target_velocity_mps == 3.0
    assert "goal.target_heading_deg = 0, goal.target_velocity_mps = 3" in panel.message.text()
    assert panel.view.chosen.isVisible()  # the loaded cell is outlined


def test_the_family_range_is_marked_and_a_click_off_the_grid_loads_nothing(qtbot, make_panel, point_checkpoint) -> None:
    spec, _ = tiny_cells(point_checkpoint)
    panel = make_panel(point_checkpoint)
    panel.on_map_started(MapStarted(spec, POINT_FAMILY, "maml"))
    assert panel.controller.training_ranges() == ((-180.0, 180.0), (1.0, 1.0))  # speed not varied: a line
    assert panel.controller.cell_at(0.0, 1.0) is not None and panel.controller.cell_at(0.0, 9.0) is None
    with qtbot.assertNotEmitted(panel.task_chosen):
        click_at(qtbot, panel, 0.0, 9.0)


def test_one_field_is_a_curve_with_intervals(qtbot, make_panel, point_checkpoint) -> None:
    panel = make_panel(point_checkpoint, y=None, counts=(3, 2), seeds=2)
    run_to_end(qtbot, panel)
    xs, means = panel.view.curve_points()
    assert xs.tolist() == [-180.0, 0.0, 180.0] and np.isfinite(means).all()
    _, _, cis = panel.controller.curve("return", "after")
    assert np.isfinite(cis).all() and (cis > 0).all()  # two seeds: a Student-t interval per point
    assert panel.view.image_values() is None


def test_stop_ends_the_map_early(qtbot, make_panel, point_checkpoint) -> None:
    panel = make_panel(point_checkpoint, counts=(16, 16), seeds=3)
    panel.status_changed.connect(lambda text: panel.stop() if text.startswith("map cell 1/") else None)
    run_to_end(qtbot, panel)
    measured = len(panel.controller.results)
    assert 1 <= measured < 256 and panel.message.text() == f"stopped: {measured} of 256 cells measured"
    assert panel.run_button.isEnabled() and not panel.stop_button.isEnabled()


def test_bad_choices_are_one_line_naming_the_choice(qtbot, make_panel, point_checkpoint, tmp_path: Path) -> None:
    panel = make_panel(point_checkpoint)
    panel.y_field.setCurrentText(X)
    with qtbot.waitSignal(panel.error_occurred) as error:
        panel.run_button.click()
    assert error.args[0] == f"Y field {X} is not allowed: a field other than the X field ({X}), or none"
    assert not panel.is_running()

    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    panel.y_field.setCurrentText(Y)
    panel.add_checkpoint(broken)
    with qtbot.waitSignal(panel.error_occurred, timeout=TIMEOUT_MS) as error:
        run_to_end(qtbot, panel)
    assert error.args[0].startswith("the map failed: ") and "\n" not in error.args[0]


@pytest.mark.slow  # a spawned child draws and writes the files
def test_save_writes_one_csv_row_per_cell_and_episode(qtbot, make_panel, point_checkpoint, tmp_path: Path) -> None:
    panel = make_panel(point_checkpoint)
    run_to_end(qtbot, panel)
    panel.dialogs.folder = tmp_path  # type: ignore[attr-defined]
    panel.save_button.click()
    qtbot.waitUntil(lambda: panel.message.text().startswith("saved "), timeout=TIMEOUT_MS)
    (written,) = tmp_path.glob("map-*.csv")  # the toy env measures no tracking error: no heatmap PNGs
    assert written.name == f"map-{point_checkpoint.parent.name}-{X}-{Y}.csv"
    assert len(written.read_text().splitlines()) == 1 + 6 * 2
    assert not list(tmp_path.glob(".*partial*"))


def test_the_window_loads_a_clicked_cell_into_the_task_editor(qtbot, make_factory, windows, point_checkpoint) -> None:  # noqa: F811
    window = open_window(windows, make_factory())
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())][:3] == ["Adapt", "Meta-train", "Map"]
    window.adapt_panel.add_checkpoint(point_checkpoint)
    assert window.map_panel.checkpoint() == point_checkpoint  # the same agent choice as the Adapt tab
    spec, results = tiny_cells(point_checkpoint)
    window.map_panel.on_map_started(MapStarted(spec, POINT_FAMILY, "maml"))
    window.map_panel.on_cell_done(results[0])
    window.map_panel.on_point_clicked(results[0].cell.x, results[0].cell.y or 0.0)
    assert window.form.task() == results[0].cell.task
    assert "into the task editor" in window.statusBar().currentMessage()
