"""Shows the frames of whichever job renders (the preview, an adaptation) and steers its camera.

Frames are numpy RGB images turned into a QImage on the GUI thread. Dragging with the left button
orbits the camera (yaw and pitch), the wheel zooms; each change is emitted as a new
:class:`sim.render.Camera` in ``camera_changed``, which the window passes to the running worker's
thread-safe ``set_camera`` (the worker renders; this widget only draws what arrives).
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np
from PySide6.QtCore import QPointF, QRect, Qt, Signal, Slot
from PySide6.QtGui import QImage, QMouseEvent, QPainter, QPaintEvent, QWheelEvent
from PySide6.QtWidgets import QWidget

from app.runtime.preview import Frame
from sim.render import Camera

DEGREES_PER_PIXEL = 0.4
"""Orbit speed of a mouse drag."""
ZOOM_PER_NOTCH = 0.85
"""Distance factor of one wheel notch forward (backward divides by it)."""


def frame_to_qimage(image: np.ndarray) -> QImage:
    """A QImage owning a copy of an H x W x 3 ``uint8`` RGB array."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an H x W x 3 uint8 image, got {image.shape} {image.dtype}")
    pixels = np.ascontiguousarray(image)
    height, width = pixels.shape[:2]
    # QImage borrows the buffer; copy() detaches it before `pixels` goes away.
    return QImage(pixels.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


class ViewportWidget(QWidget):
    """Draws the latest frame, scaled to fit with its aspect ratio kept, with its fps in a corner."""

    camera_changed = Signal(object)
    """The new :class:`Camera` after a drag or a wheel turn."""

    def __init__(self, camera: Camera | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._caption = ""
        self.camera = camera or Camera()
        self.frames_shown = 0  # frames received so far
        self._arrivals: deque[float] = deque(maxlen=30)
        self._drag_from: QPointF | None = None
        self.setMinimumSize(320, 240)
        self.setCursor(Qt.CursorShape.OpenHandCursor)
        self.setToolTip("drag to orbit the camera, wheel to zoom")

    @Slot(object)
    def on_frame_rendered(self, frame: Frame) -> None:
        """Show ``frame`` at the next repaint."""
        self._image = frame_to_qimage(frame.image)
        self.frames_shown += 1
        self._arrivals.append(time.monotonic())
        fps = self.fps()
        renderer = f"{frame.renderer}  " if frame.renderer else ""
        self._caption = f"{renderer}{frame.image.shape[1]}x{frame.image.shape[0]}  {fps:.0f} fps" if fps else ""
        self.update()

    def fps(self) -> float:
        """Frames per second over the last 30 frames (0 before two arrived)."""
        if len(self._arrivals) < 2 or self._arrivals[-1] == self._arrivals[0]:
            return 0.0
        return (len(self._arrivals) - 1) / (self._arrivals[-1] - self._arrivals[0])

    def clear(self) -> None:
        """Forget the last frame and show the placeholder."""
        self._image = None
        self._arrivals.clear()
        self._caption = ""
        self.update()

    def set_camera(self, camera: Camera) -> None:
        """Turn the camera (as a drag would) and emit ``camera_changed``."""
        self.camera = camera
        self.camera_changed.emit(camera)

    # --- mouse --------------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._drag_from = event.position()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag_from is not None:
            delta = event.position() - self._drag_from
            self._drag_from = event.position()
            # Dragging right turns the scene right (camera yaw decreases); dragging down looks from higher up.
            turned = self.camera.orbited(
                yaw_deg=-delta.x() * DEGREES_PER_PIXEL, pitch_deg=-delta.y() * DEGREES_PER_PIXEL
            )
            if turned != self.camera:
                self.set_camera(turned)
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._drag_from = None
            self.setCursor(Qt.CursorShape.OpenHandCursor)
        super().mouseReleaseEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        notches = event.angleDelta().y() / 120.0
        if notches:
            zoomed = self.camera.zoomed(ZOOM_PER_NOTCH**notches)
            if zoomed != self.camera:
                self.set_camera(zoomed)
        event.accept()

    # --- painting -----------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        try:
            painter.fillRect(self.rect(), Qt.GlobalColor.black)
            if self._image is None:
                painter.setPen(Qt.GlobalColor.lightGray)
                painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "no preview yet")
                return
            size = self._image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(0, 0, size.width(), size.height())
            target.moveCenter(self.rect().center())
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawImage(target, self._image)
            if self._caption:
                painter.setPen(Qt.GlobalColor.white)
                margin = target.adjusted(6, 4, -6, -4)
                painter.drawText(margin, Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignRight, self._caption)
        finally:
            painter.end()
