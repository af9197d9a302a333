"""The checks every algorithm's settings dataclass runs in ``__post_init__``, with one wording.

A bad setting is refused where it is made, naming the class, the field and what is allowed
(``MAMLConfig.horizon = 0 is not allowed: must be > 0``), so the CLI and the window's settings
form show every algorithm's errors the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


def require(config: object, names: Iterable[str], holds: Callable[[Any], bool], allowed: str) -> None:
    """Raise ValueError for the first field of ``config`` among ``names`` whose value fails ``holds``.

    Args:
        config: The settings dataclass being checked.
        names: Fields to check, in the order their errors should be reported.
        holds: True for an allowed value.
        allowed: What is allowed, for the message (``"must be > 0"``).
    """
    for name in names:
        value = getattr(config, name)
        if not holds(value):
            raise ValueError(f"{type(config).__name__}.{name} = {value!r} is not allowed: {allowed}")


def freeze_sequences(config: object, *names: str) -> None:
    """Store the fields ``names`` of a frozen dataclass as tuples: a list read from JSON becomes the declared tuple."""
    for name in names:
        object.__setattr__(config, name, tuple(getattr(config, name)))


def positive(value: Any) -> bool:
    """``value > 0``."""
    return bool(value > 0)


def non_negative(value: Any) -> bool:
    """``value >= 0``."""
    return bool(value >= 0)


def discount(value: Any) -> bool:
    """In ``(0, 1]``: a discount factor or a rate that must move."""
    return bool(0.0 < value <= 1.0)


def unit_interval(value: Any) -> bool:
    """In ``[0, 1]``: a mixing weight such as GAE's lambda."""
    return bool(0.0 <= value <= 1.0)
