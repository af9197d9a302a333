"""Export the policy an adaptation ended with, with a sidecar saying where it came from.

One helper for every front end (the GUI's Export button, ``sim2adapt adapt --export``), so that an
adapted policy is always stored with the same metadata: the algorithm and checkpoint it started
from, the task it adapted to, and the returns of each episode.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents.core.adaptation import AdaptResult
from agents.storage.export import ExportResult, export_policy


def adapted_sidecar(result: AdaptResult, *, algorithm: str, checkpoint: str) -> dict[str, Any]:
    """The caller's part of the sidecar of an adapted policy (the exporter adds its own keys)."""
    return {
        "algorithm": algorithm,
        "checkpoint": checkpoint,
        "task": result.task.to_dict(),
        "adaptation": {"episode_returns": list(result.episode_returns), "updates": result.updates},
        "env_config": result.env_config,
    }


def export_adapted(
    result: AdaptResult, out_dir: str | Path, *, algorithm: str, checkpoint: str, name: str = "policy"
) -> ExportResult:
    """Write ``NAME.pt2``, ``NAME.onnx`` and ``NAME.json`` for ``result.policy`` into ``out_dir``.

    Verified and atomic as :func:`agents.storage.export.export_policy` (whose errors it raises unchanged).

    Args:
        result: The end of an adaptation (:func:`agents.core.adaptation.adapt`).
        out_dir: Destination folder (created if missing).
        algorithm: Name of the algorithm that trained the agent.
        checkpoint: The checkpoint the agent was loaded from, as the user gave it.
        name: File stem shared by the three files.
    """
    if result.policy is None:
        raise ValueError(f"algorithm = {algorithm!r} is not allowed for export: its agent has no policy to export")
    sidecar = adapted_sidecar(result, algorithm=algorithm, checkpoint=checkpoint)
    return export_policy(result.policy, out_dir=out_dir, name=name, sidecar=sidecar)
