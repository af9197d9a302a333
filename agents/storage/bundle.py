"""Bundled agents: a trained run packed as one small checkpoint with a sidecar anyone can check.

``assets/agents/FAMILY-ALGO.pt`` is a normal checkpoint (it loads, adapts and exports like any
other) and ``FAMILY-ALGO.json`` says how it was made and how well it adapts: the command that
retrains it, seed, code version, wall-clock, env steps, machine, and its held-out scores per shot
(from :func:`agents.core.evaluation.evaluate_adaptation`, the benchmark's own measure): the return and,
in physical units, the velocity-tracking error, the share of falls and the distance, over 10 s of
simulated time. PEARL's replay buffers are left out of the bundle (they are only needed to resume
training, and are large).
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.algorithms import get_algorithm
from agents.core.adaptation import AdaptConfig, AdaptResult, adapt
from agents.core.evaluation import AdaptationScores, eval_episode_steps, evaluate_adaptation
from agents.core.threads import one_torch_thread
from agents.storage.atomic import atomic_write
from agents.storage.checkpoint import save_checkpoint
from agents.storage.runs import RunDir, code_version
from agents.training.settings import TrainSettings
from agents.training.train import load_trained
from sim.envs.locomotion import EnvConfig
from sim.tasks import AGENTS_DIR, family_names

EVAL_SEEDS = (0, 1, 2)
EVAL_SHOTS = 4
HELD_OUT_NOTE = (
    "per shot k (0: before adaptation), mean over held-out tasks x seeds and its Student-t 95 % half-width: "
    "mean/ci95 the return; tracking_error_mps mean |v - v*| of the torso along the target heading after the "
    "first second; fall_share the episodes that ended in a fall; distance_m the torso's displacement along the "
    "target heading; null where the env measures no torso"
)
CHECK_TOLERANCE = 1.0
"""largest return difference, per episode, at which a replayed reference adaptation still matches its sidecar
(the replay is deterministic; this absorbs float differences between machines and library versions)"""


def bundled_agent_path(family: str, algorithm: str = "maml", folder: Path = AGENTS_DIR) -> Path:
    """Where the bundled agent of ``family`` trained by ``algorithm`` lives."""
    return folder / f"{family}-{algorithm}.pt"


def resolve_agent(name_or_path: str, *, algorithm: str | None = None, folder: Path = AGENTS_DIR) -> Path:
    """A checkpoint path from a path, a run directory, or a bundled family name (``--algo`` picks among them).

    Raises:
        ValueError: a family name without that bundled agent, or neither a file nor a family.
    """
    path = Path(name_or_path)
    if path.exists():
        return path
    if name_or_path in family_names():
        bundled = bundled_agent_path(name_or_path, algorithm or "maml", folder)
        if bundled.is_file():
            return bundled
        present = sorted(p.stem for p in folder.glob(f"{name_or_path}-*.pt"))
        raise ValueError(
            f"agent {name_or_path!r} with algorithm {algorithm or 'maml'!r} is not bundled: "
            f"bundled for this family: {', '.join(present) or 'none'}"
        )
    raise ValueError(f"agent {name_or_path!r} is not allowed: a checkpoint file, a run directory or a bundled family")


def retrain_command(settings: TrainSettings, family: str) -> str:
    """The ``sim2adapt train`` line that repeats this run (settings that differ from the defaults as flags)."""
    words = ["sim2adapt", "train", "--algo", settings.algorithm, "--family", family]
    words += ["--iterations", str(settings.iterations), "--seed", str(settings.seed)]
    words += ["--workers", str(settings.num_workers), "--env", settings.env]
    paper = get_algorithm(settings.algorithm).config().to_dict()
    words += _changed("--config", settings.config.to_dict(), paper)
    words += _changed("--env-config", dataclasses.asdict(settings.env_config), dataclasses.asdict(EnvConfig()))
    return " ".join(words)


def _changed(flag: str, values: dict[str, Any], defaults: dict[str, Any]) -> list[str]:
    """``flag KEY=VALUE`` words for each value that differs from its default."""
    words = []
    for key, value in values.items():
        if json.dumps(value) != json.dumps(defaults[key]):  # JSON-equal: a tuple default equals a stored list
            text = ",".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)
            words += [flag, f"{key}={text}"]
    return words


PAUSE_FACTOR = 10.0
"""an iteration this many times slower than the median one was paused (SIGSTOP, a suspended laptop), not working"""


def iteration_seconds(metrics: list[dict[str, Any]]) -> list[float]:
    """Each iteration's own wall-clock, from its timed phases (``*_s`` entries of ``metrics.jsonl``)."""
    return [float(sum(v for k, v in row.items() if k.endswith("_s"))) for row in metrics]


def working_seconds(seconds: list[float]) -> list[float]:
    """``seconds`` without the iterations that were paused: slower than :data:`PAUSE_FACTOR` x the median."""
    if not seconds:
        return []
    limit = PAUSE_FACTOR * float(np.median(seconds))
    return [s for s in seconds if s <= limit]


