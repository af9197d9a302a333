"""Start the Qt application with the main window (wiring only)."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QApplication

from app.window.main_window import MainWindow
from sim.params import TaskParams


def run_gui(task: TaskParams) -> int:
    """Open the main window on ``task``, start its preview, and run Qt's event loop."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("sim2adapt")
    window = MainWindow(task)
    window.resize(1500, 900)
    app.aboutToQuit.connect(window.shutdown)  # however Qt quits, join the worker threads first
    window.show()
    window.start()
    return app.exec()
