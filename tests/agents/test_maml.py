"""MAML's inner loop: hand-checked SGD steps, the first-order switch, and where the meta-gradient goes."""

from __future__ import annotations

import copy
from functools import partial

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from agents.core.policies import GaussianMLPPolicy
from agents.maml.inner import Batch, MetaSGDLearningRates, inner_adapt, pg_loss

OBS_DIM, ACT_DIM = 4, 2


def _policy() -> GaussianMLPPolicy:
    torch.manual_seed(0)
    policy = GaussianMLPPolicy(obs_dim=OBS_DIM, action_dim=ACT_DIM, hidden_sizes=(8, 8))
    policy.update_obs_stats(torch.randn(32, OBS_DIM) * 2 + 1)
    return policy


def _batch(seed: int) -> Batch:
    gen = torch.Generator().manual_seed(seed)
    mask = torch.ones(3, 5)
    mask[1, 3:] = 0.0
    return Batch(
        obs=torch.randn(3, 5, OBS_DIM, generator=gen),
        actions=torch.randn(3, 5, ACT_DIM, generator=gen),
        advantages=torch.randn(3, 5, generator=gen) * mask,
        mask=mask,
    )


def _hand_pg_loss(policy: GaussianMLPPolicy, batch: Batch) -> Tensor:
    """The REINFORCE loss written out on the module itself, no fast weights involved."""
    mean, std = policy(batch.obs), policy.log_std.exp()
    log_prob = -((batch.actions - mean) ** 2) / (2 * std**2) - std.log() - 0.5 * torch.log(torch.tensor(2 * torch.pi))
    per_step = log_prob.sum(-1) * batch.advantages * batch.mask
    return -per_step.sum() / batch.mask.sum()


@pytest.mark.parametrize("steps", [0, 1, 2])
def test_inner_steps_equal_hand_sgd_steps_and_leave_the_module_alone(steps: int) -> None:
    policy, batch, lr = _policy(), _batch(1), 0.1
    untouched = copy.deepcopy(policy.state_dict())
    fast = inner_adapt(policy, dict(policy.named_parameters()), partial(pg_loss, batch=batch), lr=lr, steps=steps)
    manual = copy.deepcopy(policy)
    for _ in range(steps):
        manual.zero_grad()
        _hand_pg_loss(manual, batch).backward()
        with torch.no_grad():
            for p in manual.parameters():
                p -= lr * p.grad
    for name, p in manual.named_parameters():
        torch.testing.assert_close(fast[name], p, rtol=1e-5, atol=1e-6)
    for key, value in policy.state_dict().items():
        assert torch.equal(value, untouched[key]), key


def _toy() -> tuple[nn.Linear, Tensor, Tensor, Tensor, Tensor]:
    torch.manual_seed(3)
    return nn.Linear(3, 1, bias=False), torch.randn(16, 3), torch.randn(16, 1), torch.randn(16, 3), torch.randn(16, 1)


def _mse(x: Tensor, y: Tensor, module: nn.Module, params: dict[str, Tensor]) -> Tensor:
    return F.mse_loss(torch.tanh(functional_call(module, params, (x,))), y)


