"""An exported policy's files: TorchScript and ONNX written from a module, and loaded back as functions.

Loading needs only torch (for ``.pt``) or onnxruntime (for ``.onnx``), never the training code.

Exporters (torch 2.13): ``torch.jit`` and the TorchScript-based ONNX exporter (``dynamo=False``) are
deprecated but need nothing beyond torch; the ``torch.export``-based ONNX exporter needs
``onnxscript``. Their deprecation warnings are silenced only around these calls.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from agents.core.exportable import ExportInput

ONNX_OPSET = 17
"""ONNX opset written: supported by the TorchScript-based exporter and by every onnxruntime >= 1.14."""

INSTALL_HINT = "pip install sim2adapt[export]"

_EXPORTER_DEPRECATIONS = (
    r"You are using the legacy TorchScript-based ONNX export",
    r"`torch\.jit\.\w+` is deprecated",
    r"The feature will be removed",  # raised by the legacy ONNX exporter's own internals
)

Runner = Callable[..., NDArray[np.float32]]
"""an exported policy as a function: its inputs (numpy, ``obs`` first) in, actions out"""


class ExportError(RuntimeError):
    """An export failed (parity, missing optional dependency, unreadable file); nothing old was damaged."""


@contextlib.contextmanager
def _torch_deprecations_silenced() -> Iterator[None]:
    with warnings.catch_warnings():
        for message in _EXPORTER_DEPRECATIONS:
            warnings.filterwarnings("ignore", message=message, category=DeprecationWarning)
        yield


def require_onnxruntime() -> Any:
    """The onnxruntime module; ExportError with the install hint where it is missing (an optional extra)."""
    try:
        import onnxruntime
    except ImportError as err:
        raise ExportError(f"ONNX export and loading need onnxruntime, which is not installed: {INSTALL_HINT}") from err
    return onnxruntime


def write_torchscript(module: nn.Module, file: BinaryIO) -> None:
    """``module`` scripted and saved to ``file``."""
    with _torch_deprecations_silenced():
        torch.jit.save(torch.jit.script(module), file)


def write_onnx(module: nn.Module, file: BinaryIO, inputs: tuple[ExportInput, ...]) -> None:
    """``module`` as ONNX in ``file``: inputs named as ``inputs`` say, output ``action``, any batch size."""
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


def torchscript_runner(path: Path) -> Runner:
    """The batched function of a ``.pt`` file."""
    with _torch_deprecations_silenced():
        module = torch.jit.load(str(path), map_location="cpu")  # type: ignore[no-untyped-call]

    def run(*inputs: NDArray[np.floating[Any]]) -> NDArray[np.float32]:
        with torch.no_grad():
            tensors = [torch.as_tensor(x, dtype=torch.float32) for x in inputs]
            return module(*tensors).numpy()  # type: ignore[no-any-return]

    return run


def onnx_runner(path: Path) -> Runner:
    """The batched function of an ``.onnx`` file (its inputs fed in the graph's order)."""
    session = require_onnxruntime().InferenceSession(str(path), providers=["CPUExecutionProvider"])

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
    loaders = {".pt": torchscript_runner, ".onnx": onnx_runner}
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
