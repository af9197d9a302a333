"""Wall-clock time per phase of a training iteration, the one way every learner measures it.

Each learner reports where an iteration's time went (``IterationStats.seconds``: sampling, inner
and outer steps, updates); timing the phases with :class:`PhaseTimer` instead of hand-paired
``perf_counter`` calls keeps a phase that runs twice (MAML samples before and after adapting)
from being counted once or overwritten.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator


class PhaseTimer:
    """Seconds per named phase; a phase timed more than once adds up."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        """phase name -> seconds, in the order the phases first ran (for ``IterationStats.seconds``)"""

    @contextlib.contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        """Time the block as ``phase`` (also when it raises)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - start
