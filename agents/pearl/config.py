"""PEARL's settings, one typed dataclass: its field docstrings become CLI help and GUI tooltips.

The defaults follow the paper's locomotion experiments; :meth:`PEARLConfig.quick` is a budget that
shows learning within minutes on two cores. :mod:`agents.pearl.learner` says what each setting does
in an iteration.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from agents.core.config_checks import discount, freeze_sequences, non_negative, positive, require
from agents.core.task_sampler import TASK_SAMPLERS


def _layer_sizes(sizes: tuple[Any, ...]) -> bool:
    return all(isinstance(size, int) and size > 0 for size in sizes)


@dataclass(frozen=True, kw_only=True)
class PEARLConfig:
    """PEARL settings; the defaults follow the paper's locomotion experiments (half-cheetah velocity, ant direction)."""

    horizon: int = 200
    """steps per episode"""
    num_train_tasks: int = 100
    """fixed training tasks, drawn once from the family with the run's seed"""
    tasks_per_iteration: int = 5
    """training tasks that collect new episodes each iteration"""
    task_sampler: str = "uniform"
    """which training tasks collect each iteration: uniform among them, or progress (those whose return after
    adapting still changes, ALP-GMM style, with a 20 % uniform share; agents/core/task_sampler.py)"""
    initial_episodes: int = 10
    """episodes with prior z per training task before the first update (paper: 2000 steps)"""
    prior_episodes: int = 2
    """episodes per sampled task with z from the prior (they fill the context buffer)"""
    posterior_episodes: int = 1
    """rounds of one episode per sampled task with z from the posterior of the task's context so far"""
    extra_rl_episodes: int = 2
    """further posterior-z episodes per sampled task for the replay buffer only (not the context)"""
    gradient_steps: int = 2000
    """SAC gradient steps per iteration"""
    meta_batch_size: int = 16
    """tasks per gradient step"""
    batch_size: int = 256
    """transitions per task per gradient step (the RL batch)"""
    embedding_batch_size: int = 100
    """context transitions per task the encoder sees per gradient step"""
    latent_dim: int = 5
    """size of the task latent z"""
    hidden_sizes: tuple[int, ...] = (300, 300, 300)
    """hidden layers of the policy and of each Q network"""
    encoder_hidden_sizes: tuple[int, ...] = (200, 200, 200)
    """hidden layers of the context encoder"""
    lr: float = 3e-4
    """Adam step size of the policy, the critics, the encoder and the temperature"""
    gamma: float = 0.99
    """discount factor"""
    tau: float = 0.005
    """Polyak rate of the target critics"""
    reward_scale: float = 5.0
    """rewards are multiplied by this in the critic target (sets the entropy trade-off's scale)"""
    kl_lambda: float = 0.1
    """weight of KL(posterior || prior), summed over the meta-batch's tasks, in the encoder loss"""
    init_alpha: float = 1.0
    """initial entropy temperature (tuned automatically towards entropy -action_dim)"""
    replay_capacity: int = 1_000_000
    """most transitions kept per training task"""
    checkpoint_replay: bool = True
    """keep replay buffers in checkpoints; resuming without them starts with empty buffers"""

    def __post_init__(self) -> None:
        freeze_sequences(self, "hidden_sizes", "encoder_hidden_sizes")
        layers = "positive whole numbers (hidden_sizes needs at least one)"
        require(self, ("hidden_sizes",), lambda sizes: bool(sizes) and _layer_sizes(sizes), layers)
        require(self, ("encoder_hidden_sizes",), _layer_sizes, layers)
        counts = ("horizon", "num_train_tasks", "tasks_per_iteration", "prior_episodes", "gradient_steps")
        sizes = ("meta_batch_size", "batch_size", "embedding_batch_size", "latent_dim", "replay_capacity")
        require(self, (*counts, *sizes, "lr", "reward_scale", "init_alpha"), positive, "must be > 0")
        optional = ("initial_episodes", "posterior_episodes", "extra_rl_episodes", "kl_lambda")
        require(self, optional, non_negative, "must be >= 0")
        require(self, ("gamma", "tau"), discount, "must be in (0, 1]")
        require(self, ("task_sampler",), lambda name: name in TASK_SAMPLERS, "one of " + ", ".join(TASK_SAMPLERS))
        require(
            self,
            ("tasks_per_iteration",),
            lambda tasks: tasks <= self.num_train_tasks,
            f"must be <= num_train_tasks = {self.num_train_tasks}",
        )

    @classmethod
    def quick(cls) -> PEARLConfig:
        """Small enough to show learning within minutes on 2 CPU cores."""
        return cls(
            horizon=100,
            num_train_tasks=20,
            tasks_per_iteration=4,
            initial_episodes=2,
            prior_episodes=1,
            posterior_episodes=1,
            extra_rl_episodes=1,
            gradient_steps=200,
            meta_batch_size=8,
            batch_size=128,
            embedding_batch_size=64,
            hidden_sizes=(128, 128),
            encoder_hidden_sizes=(64, 64),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (for run directories and export sidecars)."""
        return asdict(self)
