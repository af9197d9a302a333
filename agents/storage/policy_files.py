"""An exported policy's files: an ExportedProgram (``.pt2``) and ONNX written from a module, and loaded back.

Loading needs only torch (for ``.pt2`` and legacy ``.pt``) or onnxruntime (for ``.onnx``), never the
training code.

Formats (torch 2.13): ``torch.export`` gives an ExportedProgram, saved as ``.pt2``; the ONNX file comes
from that same program through torch's current exporter (``torch.onnx.export(..., dynamo=True)``, which
needs ``onnxscript``). Both take any batch size. TorchScript (``torch.jit``, deprecated by torch 2.13)
is no longer written, but ``.pt`` files from earlier exports still load; exporting again writes
``.pt2`` (:data:`LEGACY_NOTE`). Exporters' warnings and log lines are silenced only around these calls.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn
from torch.export import Dim, ExportedProgram

from agents.core.exportable import ExportInput

ONNX_OPSET = 18
"""ONNX opset written: the oldest that torch's current exporter writes; onnxruntime >= 1.14 runs it."""

TORCH_SUFFIX, ONNX_SUFFIX, LEGACY_TORCHSCRIPT_SUFFIX = ".pt2", ".onnx", ".pt"

LEGACY_NOTE = "a TorchScript .pt file (a format torch deprecates): exporting the policy again writes a .pt2"
"""one line for the user who loads an old ``.pt`` file"""

INSTALL_HINT = "pip install sim2adapt[export]"

_EXPORTER_WARNINGS = (
    (r"`torch\.jit\.\w+` is deprecated", DeprecationWarning),  # loading a legacy .pt file
    # nn.GRU re-assigns its flat weight list while it is traced; the program holds the weights all the same
    (r"The tensor attributes .* were assigned during export", UserWarning),
    (r"# The axis name: .* will not be used", UserWarning),  # every input's batch axis is the same one
    (r".*isinstance\(treespec, LeafSpec\)", FutureWarning),  # raised inside torch's own exporter
)

Runner = Callable[..., NDArray[np.float32]]
"""an exported policy as a function: its inputs (numpy, ``obs`` first) in, actions out"""


class ExportError(RuntimeError):
    """An export failed (parity, missing optional dependency, unreadable file); nothing old was damaged."""


@contextlib.contextmanager
def _exporter_noise_silenced() -> Iterator[None]:
    """No warnings about torch's internals and no log lines (torchvision ops it skips) from the exporters."""
    onnx_logger = logging.getLogger("torch.onnx")
    level = onnx_logger.level
    onnx_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            for message, category in _EXPORTER_WARNINGS:
                warnings.filterwarnings("ignore", message=message, category=category)
            yield
    finally:
        onnx_logger.setLevel(level)


def require_onnxruntime() -> Any:
    """The onnxruntime module; ExportError with the install hint where it is missing (an optional extra)."""
    try:
        import onnxruntime
    except ImportError as err:
        raise ExportError(f"ONNX export and loading need onnxruntime, which is not installed: {INSTALL_HINT}") from err
    return onnxruntime


def require_onnxscript() -> None:
    """ExportError with the install hint where ``onnxscript`` (torch's ONNX exporter needs it) is missing."""
    try:
        import onnxscript  # noqa: F401
    except ImportError as err:
        raise ExportError(f"ONNX export needs onnxscript, which is not installed: {INSTALL_HINT}") from err


def _examples(inputs: tuple[ExportInput, ...]) -> tuple[torch.Tensor, ...]:
    """Zero inputs with a batch of 2: torch.export would fix a batch axis traced at size 1 as a constant."""
    return tuple(torch.zeros(2, *i.shape) for i in inputs)


def export_program(module: nn.Module, inputs: tuple[ExportInput, ...]) -> ExportedProgram:
    """``module`` traced by ``torch.export``: its inputs in order, one batch axis shared by all, any size >= 1."""
    batch = Dim("batch", min=1)
    with _exporter_noise_silenced():
        return torch.export.export(module, _examples(inputs), dynamic_shapes=tuple({0: batch} for _ in inputs))


