"""PEARL's context encoder: the product-of-Gaussians posterior, its prior, its KL and its samples."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from agents.pearl.encoder import ContextEncoder, Posterior, product_of_gaussians, unit_prior


def test_product_of_two_gaussians_matches_the_closed_form() -> None:
    # N(1, 1) * N(3, 1): precision 2, so variance 1/2 and mean (1 + 3) / 2 = 2, in each dimension.
    means = torch.tensor([[[1.0, -1.0], [3.0, -3.0]]])
    variances = torch.ones(1, 2, 2)
    posterior = product_of_gaussians(means, variances)
    assert torch.allclose(posterior.mean, torch.tensor([[2.0, -2.0]]))
    assert torch.allclose(posterior.var, torch.tensor([[0.5, 0.5]]))


def test_product_of_three_gaussians_weights_each_mean_by_its_precision() -> None:
    # N(0, 1), N(2, 1/2), N(-1, 2): precisions 1 + 2 + 1/2 = 7/2; mean (0 * 1 + 2 * 2 - 1 * 1/2) / (7/2) = 1.
    means = torch.tensor([[[0.0], [2.0], [-1.0]]])
    variances = torch.tensor([[[1.0], [0.5], [2.0]]])
    posterior = product_of_gaussians(means, variances)
    assert torch.allclose(posterior.var, torch.tensor([[2.0 / 7.0]]))
    assert torch.allclose(posterior.mean, torch.tensor([[1.0]]))


def test_masked_factors_are_left_out_and_an_empty_context_is_the_prior() -> None:
    means = torch.tensor([[[1.0], [5.0]], [[1.0], [5.0]]])
    variances = torch.ones(2, 2, 1)
    posterior = product_of_gaussians(means, variances, mask=torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
    assert torch.allclose(posterior.mean, torch.tensor([[1.0], [0.0]]))
    assert torch.allclose(posterior.var, torch.tensor([[1.0], [1.0]]))

    encoder = ContextEncoder(context_dim=3, latent_dim=4, hidden_sizes=(8,))
    empty = encoder(torch.zeros(2, 0, 3))
    prior = unit_prior(2, 4)
    assert torch.equal(empty.mean, prior.mean) and torch.equal(empty.var, prior.var)


def test_the_posterior_narrows_as_context_grows_and_ignores_order() -> None:
    torch.manual_seed(0)
    encoder = ContextEncoder(context_dim=11, latent_dim=5, hidden_sizes=(32, 32))
    context = torch.randn(1, 64, 11)
    with torch.no_grad():
        variances = [encoder(context[:, :n]).var for n in (1, 4, 16, 64)]
        shuffled = encoder(context[:, torch.randperm(64)])
        full = encoder(context)
    for wider, narrower in itertools.pairwise(variances):
        assert bool((narrower < wider).all())
    assert torch.allclose(shuffled.mean, full.mean, atol=1e-5)
    assert torch.allclose(shuffled.var, full.var, atol=1e-7)


def test_kl_to_the_prior_matches_the_closed_form() -> None:
    posterior = Posterior(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.25]]))
    # 0.5 * [(1 + 1 - 1 - log 1) + (0.25 + 0 - 1 - log 0.25)]
    expected = 0.5 * (1.0 + (0.25 - 1.0 - math.log(0.25)))
    assert posterior.kl_to_prior().item() == pytest.approx(expected)
    assert unit_prior(3, 2).kl_to_prior().abs().max().item() == 0.0


def test_samples_are_reproducible_and_carry_gradients_to_the_encoder() -> None:
    torch.manual_seed(1)
    encoder = ContextEncoder(context_dim=3, latent_dim=2, hidden_sizes=(8,))
    posterior = encoder(torch.randn(4, 10, 3))
    first = posterior.rsample(torch.Generator().manual_seed(7))
    again = posterior.rsample(torch.Generator().manual_seed(7))
    assert torch.equal(first, again)
    first.sum().backward()
    assert all(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in encoder.parameters())


def test_a_context_of_the_wrong_width_is_rejected() -> None:
    encoder = ContextEncoder(context_dim=3, latent_dim=2, hidden_sizes=(8,))
    with pytest.raises(ValueError, match="last dimension must be 3"):
        encoder(torch.zeros(1, 5, 4))
