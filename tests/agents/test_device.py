"""resolve_device: the one place a --device string becomes a torch.device."""

from __future__ import annotations

import pytest
import torch

from agents.core.device import resolve_device


def _no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


def test_cpu_and_auto_without_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_cuda(monkeypatch)
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" AUTO ") == torch.device("cpu")


@pytest.mark.parametrize("spec", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_without_cuda_names_flag_value_and_choices(monkeypatch: pytest.MonkeyPatch, spec: str) -> None:
    _no_cuda(monkeypatch)
    with pytest.raises(ValueError, match=rf"--device = '{spec}'.*available: cpu"):
        resolve_device(spec)


def test_cuda_index_beyond_the_devices_lists_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ValueError, match=r"--device = 'cuda:2'.*cpu, cuda:0, cuda:1"):
        resolve_device("cuda:2")


@pytest.mark.parametrize("spec", ["gpu", "cuda:", "cuda:x", "cudax", ""])
def test_malformed_spec_lists_the_accepted_forms(spec: str) -> None:
    with pytest.raises(ValueError, match=r"--device.*'auto', 'cpu', 'cuda' or 'cuda:N'"):
        resolve_device(spec)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_real_cuda_device_resolves_and_holds_tensors() -> None:
    device = resolve_device("cuda:0")
    assert torch.ones(2, device=device).device == device
