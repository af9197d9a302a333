"""A policy with memory for export tests: it acts on the observation and a window of past steps.

No ``from __future__ import annotations``: TorchScript must see the class's annotations as types.
"""

import torch
from torch import Tensor, nn

from agents.core.exportable import ExportInput, ExportPlan, spread_obs


class HistoryPolicy(nn.Module):
    """``tanh(W obs + V mean_t(history))``: the shape of an RMA-style policy with its adaptation module."""

    obs_dim: int
    action_dim: int

    def __init__(self, obs_dim: int, action_dim: int, history_len: int) -> None:
        super().__init__()
        self.obs_dim, self.action_dim, self.history_len = obs_dim, action_dim, history_len
        self.now = nn.Linear(obs_dim, action_dim)
        self.past = nn.Linear(obs_dim + action_dim, action_dim)

    def forward(self, obs: Tensor, history: Tensor) -> Tensor:
        return torch.tanh(self.now(obs) + self.past(history.mean(dim=1)))

    @torch.jit.unused
    def export_plan(self) -> ExportPlan:
        step_width = self.obs_dim + self.action_dim
        history = spread_obs(torch.zeros(self.history_len * step_width), torch.ones(self.history_len * step_width))
        history = history.reshape(-1, self.history_len, step_width)
        obs = spread_obs(torch.zeros(self.obs_dim), torch.ones(self.obs_dim))
        inputs = (
            ExportInput("obs", (self.obs_dim,), "raw observation"),
            ExportInput("history", (self.history_len, step_width), "the last steps' (obs, action), oldest first"),
        )

        def live(obs: Tensor, history: Tensor) -> Tensor:
            with torch.no_grad():
                return self(obs, history)

        return ExportPlan(self, inputs, self.action_dim, live, (obs, history), {"memory": "history"})
