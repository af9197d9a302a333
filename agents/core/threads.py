"""One torch thread for acting: the agents' forward passes are single observations, far too small to share.

torch defaults to one intra-op thread per core. On a batch of one, a second thread only adds
hand-offs, and when the other core is busy (a training run, the simulation, another session) each
op waits for it: measured on this 2-core VM with a training run beside it, an RMA ant agent took
27.6 ms a step on two threads and 1.6 ms on one (17x). Evaluation, adaptation and replay therefore
act inside :func:`one_torch_thread`; training sets its own threads (``agents/training/train.py``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Inside: torch computes on one intra-op thread. After: the previous setting, restored."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
