"""``sim2adapt export`` and ``sim2adapt play``: policies leaving the app, and exported ones coming back.

``export`` writes a trained agent's policy (before any adaptation) to a ``torch.export`` program
(``.pt2``), ONNX and a sidecar; ``adapt --export`` does the same after adaptation, through :func:`export_adapted`.
``play`` needs nothing but an exported file and the sim, so it proves the export stands alone; it
runs ``.pt2``, ``.onnx`` and the TorchScript ``.pt`` files of earlier exports.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from app.cli.task_args import add_task_arguments, task_from_args
from sim.metrics import ENDINGS, EVAL_SECONDS, EpisodeMeter, episode_steps
from sim.params import TaskParams

if TYPE_CHECKING:
    from agents.storage.export import ExportResult

VIDEO_FPS = 30


def add_export_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """``export``: a checkpoint's policy, as trained, to ``.pt2`` (torch.export) / ONNX with a sidecar."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "export", help="export a checkpoint's policy (before adaptation) to .pt2, .onnx and a .json sidecar"
    )
    parser.add_argument("checkpoint", type=Path, help="a checkpoint file or a run directory")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for the exported files")
    parser.add_argument("--name", default="policy", help="file stem of the three files (default: policy)")
    return parser


def add_episode_length_arguments(parser: argparse.ArgumentParser) -> None:
    """``--seconds`` (simulated time, default 10 s: what a person watches) or ``--steps`` (an exact count)."""
    length = parser.add_mutually_exclusive_group()
    length.add_argument(
        "--seconds",
        type=float,
        default=EVAL_SECONDS,
        help=f"simulated seconds per episode at most (default: {EVAL_SECONDS:g}, 600 steps at 60 Hz)",
    )
    length.add_argument("--steps", type=int, help="env steps per episode at most (instead of --seconds)")


def episode_length_steps(args: argparse.Namespace, control_dt: float) -> int:
    """Steps per episode from ``--steps``, else ``--seconds`` at the env's control period.

    Raises:
        ValueError: naming the flag, its value and what is allowed.
    """
    if args.steps is not None:
        if args.steps < 1:
            raise ValueError(f"--steps {args.steps} is not allowed: at least 1")
        return int(args.steps)
    if not (math.isfinite(args.seconds) and args.seconds > 0):
        raise ValueError(f"--seconds {args.seconds:g} is not allowed: a number of seconds > 0")
    return episode_steps(args.seconds, control_dt)


