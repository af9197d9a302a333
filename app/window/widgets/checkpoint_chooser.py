"""The checkpoint row of the Adapt tab: the checkpoints found under the agents folder, or one chosen with Browse...

Its list is the Map tab's too (the window hands :meth:`CheckpointChooser.model` to the Map panel), so
both tabs offer the same agents.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QAbstractItemModel, Signal, Slot
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QWidget

from app.runtime.task_files import find_checkpoints
from app.window.dialogs import FileDialogs
from app.window.jobs import JobRunner


class CheckpointChooser(QWidget):
    """A list of checkpoints (labelled relative to ``agents_dir`` when under it) and a Browse... button."""

    checkpoint_changed = Signal()
    """Another checkpoint (or none) is chosen."""
    hint_changed = Signal(str)
    """A line for the panel's message: none was found under the agents folder, or which file Browse chose."""
    error_occurred = Signal(str)
    """Reading the agents folder failed."""

    def __init__(
        self, *, dialogs: FileDialogs, jobs: JobRunner, agents_dir: Path, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.dialogs, self.jobs, self.agents_dir = dialogs, jobs, agents_dir
        self.combo = QComboBox()
        self.combo.setMinimumContentsLength(24)
        self.combo.setToolTip(f"checkpoints found under {agents_dir}, or chosen with Browse...")
        self.combo.currentIndexChanged.connect(lambda _index: self.checkpoint_changed.emit())
        self.browse_button = QPushButton("Browse...")
        self.browse_button.clicked.connect(self.browse)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("checkpoint"))
        row.addWidget(self.combo, 1)
        row.addWidget(self.browse_button)

    def model(self) -> QAbstractItemModel:
        """The list's model, for another chooser that should offer the same checkpoints."""
        return self.combo.model()

    def checkpoint(self) -> Path | None:
        """The chosen checkpoint."""
        data = self.combo.currentData()
        return Path(data) if data else None

    def add(self, path: Path, *, select: bool = True) -> None:
        """Offer ``path`` in the list (once), and select it."""
        index = self.combo.findData(str(path))
        if index < 0:
            label = str(path.relative_to(self.agents_dir)) if path.is_relative_to(self.agents_dir) else str(path)
            self.combo.addItem(label, str(path))
            index = self.combo.count() - 1
        if select:
            self.combo.setCurrentIndex(index)

    def scan(self) -> None:
        """List the checkpoints under :attr:`agents_dir` (read in a job thread)."""
        folder = self.agents_dir
        self.jobs.call(lambda: find_checkpoints(folder), on_done=self._on_found, on_failed=self.error_occurred.emit)

    def _on_found(self, paths: list[Path]) -> None:
        for path in paths:
            self.add(path, select=self.checkpoint() is None)
        if self.checkpoint() is None:
            self.hint_changed.emit(
                f"No checkpoints in {self.agents_dir} yet: train one (sim2adapt train) and copy it there, "
                "or choose a checkpoint file with Browse..."
            )

    @Slot()
    def browse(self) -> None:
        """Ask for a checkpoint file, offer it and choose it."""
        start = self.agents_dir if self.agents_dir.is_dir() else None
        chosen = self.dialogs.open_file(self, "Choose a checkpoint", "Checkpoints (*.pt);;All (*)", start)
        if chosen is not None:
            self.add(chosen)
            self.hint_changed.emit(f"checkpoint: {chosen}")
