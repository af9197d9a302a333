"""Widgets of the main window; each takes plain data (TaskParams, Frame, StepStat) through slots."""
