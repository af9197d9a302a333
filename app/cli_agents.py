"""``sim2adapt train`` and ``sim2adapt adapt``: the agents' entry points on the command line.

Both drive the same generators as the GUI (:func:`agents.train.run_training`,
:func:`agents.adaptation.adapt`); this module only parses arguments, shows progress and prints.
torch loads only when one of them runs, not when the parser is built (``sim2adapt task`` stays quick);
values the parser does not restrict are validated by the agents' own settings classes.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.task_args import add_task_arguments, task_from_args
from sim.params import TaskParams
from sim.tasks import load_family

if TYPE_CHECKING:
    from agents.maml_learner import MAMLConfig


def add_train_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """``train``: meta-train on a family, or resume a run."""
    train: argparse.ArgumentParser = commands.add_parser(
        "train", help="meta-train an agent on a task family (or --resume a run)"
    )
    train.add_argument("--algo", default="maml", help="meta-learning algorithm: maml")
    train.add_argument("--family", help="a bundled family name (see assets/families) or a family JSON file")
    train.add_argument("--run-dir", type=Path, help="where the run is written (default: runs/FAMILY-ALGO-seedN)")
    train.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue the run in RUN_DIR")
    train.add_argument("--preset", choices=["paper", "quick"], default="paper", help="algorithm defaults to start from")
    train.add_argument("--config", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    train.add_argument("--iterations", type=int, default=100)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    train.add_argument("--workers", type=int, default=2, help="sampler processes")
    train.add_argument("--env", default="locomotion", help="locomotion (PyBullet) or point_mass (toy, for smoke runs)")
    return train


def add_adapt_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """``adapt``: adapt a trained agent to one task and print the returns per episode."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "adapt", help="adapt a trained agent to a task; prints returns per episode"
    )
    parser.add_argument("checkpoint", type=Path, help="a checkpoint file or a run directory")
    parser.add_argument("--test-task", type=int, metavar="I", help="use the family's held-out task I")
    parser.add_argument("--shots", type=int, default=3, help="episodes on the task")
    parser.add_argument("--steps", type=int, default=200, help="steps per episode at most")
    parser.add_argument("--updates", type=int, default=2, help="adaptation updates (one after each early episode)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--export", type=Path, metavar="DIR", help="export the adapted policy (.pt, .onnx, .json)")
    add_task_arguments(parser)
    return parser


