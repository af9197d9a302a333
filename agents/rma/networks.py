"""RMA's networks: the teacher's task encoder and base policy, the adaptation module, the acting module.

* :class:`TeacherMeanNet`: ``[obs | e] -> mean action`` through the bottleneck ``z = mu(e)``; it is the
  ``mean_net`` of a :class:`~agents.core.policies.GaussianMLPPolicy`, so PPO trains it unchanged.
* :class:`AdaptationModule`: the last ``N`` steps of (observation, action) -> ``z_hat``, a GRU over
  embedded steps (any ``N``; ``torch.export`` traces it for the ``.pt2`` and ONNX files).
* :class:`OnlinePolicy`: what acts at test time and what is exported: ``(obs, history, noise) ->
  action``, normalisation inside. The same module acts in the app and is written to the files, so
  the two cannot drift apart.

A history row is ``[raw observation, action, valid]``; rows before the episode began are all zero
(``valid`` = 0), and the module zeroes their normalised observation too.
"""

# No `from __future__ import annotations` here: TorchScript must see the class-level annotations as types.

import copy
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from agents.core.exportable import ExportInput, ExportPlan, action_noise_input, parity_noise, spread_obs
from agents.core.policies import OBS_EPS, mlp


def history_width(obs_dim: int, action_dim: int) -> int:
    """Values per history row: the raw observation, the action taken, and the valid flag."""
    return obs_dim + action_dim + 1


class TeacherMeanNet(nn.Module):
    """Normalised ``[obs | task features]`` -> mean action, through the extrinsics ``z = encoder(e)``."""

    obs_dim: int

    def __init__(
        self,
        *,
        obs_dim: int,
        feature_dim: int,
        action_dim: int,
        latent_dim: int,
        hidden_sizes: Sequence[int],
        encoder_hidden_sizes: Sequence[int],
    ) -> None:
        """Build the encoder ``mu`` and the base policy ``pi(obs, z)``."""
        super().__init__()
        self.obs_dim = obs_dim
        self.encoder = mlp(feature_dim, encoder_hidden_sizes, latent_dim, out_gain=1.0)
        self.base = mlp(obs_dim + latent_dim, hidden_sizes, action_dim, out_gain=0.01)

    def forward(self, normalised: Tensor) -> Tensor:
        """The mean action for rows of normalised ``[obs | features]``."""
        z = self.encoder(normalised[..., self.obs_dim :])
        return self.base(torch.cat([normalised[..., : self.obs_dim], z], dim=-1))  # type: ignore[no-any-return]


class AdaptationModule(nn.Module):
    """``phi``: normalised history ``[B, N, width]`` -> the extrinsics estimate ``z_hat`` ``[B, latent_dim]``."""

    def __init__(self, *, width: int, hidden: int, latent_dim: int) -> None:
        """An embedding per step, a GRU over the steps (oldest first), a linear head on its last state."""
        super().__init__()
        self.embed = nn.Sequential(nn.Linear(width, hidden), nn.Tanh())
        self.gru = nn.GRU(hidden, hidden, batch_first=True)
        self.head = nn.Linear(hidden, latent_dim)

    def forward(self, steps: Tensor) -> Tensor:
        """``z_hat`` from the last state of the GRU."""
        _, last = self.gru(self.embed(steps))
        return self.head(last[-1])  # type: ignore[no-any-return]


class OnlinePolicy(nn.Module):
    """``(obs, history, noise) -> clip(pi(obs, phi(history)) + std * noise, -1, 1)``: RMA at test time.

    CPU, float32, eval mode, no gradients. The caller keeps the history (the last ``history_len``
    rows of raw observation, action taken and valid flag, oldest first) and draws the noise:
    standard normal to act as the agent did in training, zeros for the mean action.
    """

    obs_dim: int
    action_dim: int
    history_len: int
    clip: float
    obs_mean: Tensor
    obs_std: Tensor
    action_std: Tensor

    def __init__(
        self,
        *,
        base: nn.Module,
        adapter: AdaptationModule,
        obs_mean: Tensor,
        obs_var: Tensor,
        clip: float,
        log_std: Tensor,
        history_len: int,
    ) -> None:
        """Copy the base policy and the adaptation module; keep the raw observation's statistics."""
        super().__init__()
        self.obs_dim, self.action_dim, self.history_len = obs_mean.shape[0], log_std.shape[0], history_len
        self.base = copy.deepcopy(base).to(device="cpu", dtype=torch.float32)
        self.adapter = copy.deepcopy(adapter).to(device="cpu", dtype=torch.float32)
        self.register_buffer("obs_mean", obs_mean.detach().to("cpu", torch.float32).clone())
        self.register_buffer("obs_std", torch.sqrt(obs_var.detach().to("cpu", torch.float32) + OBS_EPS))
        self.register_buffer("action_std", log_std.detach().to("cpu", torch.float32).exp())
        self.clip = clip
        self.eval().requires_grad_(False)

    def normalise(self, obs: Tensor) -> Tensor:
        """Raw observations normalised as the teacher saw them."""
        return ((obs - self.obs_mean) / self.obs_std).clamp(-self.clip, self.clip)

    def normalise_history(self, history: Tensor) -> Tensor:
        """History rows with their observation normalised, and everything zero where ``valid`` is 0."""
        valid = history[..., -1:]
        obs = self.normalise(history[..., : self.obs_dim]) * valid
        return torch.cat([obs, history[..., self.obs_dim :]], dim=-1)

    def estimate(self, history: Tensor) -> Tensor:
        """``z_hat`` for a batch of histories ``[B, N, width]``."""
        return self.adapter(self.normalise_history(history))  # type: ignore[no-any-return]

    def forward(self, obs: Tensor, history: Tensor, noise: Tensor) -> Tensor:
        """The action for raw ``obs`` ``[B, obs_dim]``, ``history`` ``[B, N, width]``, ``noise`` ``[B, action_dim]``."""
        z = self.estimate(history)
        mean: Tensor = self.base(torch.cat([self.normalise(obs), z], dim=-1))
        return (mean + self.action_std * noise).clamp(-1.0, 1.0)

    def export_plan(self) -> ExportPlan:
        """Itself as the graph: inputs ``obs``, ``history`` and ``noise``; the history layout goes into the sidecar."""
        width = history_width(self.obs_dim, self.action_dim)
        obs = spread_obs(self.obs_mean, self.obs_std)
        history = spread_obs(torch.zeros(self.history_len * width), torch.ones(self.history_len * width))
        history = history.reshape(-1, self.history_len, width)
        history[..., -1] = (history[..., -1] > 0).float()  # valid flags are 0 or 1
        inputs = (
            ExportInput("obs", (self.obs_dim,), "raw observation"),
            ExportInput(
                "history",
                (self.history_len, width),
                "the last steps, oldest first: [raw observation, action taken, 1]; all zero before the episode",
            ),
            action_noise_input(self.action_dim),
        )

        def live(obs: Tensor, history: Tensor, noise: Tensor) -> Tensor:
            with torch.no_grad():
                return self(obs, history, noise)  # type: ignore[no-any-return]

        doc = {
            "observation": {"normalisation": "inside the graph; feed raw obs (and raw obs in the history)"},
            "action": {"low": -1.0, "high": 1.0, "post_processing": "clip(mean + std * noise, -1, 1) inside the graph"},
            "fast_weights": False,
            "memory": {"kind": "history", "length": self.history_len, "row": ["obs", "action", "valid"]},
        }
        parity = (obs, history, parity_noise(self.action_dim))
        return ExportPlan(copy.deepcopy(self), inputs, self.action_dim, live, parity, doc)
