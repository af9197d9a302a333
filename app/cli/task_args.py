"""Command-line flags for a task, generated from the schema in :mod:`sim.params`.

Every subcommand that takes a task (``gui``, ``task``) gets the same flags from
:func:`add_task_arguments`: ``--task FILE.json`` to start from a file, one ``--robot.payload-kg``
style flag per schema leaf (help, unit and bounds from its :class:`~sim.params.FieldSpec`), and
``--set PATH=VALUE`` (repeatable) for scripts that build paths programmatically. Nothing here lists
fields by hand: a field added to the schema shows up as a flag.

Values are parsed and validated by the schema itself (:func:`~sim.params.parse_value`,
:func:`~sim.params.with_values`), so the CLI and the GUI report a bad value with the same message.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sim.params import ParamField, TaskParamError, TaskParams, parse_value, short_repr, task_fields, with_values


class TaskInputError(ValueError):
    """The task given on the command line cannot be used; the message says why, in one line."""


def flag_name(path: str) -> str:
    """The command-line flag of a schema leaf: ``robot.payload_kg`` -> ``--robot.payload-kg``."""
    return "--" + path.replace("_", "-")


def _dest(path: str) -> str:
    return "field:" + path


def _flag_help(leaf: ParamField) -> str:
    allowed = leaf.spec.describe_allowed()
    text = f"{leaf.spec.help}; {allowed} (default: {leaf.default!r})"
    return text.replace("%", "%%")  # argparse %-formats help strings


def _metavar(leaf: ParamField) -> str:
    if leaf.spec.choices is not None:
        return "{" + ",".join(leaf.spec.choices) + "}"
    return {float: "X", int: "N"}.get(leaf.type, "TEXT")


def add_task_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--task``, ``--set`` and one flag per schema leaf to ``parser``."""
    group = parser.add_argument_group(
        "task", "Start from the defaults or --task FILE, then apply the per-field flags, then --set."
    )
    group.add_argument(
        "--task",
        dest="task_file",
        metavar="FILE.json",
        type=Path,
        default=None,
        help="task file (JSON, as printed by `sim2adapt task`)",
    )
    group.add_argument(
        "--set",
        dest="task_sets",
        metavar="PATH=VALUE",
        action="append",
        default=[],
        help="set one field by its dotted path, e.g. robot.payload_kg=3 (repeatable; applied last)",
    )
    for leaf in task_fields():
        group.add_argument(
            flag_name(leaf.path),
            dest=_dest(leaf.path),
            metavar=_metavar(leaf),
            default=None,
            help=_flag_help(leaf),
        )


def _read_task_file(path: Path) -> TaskParams:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise TaskInputError(f"cannot read task file {path}: {err.strerror or err}") from err
    except UnicodeDecodeError as err:
        raise TaskInputError(f"task file {path} is not UTF-8 text ({err.reason})") from err
    try:
        return TaskParams.from_json(text)
    except TaskParamError as err:
        raise TaskInputError(f"{path}: {err}") from err


def _split_assignment(raw: str) -> tuple[str, str]:
    path, sep, value = raw.partition("=")
    if not sep or not path.strip():
        raise TaskInputError(f"--set {short_repr(raw)}: expected PATH=VALUE, e.g. robot.payload_kg=3")
    return path.strip(), value


def task_from_args(args: argparse.Namespace) -> TaskParams:
    """The task described by parsed :func:`add_task_arguments` flags.

    Raises:
        TaskInputError: unreadable file or malformed ``--set``.
        TaskParamError: a value the schema rejects (its message names the field and what is allowed).
    """
    task = TaskParams() if args.task_file is None else _read_task_file(args.task_file)
    raw_changes: dict[str, str] = {}
    for leaf in task_fields():
        raw = getattr(args, _dest(leaf.path), None)
        if raw is not None:
            raw_changes[leaf.path] = raw
    for assignment in args.task_sets:
        path, raw = _split_assignment(assignment)
        raw_changes[path] = raw
    changes: dict[str, Any] = {path: parse_value(path, raw) for path, raw in raw_changes.items()}
    return with_values(task, changes) if changes else task
