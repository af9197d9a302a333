"""Error messages about user input that are one bounded line, however large, nested or numeric the input.

Apart from the schema (:mod:`sim.params`) because every reader of user data needs them: task and family
files, CLI flags, URDF paths; a 1 MB bad string or a 5000-digit number must give a short message, never
a crash while the message is written.
"""

from __future__ import annotations

import math
import reprlib

MAX_SHOWN_CHARS = 200
"""Longest field path or value an error message shows (a file path fits): a 1 MB bad string gives one
short line, not 1 MB."""
MAX_ALLOWED_CHARS = 1000
"""Longest statement of what is allowed an error message shows (the longest, every field path, is ~700)."""


class _BoundedRepr(reprlib.Repr):
    """``repr`` cut to a few items, levels and characters; a huge whole number is described, never printed.

    Python refuses to turn a whole number of more than 4300 digits into text (a ValueError from
    ``repr``), and a deeply nested list would exhaust the recursion limit: neither may turn a
    rejected value into a crash while its error message is being written.
    """

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxstring = MAX_SHOWN_CHARS - 20
        self.maxother = self.maxlong = 60
        self.maxlist = self.maxtuple = self.maxdict = self.maxset = self.maxfrozenset = 6

    def repr_int(self, x: int, level: int) -> str:
        """Small numbers as they are; big ones by their size (``repr`` of >4300 digits raises)."""
        if x.bit_length() > 128:
            return f"<a whole number of {math.floor(x.bit_length() * math.log10(2)) + 1} digits>"
        return super().repr_int(x, level)


_SHORT_REPR = _BoundedRepr()


def short_repr(value: object) -> str:
    """A ``repr`` of ``value`` at most :data:`MAX_SHOWN_CHARS` long, whatever the value (for error messages)."""
    try:
        text = _SHORT_REPR.repr(value)
    except Exception:  # a value's own __repr__ failing must not hide the error being reported
        text = f"<a {type(value).__name__}>"
    return shorten(text, MAX_SHOWN_CHARS)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to about ``limit`` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 30]}... ({len(text)} characters)"


class TaskParamError(ValueError):
    """A task parameter broke the schema; the message names the field, the value and what is allowed.

    The message is one bounded line: the path and the value are shortened (:func:`short_repr`), so
    any input, however large, nested or numeric, is reported rather than crashing the report.
    ``path``, ``value`` and ``allowed`` keep what was given, for callers that re-label the error.
    """

    def __init__(self, path: str, value: object, allowed: str) -> None:
        self.path = path
        self.value = value
        self.allowed = allowed
        shown_path = shorten(str(path), MAX_SHOWN_CHARS)
        super().__init__(f"{shown_path} = {short_repr(value)} is not allowed: {shorten(allowed, MAX_ALLOWED_CHARS)}")
