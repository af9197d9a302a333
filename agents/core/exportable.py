"""The contract between a policy and the exporter: a policy describes what to write and how to check it.

:func:`agents.storage.export.export_policy` writes ``torch.export`` (``.pt2``) and ONNX files from an
:class:`ExportPlan` and compares the reloaded files with the live policy. Any policy that can produce such a plan is
exportable: a stateless policy has one input (``obs``); a policy with memory (a history of the
last steps, a recurrent state) declares its extra inputs, so the exported graph takes the history
explicitly and the caller keeps it, as a deployed controller would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

PARITY_SAMPLES = 256
"""inputs the reloaded files are compared with the live policy on"""


@dataclass(frozen=True)
class ExportInput:
    """One named input of the exported graph; its first axis (the batch) is dynamic."""

    name: str
    shape: tuple[int, ...]
    """shape of one sample, without the batch axis (``obs``: ``(obs_dim,)``)"""
    doc: str = ""
    """what the caller must feed, for the sidecar"""


@dataclass(frozen=True)
class ExportPlan:
    """What to write and what to compare it with, whatever kind of policy is exported."""

    module: nn.Module
    """deterministic, CPU, eval: the inputs in order, an action in [-1, 1] out (traceable by ``torch.export``:
    no data-dependent Python control flow)"""
    inputs: tuple[ExportInput, ...]
    """the graph's inputs in call order; the first is always ``obs``"""
    action_dim: int
    live_actions: Callable[..., Tensor]
    """the live policy's deterministic actions for CPU inputs (in order), returned on the CPU"""
    parity_inputs: tuple[Tensor, ...]
    """batches of each input to compare the reloaded files with the live policy on"""
    doc: dict[str, Any] = field(default_factory=dict)
    """the sidecar's description of the observation, the action and any fixed latent or memory"""

    def __post_init__(self) -> None:
        if not self.inputs or self.inputs[0].name != "obs" or len(self.inputs[0].shape) != 1:
            raise ValueError("ExportPlan.inputs is not allowed: the first input must be 'obs' of shape (obs_dim,)")
        if len(self.parity_inputs) != len(self.inputs):
            raise ValueError(
                f"ExportPlan.parity_inputs has {len(self.parity_inputs)} tensors: one per input ({len(self.inputs)})"
            )

    @property
    def obs_dim(self) -> int:
        """Size of one observation."""
        return self.inputs[0].shape[0]


def spread_obs(mean: Tensor, std: Tensor) -> Tensor:
    """Random raw observations around ``mean``, some far enough out to hit a ±10 normalisation clip."""
    gen = torch.Generator().manual_seed(0)
    spread = torch.linspace(0.5, 20.0, PARITY_SAMPLES).unsqueeze(1)
    return mean + std * spread * torch.randn(PARITY_SAMPLES, mean.shape[0], generator=gen)


def action_noise_input(action_dim: int) -> ExportInput:
    """The ``noise`` input of a stochastic policy's graph: the caller draws it, so the graph stays a pure function."""
    return ExportInput(
        "noise",
        (action_dim,),
        "standard normal noise per action dimension: N(0, 1) draws act as the agent acted in the app, "
        "zeros give the mean action",
    )


def parity_noise(action_dim: int) -> Tensor:
    """Standard normal noise for the parity check, one row per parity observation."""
    return torch.randn(PARITY_SAMPLES, action_dim, generator=torch.Generator().manual_seed(1))


@runtime_checkable
class ExportablePolicy(Protocol):
    """A policy that knows how it is exported (PEARL's with its latent fixed, an online agent's with its memory)."""

    def export_plan(self) -> ExportPlan:
        """The deterministic module to write, its inputs, and the live actions to check it against."""
        ...
