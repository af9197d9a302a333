"""Simulation layer: task schema, PyBullet robots and terrain, gymnasium envs, vectorised sampling.

Knows nothing of torch or Qt (an import-linter contract in pyproject.toml enforces it).
"""

from sim import envs as _register_envs  # noqa: F401  (registers the gymnasium ids on `import sim`)