def add_bench_train_parser(benchmarks: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """``bench train``: where one meta-iteration's time goes, per device."""
    parser: argparse.ArgumentParser = benchmarks.add_parser(
        "train", help="time of MAML iterations split into sampling, inner loop and outer step, per device"
    )
    parser.add_argument("--family", default="cheetah-velocity")
    parser.add_argument("--preset", choices=["paper", "quick"], default="paper")
    parser.add_argument("--iterations", type=int, default=2, help="iterations timed per device (default: 2)")
    parser.add_argument("--workers", type=int, default=2)
    return parser


def add_play_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """``play``: run an exported policy in the sim, with nothing but the exported file."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "play", help="run an exported policy (.pt or .onnx) on a task; prints the return per episode"
    )
    parser.add_argument("policy", type=Path, help="an exported .pt or .onnx file (its .json sidecar beside it)")
    parser.add_argument("--episodes", type=int, default=1)
    parser.add_argument("--steps", type=int, default=1000, help="steps per episode at most")
    parser.add_argument("--seed", type=int, default=0)
    add_task_arguments(parser)
    return parser


def _config_overrides(preset: MAMLConfig, assignments: list[str]) -> dict[str, Any]:
    from agents.maml_learner import MAMLConfig

    config = preset.to_dict()
    types = {f.name: f.type for f in dataclasses.fields(MAMLConfig)}
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        if not sep or key not in types:
            raise ValueError(f"--config {assignment!r} is not allowed: KEY=VALUE with KEY one of {', '.join(types)}")
        kind = str(types[key])
        try:
            if kind == "bool":
                if raw.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(raw)
                config[key] = raw.lower() in ("true", "1")
            elif kind.startswith("tuple"):
                config[key] = tuple(int(v) for v in raw.split(","))
            else:
                config[key] = {"int": int, "float": float}[kind](raw)
        except ValueError as err:
            raise ValueError(f"--config {key} = {raw!r} is not allowed: expected {kind}") from err
    return config


def run_train(args: argparse.Namespace) -> int:
    """Create or resume a run and train it with a progress bar."""
    from tqdm import tqdm

    from agents.maml_learner import MAMLConfig
    from agents.runs import RunDir
    from agents.train import TrainSettings, run_training, start_run

    if args.resume is not None:
        run, resume = RunDir.open(args.resume), True
    else:
        if not args.family:
            raise ValueError("--family is required (a bundled family name or a JSON file), or use --resume RUN_DIR")
        family = load_family(args.family)
        settings = TrainSettings(
            algorithm=args.algo,
            seed=args.seed,
            iterations=args.iterations,
            device=args.device,
            num_workers=args.workers,
            env=args.env,
            config=_config_overrides(MAMLConfig.quick() if args.preset == "quick" else MAMLConfig(), args.config),
        )
        path = args.run_dir or Path("runs") / f"{family.name}-{args.algo}-seed{args.seed}"
        run, resume = start_run(path, settings=settings, family=family), False
    total = int(run.settings["iterations"])
    done = len(run.metrics()) if resume else 0
    print(f"run: {run.path}", file=sys.stderr)
    with tqdm(total=total, initial=done, unit="it", file=sys.stderr, dynamic_ncols=True) as bar:
        for stats in run_training(run, device=args.device if args.resume is None else None, resume=resume):
            bar.set_postfix(pre=f"{stats.pre_return:.1f}", post=f"{stats.post_return:.1f}", steps=stats.env_steps)
            bar.update(1)
    print(f"done: {run.path} (metrics.jsonl, checkpoint.pt)")
    return 0


def _adapt_task(args: argparse.Namespace, trained_family_tasks: list[TaskParams]) -> TaskParams:
    if args.test_task is None:
        return task_from_args(args)
    index = int(args.test_task)
    if not 0 <= index < len(trained_family_tasks):
        raise ValueError(f"--test-task = {index} is not allowed: 0 to {len(trained_family_tasks) - 1} for this family")
    return trained_family_tasks[index]


def run_adapt(args: argparse.Namespace) -> int:
    """Adapt the checkpoint's agent to the task and print one line per episode."""
    from agents.adaptation import AdaptConfig, AdaptResult, EpisodeEvent, UpdateEvent, adapt
    from agents.device import resolve_device
    from agents.train import load_trained

    trained = load_trained(args.checkpoint, device=resolve_device(args.device))
    task = _adapt_task(args, trained.family.test_tasks())
    if trained.settings.env == "locomotion" and task.robot.name != trained.family.base.robot.name:
        raise ValueError(
            f"robot.name = {task.robot.name!r} is not allowed: this agent was trained on "
            f"{trained.family.base.robot.name!r}"
        )
    config = AdaptConfig(shots=args.shots, max_steps=args.steps, updates=args.updates, seed=args.seed)
    print(f"{'episode':>7}  {'phase':<16}  {'return':>9}  {'steps':>5}")
    for event in adapt(trained.new_agent, trained.make_env, task, config):
        if isinstance(event, EpisodeEvent):
            print(f"{event.episode:>7}  {event.phase:<16}  {event.episode_return:>9.2f}  {event.length:>5}")
        elif isinstance(event, UpdateEvent):
            print(f"{'':>7}  update {event.update}: loss {event.loss:.3f}, KL {event.kl:.4f}", file=sys.stderr)
        elif isinstance(event, AdaptResult):
            gain = event.episode_returns[-1] - event.episode_returns[0]
            print(f"last minus first episode return: {gain:+.2f}")
            if args.export is not None:
                _export(event, args.export, trained.settings.algorithm, str(args.checkpoint))
    return 0


def _export(result: Any, out_dir: Path, algorithm: str, source: str) -> None:
    from agents.export import export_policy

    out_dir.mkdir(parents=True, exist_ok=True)
    sidecar = {
        "algorithm": algorithm,
        "checkpoint": source,
        "task": result.task.to_dict(),
        "adaptation": {"episode_returns": list(result.episode_returns), "updates": result.updates},
    }
    exported = export_policy(result.policy, out_dir=out_dir, sidecar=sidecar)
    print(
        f"exported {exported.torchscript_path} and {exported.onnx_path} (max action difference "
        f"{max(exported.torchscript_max_abs_diff, exported.onnx_max_abs_diff):.1e}), sidecar {exported.sidecar_path}"
    )


def run_bench_train(args: argparse.Namespace) -> int:
    """Train a throw-away run per device and print the timing split of each iteration."""
    import tempfile

    import torch

    from agents.maml_learner import MAMLConfig
    from agents.train import TrainSettings, run_training, start_run

    family = load_family(args.family)
    config = (MAMLConfig.quick() if args.preset == "quick" else MAMLConfig()).to_dict()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    header = ("device", "iter", "env steps", "sampling s", "inner s", "outer s", "steps/s")
    widths = (6, 4, 9, 10, 7, 7, 7)
    print("  ".join(f"{h:>{w}}" for h, w in zip(header, widths, strict=True)))
    for device in devices:
        settings = TrainSettings(iterations=args.iterations, device=device, num_workers=args.workers, config=config)
        with tempfile.TemporaryDirectory() as tmp:
            for stats in run_training(start_run(tmp, settings=settings, family=family)):
                total = stats.sampling_s + stats.inner_s + stats.outer_s
                print(
                    f"{device:>6}  {stats.iteration:>4}  {stats.env_steps:>9}  {stats.sampling_s:>10.2f}  "
                    f"{stats.inner_s:>7.2f}  {stats.outer_s:>7.2f}  {stats.env_steps / total:>7.0f}"
                )
    if devices == ["cpu"]:
        print("no CUDA device here: CPU only")
    return 0


def run_play(args: argparse.Namespace) -> int:
    """Run the exported policy on the task (the sidecar's, unless task flags are given)."""
    import json

    from agents.export import load_exported
    from sim.envs.locomotion import LocomotionEnv

    act = load_exported(args.policy)
    sidecar_path = args.policy.with_suffix(".json")
    sidecar = json.loads(sidecar_path.read_text()) if sidecar_path.is_file() else {}
    task = task_from_args(args)
    if task == TaskParams() and "task" in sidecar:  # no task given: replay the one it was adapted on
        task = TaskParams.from_dict(sidecar["task"])
    env = LocomotionEnv(task)
    try:
        obs_dim = env.observation_space.shape[0] if env.observation_space.shape else 0
        if sidecar.get("obs_dim", obs_dim) != obs_dim:
            raise ValueError(
                f"{args.policy} expects {sidecar['obs_dim']} observation values; "
                f"robot.name = {task.robot.name!r} gives {obs_dim}: play it on the robot it was adapted for"
            )
        for episode in range(args.episodes):
            obs, _ = env.reset(seed=args.seed + episode)
            total, steps = 0.0, 0
            for steps in range(1, args.steps + 1):  # noqa: B007  (steps is reported after the loop)
                obs, reward, terminated, truncated, _ = env.step(act(obs))
                total += float(reward)
                if terminated or truncated:
                    break
            print(f"episode {episode}: return {total:.2f} over {steps} steps")
    finally:
        env.close()
    return 0
