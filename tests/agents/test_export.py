"""Export: torch.export (``.pt2``) and ONNX files that act like the live (adapted) policy, written atomically;
TorchScript ``.pt`` files of earlier exports still load and play."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor
from torch.func import functional_call

import agents.core.gaussian_export
from agents.core.exportable import ExportablePolicy
from agents.core.gaussian_export import ExportedGaussianPolicy
from agents.core.policies import GaussianMLPPolicy
from agents.maml.inner import Batch, inner_adapt, pg_loss
from agents.storage.export import ExportError, export_policy, load_exported
from agents.storage.policy_files import INSTALL_HINT, LEGACY_NOTE, ONNX_OPSET
from sim.params import TaskParams

OBS_DIM, ACT_DIM = 6, 3


def _policy() -> GaussianMLPPolicy:
    torch.manual_seed(0)
    policy = GaussianMLPPolicy(obs_dim=OBS_DIM, action_dim=ACT_DIM, hidden_sizes=(16, 16))
    policy.update_obs_stats(torch.randn(200, OBS_DIM) * torch.linspace(0.1, 5.0, OBS_DIM) + 3.0)
    with torch.no_grad():
        policy.mean_net[-1].weight.mul_(100.0)  # large outputs, so the [-1, 1] clip is exercised
    return policy


def _adapted(policy: GaussianMLPPolicy) -> dict[str, Tensor]:
    gen = torch.Generator().manual_seed(1)
    batch = Batch(
        obs=torch.randn(4, 10, OBS_DIM, generator=gen) * 3 + 3,
        actions=torch.randn(4, 10, ACT_DIM, generator=gen),
        advantages=torch.randn(4, 10, generator=gen),
        mask=torch.ones(4, 10),
    )
    fast = inner_adapt(policy, dict(policy.named_parameters()), partial(pg_loss, batch=batch), lr=0.5)
    return {k: v.detach() for k, v in fast.items()}


def _live(
    policy: GaussianMLPPolicy, fast: dict[str, Tensor] | None, obs: np.ndarray, noise: np.ndarray | None = None
) -> np.ndarray:
    """The live policy's action: its mean under ``fast``, plus its std times ``noise`` when given."""
    with torch.no_grad():
        mean = functional_call(policy, fast or {}, (torch.as_tensor(obs, dtype=torch.float32),))
        log_std = (fast or {}).get("log_std", policy.log_std)
        action = mean if noise is None else mean + log_std.exp() * torch.as_tensor(noise)
    return action.clamp(-1.0, 1.0).numpy()


def _zeros(obs: np.ndarray) -> np.ndarray:
    """Zero action noise for ``obs`` (one row or a batch): the mean action."""
    return np.zeros((*obs.shape[:-1], ACT_DIM), np.float32)


