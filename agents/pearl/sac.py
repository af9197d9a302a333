"""The SAC networks PEARL trains, all conditioned on the task latent ``z``, and the exported policy.

* :class:`TanhGaussianPolicy`: ``concat(obs, z)`` -> Gaussian over pre-squash actions; actions are
  ``tanh`` of a sample, so they lie in ``[-1, 1]`` and the log-probability carries the tanh
  correction (SAC, appendix C).
* :class:`TwinQ`: two independent Q functions of ``concat(obs, action, z)``; the minimum of the two
  fights over-estimation (TD3 / SAC v2).
* :class:`PEARLExportPolicy`: what leaves the project: observation and action noise in, action out,
  with ``z`` fixed inside as a buffer.
"""

# No `from __future__ import annotations` here: TorchScript must see PEARLExportPolicy's class-level
# annotations as real types, and cannot resolve them from strings (the same trap as agents/core/gaussian_export.py).

import copy
import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from agents.core.exportable import ExportInput, ExportPlan, action_noise_input, parity_noise, spread_obs
from agents.pearl.encoder import relu_mlp

LOG_STD_MIN = -20.0
LOG_STD_MAX = 2.0
"""Bounds on the policy's log-std (as in SAC's reference code): no degenerate or exploding noise."""


class TanhGaussianPolicy(nn.Module):
    """A Gaussian over pre-squash actions with a state- and task-dependent mean and log-std."""

    def __init__(self, *, obs_dim: int, latent_dim: int, action_dim: int, hidden_sizes: Sequence[int]) -> None:
        """Build the trunk and the two heads.

        Args:
            obs_dim: Observation length.
            latent_dim: Size of the task latent ``z`` appended to the observation.
            action_dim: Action length.
            hidden_sizes: Hidden layer widths of the trunk (at least one).
        """
        super().__init__()
        if not hidden_sizes:
            raise ValueError("hidden_sizes = () is not allowed: the policy needs at least one hidden layer")
        self.obs_dim, self.latent_dim, self.action_dim = obs_dim, latent_dim, action_dim
        trunk = relu_mlp(obs_dim + latent_dim, hidden_sizes[:-1], hidden_sizes[-1])
        self.trunk = nn.Sequential(*trunk, nn.ReLU())
        self.mean_head = nn.Linear(hidden_sizes[-1], action_dim)
        self.log_std_head = nn.Linear(hidden_sizes[-1], action_dim)

    def forward(self, obs: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        """Pre-squash mean and clamped log-std, each ``[N, action_dim]``, for rows of ``obs`` and ``z``."""
        features = self.trunk(torch.cat([obs, z], dim=-1))
        log_std = self.log_std_head(features).clamp(LOG_STD_MIN, LOG_STD_MAX)
        return self.mean_head(features), log_std


def squashed_sample(mean: Tensor, log_std: Tensor, noise: Tensor) -> tuple[Tensor, Tensor]:
    """``tanh(mean + std * noise)`` and its log-probability ``[N]`` under the squashed Gaussian.

    The change of variables subtracts ``log(1 - tanh(u)^2)``, written as
    ``2 * (log 2 - u - softplus(-2u))`` because the direct form loses precision where tanh saturates.
    """
    pre_squash = mean + log_std.exp() * noise
    gaussian_log_prob = (-0.5 * noise.square() - log_std - 0.5 * math.log(2.0 * math.pi)).sum(-1)
    correction = (2.0 * (math.log(2.0) - pre_squash - F.softplus(-2.0 * pre_squash))).sum(-1)
    return torch.tanh(pre_squash), gaussian_log_prob - correction


class TwinQ(nn.Module):
    """Two Q functions of ``concat(obs, action, z)`` trained on the same target."""

    def __init__(self, *, obs_dim: int, latent_dim: int, action_dim: int, hidden_sizes: Sequence[int]) -> None:
        """Build both networks with independent initial weights (from torch's current RNG)."""
        super().__init__()
        in_dim = obs_dim + action_dim + latent_dim
        self.q1 = relu_mlp(in_dim, hidden_sizes, 1)
        self.q2 = relu_mlp(in_dim, hidden_sizes, 1)

    def forward(self, obs: Tensor, action: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        """Both Q estimates, each ``[N]``."""
        inputs = torch.cat([obs, action, z], dim=-1)
        return self.q1(inputs).squeeze(-1), self.q2(inputs).squeeze(-1)


class PEARLExportPolicy(nn.Module):
    """The adapted PEARL policy as a plain module: ``tanh(mean + std * noise)`` given a fixed ``z``.

    The caller feeds the noise: standard normal draws act as the agent acted while adapting (SAC's
    sampled actions), zeros give the mean action. The two can differ in kind, not only in degree:
    the bundled A1 agent walked 10 s with sampled actions and fell within 2 s with its mean action,
    which is why an export that only offered the mean did not do what the app showed.

    CPU, float32, eval mode, no gradients; ``torch.export`` traces it, for the ``.pt2`` and ONNX files.
    ``z`` is a buffer (it travels in ``state_dict`` and the exported graph); ``context_transitions``
    records how many transitions the posterior that gave ``z`` was computed from.
    """

    obs_dim: int
    action_dim: int
    context_transitions: int
    log_std_min: float
    log_std_max: float
    z: Tensor

    def __init__(self, *, policy: TanhGaussianPolicy, z: Tensor, context_transitions: int) -> None:
        """Copy the policy's trunk and both heads, and fix ``z`` (``[latent_dim]``)."""
        super().__init__()
        self.obs_dim, self.action_dim = policy.obs_dim, policy.action_dim
        self.context_transitions = context_transitions
        self.trunk = copy.deepcopy(policy.trunk).to(device="cpu", dtype=torch.float32)
        self.mean_head = copy.deepcopy(policy.mean_head).to(device="cpu", dtype=torch.float32)
        self.log_std_head = copy.deepcopy(policy.log_std_head).to(device="cpu", dtype=torch.float32)
        self.log_std_min, self.log_std_max = LOG_STD_MIN, LOG_STD_MAX  # attributes: TorchScript reads no globals
        self.register_buffer("z", z.detach().to(device="cpu", dtype=torch.float32).reshape(1, -1).clone())
        self.eval().requires_grad_(False)

    def forward(self, obs: Tensor, noise: Tensor) -> Tensor:
        """The action in ``[-1, 1]`` for each row of ``obs`` ``[N, obs_dim]`` and ``noise`` ``[N, action_dim]``."""
        latent = self.z.expand(obs.shape[0], self.z.shape[1])
        features = self.trunk(torch.cat([obs, latent], dim=-1))
        log_std = self.log_std_head(features).clamp(self.log_std_min, self.log_std_max)
        return torch.tanh(self.mean_head(features) + log_std.exp() * noise)

    def export_plan(self) -> ExportPlan:
        """Itself as the graph (``obs`` and ``noise`` inputs); ``z`` and its context size go into the sidecar."""

        def live(obs: Tensor, noise: Tensor) -> Tensor:
            with torch.no_grad():
                return self(obs, noise).clamp(-1.0, 1.0)  # type: ignore[no-any-return]

        doc = {
            "observation": {"normalisation": "none outside the graph; feed raw obs"},
            "action": {"low": -1.0, "high": 1.0, "post_processing": "bounded inside the graph"},
            "fast_weights": False,
            "latent": {"z": self.z.flatten().tolist(), "context_transitions": self.context_transitions},
        }
        obs = spread_obs(torch.zeros(self.obs_dim), torch.ones(self.obs_dim))
        inputs = (ExportInput("obs", (self.obs_dim,), "raw observation"), action_noise_input(self.action_dim))
        return ExportPlan(copy.deepcopy(self), inputs, self.action_dim, live, (obs, parity_noise(self.action_dim)), doc)
