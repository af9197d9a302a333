"""Task files, presets and checkpoints on disk, for the window (Qt-free; run from worker threads).

- A task file is :meth:`TaskParams.to_json` text. Reading one that the schema rejects raises the
  schema's :class:`TaskParamError` (naming the field); writing is atomic (temporary file, fsync,
  ``os.replace``), so a crash never leaves half a file.
- Presets: each bundled family's base task and held-out test tasks (:mod:`sim.tasks`), plus the
  user's own task files in :func:`user_presets_dir`.
- Family files are :meth:`TaskDistribution.to_json` text, read and written the same way; the user's
  own go to :func:`user_families_dir` by default.
- Checkpoints: ``*.pt`` files and run directories holding a ``checkpoint.pt`` under ``assets/agents``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from agents.storage.atomic import atomic_write
from sim.params import TaskParamError, TaskParams
from sim.tasks import AGENTS_DIR, TaskDistribution, family_names, load_family

HOME_ENV = "SIM2ADAPT_HOME"
"""Overrides the user folder (``~/.config/sim2adapt``): tests point it at a temporary folder."""
"""Where the window looks for trained checkpoints."""


@dataclass(frozen=True)
class Preset:
    """A named task for the presets menu."""

    group: str
    """menu section: a family name, or ``My presets``"""
    name: str
    task: TaskParams


@dataclass(frozen=True)
class PresetCatalogue:
    """Everything the presets menu and Randomise need, read in one go off the GUI thread."""

    families: Mapping[str, TaskDistribution]
    builtin: tuple[Preset, ...]
    user: tuple[Preset, ...]
    problems: tuple[str, ...]
    """user preset files that could not be read, with why"""


def user_home(environ: Mapping[str, str] | None = None) -> Path:
    """The user's sim2adapt folder: ``$SIM2ADAPT_HOME``, else ``$XDG_CONFIG_HOME/sim2adapt`` (``~/.config``)."""
    env = os.environ if environ is None else environ
    if env.get(HOME_ENV):
        return Path(env[HOME_ENV])
    config = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "sim2adapt"


def user_presets_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where the user's presets are saved (one task JSON file each, named after the preset)."""
    return user_home(environ) / "presets"


def user_families_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where the family editor saves the user's task families by default."""
    return user_home(environ) / "families"


def _read_text(label: str, path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise TaskParamError(label, str(path), f"a UTF-8 JSON file ({err.reason})") from err


def _write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (text + "\n").encode("utf-8")
    atomic_write(path, lambda file: file.write(data))
    return path


def read_task_file(path: Path) -> TaskParams:
    """The task in a JSON file.

    Raises:
        TaskParamError: bad JSON or a value the schema rejects (the message names the field).
        OSError: the file cannot be read.
    """
    return TaskParams.from_json(_read_text("task", path))


def write_task_file(path: Path, task: TaskParams) -> Path:
    """Write ``task`` as JSON to ``path`` atomically (creating its folder); returns ``path``."""
    return _write_text(path, task.to_json())


def read_family_file(path: Path) -> TaskDistribution:
    """The task family in a JSON file.

    Raises:
        TaskParamError: bad JSON, a bad range or a bad base task (the message names the field).
        OSError: the file cannot be read.
    """
    return TaskDistribution.from_json(_read_text("family", path))


def write_family_file(path: Path, family: TaskDistribution) -> Path:
    """Write ``family`` as JSON to ``path`` atomically (creating its folder); returns ``path``."""
    return _write_text(path, family.to_json())


def builtin_presets(families: Mapping[str, TaskDistribution]) -> list[Preset]:
    """Each family's base task, then its held-out test tasks."""
    presets = []
    for name, family in families.items():
        presets.append(Preset(name, "base task", family.base))
        presets += [Preset(name, f"test task {i}", task) for i, task in enumerate(family.test_tasks())]
    return presets


def user_presets(folder: Path) -> tuple[list[Preset], list[str]]:
    """The readable task files in ``folder`` by name, and a line per unreadable one."""
    presets, problems = [], []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            presets.append(Preset("My presets", path.stem, read_task_file(path)))
        except (TaskParamError, OSError) as err:
            problems.append(f"{path}: {err}")
    return presets, problems


def load_catalogue(environ: Mapping[str, str] | None = None) -> PresetCatalogue:
    """The bundled families and their presets, and the user's presets (reads files: not on the GUI thread)."""
    families = {name: load_family(name) for name in family_names()}
    user, problems = user_presets(user_presets_dir(environ))
    return PresetCatalogue(families, tuple(builtin_presets(families)), tuple(user), tuple(problems))


DEFAULT_AGENT = "cheetah-velocity-pearl.pt"
"""The bundled agent a first launch preselects: PEARL on cheetah-velocity improves on every held-out
task after one episode (README, adaptation benchmark), so the first Run shows adaptation at work."""


def find_checkpoints(folder: Path = AGENTS_DIR) -> list[Path]:
    """Checkpoint files under ``folder`` (``*.pt`` files, run directories' ``checkpoint.pt``): the
    :data:`DEFAULT_AGENT` first, then by path."""
    if not folder.is_dir():
        return []
    found = (path for path in folder.rglob("*.pt") if path.is_file())
    return sorted(found, key=lambda path: (path.name != DEFAULT_AGENT, path))


def first_launch_task(folder: Path = AGENTS_DIR) -> TaskParams:
    """The task the window opens on when none is given: a held-out task of the first bundled agent's family.

    So that the preselected bundled agent can adapt straight away (its robot matches the task's).
    """
    for checkpoint in find_checkpoints(folder):
        sidecar = checkpoint.with_suffix(".json")
        try:
            family = json.loads(sidecar.read_text())["family"]
            return load_family(family).test_tasks()[0]
        except (OSError, KeyError, ValueError):
            continue
    return TaskParams()
