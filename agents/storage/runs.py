"""A training run on disk: its settings, its metrics, its checkpoints.

Layout of a run directory::

    run.json          algorithm, seed, device, algorithm config, env config (written once)
    family.json       the task family trained on (TaskDistribution JSON)
    metrics.jsonl     one JSON object per iteration (pre/post returns, losses, timings, env steps)
    checkpoint.pt     the latest learner state, replaced atomically after each iteration
    provenance.jsonl  one line per start or resume: the code version (``git describe``) and iteration
    tensorboard/      the same scalars, when the ``tensorboard`` package is installed

A kill at any moment leaves ``checkpoint.pt`` as the last complete iteration and ``metrics.jsonl``
with at most one line more (dropped on resume), so resuming never double-counts an iteration.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.storage.atomic import atomic_write
from agents.storage.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from sim.tasks import TaskDistribution

RUN_FILE, FAMILY_FILE, METRICS_FILE, CHECKPOINT_FILE = "run.json", "family.json", "metrics.jsonl", "checkpoint.pt"
PROVENANCE_FILE = "provenance.jsonl"


def code_version() -> str:
    """``git describe --always --dirty`` of this source tree, or ``unknown`` outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda file: file.write(text.encode("utf-8")))


class RunDirError(ValueError):
    """A run directory that cannot be created or resumed; the message names the path and why."""


@dataclass(frozen=True)
class RunDir:
    """An existing run directory."""

    path: Path

    @classmethod
    def create(cls, path: str | os.PathLike[str], *, settings: Mapping[str, Any], family: TaskDistribution) -> RunDir:
        """Make a new run directory; refuses one that already holds a run (use resume for that)."""
        root = Path(path)
        if (root / RUN_FILE).exists():
            raise RunDirError(f"{root} already holds a run: resume it (train --resume {root}), or choose another")
        root.mkdir(parents=True, exist_ok=True)
        # run.json last: it marks the directory as a run, so a kill in between leaves no half run behind.
        _write_text(root / FAMILY_FILE, family.to_json())
        _write_text(root / RUN_FILE, json.dumps(dict(settings), indent=2))
        return cls(root)

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, require_checkpoint: bool = True) -> RunDir:
        """An existing run directory, checked for its settings (and its checkpoint, unless not yet trained)."""
        root = Path(path)
        required = (RUN_FILE, FAMILY_FILE, CHECKPOINT_FILE) if require_checkpoint else (RUN_FILE, FAMILY_FILE)
        for name in required:
            if not (root / name).is_file():
                what = "a resumable run" if require_checkpoint else "a run directory"
                raise RunDirError(f"{root} is not {what}: {name} is missing")
        return cls(root)

    @property
    def has_checkpoint(self) -> bool:
        """Whether a first iteration was saved (a run killed in its first seconds has none)."""
        return (self.path / CHECKPOINT_FILE).is_file()

    @property
    def settings(self) -> dict[str, Any]:
        """What :meth:`create` recorded."""
        loaded: dict[str, Any] = json.loads((self.path / RUN_FILE).read_text())
        return loaded

    @property
    def family(self) -> TaskDistribution:
        """The family trained on."""
        return TaskDistribution.from_json((self.path / FAMILY_FILE).read_text())

    def save_checkpoint(self, state: Mapping[str, Any]) -> Path:
        """Replace the checkpoint atomically."""
        return save_checkpoint(self.path / CHECKPOINT_FILE, state)

    def load_checkpoint(self) -> dict[str, Any]:
        """The latest checkpoint (``weights_only`` loading: it cannot run code)."""
        return load_checkpoint(self.path / CHECKPOINT_FILE)

    def append_metrics(self, row: Mapping[str, Any]) -> None:
        """Add one iteration's metrics line, flushed to disk."""
        with open(self.path / METRICS_FILE, "a", encoding="utf-8") as file:
            file.write(json.dumps(dict(row)) + "\n")
            file.flush()
            os.fsync(file.fileno())

    def metrics(self) -> list[dict[str, Any]]:
        """Every complete metrics line."""
        path = self.path / METRICS_FILE
        if not path.exists():
            return []
        rows = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a line cut by a kill: everything before it is complete
        return rows

    def record_start(self, iteration: int) -> None:
        """Note that training (re)starts at ``iteration`` with this code (a bundle states what trained it)."""
        row = {"iteration": iteration, "code_version": code_version(), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        with open(self.path / PROVENANCE_FILE, "a", encoding="utf-8") as file:
            file.write(json.dumps(row) + "\n")

    def code_versions(self) -> list[str]:
        """The code versions that trained this run, in order, each once (empty for runs older than the record)."""
        path = self.path / PROVENANCE_FILE
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []
        return list(dict.fromkeys(str(row["code_version"]) for row in rows))

    def pieces(self) -> list[int]:
        """The iteration each start or resume began at: a run trained in pieces says so (``[0]``: in one go)."""
        path = self.path / PROVENANCE_FILE
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []
        return [int(row["iteration"]) for row in rows]

    def extend(self, iterations: int) -> None:
        """Raise the run's iteration target (resuming then trains on, as one longer run would have)."""
        settings = self.settings
        if iterations < int(settings["iterations"]):
            raise RunDirError(
                f"iterations = {iterations} is not allowed for {self.path}: at least its {settings['iterations']}"
            )
        _write_text(self.path / RUN_FILE, json.dumps({**settings, "iterations": iterations}, indent=2))

    def truncate_metrics(self, iterations: int) -> None:
        """Keep the metrics of the first ``iterations`` iterations (those the checkpoint holds)."""
        kept = [row for row in self.metrics() if int(row["iteration"]) < iterations]
        _write_text(self.path / METRICS_FILE, "".join(json.dumps(r) + "\n" for r in kept))


def checkpoint_algorithm(state: Mapping[str, Any], path: Path) -> str:
    """The algorithm a checkpoint was written by, or a clear error for a file that is not ours."""
    algorithm = state.get("algorithm")
    if not isinstance(algorithm, str):
        raise CheckpointError(f"{path} is not a sim2adapt checkpoint (no 'algorithm' entry)")
    return algorithm


class ScalarLog:
    """TensorBoard scalars under ``RUN/tensorboard`` when the ``tensorboard`` package is installed, else nothing.

    metrics.jsonl stays the record of truth; this is a convenience for users who already live in
    TensorBoard, so its absence is silent.
    """

    def __init__(self, writer: Any | None) -> None:
        self._writer = writer

    @classmethod
    def open(cls, run_path: Path) -> ScalarLog:
        """A log writing into ``run_path/tensorboard``, or a no-op one without tensorboard."""
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # torch raises ImportError when the tensorboard package is missing
            return cls(None)
        return cls(SummaryWriter(log_dir=str(run_path / "tensorboard")))

    @property
    def enabled(self) -> bool:
        """Whether scalars are being written."""
        return self._writer is not None

    def write(self, row: Mapping[str, Any], *, step: int) -> None:
        """Every numeric value of ``row`` (None and non-numbers skipped) at ``step``."""
        if self._writer is None:
            return
        for key, value in row.items():
            if isinstance(value, int | float) and not isinstance(value, bool) and key != "iteration":
                self._writer.add_scalar(key, value, step)
        self._writer.flush()

    def close(self) -> None:
        """Flush and close the writer."""
        if self._writer is not None:
            self._writer.close()
