"""Shows the preview's frames: numpy RGB images turned into a QImage on the GUI thread."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, Qt, Slot
from PySide6.QtGui import QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QWidget

from app.workers import Frame


def frame_to_qimage(image: np.ndarray) -> QImage:
    """A QImage owning a copy of an H x W x 3 ``uint8`` RGB array."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an H x W x 3 uint8 image, got {image.shape} {image.dtype}")
    pixels = np.ascontiguousarray(image)
    height, width = pixels.shape[:2]
    # QImage borrows the buffer; copy() detaches it before `pixels` goes away.
    return QImage(pixels.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


class ViewportWidget(QWidget):
    """Draws the latest frame, scaled to fit with its aspect ratio kept."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self.frames_shown = 0  # frames received so far
        self.setMinimumSize(320, 240)

    @Slot(object)
    def on_frame_rendered(self, frame: Frame) -> None:
        """Show ``frame`` at the next repaint."""
        self._image = frame_to_qimage(frame.image)
        self.frames_shown += 1
        self.update()

    def clear(self) -> None:
        """Forget the last frame and show the placeholder."""
        self._image = None
        self.update()

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
        finally:
            painter.end()
