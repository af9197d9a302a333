"""One PyBullet physics client, owned explicitly.

PyBullet's module functions act on an implicit "default" client unless every call passes
``physicsClientId``. Forgetting it once makes two envs in one process silently share a world. A
:class:`BulletSim` owns one ``DIRECT`` client and forwards attribute calls to ``pybullet`` with its
``client_id`` bound, so code reads ``sim.stepSimulation()`` and can never reach another client.
It is closed explicitly (or by ``with``), never in ``__del__``.
"""

from __future__ import annotations

import functools
from types import TracebackType
from typing import Any

import pybullet


class BulletSim:
    """Owns one PyBullet ``DIRECT`` client; ``sim.<pybullet function>(...)`` calls it on that client."""

    def __init__(self) -> None:
        self.client_id: int = pybullet.connect(pybullet.DIRECT)
        if self.client_id < 0:
            raise RuntimeError("PyBullet refused a new DIRECT client")
        self._closed = False
        self._bound: list[str] = []

    def __getattr__(self, name: str) -> Any:
        # Only called for names not found normally: the pybullet API, bound to our client.
        if name.startswith("_"):
            raise AttributeError(name)
        if self.__dict__.get("_closed", True):
            raise RuntimeError(f"BulletSim.{name}: the physics client was already closed")
        target = getattr(pybullet, name)
        if not callable(target):
            return target
        bound = functools.partial(target, physicsClientId=self.client_id)
        # Cache on the instance: later lookups skip __getattr__ (it sits on the env's hot path).
        self.__dict__[name] = bound
        self._bound.append(name)
        return bound

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._closed

    def close(self) -> None:
        """Disconnect the client; safe to call twice."""
        if not self._closed:
            self._closed = True
            for name in self._bound:  # later calls fall through to __getattr__, which refuses them
                del self.__dict__[name]
            self._bound.clear()
            pybullet.disconnect(physicsClientId=self.client_id)

    def __enter__(self) -> BulletSim:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
