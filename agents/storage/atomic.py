"""Write files so that a reader (or a crash) only ever sees the old file or the complete new one.

The content goes to a temporary file in the destination's directory (so the final rename stays on
one filesystem and is atomic), is flushed and fsynced, and only then replaces the destination with
``os.replace``. Any failure before that removes the temporary file and leaves the destination as it
was. Checkpoints and exports both write this way.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def _read_umask() -> int:
    """The process's umask. Reading it means setting it, which is not thread-safe, so it is read once,
    when this module is imported."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_read_umask()
"""what ``open()`` would give a new file here: mkstemp's files are private (0600)"""


def write_temp(path: Path, write: Callable[[BinaryIO], object]) -> Path:
    """Run ``write`` on a fresh temporary file next to ``path``; return it flushed and fsynced to disk.

    The temporary file is hidden (``.name.XXXX.tmp``) and removed if ``write`` raises.

    Args:
        path: Final destination (its directory must exist).
        write: Writes the whole content to the open binary file it is given.

    Returns:
        The temporary file, ready for :func:`commit`.
    """
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    temp = Path(temp_name)
    try:
        os.fchmod(fd, _FILE_MODE)  # a checkpoint, export or CSV reads like any file the user writes
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def commit(temp: Path, path: Path) -> None:
    """Atomically replace ``path`` by ``temp`` and make the rename itself durable."""
    os.replace(temp, path)
    if os.name == "posix":  # Windows cannot open a directory to fsync it; its rename is durable enough.
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def discard(temps: list[Path]) -> None:
    """Remove temporary files that will not be committed (missing ones are ignored)."""
    for temp in temps:
        temp.unlink(missing_ok=True)


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write ``path`` atomically: :func:`write_temp` then :func:`commit`."""
    commit(write_temp(path, write), path)
