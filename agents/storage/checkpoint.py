"""Checkpoints that survive a kill mid-write and never execute code when loaded.

A checkpoint is a dict of tensors and plain data (``str``, ``int``, ``float``, ``bool``, ``None``,
lists, tuples and dicts with string keys). :func:`save_checkpoint` refuses anything else up front, so
every file it writes loads under ``torch.load(weights_only=True)``; :func:`load_checkpoint` uses
exactly that, so a file holding pickled objects is refused rather than run. Writes are atomic (see
:mod:`agents.storage.atomic`): a kill at any moment leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from agents.storage.atomic import atomic_write

_PLAIN = (str, int, float, bool, type(None))


class CheckpointError(Exception):
    """A checkpoint could not be written or read; the message names the file and the reason."""


def _check_plain(value: object, where: str) -> None:
    """Raise CheckpointError naming ``where`` if ``value`` is not tensors and plain data all the way down."""
    if isinstance(value, (torch.Tensor, *_PLAIN)):
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            # int keys too: torch optimisers key their per-parameter state by index.
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise CheckpointError(
                    f"{where} has a key {key!r} of type {type(key).__name__}: keys must be str or int"
                )
            _check_plain(item, f"{where}[{key!r}]")
    else:
        raise CheckpointError(
            f"{where} is a {type(value).__name__}: a checkpoint holds only tensors, str, int, float, bool, None, "
            "lists, tuples and dicts (convert it, e.g. a dataclass with to_dict())"
        )


def save_checkpoint(path: str | os.PathLike[str], payload: Mapping[str, Any]) -> Path:
    """Write ``payload`` to ``path`` atomically.

    Args:
        path: Destination file; its directory must exist. An existing file is replaced only once the
            new one is completely on disk.
        payload: Tensors and plain data (checked before anything is written).

    Returns:
        The path written.

    Raises:
        CheckpointError: ``payload`` holds something ``weights_only`` loading would refuse.
    """
    target = Path(path)
    _check_plain(dict(payload), "payload")
    atomic_write(target, lambda file: torch.save(dict(payload), file))
    return target


def _refusal_reason(err: pickle.UnpicklingError) -> str:
    """Why ``torch.load(weights_only=True)`` refused: a pickled global it will not import, or damage."""
    found = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
    if found:
        return (
            f"it holds a pickled Python object ({found.group(1)}); loading it would run arbitrary code, "
            "so only tensors and plain data are accepted"
        )
    return "it is corrupt or not a checkpoint"


def _shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters: an error line stays one readable line."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_checkpoint(path: str | os.PathLike[str], *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`, without ever unpickling code.

    Args:
        path: The checkpoint file.
        map_location: Where tensors land (CPU by default; the entry point moves modules to their device).

    Returns:
        The payload dict.

    Raises:
        CheckpointError: The file is missing, truncated, corrupt, not a dict, or holds pickled objects.
    """
    source = Path(path)
    if not source.is_file():
        raise CheckpointError(f"checkpoint {source} does not exist")
    try:
        payload = torch.load(source, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(f"checkpoint {source} was refused: {_refusal_reason(err)}") from err
    except Exception as err:
        # Damaged bytes make torch's weights-only unpickler fail wherever its parsing stops: RuntimeError,
        # EOFError, IndexError ("pop from empty list"), struct.error, KeyError, UnicodeDecodeError...
        # (measured by tests/agents/test_fuzz_checkpoints.py). Each means a file that is not a checkpoint.
        reason = _shorten(f"{type(err).__name__}: {err}", 200)
        raise CheckpointError(f"checkpoint {source} is truncated or corrupt ({reason})") from err
    if not isinstance(payload, dict):
        raise CheckpointError(f"checkpoint {source} holds a {type(payload).__name__}, not a dict")
    return payload
