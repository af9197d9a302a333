"""Export an (adapted) policy to ``torch.export`` (``.pt2``) and ONNX, verified against the live policy before it lands.

The exported module is a pure function and self-contained: raw observation and action noise in,
action to apply out. The caller draws the noise (standard normal to act as the agent acted in the
app, zeros for the mean action), so the graph itself holds no random state; a policy with memory
adds its memory as further inputs (:mod:`agents.core.exportable`). Normalisation
(``clip((obs - mean) / sqrt(var + eps), ±10)``) and the final clip to ``[-1, 1]`` are inside the
graph; the JSON sidecar says so, and records the caller's metadata, the statistics, the file
hashes, the parity check and library versions.

Order of work, so that a failed export never damages an earlier one: trace the module once with
``torch.export``, write that program as ``.pt2`` and as ``.onnx`` to temporary files, reload *those*
(``torch.export.load`` and onnxruntime) and compare their actions with the live policy on 256 random
observations; only when both agree within ``atol`` are the files renamed into
place, the sidecar last, so a sidecar always describes files that passed. On any failure the
temporaries are removed and the old files stay byte-identical.

This module is the export's public face (:func:`export_policy`, :func:`load_exported`,
:class:`ExportError`); the files' formats live in :mod:`agents.storage.policy_files`. What to write
is the policy's own business (:class:`~agents.core.exportable.ExportablePolicy`): the Gaussian
policy's graph is in :mod:`agents.core.gaussian_export`, PEARL's and RMA's beside their networks.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.export import ExportedProgram

from agents.core.exportable import PARITY_SAMPLES, ExportablePolicy, ExportPlan
from agents.core.policies import GaussianMLPPolicy
from agents.storage.atomic import commit, discard, write_temp
from agents.storage.policy_files import (
    ONNX_OPSET,
    ONNX_SUFFIX,
    TORCH_SUFFIX,
    ExportError,
    Runner,
    export_program,
    load_exported,
    onnx_runner,
    program_runner,
    require_onnxruntime,
    require_onnxscript,
    write_onnx,
    write_program,
)

__all__ = ["ExportError", "ExportResult", "export_policy", "load_exported"]

_RESERVED_KEYS = frozenset(
    {
        "format_version",
        "obs_dim",
        "action_dim",
        "observation",
        "action",
        "files",
        "parity",
        "versions",
        "created_utc",
        "onnx_opset",
        "fast_weights",
        "latent",
        "inputs",
    }
)


@dataclass(frozen=True)
class ExportResult:
    """Where an export landed and how closely it matched the live policy."""

    torch_path: Path
    """the ``.pt2`` file (an ExportedProgram)"""
    onnx_path: Path
    sidecar_path: Path
    torch_max_abs_diff: float
    onnx_max_abs_diff: float
    sidecar: dict[str, Any]
    """the JSON sidecar as written"""


def _check_parity(
    expected: Tensor, inputs: tuple[Tensor, ...], runners: Mapping[str, Runner], atol: float
) -> dict[str, float]:
    """Max abs action difference per format; ExportError naming every format that exceeds ``atol``."""
    arrays = [tensor.numpy() for tensor in inputs]
    diffs = {name: float(np.abs(run(*arrays) - expected.numpy()).max()) for name, run in runners.items()}
    failed = {name: diff for name, diff in diffs.items() if not diff < atol}
    if failed:
        detail = ", ".join(f"{name} max abs diff {diff:.3g}" for name, diff in failed.items())
        raise ExportError(f"exported policy does not match the live policy ({detail}; allowed < {atol:g})")
    return diffs


def _versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version(), "torch": torch.__version__}
    for dist in ("numpy", "onnx", "onnxruntime"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = None
    return found


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sidecar(
    plan: ExportPlan, caller: Mapping[str, Any], files: Mapping[str, tuple[Path, Path]], diffs: Mapping[str, float]
) -> dict[str, Any]:
    """The caller's metadata plus what any consumer of the files needs; ``files`` maps format to (final, temp)."""
    return {
        **caller,
        "format_version": 2,  # 2: the torch file is an ExportedProgram (.pt2), 1: TorchScript (.pt)
        "obs_dim": plan.obs_dim,
        "action_dim": plan.action_dim,
        "inputs": [{"name": i.name, "shape": list(i.shape), "doc": i.doc} for i in plan.inputs],
        **plan.doc,
        "files": {fmt: {"name": final.name, "sha256": _sha256(temp)} for fmt, (final, temp) in files.items()},
        "onnx_opset": ONNX_OPSET,
        "parity": {"samples": PARITY_SAMPLES, "max_abs_diff": dict(diffs)},
        "versions": _versions(),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _caller_metadata(sidecar: Mapping[str, Any] | None) -> dict[str, Any]:
    """The caller's sidecar entries, checked to be JSON and not to shadow the exporter's own keys."""
    data = dict(sidecar or {})
    clash = sorted(_RESERVED_KEYS & set(data))
    if clash:
        raise ValueError(f"sidecar keys {', '.join(clash)} are not allowed: the exporter writes them")
    try:
        json.dumps(data, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"sidecar is not allowed: it must be plain JSON data ({err})") from err
    return data


def _verify(plan: ExportPlan, temps: Mapping[str, Path], atol: float) -> dict[str, float]:
    """Reload the written files and compare them with the live policy (their sessions close on return)."""
    runners = {"torch": program_runner(temps["torch"]), "onnx": onnx_runner(temps["onnx"])}
    return _check_parity(plan.live_actions(*plan.parity_inputs), plan.parity_inputs, runners, atol)


def _trace(plan: ExportPlan) -> ExportedProgram:
    """The plan's module as one ExportedProgram, the source of both files; ExportError where torch cannot trace it."""
    try:
        return export_program(plan.module, plan.inputs)
    except Exception as err:  # torch.export reports an untraceable module with many exception types
        raise ExportError(
            f"torch.export could not trace {type(plan.module).__name__} ({type(err).__name__}: {err})"
        ) from err


def _plan(policy: ExportablePolicy, fast_params: Mapping[str, Tensor] | None) -> ExportPlan:
    """The policy's export plan; ``fast_params`` go to a :class:`GaussianMLPPolicy`'s, the one plan that takes them."""
    if not isinstance(policy, ExportablePolicy):
        raise ValueError(
            f"policy of type {type(policy).__name__} is not allowed: "
            "an ExportablePolicy (one with export_plan(), such as a GaussianMLPPolicy)"
        )
    if fast_params is None:
        return policy.export_plan()
    if not isinstance(policy, GaussianMLPPolicy):
        raise ValueError("fast_params is not allowed for this policy: only a GaussianMLPPolicy takes fast weights")
    return policy.export_plan(fast_params)


def export_policy(
    policy: ExportablePolicy,
    fast_params: Mapping[str, Tensor] | None = None,
    *,
    out_dir: str | Path,
    name: str = "policy",
    sidecar: Mapping[str, Any] | None = None,
    atol: float = 1e-5,
) -> ExportResult:
    """Write ``NAME.pt2``, ``NAME.onnx`` and ``NAME.json`` into ``out_dir``, verified and atomically.

    Args:
        policy: The live policy (any device): any :class:`~agents.core.exportable.ExportablePolicy`,
            which describes its own graph and inputs (a :class:`GaussianMLPPolicy`; PEARL's policy with
            its task latent fixed; a policy with a history input).
        fast_params: Adapted weights by name (from ``inner_adapt``); None exports the module's own.
            Only for a :class:`GaussianMLPPolicy`.
        out_dir: Destination folder (created if missing).
        name: File stem shared by the three files.
        sidecar: JSON-able metadata to store (task parameters, robot, algorithm, adaptation history...).
        atol: Largest accepted absolute action difference between each file and the live policy.

    Returns:
        Paths, measured differences and the sidecar as written.

    Raises:
        ExportError: A reloaded file disagrees with the live policy, or onnxruntime or onnxscript is
            missing, or torch cannot trace the module. Files
            from an earlier export at the same paths are left untouched.
        ValueError: Bad ``policy``, ``name``, ``sidecar`` or ``fast_params``.
    """
    if not name or Path(name).name != name:
        raise ValueError(f"name = {name!r} is not allowed: a plain file stem")
    caller = _caller_metadata(sidecar)
    require_onnxruntime()
    require_onnxscript()
    plan = _plan(policy, fast_params)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    suffixes = {"torch": TORCH_SUFFIX, "onnx": ONNX_SUFFIX, "sidecar": ".json"}
    targets = {fmt: folder / f"{name}{suffix}" for fmt, suffix in suffixes.items()}
    program = _trace(plan)
    temps: dict[str, Path] = {}
    try:
        temps["torch"] = write_temp(targets["torch"], lambda f: write_program(program, f))
        temps["onnx"] = write_temp(targets["onnx"], lambda f: write_onnx(program, f, plan.inputs))
        diffs = _verify(plan, temps, atol)
        files = {fmt: (targets[fmt], temps[fmt]) for fmt in ("torch", "onnx")}
        doc = _sidecar(plan, caller, files, diffs)
        text = json.dumps(doc, indent=2, allow_nan=False).encode()
        temps["sidecar"] = write_temp(targets["sidecar"], lambda f: f.write(text))
        for fmt in ("torch", "onnx", "sidecar"):  # the sidecar last: it vouches for the other two
            commit(temps[fmt], targets[fmt])
    except BaseException:
        discard(list(temps.values()))  # committed ones are already gone from their temporary names
        raise
    return ExportResult(
        torch_path=targets["torch"],
        onnx_path=targets["onnx"],
        sidecar_path=targets["sidecar"],
        torch_max_abs_diff=diffs["torch"],
        onnx_max_abs_diff=diffs["onnx"],
        sidecar=doc,
    )
