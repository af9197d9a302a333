"""The file dialogs the window asks, behind one small object that tests replace with canned answers.

A modal ``QFileDialog`` blocks a test; every widget therefore asks through a :class:`FileDialogs`
it was given, never ``QFileDialog`` directly.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget


class FileDialogs:
    """Native file dialogs; each method returns the chosen path, or None when the user cancelled."""

    def open_file(self, parent: QWidget | None, title: str, file_filter: str, start: Path | None = None) -> Path | None:
        """An existing file to read."""
        chosen, _ = QFileDialog.getOpenFileName(parent, title, str(start or ""), file_filter)
        return Path(chosen) if chosen else None

    def save_file(self, parent: QWidget | None, title: str, file_filter: str, start: Path | None = None) -> Path | None:
        """A file to write (the dialog asks before overwriting)."""
        chosen, _ = QFileDialog.getSaveFileName(parent, title, str(start or ""), file_filter)
        return Path(chosen) if chosen else None

    def directory(self, parent: QWidget | None, title: str, start: Path | None = None) -> Path | None:
        """A folder."""
        chosen = QFileDialog.getExistingDirectory(parent, title, str(start or ""))
        return Path(chosen) if chosen else None
