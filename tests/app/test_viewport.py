"""The viewport: dragging orbits the camera, the wheel zooms, frames show with their renderer and rate."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent

from app.runtime.preview import Frame
from app.window.widgets.viewport import DEGREES_PER_PIXEL, ZOOM_PER_NOTCH, ViewportWidget
from sim.render import Camera


def test_dragging_orbits_and_the_wheel_zooms(qtbot) -> None:
    viewport = ViewportWidget(Camera(yaw_deg=0.0, pitch_deg=-20.0, distance_m=2.0))
    qtbot.addWidget(viewport)
    viewport.resize(400, 300)
    viewport.show()
    with qtbot.waitSignals([viewport.camera_changed] * 1, timeout=1000):
        qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=QPoint(100, 100))
        qtbot.mouseMove(viewport, QPoint(150, 90))
        qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=QPoint(150, 90))
    assert viewport.camera.yaw_deg == pytest.approx(-50 * DEGREES_PER_PIXEL)
    assert viewport.camera.pitch_deg == pytest.approx(-20.0 + 10 * DEGREES_PER_PIXEL)

    with qtbot.waitSignal(viewport.camera_changed, timeout=1000) as blocker:
        wheel = QWheelEvent(
            QPointF(50, 50),
            QPointF(50, 50),
            QPoint(0, 0),
            QPoint(0, 120),
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
            Qt.ScrollPhase.NoScrollPhase,
            False,
        )
        viewport.wheelEvent(wheel)
    assert blocker.args[0].distance_m == pytest.approx(2.0 * ZOOM_PER_NOTCH)


def test_frames_show_with_a_caption(qtbot) -> None:
    viewport = ViewportWidget()
    qtbot.addWidget(viewport)
    for step in range(3):
        viewport.on_frame_rendered(Frame(image=np.zeros((48, 64, 3), np.uint8), step=step, renderer="egl"))
    assert viewport.frames_shown == 3 and viewport.grab().width() > 0
