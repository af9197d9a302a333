"""Export an (adapted) policy to TorchScript and ONNX, verified against the live policy before it lands.

The exported module is a pure function and self-contained: raw observation and action noise in,
action to apply out. The caller draws the noise (standard normal to act as the agent acted in the
app, zeros for the mean action), so the graph itself holds no random state; a policy with memory
adds its memory as further inputs (:mod:`agents.core.exportable`). Normalisation
(``clip((obs - mean) / sqrt(var + eps), ±10)``) and the final clip to ``[-1, 1]`` are inside the
graph; the JSON sidecar says so, and records the caller's metadata, the statistics, the file
hashes, the parity check and library versions.

Order of work, so that a failed export never damages an earlier one: write ``.pt`` and ``.onnx`` to
temporary files, reload *those* (TorchScript and onnxruntime) and compare their actions with the live
policy on 256 random observations; only when both agree within ``atol`` are the files renamed into
place, the sidecar last, so a sidecar always describes files that passed. On any failure the
temporaries are removed and the old files stay byte-identical.

Exporters (torch 2.13): ``torch.jit`` and the TorchScript-based ONNX exporter (``dynamo=False``) are
deprecated but need nothing beyond torch; the ``torch.export``-based ONNX exporter needs
``onnxscript``. Their deprecation warnings are silenced only around these calls.
"""

# No `from __future__ import annotations` here: TorchScript must see ExportedGaussianPolicy's class-level
# annotations as real types, and cannot resolve them from strings.

import contextlib
import copy
import hashlib
import json
import platform
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from agents.core.exportable import (
    PARITY_SAMPLES,
    ExportablePolicy,
    ExportInput,
    ExportPlan,
    action_noise_input,
    parity_noise,
    spread_obs,
)
from agents.core.policies import OBS_EPS, GaussianMLPPolicy
from agents.storage.atomic import commit, discard, write_temp

ONNX_OPSET = 17
"""ONNX opset written: supported by the TorchScript-based exporter and by every onnxruntime >= 1.14."""

INSTALL_HINT = "pip install sim2adapt[export]"
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

_EXPORTER_DEPRECATIONS = (
    r"You are using the legacy TorchScript-based ONNX export",
    r"`torch\.jit\.\w+` is deprecated",
    r"The feature will be removed",  # raised by the legacy ONNX exporter's own internals
)

Runner = Callable[..., NDArray[np.float32]]
"""an exported policy as a function: its inputs (numpy, ``obs`` first) in, actions out"""


class ExportError(RuntimeError):
    """An export failed (parity, missing optional dependency, unreadable file); nothing old was damaged."""


@dataclass(frozen=True)
class ExportResult:
    """Where an export landed and how closely it matched the live policy."""

    torchscript_path: Path
    onnx_path: Path
    sidecar_path: Path
    torchscript_max_abs_diff: float
    onnx_max_abs_diff: float
    sidecar: dict[str, Any]
    """the JSON sidecar as written"""


class ExportedGaussianPolicy(nn.Module):
    """What gets exported of a Gaussian policy: raw observation and action noise in, action out.

    ``clip(mean(obs) + std * noise, -1, 1)``: standard normal noise acts as the agent acted while
    adapting, zeros give the mean action. No training machinery; normalisation inside.
    """

    clip: float
    obs_mean: Tensor
    obs_std: Tensor
    action_std: Tensor

    def __init__(self, *, net: nn.Sequential, obs_mean: Tensor, obs_var: Tensor, clip: float, log_std: Tensor) -> None:
        """Hold a copy of the mean network, the normalisation statistics and the action std as constants.

        Args:
            net: The policy's mean network (already holding the weights to export).
            obs_mean: Running observation mean.
            obs_var: Running observation variance.
            clip: Bound on normalised observations.
            log_std: The policy's (adapted) log standard deviation per action dimension.
        """
        super().__init__()
        self.net = net
        self.register_buffer("obs_mean", obs_mean.clone())
        # Precomputed exactly as ObsNormalizer computes it, so the two agree to the last bit.
        self.register_buffer("obs_std", torch.sqrt(obs_var + OBS_EPS))
        self.register_buffer("action_std", log_std.exp())
        self.clip = clip

    def forward(self, obs: Tensor, noise: Tensor) -> Tensor:
        """The action for raw ``obs`` ``[N, obs_dim]`` and ``noise`` ``[N, action_dim]``, clipped to ``[-1, 1]``."""
        normalised = ((obs - self.obs_mean) / self.obs_std).clamp(-self.clip, self.clip)
        action: Tensor = self.net(normalised) + self.action_std * noise
        return action.clamp(-1.0, 1.0)


