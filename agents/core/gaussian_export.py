"""What a :class:`~agents.core.policies.GaussianMLPPolicy` exports: its graph and its export plan.

The exported module is a pure function: raw observation and action noise in, action to apply out,
``clip(mean(obs) + std * noise, -1, 1)``, with the observation normalisation inside. It is the
Gaussian policy's side of the :class:`~agents.core.exportable.ExportablePolicy` contract:
:meth:`GaussianMLPPolicy.export_plan <agents.core.policies.GaussianMLPPolicy.export_plan>` returns
:func:`gaussian_plan`, which :func:`agents.storage.export.export_policy` writes and checks like any
other policy's plan (PEARL's, a policy with memory).

Kept apart from :mod:`agents.core.policies` for two reasons: this module must stay scriptable by
TorchScript (no postponed annotations, see below), and the policy module is about acting and
training, while this one is about the frozen copy that leaves the project. The policy imports it
only when asked for its plan (this module imports the policy's constants, so a top-level import
either way would be circular).
"""

# No `from __future__ import annotations` here: the module stays scriptable with TorchScript, as earlier
# exports wrote it (the tests write such a legacy .pt file), and TorchScript cannot resolve string annotations.

import copy
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from agents.core.exportable import ExportInput, ExportPlan, action_noise_input, parity_noise, spread_obs
from agents.core.policies import OBS_EPS, GaussianMLPPolicy


class ExportedGaussianPolicy(nn.Module):
    """What gets exported of a Gaussian policy: raw observation and action noise in, action out.

    ``clip(mean(obs) + std * noise, -1, 1)``: standard normal noise acts as the agent acted while
    adapting, zeros give the mean action. No training machinery; normalisation inside.
    """

    clip: float
    obs_mean: Tensor
    obs_std: Tensor
    action_std: Tensor

    def __init__(self, *, net: nn.Sequential, obs_mean: Tensor, obs_var: Tensor, clip: float, log_std: Tensor) -> None:
        """Hold a copy of the mean network, the normalisation statistics and the action std as constants.

        Args:
            net: The policy's mean network (already holding the weights to export).
            obs_mean: Running observation mean.
            obs_var: Running observation variance.
            clip: Bound on normalised observations.
            log_std: The policy's (adapted) log standard deviation per action dimension.
        """
        super().__init__()
        self.net = net
        self.register_buffer("obs_mean", obs_mean.clone())
        # Precomputed exactly as ObsNormalizer computes it, so the two agree to the last bit.
        self.register_buffer("obs_std", torch.sqrt(obs_var + OBS_EPS))
        self.register_buffer("action_std", log_std.exp())
        self.clip = clip

    def forward(self, obs: Tensor, noise: Tensor) -> Tensor:
        """The action for raw ``obs`` ``[N, obs_dim]`` and ``noise`` ``[N, action_dim]``, clipped to ``[-1, 1]``."""
        normalised = ((obs - self.obs_mean) / self.obs_std).clamp(-self.clip, self.clip)
        action: Tensor = self.net(normalised) + self.action_std * noise
        return action.clamp(-1.0, 1.0)


def to_exported(policy: GaussianMLPPolicy, fast_params: Mapping[str, Tensor] | None = None) -> ExportedGaussianPolicy:
    """A CPU, float32, eval-mode, gradient-free copy of ``policy`` under ``fast_params`` (if given).

    Raises:
        ValueError: ``fast_params`` names something that is not a parameter of the policy (buffers such
            as the normalisation statistics always come from the module).
    """
    state = {k: v.detach() for k, v in policy.state_dict().items()}
    unknown = sorted(set(fast_params or {}) - {name for name, _ in policy.named_parameters()})
    if unknown:
        raise ValueError(f"fast_params has names that are not parameters of the policy: {', '.join(unknown)}")
    state.update({k: v.detach() for k, v in (fast_params or {}).items()})
    net = copy.deepcopy(policy.mean_net).to(device="cpu", dtype=torch.float32)
    net.load_state_dict({k.removeprefix("mean_net."): v for k, v in state.items() if k.startswith("mean_net.")})
    module = ExportedGaussianPolicy(
        net=net,
        obs_mean=state["obs_normalizer.mean"].to("cpu", torch.float32),
        obs_var=state["obs_normalizer.var"].to("cpu", torch.float32),
        clip=policy.obs_normalizer.clip,
        log_std=state["log_std"].to("cpu", torch.float32),
    )
    return module.eval().requires_grad_(False)


def gaussian_plan(policy: GaussianMLPPolicy, fast_params: Mapping[str, Tensor] | None) -> ExportPlan:
    """The plan that exports ``policy`` under ``fast_params``: its graph, inputs, live actions and sidecar entries."""
    norm = policy.obs_normalizer
    mean, var = norm.mean.detach().cpu(), norm.var.detach().cpu()
    device = next(policy.parameters()).device

    def live(obs: Tensor, noise: Tensor) -> Tensor:
        with torch.no_grad():
            dist = policy.distribution(obs.to(device), fast_params)
            return (dist.mean + dist.stddev * noise.to(device)).clamp(-1.0, 1.0).cpu()

    doc = {
        "observation": {
            "normalisation": "inside the graph: clip((obs - mean) / sqrt(var + eps), -clip, clip); feed raw obs",
            "mean": mean.tolist(),
            "var": var.tolist(),
            "count": int(norm.count),
            "eps": OBS_EPS,
            "clip": norm.clip,
        },
        "action": {"low": -1.0, "high": 1.0, "post_processing": "clip(mean + std * noise, -1, 1) is inside the graph"},
        "fast_weights": fast_params is not None,
    }
    return ExportPlan(
        module=to_exported(policy, fast_params),
        inputs=(ExportInput("obs", (policy.obs_dim,), "raw observation"), action_noise_input(policy.action_dim)),
        action_dim=policy.action_dim,
        live_actions=live,
        parity_inputs=(spread_obs(mean, torch.sqrt(var + OBS_EPS)), parity_noise(policy.action_dim)),
        doc=doc,
    )
