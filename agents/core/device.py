"""Turn the user's ``--device`` choice into a :class:`torch.device`, once, at an entry point.

Only the CLI and the GUI controller call :func:`resolve_device`. Everything below them takes the
device from the modules it is given (``next(module.parameters()).device``), so no other code ever
branches on CUDA.
"""

from __future__ import annotations

import torch

DEVICE_CHOICES = "'auto', 'cpu', 'cuda' or 'cuda:N'"


def _available() -> str:
    """What this machine offers, for error messages."""
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return ", ".join(["cpu", *(f"cuda:{i}" for i in range(n))])


def _cuda_index(spec: str) -> int | None:
    """The N of ``cuda:N`` (None for plain ``cuda``); a ValueError for anything else after ``cuda``."""
    if spec == "cuda":
        return None
    suffix = spec.removeprefix("cuda:")
    if suffix == spec or not suffix.isdigit():
        raise ValueError(f"--device = {spec!r} is not allowed: {DEVICE_CHOICES}")
    return int(suffix)


def resolve_device(spec: str) -> torch.device:
    """The device named by ``spec``: ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Asking for a GPU that is not there fails here, with the value and what is available, instead of
    failing later inside a forward pass with a message that does not mention the flag.

    Args:
        spec: The ``--device`` value; case and surrounding spaces are ignored.

    Returns:
        The resolved device.

    Raises:
        ValueError: ``spec`` is not one of the accepted forms, or names a CUDA device this machine lacks.
    """
    name = spec.strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if not name.startswith("cuda"):
        raise ValueError(f"--device = {spec!r} is not allowed: {DEVICE_CHOICES}")
    index = _cuda_index(name)
    if not torch.cuda.is_available():
        raise ValueError(f"--device = {spec!r} is not available: no CUDA device on this machine (available: cpu)")
    if index is not None and index >= torch.cuda.device_count():
        raise ValueError(f"--device = {spec!r} is not available: this machine has {_available()}")
    return torch.device("cuda") if index is None else torch.device("cuda", index)
