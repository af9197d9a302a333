"""Settings of the RMA-style online agent: a PPO teacher over the true task, then a history student."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from agents.core.task_sampler import TASK_SAMPLERS
from agents.ppo.update import PPOConfig

_POSITIVE = (
    "tasks_per_iteration",
    "episodes_per_task",
    "horizon",
    "epochs",
    "minibatch_size",
    "lr",
    "clip",
    "latent_dim",
    "history_len",
    "adapter_hidden",
    "adapter_lr",
    "adapter_epochs",
    "student_samples_per_episode",
)


@dataclass(frozen=True, kw_only=True)
class RMAConfig:
    """RMA settings (Kumar et al. 2021): phase 1 trains the teacher, phase 2 the adaptation module.

    The first ``teacher_iterations`` iterations are PPO on a policy that sees the true task through
    an encoder ``z = mu(e)``; every later iteration rolls out the policy driven by the adaptation
    module's own estimate ``z_hat = phi(history)`` and regresses ``z_hat`` onto ``mu(e)`` (DAgger).
    """

    tasks_per_iteration: int = 16
    """tasks drawn from the family per iteration"""
    episodes_per_task: int = 4
    """episodes per task per iteration"""
    horizon: int = 600
    """steps per episode (600: 10 s at 60 Hz)"""
    teacher_iterations: int = 200
    """PPO iterations of phase 1; the iterations after it train the adaptation module"""
    epochs: int = 10
    """PPO passes over one iteration's samples"""
    minibatch_size: int = 4000
    """samples per PPO gradient step"""
    lr: float = 3e-4
    """Adam step size of the teacher (policy, encoder and value together)"""
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
    hidden_sizes: tuple[int, ...] = (128, 128)
    """hidden layers of the base policy and of the (privileged) value network"""
    init_log_std: float = -0.5
    """initial log-std of the actions"""
    latent_dim: int = 8
    """size of the extrinsics vector z"""
    encoder_hidden_sizes: tuple[int, ...] = (64,)
    """hidden layers of the task encoder mu(e)"""
    history_len: int = 30
    """steps of (observation, action) the adaptation module reads (0.5 s at 60 Hz)"""
    adapter_hidden: int = 64
    """width of the adaptation module's step embedding and GRU"""
    adapter_lr: float = 1e-3
    """Adam step size of the adaptation module"""
    adapter_epochs: int = 4
    """passes over one iteration's student samples"""
    student_samples_per_episode: int = 100
    """time steps per episode (drawn at random) that the adaptation module regresses on"""
    task_sampler: str = "uniform"
    """how training tasks are drawn: uniform over the family, or progress (where the return still changes,
    ALP-GMM style, with a 20 % uniform share; agents/core/task_sampler.py)"""

    def __post_init__(self) -> None:
        for name in ("hidden_sizes", "encoder_hidden_sizes"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
            if not all(isinstance(size, int) and size > 0 for size in getattr(self, name)):
                self._reject(name, "positive whole numbers")
        if not self.hidden_sizes:
            self._reject("hidden_sizes", "at least one layer")
        for name in _POSITIVE:
            if not getattr(self, name) > 0:
                self._reject(name, "must be > 0")
        if self.teacher_iterations < 0:
            self._reject("teacher_iterations", "must be >= 0")
        if self.task_sampler not in TASK_SAMPLERS:
            self._reject("task_sampler", "one of " + ", ".join(TASK_SAMPLERS))
        self.ppo()  # validates the PPO part with PPOConfig's own rules

    def _reject(self, name: str, allowed: str) -> None:
        raise ValueError(f"RMAConfig.{name} = {getattr(self, name)!r} is not allowed: {allowed}")

    def ppo(self) -> PPOConfig:
        """The teacher's PPO settings (the fields both classes share)."""
        shared = {f.name for f in fields(PPOConfig)} & {f.name for f in fields(self)}
        return PPOConfig(**{name: getattr(self, name) for name in shared})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings."""
        return asdict(self)

    @classmethod
    def quick(cls) -> RMAConfig:
        """Small enough to show both phases within minutes on 2 CPU cores."""
        return cls(tasks_per_iteration=8, episodes_per_task=2, horizon=200, teacher_iterations=30, minibatch_size=800)