@pytest.mark.slow
def test_exported_files_match_the_adapted_policy_and_the_sidecar_round_trips(tmp_path: Path) -> None:
    policy = _policy()
    fast = _adapted(policy)
    task = TaskParams().to_dict()
    result = export_policy(policy, fast, out_dir=tmp_path / "out", sidecar={"task": task, "algorithm": "maml"})
    assert result.torch_max_abs_diff < 1e-5 and result.onnx_max_abs_diff < 1e-5
    obs = np.random.default_rng(5).normal(3.0, 4.0, size=(64, OBS_DIM)).astype(np.float32)
    want = _live(policy, fast, obs)
    assert np.abs(want - _live(policy, None, obs)).max() > 1e-3  # the fast weights really matter
    assert np.abs(want).max() == 1.0  # some actions were clipped
    noise = np.random.default_rng(6).standard_normal((64, ACT_DIM)).astype(np.float32)
    sampled = _live(policy, fast, obs, noise)
    assert np.abs(sampled - want).max() > 1e-2  # the noise input really acts
    for path in (result.torch_path, result.onnx_path):
        run = load_exported(path)
        np.testing.assert_allclose(run(obs, _zeros(obs)), want, atol=1e-5, rtol=0)
        np.testing.assert_allclose(run(obs[0], _zeros(obs[0])), want[0], atol=1e-5, rtol=0)
        np.testing.assert_allclose(run(obs, noise), sampled, atol=1e-5, rtol=0)
    sidecar = json.loads(result.sidecar_path.read_text())
    assert sidecar == result.sidecar
    assert TaskParams.from_dict(sidecar["task"]) == TaskParams() and sidecar["algorithm"] == "maml"
    assert (sidecar["obs_dim"], sidecar["action_dim"], sidecar["fast_weights"]) == (OBS_DIM, ACT_DIM, True)
    assert "clip" in sidecar["action"]["post_processing"] and sidecar["observation"]["count"] == 200
    assert sidecar["versions"]["torch"] == torch.__version__ and sidecar["versions"]["onnxruntime"]
    assert sidecar["format_version"] == 2 and sidecar["onnx_opset"] == ONNX_OPSET
    for fmt, path in (("torch", result.torch_path), ("onnx", result.onnx_path)):
        assert sidecar["files"][fmt] == {"name": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["policy.json", "policy.onnx", "policy.pt2"]


@pytest.mark.slow
def test_a_parity_failure_keeps_the_old_export_byte_identical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    policy = _policy()
    first = export_policy(policy, out_dir=tmp_path, sidecar={"run": 1})
    paths = (first.torch_path, first.onnx_path, first.sidecar_path)
    old = {p: p.read_bytes() for p in paths}
    real = agents.core.gaussian_export.to_exported

    def drifted(*args: object, **kwargs: object) -> ExportedGaussianPolicy:
        module = real(*args, **kwargs)  # type: ignore[arg-type]
        module.net[-1].bias.add_(1e-3)
        return module

    monkeypatch.setattr(agents.core.gaussian_export, "to_exported", drifted)
    with torch.no_grad():
        policy.mean_net[-1].weight.mul_(0.01)  # the new export would differ from the old one
    with pytest.raises(ExportError, match=r"does not match the live policy \(torch max abs diff .*onnx"):
        export_policy(policy, out_dir=tmp_path, sidecar={"run": 2})
    assert {p: p.read_bytes() for p in paths} == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy.json", "policy.onnx", "policy.pt2"]


def test_without_onnxruntime_export_and_onnx_loading_say_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "p.onnx").write_bytes(b"not used")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    with pytest.raises(ExportError, match="onnxruntime.*" + re.escape(INSTALL_HINT)):
        export_policy(_policy(), out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ExportError, match="pip install sim2adapt"):
        load_exported(tmp_path / "p.onnx")
    monkeypatch.delitem(sys.modules, "onnxruntime")
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # torch's ONNX exporter needs it
    with pytest.raises(ExportError, match="onnxscript.*" + re.escape(INSTALL_HINT)):
        export_policy(_policy(), out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_bad_arguments_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    policy = _policy()
    with pytest.raises(ValueError, match="sidecar keys obs_dim"):
        export_policy(policy, out_dir=tmp_path, sidecar={"obs_dim": 3})
    with pytest.raises(ValueError, match="plain JSON"):
        export_policy(policy, out_dir=tmp_path, sidecar={"when": object()})
    with pytest.raises(ValueError, match="not parameters of the policy: nope"):
        export_policy(policy, {"nope": torch.zeros(1)}, out_dir=tmp_path)
    with pytest.raises(ValueError, match=r"not parameters of the policy: obs_normalizer\.mean"):
        export_policy(policy, {"obs_normalizer.mean": torch.zeros(OBS_DIM)}, out_dir=tmp_path)
    with pytest.raises(ValueError, match="plain file stem"):
        export_policy(policy, out_dir=tmp_path, name="../x")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ExportError, match=r"expected a \.pt2, \.onnx or \(legacy\) \.pt"):
        load_exported(Path(__file__))
    for suffix in (".pt2", ".onnx", ".pt"):
        damaged = tmp_path / f"damaged{suffix}"
        damaged.write_bytes(b"not a model")
        with pytest.raises(ExportError, match=rf"{re.escape(str(damaged))} could not be loaded"):
            load_exported(damaged)
    with pytest.raises(ExportError, match="does not exist"):
        load_exported(tmp_path / "absent.pt2")


def test_exported_policy_acts_like_the_live_one_on_a_real_locomotion_env(tmp_path: Path) -> None:
    from sim.envs.locomotion import LocomotionEnv

    env = LocomotionEnv(TaskParams())
    try:
        obs, _ = env.reset(seed=0)
        obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
        torch.manual_seed(0)
        policy = GaussianMLPPolicy(obs_dim=obs_dim, action_dim=act_dim)
        seen = [obs]
        for _ in range(5):
            seen.append(env.step(env.action_space.sample())[0])
        policy.update_obs_stats(torch.as_tensor(np.stack(seen)))
        result = export_policy(policy, out_dir=tmp_path, sidecar={"task": env.get_task().to_dict()})
        runners = [load_exported(result.torch_path), load_exported(result.onnx_path)]
        for _ in range(5):
            want = _live(policy, None, obs[None])[0]
            for run in runners:
                np.testing.assert_allclose(run(obs, np.zeros(act_dim, np.float32)), want, atol=1e-5, rtol=0)
            obs = env.step(runners[0](obs, np.zeros(act_dim, np.float32)))[0]
    finally:
        env.close()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_cuda_policy_exports_to_cpu_files(tmp_path: Path) -> None:
    policy = _policy().to("cuda")
    result = export_policy(policy, _adapted(policy), out_dir=tmp_path)
    assert result.torch_max_abs_diff < 1e-5 and result.onnx_max_abs_diff < 1e-5


