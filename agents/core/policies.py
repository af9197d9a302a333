"""The networks that act and judge: a Gaussian MLP policy, a value MLP and the MAML linear baseline.

The policy is the small module that gets meta-trained, adapted, checkpointed and exported; the
learners that train it live elsewhere. Two rules keep it usable as MAML's fast-weight target:

* Everything it computes comes from its own parameters and buffers, so
  ``torch.func.functional_call(policy, fast_weights, (obs,))`` evaluates the adapted policy without
  touching the module.
* Observation normalisation statistics are buffers, so they travel in ``state_dict``, checkpoints and
  exports, and fast weights (parameters only) never carry them.

Actions: :meth:`GaussianMLPPolicy.forward` returns the *unclipped* mean and the distribution is an
unbounded Normal. The env clips every action to ``[-1, 1]``; log-probabilities are taken on the
unclipped sample, and the exported policy applies the clip inside its graph. The policy is an
:class:`~agents.core.exportable.ExportablePolicy`: its plan (graph, inputs, parity check) is built in
:mod:`agents.core.gaussian_export`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn
from torch.distributions import Normal
from torch.func import functional_call

from agents.core.exportable import ExportPlan

OBS_CLIP = 10.0
"""Bound on normalised observations, so a rare outlier cannot saturate the tanh layers."""

OBS_EPS = 1e-8
"""Added to the running variance before the square root, so a constant observation feature maps to 0."""


class ObsNormalizer(nn.Module):
    """Running mean and variance of observations, applied as ``clip((obs - mean) / sqrt(var + eps))``.

    The statistics are buffers (``mean``, ``var``, ``count``): they are state, not something gradient
    descent should move, and buffers are what ``state_dict`` and the exporter carry.
    """

    mean: Tensor
    var: Tensor
    count: Tensor

    def __init__(self, obs_dim: int, *, clip: float = OBS_CLIP) -> None:
        """Start at mean 0, variance 1 (the identity map) with no observations seen.

        Args:
            obs_dim: Length of one observation vector.
            clip: Bound on the absolute value of a normalised feature.
        """
        super().__init__()
        if obs_dim <= 0:
            raise ValueError(f"obs_dim = {obs_dim!r} is not allowed: must be > 0")
        self.clip = clip
        self.register_buffer("mean", torch.zeros(obs_dim))
        self.register_buffer("var", torch.ones(obs_dim))
        # An integer count: `.float()` / `.double()` leave it alone, and it cannot lose precision.
        self.register_buffer("count", torch.zeros((), dtype=torch.int64))

    def forward(self, obs: Tensor) -> Tensor:
        """Normalised and clipped observations, same shape as ``obs``."""
        return ((obs - self.mean) / torch.sqrt(self.var + OBS_EPS)).clamp(-self.clip, self.clip)

    @torch.no_grad()
    def update(self, obs: Tensor) -> None:
        """Merge a batch of observations (any leading shape) into the running statistics.

        Uses the parallel-variance merge (Chan et al.), computed in float64, so the result equals the
        population mean and variance of every observation seen, whatever the batch sizes.

        Raises:
            ValueError: The batch has the wrong feature size or holds NaN / inf (which would poison
                the statistics for the rest of training).
        """
        obs_dim = self.mean.shape[0]
        if obs.shape[-1:] != (obs_dim,):
            raise ValueError(f"obs shape {tuple(obs.shape)} is not allowed: last dimension must be {obs_dim}")
        batch = obs.reshape(-1, obs_dim).to(torch.float64)
        n = batch.shape[0]
        if n == 0:
            return
        if not bool(torch.isfinite(batch).all()):
            raise ValueError("obs holds NaN or inf: refusing to merge it into the normalisation statistics")
        count = self.count.to(torch.float64)
        total = count + n
        mean, var = self.mean.to(torch.float64), self.var.to(torch.float64)
        delta = batch.mean(0) - mean
        m2 = var * count + batch.var(0, unbiased=False) * n + delta.square() * count * n / total
        self.mean.copy_(mean + delta * n / total)
        self.var.copy_(m2 / total)
        self.count += n


def mlp(in_dim: int, hidden_sizes: Sequence[int], out_dim: int, *, out_gain: float) -> nn.Sequential:
    """A tanh MLP with orthogonal weights and zero biases.

    The output gain sets the scale of the initial outputs: small for a policy mean (start near the
    zero action, so early exploration is set by the log-std), 1 for a value head.
    """
    sizes = [in_dim, *hidden_sizes]
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        layers += [_init(nn.Linear(a, b), math.sqrt(2.0)), nn.Tanh()]
    layers.append(_init(nn.Linear(sizes[-1], out_dim), out_gain))
    return nn.Sequential(*layers)


def _init(layer: nn.Linear, gain: float) -> nn.Linear:
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


class GaussianMLPPolicy(nn.Module):
    """A diagonal Gaussian policy: tanh MLP mean, learned state-independent log-std, normalised inputs."""

    def __init__(
        self, *, obs_dim: int, action_dim: int, hidden_sizes: Sequence[int] = (64, 64), init_log_std: float = 0.0
    ) -> None:
        """Build the policy.

        Args:
            obs_dim: Length of an observation.
            action_dim: Length of an action.
            hidden_sizes: Widths of the tanh hidden layers.
            init_log_std: Initial log standard deviation of every action dimension.
        """
        super().__init__()
        if action_dim <= 0:
            raise ValueError(f"action_dim = {action_dim!r} is not allowed: must be > 0")
        self.obs_dim, self.action_dim = obs_dim, action_dim
        self.hidden_sizes = tuple(hidden_sizes)
        self.obs_normalizer = ObsNormalizer(obs_dim)
        self.mean_net = mlp(obs_dim, self.hidden_sizes, action_dim, out_gain=0.01)
        self.log_std = nn.Parameter(torch.full((action_dim,), float(init_log_std)))

    def forward(self, obs: Tensor) -> Tensor:
        """The mean action for raw ``obs`` (shape ``[..., obs_dim]``), *before* the env's clip to ``[-1, 1]``."""
        return self.mean_net(self.obs_normalizer(obs))  # type: ignore[no-any-return]

    def update_obs_stats(self, obs: Tensor) -> None:
        """Merge observations into the normalisation statistics (see :meth:`ObsNormalizer.update`)."""
        self.obs_normalizer.update(obs)

    def distribution(self, obs: Tensor, params: Mapping[str, Tensor] | None = None) -> Normal:
        """The action distribution at ``obs``, under the module's weights or under fast weights.

        Args:
            obs: Raw observations, shape ``[..., obs_dim]``.
            params: Fast weights by parameter name (as from ``dict(policy.named_parameters())`` or
                MAML's inner loop). They are applied through ``torch.func.functional_call``, so the
                module is not modified and gradients flow back into the tensors in ``params``. Names
                left out fall back to the module's own parameters and buffers.

        Returns:
            An unbounded Normal per action dimension (sum ``log_prob`` over the last axis).
        """
        log_std: Tensor
        if params is None:
            mean, log_std = self(obs), self.log_std
        else:
            mean = functional_call(self, dict(params), (obs,))
            log_std = params.get("log_std", self.log_std)
        return Normal(mean, log_std.exp().expand_as(mean))

    @torch.no_grad()
    def act(
        self,
        obs: Tensor,
        *,
        deterministic: bool = False,
        params: Mapping[str, Tensor] | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """An action to send to the env: the mean, or a sample; never clipped here.

        Keep the unclipped sample for log-probabilities; the env clips what it applies.

        Args:
            obs: Raw observations, shape ``[..., obs_dim]``.
            deterministic: The mean action instead of a sample.
            params: Fast weights by name (see :meth:`distribution`).
            generator: Where a sample's noise comes from (on the policy's device), so a seed reproduces
                it; required unless ``deterministic`` (torch's global generator is never used).

        Raises:
            ValueError: A sample asked for without a ``generator``.
        """
        mean: Tensor = self(obs) if params is None else functional_call(self, dict(params), (obs,))
        if deterministic:
            return mean
        if generator is None:
            raise ValueError("generator = None is not allowed when sampling: a torch.Generator (or deterministic=True)")
        log_std = self.log_std if params is None else params.get("log_std", self.log_std)
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return mean + log_std.exp() * noise

    def export_plan(self, fast_params: Mapping[str, Tensor] | None = None) -> ExportPlan:
        """The plan that exports this policy, under ``fast_params`` (adapted weights by name) if given.

        Raises:
            ValueError: ``fast_params`` names something that is not a parameter of the policy.
        """
        from agents.core import gaussian_export  # it imports this module's constants: not at the top

        return gaussian_export.gaussian_plan(self, fast_params)


class ValueMLP(nn.Module):
    """A state-value network with its own observation normaliser (so it can be used and saved alone)."""

    def __init__(self, *, obs_dim: int, hidden_sizes: Sequence[int] = (64, 64)) -> None:
        """Build the value network.

        Args:
            obs_dim: Length of an observation.
            hidden_sizes: Widths of the tanh hidden layers.
        """
        super().__init__()
        self.obs_normalizer = ObsNormalizer(obs_dim)
        self.value_net = mlp(obs_dim, tuple(hidden_sizes), 1, out_gain=1.0)

    def forward(self, obs: Tensor) -> Tensor:
        """Values of raw ``obs`` (shape ``[..., obs_dim]``), shape ``[...]``."""
        return self.value_net(self.obs_normalizer(obs)).squeeze(-1)  # type: ignore[no-any-return]

    def update_obs_stats(self, obs: Tensor) -> None:
        """Merge observations into the normalisation statistics (see :meth:`ObsNormalizer.update`)."""
        self.obs_normalizer.update(obs)


class LinearFeatureBaseline:
    """MAML's per-task baseline: returns regressed on ``[o, o², t, t², t³, 1]`` by ridge regression.

    Refitted in closed form on each task's episodes (no optimiser, no state across tasks), as in the
    MAML paper's rllab code: observations clipped to ``[-10, 10]``, time as ``step / 100``, the ridge
    coefficient raised tenfold (up to 5 times) while the solve is singular or not finite.
    """

    def __init__(self, *, reg_coeff: float = 1e-5) -> None:
        """Set the ridge coefficient; nothing is fitted yet.

        Args:
            reg_coeff: Initial ridge coefficient added to the diagonal of ``FᵀF``.
        """
        if reg_coeff <= 0:
            raise ValueError(f"reg_coeff = {reg_coeff!r} is not allowed: must be > 0")
        self.reg_coeff = reg_coeff
        self.coeffs: Tensor | None = None

    @staticmethod
    def features(obs: Tensor) -> Tensor:
        """Features of padded episodes: ``obs`` ``[E, T, D]`` gives ``[E, T, 2D + 4]`` (float64)."""
        o = obs.to(torch.float64).clamp(-10.0, 10.0)
        t = (torch.arange(obs.shape[1], dtype=torch.float64, device=obs.device) / 100.0).expand(obs.shape[:2])
        t = t.unsqueeze(-1)
        return torch.cat([o, o.square(), t, t**2, t**3, torch.ones_like(t)], dim=-1)

    def fit(self, obs: Tensor, returns: Tensor, mask: Tensor) -> None:
        """Fit to the valid steps of padded episodes: ``obs`` ``[E, T, D]``, ``returns`` and ``mask`` ``[E, T]``."""
        valid = mask.bool()
        feats, targets = self.features(obs)[valid], returns.to(torch.float64)[valid]
        gram, rhs = feats.T @ feats, feats.T @ targets
        eye = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
        reg = self.reg_coeff
        for _ in range(5):
            coeffs, info = torch.linalg.solve_ex(gram + reg * eye, rhs)
            if int(info) == 0 and bool(torch.isfinite(coeffs).all()):
                self.coeffs = coeffs
                return
            reg *= 10.0
        raise ValueError(f"baseline fit failed: singular even with ridge coefficient {reg / 10.0:g}")

    def predict(self, obs: Tensor, mask: Tensor) -> Tensor:
        """Predicted returns ``[E, T]`` in ``obs``'s dtype, zero on padded steps.

        Raises:
            RuntimeError: Called before :meth:`fit`.
        """
        if self.coeffs is None:
            raise RuntimeError("LinearFeatureBaseline.predict called before fit")
        return (self.features(obs) @ self.coeffs).to(obs.dtype) * mask.to(obs.dtype)
