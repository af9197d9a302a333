"""PPO (clipped surrogate, GAE, value network): the update step shared by the baselines.

The multi-task baseline (:mod:`agents.ppo.multitask`) trains with it over a task family, and
:class:`agents.ppo.finetune.FineTuneAgent` adapts with it at test time, so the baseline that a
meta-learner must beat uses the same, well-tuned update as everyone else's PPO (CleanRL's
``ppo_continuous_action`` shape: per-batch advantage normalisation, value loss, gradient clipping).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from agents.core.config_checks import discount, freeze_sequences, positive, require, unit_interval
from agents.core.policies import GaussianMLPPolicy, ValueMLP
from agents.core.returns import gae_advantages
from agents.core.rollout import EpisodeBatch


@dataclass(frozen=True, kw_only=True)
class PPOConfig:
    """PPO settings, for multi-task training and for fine-tuning on one task."""

    tasks_per_iteration: int = 20
    """tasks drawn from the family per iteration (as many as MAML's meta-batch)"""
    episodes_per_task: int = 10
    """episodes per task per iteration"""
    horizon: int = 200
    """steps per episode"""
    epochs: int = 10
    """passes over one iteration's samples"""
    minibatch_size: int = 2000
    """samples per gradient step"""
    lr: float = 3e-4
    """Adam step size (policy and value together)"""
    clip: float = 0.2
    """likelihood-ratio clip of the surrogate"""
    value_coef: float = 0.5
    """weight of the value loss"""
    entropy_coef: float = 0.0
    """weight of the entropy bonus"""
    max_grad_norm: float = 0.5
    """gradient norm clip"""
    gamma: float = 0.99
    gae_lambda: float = 0.95
    hidden_sizes: tuple[int, ...] = (64, 64)
    init_log_std: float = 0.0
    finetune_epochs: int = 10
    """PPO passes over a task's episodes after each adaptation episode"""
    finetune_lr: float = 3e-4
    """Adam step size when fine-tuning on one task"""

    def __post_init__(self) -> None:
        freeze_sequences(self, "hidden_sizes")
        sizes = (
            "tasks_per_iteration",
            "episodes_per_task",
            "horizon",
            "epochs",
            "minibatch_size",
            "lr",
            "clip",
            "finetune_epochs",
            "finetune_lr",
        )
        require(self, sizes, positive, "must be > 0")
        require(self, ("gamma",), discount, "must be in (0, 1]")
        require(self, ("gae_lambda",), unit_interval, "must be in [0, 1]")

    @classmethod
    def quick(cls) -> PPOConfig:
        """Small enough to show learning within minutes on 2 CPU cores (MAML quick's sample budget)."""
        return cls(tasks_per_iteration=8, episodes_per_task=16, horizon=100, minibatch_size=400)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings."""
        return asdict(self)


@dataclass(frozen=True)
class PPOSamples:
    """Flat samples ``[N, ...]`` of real steps, with everything the clipped update needs."""

    obs: Tensor
    actions: Tensor
    log_probs: Tensor
    advantages: Tensor
    returns: Tensor


@dataclass(frozen=True)
class PPOUpdateStats:
    """Averages over the last epoch of one update."""

    policy_loss: float
    value_loss: float
    kl: float
    """approximate KL(old || new) on the samples (``mean(ratio - 1 - log ratio)``)"""
    entropy: float


def ppo_samples(
    policy: GaussianMLPPolicy, value: ValueMLP, episodes: list[EpisodeBatch], *, gamma: float, lam: float
) -> PPOSamples:
    """GAE with the value network (episode ends are not bootstrapped, as in MAML's baseline), flattened."""
    parts: dict[str, list[Tensor]] = {name: [] for name in PPOSamples.__dataclass_fields__}
    with torch.no_grad():
        for batch in episodes:
            values = value(batch.obs)
            adv = gae_advantages(batch.rewards, values, batch.mask, gamma=gamma, lam=lam)
            valid = batch.mask.bool()
            log_probs = policy.distribution(batch.obs).log_prob(batch.actions).sum(-1)  # type: ignore[no-untyped-call]
            parts["obs"].append(batch.obs[valid])
            parts["actions"].append(batch.actions[valid])
            parts["log_probs"].append(log_probs[valid])
            parts["advantages"].append(adv[valid])
            parts["returns"].append((adv + values)[valid])
    return PPOSamples(**{name: torch.cat(tensors) for name, tensors in parts.items()})


def ppo_update(
    policy: GaussianMLPPolicy,
    value: ValueMLP,
    optimizer: torch.optim.Optimizer,
    samples: PPOSamples,
    *,
    config: PPOConfig,
    epochs: int,
    generator: torch.Generator,
) -> PPOUpdateStats:
    """``epochs`` passes of minibatch clipped-surrogate steps; the minibatch order comes from ``generator``."""
    count = samples.obs.shape[0]
    params = [p for group in optimizer.param_groups for p in group["params"]]
    totals: dict[str, list[float]] = {}
    for _ in range(epochs):
        totals = {"policy": [], "value": [], "kl": [], "entropy": []}
        order = torch.randperm(count, generator=generator).to(samples.obs.device)
        for start in range(0, count, config.minibatch_size):
            index = order[start : start + config.minibatch_size]
            losses = _minibatch_losses(policy, value, samples, index, config)
            optimizer.zero_grad()
            (
                losses["policy"] + config.value_coef * losses["value"] - config.entropy_coef * losses["entropy"]
            ).backward()  # type: ignore[no-untyped-call]
            nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            for name, loss in losses.items():
                totals[name].append(float(loss.detach()))
    mean = {name: sum(values) / len(values) for name, values in totals.items()}
    return PPOUpdateStats(mean["policy"], mean["value"], mean["kl"], mean["entropy"])


def _minibatch_losses(
    policy: GaussianMLPPolicy, value: ValueMLP, samples: PPOSamples, index: Tensor, config: PPOConfig
) -> dict[str, Tensor]:
    adv = samples.advantages[index]
    adv = (adv - adv.mean()) / adv.std(correction=0).clamp_min(1e-8)
    dist = policy.distribution(samples.obs[index])
    log_ratio = dist.log_prob(samples.actions[index]).sum(-1) - samples.log_probs[index]  # type: ignore[no-untyped-call]
    ratio = log_ratio.exp()
    surrogate = torch.minimum(ratio * adv, ratio.clamp(1.0 - config.clip, 1.0 + config.clip) * adv)
    return {
        "policy": -surrogate.mean(),
        "value": (value(samples.obs[index]) - samples.returns[index]).pow(2).mean(),
        "kl": ((ratio - 1.0) - log_ratio).mean().detach(),
        "entropy": dist.entropy().sum(-1).mean(),  # type: ignore[no-untyped-call]
    }


def new_networks(
    *, obs_dim: int, action_dim: int, config: PPOConfig, device: torch.device
) -> tuple[GaussianMLPPolicy, ValueMLP]:
    """A fresh policy and value network.

    Build them inside :func:`agents.core.seeding.seeded_torch` for reproducible weights.
    """
    policy = GaussianMLPPolicy(
        obs_dim=obs_dim, action_dim=action_dim, hidden_sizes=config.hidden_sizes, init_log_std=config.init_log_std
    )
    value = ValueMLP(obs_dim=obs_dim, hidden_sizes=config.hidden_sizes)
    return policy.to(device), value.to(device)