def test_a_policy_with_a_history_input_exports_and_reloads_with_that_input(tmp_path: Path) -> None:
    """The exportable-policy protocol carries memory inputs: the graph takes the history, the caller keeps it."""
    from tests.agents.memory_policy import HistoryPolicy

    torch.manual_seed(3)
    policy = HistoryPolicy(obs_dim=OBS_DIM, action_dim=ACT_DIM, history_len=5)
    result = export_policy(policy, out_dir=tmp_path)
    assert [i["name"] for i in result.sidecar["inputs"]] == ["obs", "history"]
    assert result.sidecar["inputs"][1]["shape"] == [5, OBS_DIM + ACT_DIM]
    obs = np.random.default_rng(1).normal(size=OBS_DIM).astype(np.float32)
    history = np.random.default_rng(2).normal(size=(5, OBS_DIM + ACT_DIM)).astype(np.float32)
    with torch.no_grad():
        expected = policy(torch.as_tensor(obs)[None], torch.as_tensor(history)[None])[0].numpy()
    for path in (result.torch_path, result.onnx_path):
        assert np.allclose(load_exported(path)(obs, history), expected, atol=1e-5)


def test_the_gaussian_policy_is_an_exportable_policy_whose_plan_takes_fast_weights() -> None:
    policy = _policy()
    assert isinstance(policy, ExportablePolicy)
    plan = policy.export_plan()
    assert [i.name for i in plan.inputs] == ["obs", "noise"] and plan.doc["fast_weights"] is False
    assert policy.export_plan(_adapted(policy)).doc["fast_weights"] is True


def test_an_object_that_is_neither_a_gaussian_policy_nor_exportable_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="policy of type Linear is not allowed"):
        export_policy(torch.nn.Linear(3, 2), out_dir=tmp_path)  # type: ignore[arg-type]


def test_the_onnx_file_is_a_checked_graph_with_named_inputs_and_a_batch_axis(tmp_path: Path) -> None:
    import onnx
    import onnxruntime

    result = export_policy(_policy(), out_dir=tmp_path)
    model = onnx.load(str(result.onnx_path))
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == ONNX_OPSET
    session = onnxruntime.InferenceSession(str(result.onnx_path), providers=["CPUExecutionProvider"])
    shapes = {i.name: i.shape for i in [*session.get_inputs(), *session.get_outputs()]}
    assert shapes == {"obs": ["batch", OBS_DIM], "noise": ["batch", ACT_DIM], "action": ["batch", ACT_DIM]}
    obs = np.random.default_rng(0).normal(size=(1000, OBS_DIM)).astype(np.float32)  # far past the traced batch of 2
    (action,) = session.run(None, {"obs": obs, "noise": _zeros(obs)})
    np.testing.assert_allclose(action, _live(_policy(), None, obs), atol=1e-5, rtol=0)


@pytest.mark.slow
def test_a_torchscript_file_from_an_earlier_export_still_plays_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exports before torch.export wrote ``policy.pt`` (TorchScript); play runs it as it runs ``.pt2`` and ``.onnx``."""
    import warnings

    from agents.core.gaussian_export import to_exported
    from app.cli.main import main
    from sim.envs.locomotion import LocomotionEnv

    with LocomotionEnv(TaskParams()) as env:
        obs_dim, action_dim = env.observation_space.shape[0], env.action_space.shape[0]
    torch.manual_seed(0)
    policy = GaussianMLPPolicy(obs_dim=obs_dim, action_dim=action_dim)
    result = export_policy(policy, out_dir=tmp_path, sidecar={"task": TaskParams().to_dict()})
    with warnings.catch_warnings():  # what the old exporter did, deprecation and all
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(to_exported(policy)), str(tmp_path / "old.pt"))
    (tmp_path / "old.json").write_text(result.sidecar_path.read_text())
    episodes = {}
    for path in (result.torch_path, result.onnx_path, tmp_path / "old.pt"):
        assert main(["play", str(path), "--steps", "15", "--seed", "3"]) == 0
        *notes, episodes[path.suffix] = capsys.readouterr().out.strip().splitlines()
        assert notes == ([f"note: {path} is {LEGACY_NOTE}"] if path.suffix == ".pt" else [])
    assert episodes[".pt"] == episodes[".pt2"] == episodes[".onnx"]  # same noise draws, same actions, same episode