def to_exported(policy: GaussianMLPPolicy, fast_params: Mapping[str, Tensor] | None = None) -> ExportedGaussianPolicy:
    """A CPU, float32, eval-mode, gradient-free copy of ``policy`` under ``fast_params`` (if given).

    Raises:
        ValueError: ``fast_params`` names something that is not a parameter of the policy (buffers such
            as the normalisation statistics always come from the module).
    """
    state = {k: v.detach() for k, v in policy.state_dict().items()}
    unknown = sorted(set(fast_params or {}) - {name for name, _ in policy.named_parameters()})
    if unknown:
        raise ValueError(f"fast_params has names that are not parameters of the policy: {', '.join(unknown)}")
    state.update({k: v.detach() for k, v in (fast_params or {}).items()})
    net = copy.deepcopy(policy.mean_net).to(device="cpu", dtype=torch.float32)
    net.load_state_dict({k.removeprefix("mean_net."): v for k, v in state.items() if k.startswith("mean_net.")})
    module = ExportedGaussianPolicy(
        net=net,
        obs_mean=state["obs_normalizer.mean"].to("cpu", torch.float32),
        obs_var=state["obs_normalizer.var"].to("cpu", torch.float32),
        clip=policy.obs_normalizer.clip,
        log_std=state["log_std"].to("cpu", torch.float32),
    )
    return module.eval().requires_grad_(False)


@contextlib.contextmanager
def _torch_deprecations_silenced() -> Iterator[None]:
    with warnings.catch_warnings():
        for message in _EXPORTER_DEPRECATIONS:
            warnings.filterwarnings("ignore", message=message, category=DeprecationWarning)
        yield


def _require_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as err:
        raise ExportError(f"ONNX export and loading need onnxruntime, which is not installed: {INSTALL_HINT}") from err
    return onnxruntime


def _write_torchscript(module: nn.Module, file: BinaryIO) -> None:
    with _torch_deprecations_silenced():
        torch.jit.save(torch.jit.script(module), file)


def _write_onnx(module: nn.Module, file: BinaryIO, inputs: tuple[ExportInput, ...]) -> None:
    names = [i.name for i in inputs]
    with _torch_deprecations_silenced():
        torch.onnx.export(
            module,
            tuple(torch.zeros(1, *i.shape) for i in inputs),
            file,  # type: ignore[arg-type]  # the TorchScript-based exporter writes to file objects too
            dynamo=False,
            opset_version=ONNX_OPSET,
            input_names=names,
            output_names=["action"],
            dynamic_axes={name: {0: "batch"} for name in [*names, "action"]},
        )


def _torchscript_runner(path: Path) -> Runner:
    with _torch_deprecations_silenced():
        module = torch.jit.load(str(path), map_location="cpu")  # type: ignore[no-untyped-call]

    def run(*inputs: NDArray[np.floating[Any]]) -> NDArray[np.float32]:
        with torch.no_grad():
            tensors = [torch.as_tensor(x, dtype=torch.float32) for x in inputs]
            return module(*tensors).numpy()  # type: ignore[no-any-return]

    return run


def _onnx_runner(path: Path) -> Runner:
    session = _require_onnxruntime().InferenceSession(str(path), providers=["CPUExecutionProvider"])

    names = [i.name for i in session.get_inputs()]

    def run(*inputs: NDArray[np.floating[Any]]) -> NDArray[np.float32]:
        feed = {name: np.asarray(x, dtype=np.float32) for name, x in zip(names, inputs, strict=True)}
        return session.run(None, feed)[0]  # type: ignore[no-any-return]

    return run


def load_exported(path: str | Path) -> Runner:
    """A function ``obs -> action`` (numpy, float32) from an exported ``.pt`` or ``.onnx`` file.

    Needs only torch (for ``.pt``) or onnxruntime (for ``.onnx``), never the training code. Accepts
    one observation ``[obs_dim]`` or a batch ``[N, obs_dim]``, followed by the policy's memory inputs
    if its sidecar lists any; returns actions already in ``[-1, 1]``.

    Raises:
        ExportError: The file is missing, damaged or of an unknown kind, or onnxruntime is not installed.
    """
    source = Path(path)
    if not source.is_file():
        raise ExportError(f"exported policy {source} does not exist")
    loaders = {".pt": _torchscript_runner, ".onnx": _onnx_runner}
    if source.suffix not in loaders:
        raise ExportError(f"exported policy {source} is not allowed: expected a .pt or .onnx file")
    try:
        batched = loaders[source.suffix](source)
    except ExportError:
        raise
    except Exception as err:  # torch and onnxruntime report a damaged file with unrelated exception types
        raise ExportError(f"exported policy {source} could not be loaded ({type(err).__name__}: {err})") from err

    def run(obs: NDArray[np.floating[Any]], *memory: NDArray[np.floating[Any]]) -> NDArray[np.float32]:
        obs = np.asarray(obs)
        if obs.ndim == 1:  # one sample: every input gains the batch axis
            one: NDArray[np.float32] = batched(obs[None], *(np.asarray(m)[None] for m in memory))[0]
            return one
        return batched(obs, *memory)

    return run


