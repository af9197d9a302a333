"""One way to seed torch: a seeded block that leaves torch's global generator as it found it.

Every learner builds its networks inside :func:`seeded_torch`, so a run's initial weights follow
its seed alone, and building an agent (say, in a test or the GUI) never changes the random
numbers anything else draws afterwards. Randomness during training uses explicit generators.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def seeded_torch(seed: int) -> Iterator[None]:
    """Inside: torch's CPU generator seeded with ``seed``. After: its previous state, restored.

    Networks are built on the CPU and then moved, so the CPU generator is the only one to fork.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
