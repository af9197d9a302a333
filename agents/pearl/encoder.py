"""PEARL's probabilistic context encoder: what a task is, inferred from a handful of its transitions.

Each transition ``(s, a, r, s')`` is encoded on its own into a Gaussian factor ``N(mu_n, var_n)``
over the latent task variable ``z``; the posterior is their product, so it does not depend on the
order of the transitions (the paper's permutation invariance) and every extra transition can only
add precision:

    precision = sum_n 1 / var_n,    var = 1 / precision,    mean = var * sum_n mu_n / var_n

As in the paper's code, the unit-Gaussian prior is *not* one of the factors: it is the posterior of
an empty context (no transitions, or every row masked out), and the KL term of the training loss
pulls each posterior towards it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

MIN_VARIANCE = 1e-7
"""Floor on a factor's variance, so one overconfident transition cannot make the precision infinite."""


def relu_mlp(in_dim: int, hidden_sizes: Sequence[int], out_dim: int) -> nn.Sequential:
    """A ReLU MLP with PyTorch's default initialisation (the networks of PEARL and SAC)."""
    layers: list[nn.Module] = []
    width = in_dim
    for size in hidden_sizes:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


@dataclass(frozen=True)
class Posterior:
    """A diagonal Gaussian over ``z`` per row: ``mean`` and ``var`` are ``[B, latent_dim]``."""

    mean: Tensor
    var: Tensor

    @property
    def std(self) -> Tensor:
        """Standard deviation per latent dimension."""
        return self.var.sqrt()

    def kl_to_prior(self) -> Tensor:
        """``KL(posterior || N(0, I))`` per row, ``[B]`` (closed form for diagonal Gaussians)."""
        return 0.5 * (self.var + self.mean.square() - 1.0 - self.var.log()).sum(-1)

    def reparameterise(self, noise: Tensor) -> Tensor:
        """``mean + std * noise``: a sample that gradients flow through back to the encoder."""
        return self.mean + self.std * noise

    def rsample(self, generator: torch.Generator | None = None) -> Tensor:
        """A reparameterised sample ``[B, latent_dim]``; the noise comes from ``generator`` when given."""
        noise = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.reparameterise(noise)

    def detach(self) -> Posterior:
        """The same posterior cut from the graph."""
        return Posterior(self.mean.detach(), self.var.detach())


def unit_prior(batch: int, latent_dim: int, *, device: torch.device | None = None) -> Posterior:
    """``N(0, I)`` for ``batch`` rows: the belief before any context."""
    return Posterior(torch.zeros(batch, latent_dim, device=device), torch.ones(batch, latent_dim, device=device))


def product_of_gaussians(means: Tensor, variances: Tensor, mask: Tensor | None = None) -> Posterior:
    """Multiply the Gaussian factors ``[B, N, L]`` along ``N``; masked-out (0) factors are left out.

    A row with no factor left is the unit prior. Shapes: ``means``/``variances`` ``[B, N, L]``,
    ``mask`` ``[B, N]`` of 0/1 (all ones when omitted).
    """
    weights = torch.ones(means.shape[:2], device=means.device) if mask is None else mask.to(means.dtype)
    precisions = weights.unsqueeze(-1) / variances.clamp_min(MIN_VARIANCE)
    has_context = (weights.sum(1) > 0).unsqueeze(-1)
    return posterior_from_sums(precisions.sum(1), (precisions * means).sum(1), has_context)


def posterior_from_sums(precision: Tensor, weighted_means: Tensor, has_context: Tensor) -> Posterior:
    """The product's posterior from its sufficient statistics, ``sum 1/var_n`` and ``sum mu_n/var_n``
    (each ``[B, L]``); rows where ``has_context`` (``[B, 1]``) is false are the unit prior.

    Kept apart from :func:`product_of_gaussians` so that a posterior updated one transition at a
    time (:class:`RunningPosterior`) is the same posterior the batch computes.
    """
    # Where there is no factor the precision is 0; clamp before inverting, then select the prior.
    var = 1.0 / precision.clamp_min(MIN_VARIANCE)
    mean = var * weighted_means
    return Posterior(
        torch.where(has_context, mean, torch.zeros_like(mean)),
        torch.where(has_context, var, torch.ones_like(var)),
    )


@dataclass(frozen=True)
class RunningPosterior:
    """The product of one row's factors, kept as sums so that one more transition costs one encoder pass.

    PEARL's per-step posterior (updated after every transition of an episode) would otherwise
    re-encode the whole context at every step: 600 steps of a 10-s episode, quadratic in its length.
    """

    precision: Tensor
    """``sum_n 1 / var_n``, ``[1, L]``"""
    weighted_means: Tensor
    """``sum_n mu_n / var_n``, ``[1, L]``"""
    transitions: int

    @classmethod
    def empty(cls, latent_dim: int) -> RunningPosterior:
        """No transition yet: the posterior is the unit prior."""
        zeros = torch.zeros(1, latent_dim)
        return cls(zeros, zeros.clone(), 0)

    def add(self, encoder: ContextEncoder, context: Tensor) -> RunningPosterior:
        """These sums with the factors of ``context`` ``[N, context_dim]`` multiplied in."""
        means, variances = encoder.factors(context)
        precisions = 1.0 / variances.clamp_min(MIN_VARIANCE)
        return RunningPosterior(
            self.precision + precisions.sum(0, keepdim=True),
            self.weighted_means + (precisions * means).sum(0, keepdim=True),
            self.transitions + len(context),
        )

    def posterior(self) -> Posterior:
        """The posterior of every transition added so far (the prior when there is none)."""
        return posterior_from_sums(self.precision, self.weighted_means, torch.tensor([[self.transitions > 0]]))


class ContextEncoder(nn.Module):
    """An MLP from one transition to one Gaussian factor; the factors multiply into the posterior."""

    def __init__(self, *, context_dim: int, latent_dim: int, hidden_sizes: Sequence[int]) -> None:
        """Build the per-transition network.

        Args:
            context_dim: Length of one transition vector (``obs + action + reward + next_obs``).
            latent_dim: Size of ``z``.
            hidden_sizes: Hidden layer widths.
        """
        super().__init__()
        if context_dim <= 0 or latent_dim <= 0:
            raise ValueError(f"context_dim = {context_dim}, latent_dim = {latent_dim}: both must be > 0")
        self.context_dim, self.latent_dim = context_dim, latent_dim
        self.net = relu_mlp(context_dim, hidden_sizes, 2 * latent_dim)

    def factors(self, context: Tensor) -> tuple[Tensor, Tensor]:
        """Per-transition means and variances (softplus keeps them positive), each ``[B, N, L]``."""
        out = self.net(context)
        mean, raw_var = out.split(self.latent_dim, dim=-1)
        return mean, F.softplus(raw_var).clamp_min(MIN_VARIANCE)

    def forward(self, context: Tensor, mask: Tensor | None = None) -> Posterior:
        """The posterior over ``z`` for each row of ``context`` ``[B, N, context_dim]`` (``N`` may be 0)."""
        if context.shape[-1] != self.context_dim:
            raise ValueError(f"context shape {tuple(context.shape)}: last dimension must be {self.context_dim}")
        mean, var = self.factors(context)
        return product_of_gaussians(mean, var, mask)