def write_program(program: ExportedProgram, file: BinaryIO) -> None:
    """The ExportedProgram saved to ``file`` (a ``.pt2`` archive)."""
    torch.export.save(program, file)


def write_onnx(program: ExportedProgram, file: BinaryIO, inputs: tuple[ExportInput, ...]) -> None:
    """The program as ONNX in ``file``: inputs named as ``inputs`` say, output ``action``, weights inside."""
    names = [i.name for i in inputs]
    batch = Dim("batch", min=1)
    with _exporter_noise_silenced(), contextlib.redirect_stdout(None):  # it prints its progress otherwise
        onnx_program = torch.onnx.export(
            program,
            _examples(inputs),
            dynamo=True,
            verbose=False,
            opset_version=ONNX_OPSET,
            input_names=names,
            output_names=["action"],
            dynamic_shapes=tuple({0: batch} for _ in inputs),
        )
    if onnx_program is None:  # only the legacy exporter returns nothing
        raise ExportError("torch.onnx.export returned no ONNX program")
    file.write(onnx_program.model_proto.SerializeToString())


def _torch_runner(module: Callable[..., torch.Tensor]) -> Runner:
    def run(*inputs: NDArray[np.floating[Any]]) -> NDArray[np.float32]:
        with torch.no_grad():
            tensors = [torch.as_tensor(x, dtype=torch.float32) for x in inputs]
            return module(*tensors).numpy()

    return run


def program_runner(path: Path) -> Runner:
    """The batched function of a ``.pt2`` file (an ExportedProgram)."""
    with _exporter_noise_silenced(), path.open("rb") as file:  # a file object: the name may be a temporary's
        module = torch.export.load(file).module()
    return _torch_runner(module)


def torchscript_runner(path: Path) -> Runner:
    """The batched function of a legacy TorchScript ``.pt`` file (see :data:`LEGACY_NOTE`)."""
    with _exporter_noise_silenced():
        module = torch.jit.load(str(path), map_location="cpu")  # type: ignore[no-untyped-call]
    return _torch_runner(module)


def onnx_runner(path: Path) -> Runner:
    """The batched function of an ``.onnx`` file (its inputs fed in the graph's order)."""
    ort = require_onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # one observation at a time: a second thread only waits (agents/core/threads.py)
    session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])

    names = [i.name for i in session.get_inputs()]

    def run(*inputs: NDArray[np.floating[Any]]) -> NDArray[np.float32]:
        feed = {name: np.asarray(x, dtype=np.float32) for name, x in zip(names, inputs, strict=True)}
        return session.run(None, feed)[0]  # type: ignore[no-any-return]

    return run


_LOADERS: dict[str, Callable[[Path], Runner]] = {
    TORCH_SUFFIX: program_runner,
    ONNX_SUFFIX: onnx_runner,
    LEGACY_TORCHSCRIPT_SUFFIX: torchscript_runner,
}


def load_exported(path: str | Path) -> Runner:
    """A function ``obs -> action`` (numpy, float32) from an exported ``.pt2``, ``.onnx`` or legacy ``.pt`` file.

    Needs only torch (for ``.pt2`` / ``.pt``) or onnxruntime (for ``.onnx``), never the training code.
    Accepts one observation ``[obs_dim]`` or a batch ``[N, obs_dim]``, followed by the policy's other
    inputs if its sidecar lists any; returns actions already in ``[-1, 1]``.

    Raises:
        ExportError: The file is missing, damaged or of an unknown kind, or onnxruntime is not installed.
    """
    source = Path(path)
    if not source.is_file():
        raise ExportError(f"exported policy {source} does not exist")
    if source.suffix not in _LOADERS:
        raise ExportError(f"exported policy {source} is not allowed: expected a .pt2, .onnx or (legacy) .pt file")
    try:
        batched = _LOADERS[source.suffix](source)
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
