"""Per-task replay buffers in one tensor, so a meta-batch of tasks is sampled with one gather.

Row ``i`` of a task's buffer is one transition laid out as ``[obs, action, reward, next_obs,
terminated]`` (see :class:`TransitionLayout`). All tasks share one storage tensor
``[num_tasks, allocated, width]`` on the learner's device; it grows by doubling up to ``capacity``
rows per task (most tasks never come close), after which a task's oldest rows are overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from agents.core.rollout import first_episode_mask
from sim.sampler import Trajectories

_INITIAL_ROWS = 256


@dataclass(frozen=True)
class TransitionLayout:
    """Where each part of a transition sits in a buffer row."""

    obs_dim: int
    action_dim: int

    @property
    def width(self) -> int:
        """Values per row: ``obs, action, reward, next_obs, terminated``."""
        return 2 * self.obs_dim + self.action_dim + 2

    @property
    def context_dim(self) -> int:
        """The leading ``(s, a, r, s')`` part the context encoder reads."""
        return self.width - 1

    def split(self, rows: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """``obs, action, reward, next_obs, terminated`` views of ``rows`` ``[..., width]``."""
        o, a = self.obs_dim, self.action_dim
        return (
            rows[..., :o],
            rows[..., o : o + a],
            rows[..., o + a],
            rows[..., o + a + 1 : 2 * o + a + 1],
            rows[..., -1],
        )


class TaskReplay:
    """A ring buffer of transitions per task, all in one tensor on one device."""

    def __init__(self, *, num_tasks: int, width: int, capacity: int, device: torch.device) -> None:
        """Empty buffers.

        Args:
            num_tasks: Number of tasks (buffers).
            width: Values per transition row.
            capacity: Most rows one task keeps; older ones are overwritten past it.
            device: Where the storage lives (the learner's device).
        """
        if num_tasks < 1 or width < 1 or capacity < 1:
            raise ValueError(f"num_tasks = {num_tasks}, width = {width}, capacity = {capacity}: all must be >= 1")
        self.num_tasks, self.width, self.capacity = num_tasks, width, capacity
        self.storage = torch.zeros(num_tasks, min(_INITIAL_ROWS, capacity), width, device=device)
        self.sizes = torch.zeros(num_tasks, dtype=torch.int64, device=device)
        self._sizes = [0] * num_tasks  # host copies: no device sync to decide where to write
        self._next = [0] * num_tasks

    def __len__(self) -> int:
        """Transitions held over all tasks."""
        return sum(self._sizes)

    def size(self, task: int) -> int:
        """Transitions held for ``task``."""
        return self._sizes[task]

    def add(self, task: int, rows: Tensor) -> None:
        """Append ``rows`` ``[n, width]`` to ``task``'s buffer, overwriting its oldest past ``capacity``."""
        rows = rows[-self.capacity :]
        self._grow(min(self.capacity, self._sizes[task] + len(rows)))
        positions = (torch.arange(len(rows), device=self.storage.device) + self._next[task]) % self.capacity
        self.storage[task, positions] = rows.to(self.storage.dtype)
        self._next[task] = (self._next[task] + len(rows)) % self.capacity
        self._sizes[task] = min(self.capacity, self._sizes[task] + len(rows))
        self.sizes[task] = self._sizes[task]

    def clear(self, task: int) -> None:
        """Forget ``task``'s transitions."""
        self._sizes[task], self._next[task] = 0, 0
        self.sizes[task] = 0

    def rows(self, task: int) -> Tensor:
        """All of ``task``'s transitions ``[size, width]`` (in storage order, which no caller relies on)."""
        return self.storage[task, : self._sizes[task]]

    def sample(self, tasks: Tensor, count: int, generator: torch.Generator) -> Tensor:
        """``count`` rows drawn uniformly with replacement from each of ``tasks`` ``[M]``: ``[M, count, width]``.

        Every task in ``tasks`` must hold at least one row.
        """
        uniform = torch.rand(len(tasks), count, generator=generator, device=self.storage.device)
        index = (uniform * self.sizes[tasks].unsqueeze(1)).long()
        return self.storage[tasks.unsqueeze(1), index]

    def _grow(self, rows_needed: int) -> None:
        allocated = self.storage.shape[1]
        if rows_needed <= allocated:
            return
        new_rows = min(self.capacity, max(rows_needed, 2 * allocated))
        grown = self.storage.new_zeros(self.num_tasks, new_rows, self.width)
        grown[:, :allocated] = self.storage
        self.storage = grown

    # ----------------------------------------------------------------- checkpoint state
    def state_dict(self) -> dict[str, Any]:
        """The filled part of the storage (on CPU) and each task's fill and write position."""
        used = max(self._sizes, default=0)
        return {"rows": self.storage[:, :used].cpu().clone(), "sizes": list(self._sizes), "next": list(self._next)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved (onto this buffer's device)."""
        rows: Tensor = state["rows"]
        if rows.shape[0] != self.num_tasks or rows.shape[2] != self.width:
            raise ValueError(
                f"replay state of shape {tuple(rows.shape)} does not fit {self.num_tasks} tasks of width {self.width}"
            )
        allocated = max(rows.shape[1], min(_INITIAL_ROWS, self.capacity))
        self.storage = self.storage.new_zeros(self.num_tasks, allocated, self.width)
        self.storage[:, : rows.shape[1]] = rows.to(self.storage.device)
        self._sizes, self._next = [int(s) for s in state["sizes"]], [int(n) for n in state["next"]]
        self.sizes = torch.tensor(self._sizes, dtype=torch.int64, device=self.storage.device)


def trajectory_rows(trajectories: Trajectories, device: torch.device) -> list[tuple[Tensor, float]]:
    """Each env column's first episode as buffer rows ``[n, width]`` on ``device``, with its return."""
    mask = first_episode_mask(trajectories.terminated.T, trajectories.truncated.T)
    parts = (
        trajectories.obs,
        trajectories.actions,
        trajectories.rewards[..., None],
        trajectories.next_obs,
        trajectories.terminated[..., None],
    )
    rows = np.swapaxes(np.concatenate([np.asarray(p, np.float32) for p in parts], axis=-1), 0, 1)
    lengths = mask.sum(1).astype(int)
    returns = (trajectories.rewards.T * mask).sum(1)
    tensor = torch.as_tensor(np.ascontiguousarray(rows), device=device)
    return [(tensor[i, :n], float(ret)) for i, (n, ret) in enumerate(zip(lengths, returns, strict=True))]
