"""The toy's acting module: a linear Gaussian policy on ``[obs | mean reward of the episode so far]``.

The agent keeps its memory as a running mean (a sum and a count, reset at every episode start). The
exported graph cannot keep state between calls, so it takes the memory as an input the caller keeps:
the episode's rewards so far, as history rows ``[reward, valid]``, and averages them inside the graph.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn
from torch.distributions import Normal

from agents.core.exportable import ExportInput, ExportPlan, action_noise_input, parity_noise, spread_obs

HISTORY_ROW = ("reward", "valid")
"""one step of the exported memory"""


class RewardMemoryPolicy(nn.Module):
    """``clip(W [obs | mean reward so far] + b + std * noise, -1, 1)``."""

    def __init__(self, *, obs_dim: int, action_dim: int, memory_len: int, init_log_std: float) -> None:
        """``memory_len``: the steps the exported history holds (the longest episode it averages exactly)."""
        super().__init__()
        self.obs_dim, self.action_dim, self.memory_len = obs_dim, action_dim, memory_len
        self.linear = nn.Linear(obs_dim + 1, action_dim)
        self.log_std = nn.Parameter(torch.full((action_dim,), float(init_log_std)))

    def mean_action(self, obs: Tensor, reward_mean: Tensor) -> Tensor:
        """The unclipped mean action for ``obs`` ``[..., obs_dim]`` and ``reward_mean`` ``[...]``."""
        return self.linear(torch.cat([obs, reward_mean[..., None]], dim=-1))  # type: ignore[no-any-return]

    def distribution(self, obs: Tensor, reward_mean: Tensor) -> Normal:
        """The unclipped action distribution (for training; the traced graph holds no distribution)."""
        mean = self.mean_action(obs, reward_mean)
        return Normal(mean, self.log_std.exp().expand_as(mean))

    def act(self, obs: Tensor, reward_mean: Tensor, noise: Tensor) -> Tensor:
        """The action for standard normal ``noise`` (zeros: the mean action), clipped to [-1, 1]."""
        return (self.mean_action(obs, reward_mean) + self.log_std.exp() * noise).clamp(-1.0, 1.0)

    def forward(self, obs: Tensor, history: Tensor, noise: Tensor) -> Tensor:
        """The exported graph: the mean reward from ``history`` ``[B, N, 2]`` (rows ``[reward, valid]``), then act."""
        rewards, valid = history[..., 0], history[..., 1]
        reward_mean = (rewards * valid).sum(dim=1) / valid.sum(dim=1).clamp(min=1.0)
        return self.act(obs, reward_mean, noise)

    def export_plan(self) -> ExportPlan:
        """A CPU copy as the graph: inputs ``obs``, ``history`` and ``noise``; the sidecar gets the memory's layout."""
        module = copy.deepcopy(self).to("cpu").eval().requires_grad_(False)
        width = len(HISTORY_ROW)
        history = spread_obs(torch.zeros(self.memory_len * width), torch.ones(self.memory_len * width))
        history = history.reshape(-1, self.memory_len, width)
        history[..., 1] = (history[..., 1] > 0).float()  # valid flags are 0 or 1
        inputs = (
            ExportInput("obs", (self.obs_dim,), "raw observation"),
            ExportInput("history", (self.memory_len, width), "this episode's steps, oldest first: [reward, 1]"),
            action_noise_input(self.action_dim),
        )

        def live(obs: Tensor, history: Tensor, noise: Tensor) -> Tensor:
            with torch.no_grad():
                return module(obs, history, noise)  # type: ignore[no-any-return]

        parity = (
            spread_obs(torch.zeros(self.obs_dim), torch.ones(self.obs_dim)),
            history,
            parity_noise(self.action_dim),
        )
        doc = {"memory": {"kind": "history", "length": self.memory_len, "row": list(HISTORY_ROW)}}
        return ExportPlan(module, inputs, self.action_dim, live, parity, doc)