def _gaussian_plan(policy: GaussianMLPPolicy, fast_params: Mapping[str, Tensor] | None) -> ExportPlan:
    norm = policy.obs_normalizer
    mean, var = norm.mean.detach().cpu(), norm.var.detach().cpu()
    device = next(policy.parameters()).device

    def live(obs: Tensor, noise: Tensor) -> Tensor:
        with torch.no_grad():
            dist = policy.distribution(obs.to(device), fast_params)
            return (dist.mean + dist.stddev * noise.to(device)).clamp(-1.0, 1.0).cpu()

    doc = {
        "observation": {
            "normalisation": "inside the graph: clip((obs - mean) / sqrt(var + eps), -clip, clip); feed raw obs",
            "mean": mean.tolist(),
            "var": var.tolist(),
            "count": int(norm.count),
            "eps": OBS_EPS,
            "clip": norm.clip,
        },
        "action": {"low": -1.0, "high": 1.0, "post_processing": "clip(mean + std * noise, -1, 1) is inside the graph"},
        "fast_weights": fast_params is not None,
    }
    return ExportPlan(
        module=to_exported(policy, fast_params),
        inputs=(ExportInput("obs", (policy.obs_dim,), "raw observation"), action_noise_input(policy.action_dim)),
        action_dim=policy.action_dim,
        live_actions=live,
        parity_inputs=(spread_obs(mean, torch.sqrt(var + OBS_EPS)), parity_noise(policy.action_dim)),
        doc=doc,
    )


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
        "format_version": 1,
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
    runners = {"torchscript": _torchscript_runner(temps["torchscript"]), "onnx": _onnx_runner(temps["onnx"])}
    return _check_parity(plan.live_actions(*plan.parity_inputs), plan.parity_inputs, runners, atol)


def export_policy(
    policy: GaussianMLPPolicy | ExportablePolicy,
    fast_params: Mapping[str, Tensor] | None = None,
    *,
    out_dir: str | Path,
    name: str = "policy",
    sidecar: Mapping[str, Any] | None = None,
    atol: float = 1e-5,
) -> ExportResult:
    """Write ``NAME.pt``, ``NAME.onnx`` and ``NAME.json`` into ``out_dir``, verified and atomically.

    Args:
        policy: The live policy (any device): a :class:`GaussianMLPPolicy`, or any
            :class:`~agents.core.exportable.ExportablePolicy`, which describes its own graph and inputs
            (PEARL's policy with its task latent fixed; a policy with a history input).
        fast_params: Adapted weights by name (from ``inner_adapt``); None exports the module's own.
            Only for a :class:`GaussianMLPPolicy`.
        out_dir: Destination folder (created if missing).
        name: File stem shared by the three files.
        sidecar: JSON-able metadata to store (task parameters, robot, algorithm, adaptation history...).
        atol: Largest accepted absolute action difference between each file and the live policy.

    Returns:
        Paths, measured differences and the sidecar as written.

    Raises:
        ExportError: A reloaded file disagrees with the live policy, or onnxruntime is missing. Files
            from an earlier export at the same paths are left untouched.
        ValueError: Bad ``name``, ``sidecar`` or ``fast_params``.
    """
    if not name or Path(name).name != name:
        raise ValueError(f"name = {name!r} is not allowed: a plain file stem")
    caller = _caller_metadata(sidecar)
    _require_onnxruntime()
    if isinstance(policy, GaussianMLPPolicy):
        plan = _gaussian_plan(policy, fast_params)
    elif fast_params is not None:
        raise ValueError("fast_params is not allowed for this policy: only a GaussianMLPPolicy takes fast weights")
    elif isinstance(policy, ExportablePolicy):
        plan = policy.export_plan()
    else:
        raise ValueError(
            f"policy of type {type(policy).__name__} is not allowed: a GaussianMLPPolicy or an ExportablePolicy"
        )
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    suffixes = {"torchscript": ".pt", "onnx": ".onnx", "sidecar": ".json"}
    targets = {fmt: folder / f"{name}{suffix}" for fmt, suffix in suffixes.items()}
    temps: dict[str, Path] = {}
    try:
        temps["torchscript"] = write_temp(targets["torchscript"], lambda f: _write_torchscript(plan.module, f))
        temps["onnx"] = write_temp(targets["onnx"], lambda f: _write_onnx(plan.module, f, plan.inputs))
        diffs = _verify(plan, temps, atol)
        files = {fmt: (targets[fmt], temps[fmt]) for fmt in ("torchscript", "onnx")}
        doc = _sidecar(plan, caller, files, diffs)
        text = json.dumps(doc, indent=2, allow_nan=False).encode()
        temps["sidecar"] = write_temp(targets["sidecar"], lambda f: f.write(text))
        for fmt in ("torchscript", "onnx", "sidecar"):  # the sidecar last: it vouches for the other two
            commit(temps[fmt], targets[fmt])
    except BaseException:
        discard(list(temps.values()))  # committed ones are already gone from their temporary names
        raise
    return ExportResult(
        torchscript_path=targets["torchscript"],
        onnx_path=targets["onnx"],
        sidecar_path=targets["sidecar"],
        torchscript_max_abs_diff=diffs["torchscript"],
        onnx_max_abs_diff=diffs["onnx"],
        sidecar=doc,
    )
