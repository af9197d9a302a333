"""Simulation layer: task schema, PyBullet robots and terrain, gymnasium envs, vectorised sampling.

Knows nothing of torch or Qt (an import-linter contract in pyproject.toml enforces it).
"""
