"""Benchmark plots as PNG files: a white offscreen pyqtgraph layout, exported atomically.

Every bench plot (``bench adapt``, ``bench online``, ``bench map``) draws into :func:`white_layout`
and writes with :func:`export_png`, so the CLI needs no plotting library besides the window's own
pyqtgraph and no display (Qt's offscreen platform).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

WIDTH_PX = 1200
"""width of every exported plot"""


def white_layout(title: str, height: int, *, title_size: str = "13pt", colspan: int = 2) -> tuple[Any, Any]:
    """A white offscreen layout ``WIDTH_PX x height`` with ``title`` as its first row, and the QApplication
    the exporter needs."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    layout = pg.GraphicsLayoutWidget()
    layout.setBackground("w")
    layout.resize(WIDTH_PX, height)
    layout.addLabel(title, color="k", size=title_size, colspan=colspan)
    return app, layout


def export_png(app: Any, layout: Any, path: Path) -> Path:
    """Lay out, then export to ``path`` atomically (the exporter crops a title not yet laid out)."""
    from pyqtgraph.exporters import ImageExporter

    layout.show()
    app.processEvents()
    exporter = ImageExporter(layout.scene())
    exporter.parameters()["width"] = WIDTH_PX
    partial = path.with_name(f".{path.name}.partial.png")
    exporter.export(str(partial))
    os.replace(partial, path)
    layout.close()
    return path