def _without_replay(state: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint minus training-only buffers (PEARL's replay and context), which resuming can refill."""
    learner = dict(state["learner"])
    for buffer in ("replay", "context"):
        if buffer in learner:
            learner[buffer] = None
    return {**state, "learner": learner}


def held_out_scores(checkpoint: Path, *, max_steps: int, seeds: tuple[int, ...] = EVAL_SEEDS) -> AdaptationScores:
    """Adaptation returns per shot of a checkpoint on its family's held-out tasks (CPU)."""
    trained = load_trained(checkpoint, device=torch.device("cpu"))
    return evaluate_adaptation(
        trained.new_agent,
        trained.make_env,
        trained.family.test_tasks(),
        label=trained.algorithm,
        shots=EVAL_SHOTS,
        max_steps=max_steps,
        seeds=seeds,
    )


def held_out_record(checkpoint: Path, *, max_steps: int | None = None) -> dict[str, Any]:
    """A sidecar's ``held_out`` entry: :func:`held_out_scores` with how they were measured.

    Episodes last ``max_steps`` (default: 10 s of simulated time, :func:`~agents.core.evaluation.eval_episode_steps`).
    """
    max_steps = eval_episode_steps() if max_steps is None else max_steps
    trained = load_trained(checkpoint, device=torch.device("cpu"))
    scores = held_out_scores(checkpoint, max_steps=max_steps)
    record = {
        **scores.to_dict(),
        "shots": EVAL_SHOTS,
        "seeds": list(EVAL_SEEDS),
        "max_steps": max_steps,
        "tasks": len(trained.family.test_tasks()),
        "note": HELD_OUT_NOTE,
    }
    if trained.settings.env == "locomotion":  # the toy point mass has a control period of its own
        record["seconds"] = round(max_steps * trained.settings.env_config.control_dt, 6)
    return record


def refresh_held_out(checkpoint: Path, *, max_steps: int | None = None) -> dict[str, Any]:
    """Measure a bundled agent's held-out record again and write it into its sidecar; returns the sidecar.

    For sidecars written before the physical metrics (or at another episode length): the checkpoint
    is read, never rewritten, and every other entry of the sidecar (the replay ``check`` included)
    stays as it was.
    """
    sidecar_path = checkpoint.with_suffix(".json")
    sidecar = json.loads(sidecar_path.read_text())
    sidecar["held_out"] = held_out_record(checkpoint, max_steps=max_steps)
    text = json.dumps(sidecar, indent=2).encode()
    atomic_write(sidecar_path, lambda f: f.write(text))
    return dict(sidecar)


def check_returns(checkpoint: Path, check: dict[str, Any]) -> tuple[float, ...]:
    """The episode returns of the sidecar's reference adaptation (held-out task, seed, shots), replayed now."""
    trained = load_trained(checkpoint, device=torch.device("cpu"))
    task = trained.family.test_tasks()[int(check["task_index"])]
    shots = int(check["shots"])
    config = AdaptConfig(shots=shots, updates=shots - 1, max_steps=int(check["max_steps"]), seed=int(check["seed"]))
    with one_torch_thread():
        result = next(e for e in adapt(trained.new_agent, trained.make_env, task, config) if isinstance(e, AdaptResult))
    return result.episode_returns


def bundle_run(run_path: Path, out_path: Path, *, max_steps: int | None = None) -> dict[str, Any]:
    """Pack ``run_path``'s checkpoint as ``out_path`` (+ ``.json`` sidecar); returns the sidecar.

    Held-out episodes, and the replayed reference adaptation, last ``max_steps`` (default: 10 s of
    simulated time, what a person watches, whatever the training horizon). Both files are written
    atomically, the sidecar last, so a sidecar always describes its checkpoint.
    """
    run = RunDir.open(run_path)
    settings = TrainSettings.from_dict(run.settings)
    max_steps = eval_episode_steps() if max_steps is None else max_steps
    state = _without_replay(run.load_checkpoint())
    out_path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out_path, state)
    held_out = held_out_record(out_path, max_steps=max_steps)
    metrics = run.metrics()
    check: dict[str, Any] = {"task_index": 0, "seed": 0, "shots": 2, "max_steps": max_steps}
    check["episode_returns"] = list(check_returns(out_path, check))
    check["tolerance"] = CHECK_TOLERANCE
    sidecar = {
        "algorithm": settings.algorithm,
        "family": run.family.name,
        "command": retrain_command(settings, run.family.name),
        "seed": settings.seed,
        "iterations": len(metrics),
        "code_version": ", ".join(run.code_versions()) or code_version(),
        "wall_clock_s": round(sum(iteration_seconds(metrics)), 1),
        "wall_clock_without_pauses_s": round(sum(working_seconds(iteration_seconds(metrics))), 1),
        "pieces": run.pieces(),
        "env_steps": sum(int(row["env_steps"]) for row in metrics),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "device": settings.device},
        "held_out": held_out,
        "check": check,
    }
    text = json.dumps(sidecar, indent=2).encode()
    atomic_write(out_path.with_suffix(".json"), lambda f: f.write(text))
    return sidecar