@pytest.mark.parametrize("first_order", [False, True])
def test_meta_gradient_matches_the_maml_or_fomaml_formula(first_order: bool) -> None:
    module, x_in, y_in, x_out, y_out = _toy()
    w, lr = module.weight, 0.5
    fast = inner_adapt(module, {"weight": w}, partial(_mse, x_in, y_in), lr=lr, first_order=first_order)
    (meta_grad,) = torch.autograd.grad(_mse(x_out, y_out, module, fast), [w])
    adapted = fast["weight"].detach().requires_grad_(True)
    (outer_grad,) = torch.autograd.grad(_mse(x_out, y_out, module, {"weight": adapted}), [adapted])
    hessian = torch.autograd.functional.hessian(lambda v: _mse(x_in, y_in, module, {"weight": v.view(1, 3)}), w.view(3))
    second_order_term = lr * (hessian @ outer_grad.view(3)).view(1, 3)
    assert second_order_term.norm() > 1e-3  # the two variants really differ on this problem
    expected = outer_grad if first_order else outer_grad - second_order_term
    torch.testing.assert_close(meta_grad, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("first_order", [False, True])
def test_meta_gradient_reaches_initial_parameters_and_meta_sgd_rates(first_order: bool) -> None:
    policy, inner, outer = _policy(), _batch(1), _batch(2)
    params = dict(policy.named_parameters())
    rates = MetaSGDLearningRates(params, init_lr=0.1)
    fast = inner_adapt(policy, params, partial(pg_loss, batch=inner), lr=rates(), first_order=first_order)
    scalar = inner_adapt(policy, params, partial(pg_loss, batch=inner), lr=0.1)
    for name in params:
        torch.testing.assert_close(fast[name], scalar[name])
    pg_loss(policy, fast, outer).backward()
    for name, p in params.items():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    # d L_out(θ - lr⊙g) / d lr = -g ⊙ ∇L_out(θ'), whatever the order (g does not depend on lr).
    inner_grads = torch.autograd.grad(pg_loss(policy, params, inner), list(params.values()))
    adapted = {k: v.detach().requires_grad_(True) for k, v in fast.items()}
    outer_grads = torch.autograd.grad(pg_loss(policy, adapted, outer), list(adapted.values()))
    for (name, rate), g_in, g_out in zip(rates().items(), inner_grads, outer_grads, strict=True):
        assert rate.grad is not None
        torch.testing.assert_close(rate.grad, -g_in * g_out, rtol=1e-4, atol=1e-8, msg=name)


def test_meta_sgd_rates_are_per_element_parameters_keyed_by_name() -> None:
    policy = _policy()
    rates = MetaSGDLearningRates(dict(policy.named_parameters()), init_lr=0.05)
    by_name = rates()
    assert list(by_name) == [n for n, _ in policy.named_parameters()]
    assert all(by_name[n].shape == p.shape and bool((by_name[n] == 0.05).all()) for n, p in policy.named_parameters())
    assert "lrs.mean_net__0__weight" in rates.state_dict()
    assert sum(p.numel() for p in rates.parameters()) == sum(p.numel() for p in policy.parameters())


def test_bad_arguments_are_refused_with_the_name() -> None:
    policy, batch = _policy(), _batch(1)
    params = dict(policy.named_parameters())
    with pytest.raises(ValueError, match="no learning rate for log_std"):
        partial_lrs = {k: torch.tensor(0.1) for k in params if k != "log_std"}
        inner_adapt(policy, params, partial(pg_loss, batch=batch), lr=partial_lrs)
    with pytest.raises(ValueError, match="params log_std do not require grad"):
        inner_adapt(policy, {**params, "log_std": params["log_std"].detach()}, partial(pg_loss, batch=batch), lr=0.1)
    with pytest.raises(ValueError, match="steps = -1"):
        inner_adapt(policy, params, partial(pg_loss, batch=batch), lr=0.1, steps=-1)
    with pytest.raises(ValueError, match="scalar"):
        inner_adapt(policy, params, lambda m, p: p["log_std"] * 2, lr=0.1)
    with pytest.raises(ValueError, match=r"Batch\.advantages shape"):
        Batch(obs=batch.obs, actions=batch.actions, advantages=batch.advantages[:, :2], mask=batch.mask)
    with pytest.raises(ValueError, match=r"Batch\.old_log_probs shape"):
        Batch(
            obs=batch.obs,
            actions=batch.actions,
            advantages=batch.advantages,
            mask=batch.mask,
            old_log_probs=torch.zeros(3, 5, ACT_DIM),
        )
    with pytest.raises(ValueError, match=r"Batch\.actions shape"):
        Batch(obs=batch.obs, actions=batch.actions[:2], advantages=batch.advantages, mask=batch.mask)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_inner_adapt_on_cuda_matches_cpu() -> None:
    policy, batch = _policy(), _batch(1)
    on_cpu = inner_adapt(policy, dict(policy.named_parameters()), partial(pg_loss, batch=batch), lr=0.1)
    gpu_policy = copy.deepcopy(policy).to("cuda")
    gpu_batch = Batch(**{k: v.to("cuda") for k, v in vars(batch).items() if v is not None})
    on_gpu = inner_adapt(gpu_policy, dict(gpu_policy.named_parameters()), partial(pg_loss, batch=gpu_batch), lr=0.1)
    for name, value in on_cpu.items():
        torch.testing.assert_close(on_gpu[name].cpu(), value, rtol=1e-4, atol=1e-5)
