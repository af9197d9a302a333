"""How an editor shows that the value in it is refused, the same in every form.

A refused editor gets a red outline, the refusal as its tooltip (the schema's or the settings class's
own message, naming the field) and the Qt property ``invalid`` set to True, which tests read through
:func:`is_marked_invalid` instead of the style sheet that draws the outline.
"""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

INVALID = "invalid"
"""the dynamic property that is True on an editor whose value is refused"""
_OUTLINE = "border: 1px solid #d32f2f;"


def mark_invalid(widget: QWidget, message: str | None, *, help_text: str) -> None:
    """Outline ``widget`` in red with ``message`` as its tooltip, or (None or empty) clear that and show
    ``help_text`` again."""
    refused = bool(message)
    widget.setProperty(INVALID, refused)
    widget.setStyleSheet(_OUTLINE if refused else "")
    widget.setToolTip(message if message else help_text)


def is_marked_invalid(widget: QWidget) -> bool:
    """Whether ``widget`` shows its value as refused."""
    return bool(widget.property(INVALID))