def add_play_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """``play``: run an exported policy in the sim, with nothing but the exported file."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "play",
        help="run an exported policy (.pt2, .onnx, or an older export's .pt) on a task; prints per episode the return, "
        "the velocity-tracking error (m/s), whether it fell and the distance (m)",
    )
    parser.add_argument(
        "policy", type=Path, help="an exported .pt2, .onnx or (TorchScript) .pt file (its .json sidecar beside it)"
    )
    parser.add_argument("--episodes", type=int, default=1)
    add_episode_length_arguments(parser)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--mean-action",
        action="store_true",
        help="feed zero action noise: the policy's mean action "
        "(default: sampled actions, as the agent acted in the app)",
    )
    parser.add_argument("--video", type=Path, metavar="FILE", help="also render the episodes to FILE (.mp4 or .gif)")
    add_task_arguments(parser)
    return parser


def print_export(exported: ExportResult) -> None:
    """One line naming the written files and how closely they matched the live policy."""
    worst = max(exported.torch_max_abs_diff, exported.onnx_max_abs_diff)
    print(
        f"exported {exported.torch_path} and {exported.onnx_path} "
        f"(max action difference {worst:.1e}), sidecar {exported.sidecar_path}"
    )


def run_export(args: argparse.Namespace) -> int:
    """Export the checkpoint's policy as trained (MAML: the initialisation; PEARL: the prior's latent)."""
    import torch

    from agents.storage.export import export_policy
    from agents.training.train import load_trained

    trained = load_trained(args.checkpoint, device=torch.device("cpu"))
    policy = trained.new_agent().adapted_policy()
    if policy is None:
        raise ValueError(f"{args.checkpoint} is not allowed: its {trained.algorithm} agent has no policy to export")
    sidecar = {
        "algorithm": trained.algorithm,
        "checkpoint": str(args.checkpoint),
        "training_iterations": trained.iteration,
        "task": trained.family.base.to_dict(),
        "family": trained.family.name,
        "adaptation": None,
        "env_config": dataclasses.asdict(trained.settings.env_config),
    }
    print_export(export_policy(policy, out_dir=args.out, name=args.name, sidecar=sidecar))
    return 0


class _VideoFile:
    """Frames to an .mp4 (ffmpeg from ``imageio-ffmpeg``) or .gif via imageio, written beside FILE and renamed
    into place only when complete, so an interrupted run never leaves a half-written video at FILE."""

    def __init__(self, path: Path) -> None:
        suffix = path.suffix.lower()
        if suffix not in (".mp4", ".gif"):
            raise ValueError(f"--video {path} is not allowed: the file must end in .mp4 or .gif")
        try:
            import imageio.v2 as imageio
        except ImportError as err:
            raise ValueError("--video needs imageio: pip install 'sim2adapt[video]'") from err
        self.path = path
        self._partial = path.with_name(f".{path.stem}.partial{suffix}")
        options = {"fps": VIDEO_FPS, "macro_block_size": 1} if suffix == ".mp4" else {"duration": 1000 / VIDEO_FPS}
        self._writer = imageio.get_writer(str(self._partial), **options)

    def add(self, frame: np.ndarray) -> None:
        """Append one RGB frame."""
        self._writer.append_data(frame)

    def finish(self, *, complete: bool) -> None:
        """Close; move the file into place if ``complete``, else delete it."""
        self._writer.close()
        if complete:
            os.replace(self._partial, self.path)
        else:
            self._partial.unlink(missing_ok=True)


def run_play(args: argparse.Namespace) -> int:
    """Run the exported policy on the task (the sidecar's, unless task flags are given)."""
    import torch

    from agents.storage.export import load_exported
    from agents.storage.exported_actor import ExportedActor
    from agents.storage.policy_files import LEGACY_NOTE, LEGACY_TORCHSCRIPT_SUFFIX
    from sim.envs.locomotion import EnvConfig, LocomotionEnv

    if args.episodes < 1:
        raise ValueError(f"--episodes {args.episodes} is not allowed: at least 1")
    torch.set_num_threads(1)  # one observation at a time (agents/core/threads.py says why)
    sidecar_path = args.policy.with_suffix(".json")
    sidecar = json.loads(sidecar_path.read_text()) if sidecar_path.is_file() else {}
    # The env the agent met (control rate, observed goal, reward); exports before env_config: the defaults.
    recorded = EnvConfig(**(sidecar.get("env_config") or {}))
    steps = episode_length_steps(args, recorded.control_dt)
    act = ExportedActor(load_exported(args.policy), sidecar, mean_action=args.mean_action)
    if args.policy.suffix == LEGACY_TORCHSCRIPT_SUFFIX:
        print(f"note: {args.policy} is {LEGACY_NOTE}")
    task = task_from_args(args)
    if task == TaskParams() and "task" in sidecar:  # no task given: replay the one it was adapted on
        task = TaskParams.from_dict(sidecar["task"])
    video = _VideoFile(args.video) if args.video else None
    # The env's own time limit is the episode length, so --seconds beyond its default limit are honoured.
    env_config = dataclasses.replace(recorded, max_episode_steps=steps)
    env = LocomotionEnv(task, config=env_config, render_mode="rgb_array" if video else None)
    complete = False
    try:
        obs_dim = env.observation_space.shape[0] if env.observation_space.shape else 0
        if sidecar.get("obs_dim", obs_dim) != obs_dim:
            raise ValueError(
                f"{args.policy} expects {sidecar['obs_dim']} observation values; "
                f"robot.name = {task.robot.name!r} gives {obs_dim}: play it on the robot it was adapted for"
            )
        every = max(1, round(1.0 / (VIDEO_FPS * env.config.control_dt)))  # frames at about real time
        for episode in range(args.episodes):
            obs, reset_info = env.reset(seed=args.seed + episode)
            rng = np.random.default_rng(args.seed + episode)
            act.start_episode()
            meter = EpisodeMeter.from_reset_info(reset_info)
            assert meter is not None  # the locomotion env describes every episode
            total, step = 0.0, 0
            info: dict[str, Any] = {}
            for step in range(1, steps + 1):
                obs, reward, terminated, truncated, info = env.step(act(obs, rng))
                act.observe(float(reward))  # a policy that remembers rewards keeps them in its history
                total += float(reward)
                meter.add(info)
                if video is not None and step % every == 0:
                    video.add(np.asarray(env.render(), dtype=np.uint8))
                if terminated or truncated:
                    break
            ending = ENDINGS.get(meter.result().ending, "")
            print(f"episode {episode}: {_episode_line(total, meter)}" + (f", {ending}" if ending else ""))
        complete = True
    finally:
        env.close()
        if video is not None:
            video.finish(complete=complete)
    if video is not None:
        print(f"video: {video.path}")
    return 0


def _episode_line(total: float, meter: EpisodeMeter) -> str:
    """Return, length and the three physical figures of one episode, as ``play`` prints them."""
    metrics = meter.result()
    seconds = metrics.steps * meter.control_dt
    return (
        f"return {total:.2f} over {metrics.steps} steps ({seconds:.1f} s), "
        f"tracking error {metrics.tracking_error_mps:.3f} m/s, fell {'yes' if metrics.fell else 'no'}, "
        f"distance {metrics.distance_m:.2f} m"
    )
