"""``sim2adapt train`` and ``sim2adapt adapt``: the agents' entry points on the command line.

Both drive the same generators as the GUI (:func:`agents.training.train.run_training`,
:func:`agents.core.adaptation.adapt`); this module only parses arguments, shows progress and prints.
torch loads only when one of them runs, not when the parser is built (``sim2adapt task`` stays quick);
values the parser does not restrict become typed values in :mod:`app.cli.setting_flags` and are
validated by the agents' own settings classes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.cli.policy import add_episode_length_arguments
from app.cli.setting_flags import check_whole_number, config_overrides, env_config_overrides, sampling_from_args
from app.cli.task_args import add_task_arguments, task_from_args
from sim.metrics import ENDINGS
from sim.params import TaskParams
from sim.tasks import load_family

if TYPE_CHECKING:
    from agents.core.adaptation import EpisodeEvent


class AlgorithmHelpFormatter(argparse.HelpFormatter):
    """Fills ``{algorithms}`` in a help text with the registry's names, only when help is printed.

    The names come from :data:`agents.algorithms.ALGORITHMS`, so a new algorithm appears in ``--help``
    with no edit here; importing the registry loads torch (~2 s), which ``sim2adapt task`` should not pay.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = super()._get_help_string(action)
        if text is None or "{algorithms}" not in text:
            return text
        from agents.algorithms import ALGORITHMS

        return text.replace("{algorithms}", ", ".join(ALGORITHMS))


def add_train_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """``train``: meta-train on a family, or resume a run."""
    train: argparse.ArgumentParser = commands.add_parser(
        "train", help="meta-train an agent on a task family (or --resume a run)", formatter_class=AlgorithmHelpFormatter
    )
    train.add_argument("--algo", help="one of {algorithms} (default: maml)")
    train.add_argument("--family", help="a bundled family name (see assets/families) or a family JSON file")
    train.add_argument("--run-dir", type=Path, help="where the run is written (default: runs/FAMILY-ALGO-seedN)")
    train.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue the run in RUN_DIR")
    train.add_argument("--preset", choices=["paper", "quick"], default="paper", help="algorithm defaults to start from")
    train.add_argument(
        "--config", action="append", default=[], metavar="KEY=VALUE", help="override one of the algorithm's settings"
    )
    train.add_argument(
        "--env-config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one of the envs' simulation and reward settings (sim.envs.locomotion.EnvConfig), "
        "e.g. tracking_reward=exp or observe_goal=true; stored with the run and used wherever it is evaluated",
    )
    train.add_argument(
        "--iterations", type=int, help="iterations in all (default: 100); with --resume, raises the run's target"
    )
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    train.add_argument("--workers", type=int, default=2, help="sampler workers (processes, or Ray actors)")
    train.add_argument(
        "--backend",
        choices=["process", "ray"],
        help="where sampler workers run: this machine's processes (default) or Ray actors, one CPU each "
        "(pip install sim2adapt[cluster]; the default with --ray-address); not stored with the run",
    )
    train.add_argument(
        "--ray-address", metavar="ADDR", help="with --backend ray: a running cluster to join (auto or HOST:PORT)"
    )
    train.add_argument("--env", default="locomotion", help="locomotion (PyBullet) or point_mass (toy, for smoke runs)")
    return train


def add_adapt_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """``adapt``: adapt a trained agent to one task and print the returns per episode."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "adapt",
        help="adapt a trained agent to a task; prints returns per episode",
        formatter_class=AlgorithmHelpFormatter,
    )
    parser.add_argument(
        "checkpoint",
        help="a checkpoint file, a run directory, a family name (its bundled agent; --algo picks which), "
        "or 'scratch' (PPO from scratch, with --family)",
    )
    parser.add_argument(
        "--algo", help="with a family name: the bundled agent's algorithm, one of {algorithms} (default: maml)"
    )
    parser.add_argument("--family", help="with 'scratch': the family whose robot and held-out tasks to use")
    parser.add_argument("--env", default="locomotion", help="with 'scratch': locomotion or point_mass")
    parser.add_argument("--test-task", type=int, metavar="I", help="use the family's held-out task I")
    parser.add_argument("--shots", type=int, default=3, help="episodes on the task")
    add_episode_length_arguments(parser)
    parser.add_argument(
        "--updates",
        type=int,
        help="adaptation updates, one after each early episode (default: one fewer than --shots)",
    )
    parser.add_argument(
        "--change",
        action="append",
        default=[],
        metavar="STEP:FIELD=VALUE",
        help="change a run-time task field at that step of every episode, e.g. 300:robot.payload_kg=10 (repeatable)",
    )
    parser.add_argument(
        "--posterior",
        default="episode",
        help="PEARL only: update the task posterior between episodes ('episode', default) "
        "or after every step within the episode too ('step')",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--export", type=Path, metavar="DIR", help="export the adapted policy (.pt2, .onnx, .json)")
    add_task_arguments(parser)
    return parser


def add_bench_train_parser(benchmarks: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """``bench train``: where one meta-iteration's time goes, per device."""
    parser: argparse.ArgumentParser = benchmarks.add_parser(
        "train",
        help="time of training iterations split into sampling and update phases, per device",
        formatter_class=AlgorithmHelpFormatter,
    )
    parser.add_argument("--algo", default="maml", help="one of {algorithms} (default: maml)")
    parser.add_argument("--family", default="cheetah-velocity")
    parser.add_argument("--preset", choices=["paper", "quick"], default="paper")
    parser.add_argument("--iterations", type=int, default=2, help="iterations timed per device (default: 2)")
    parser.add_argument("--workers", type=int, default=2)
    return parser


def _stored_settings(run: Any) -> Any:
    """The run's ``run.json`` as TrainSettings; a damaged or hand-edited file is one line naming it."""
    from agents.training.settings import TrainSettings

    try:
        return TrainSettings.from_dict(run.settings)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{run.path / 'run.json'} cannot be used: {err}") from err


def run_train(args: argparse.Namespace) -> int:
    """Create or resume a run and train it with a progress bar.

    Every flag is checked before the run directory is written, so a run that cannot train leaves
    nothing behind; a run killed before its first checkpoint resumes from its stored settings.
    """
    from tqdm import tqdm

    from agents.algorithms import get_algorithm
    from agents.core.device import resolve_device
    from agents.storage.runs import RunDir
    from agents.training.settings import MAX_SEED, TrainSettings
    from agents.training.train import check_run, run_training, start_run

    check_whole_number("--seed", args.seed, low=0, high=MAX_SEED)
    check_whole_number("--iterations", args.iterations, low=1)
    check_whole_number("--workers", args.workers, low=1)
    if args.resume is not None:
        run, resume = RunDir.open(args.resume, require_checkpoint=False), True
        stored = _stored_settings(run)
        if args.algo is not None and args.algo != stored.algorithm:
            raise ValueError(
                f"--algo {args.algo} is not allowed with --resume {args.resume}: it holds a {stored.algorithm} run"
            )
        if args.env_config:
            raise ValueError(f"--env-config is not allowed with --resume {args.resume}: a run keeps its env settings")
        device = resolve_device(stored.device)  # the device the run names, resolved once, here
        check_run(stored, run.family, device=device)  # its robot, before anything is written
        if args.iterations is not None:
            run.extend(args.iterations)
    else:
        if not args.family:
            raise ValueError("--family is required (a bundled family name or a JSON file), or use --resume RUN_DIR")
        device = resolve_device(args.device)  # once, here: names --device before the family and the algorithm load
        family = load_family(args.family)
        settings = TrainSettings(
            algorithm=args.algo or "maml",
            seed=args.seed,
            iterations=100 if args.iterations is None else args.iterations,
            device=args.device,
            num_workers=args.workers,
            env=args.env,
            config=config_overrides(get_algorithm(args.algo or "maml"), args.preset, args.config),
            env_config=env_config_overrides(args.env_config),
        )
        path = args.run_dir or Path("runs") / f"{family.name}-{settings.algorithm}-seed{args.seed}"
        run, resume = start_run(path, settings=settings, family=family, device=device), False
    total = int(run.settings["iterations"])
    done = len(run.metrics()) if resume and run.has_checkpoint else 0
    print(f"run: {run.path}", file=sys.stderr)
    with tqdm(total=total, initial=done, unit="it", file=sys.stderr, dynamic_ncols=True) as bar:
        sampling = sampling_from_args(args)
        for stats in run_training(
            run, device=device, resume=resume, notes=lambda note: bar.write(f"note: {note}"), sampling=sampling
        ):
            post = {} if stats.post_return is None else {"post": f"{stats.post_return:.1f}"}
            bar.set_postfix(pre=f"{stats.pre_return:.1f}", **post, steps=stats.env_steps)
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


def _physical(event: EpisodeEvent) -> str:
    """Tracking error, fall and distance columns of ``adapt``'s table ('-' where the env measures none)."""
    m = event.metrics
    if m is None:
        return f"{'-':>9}  {'-':>4}  {'-':>6}"
    return f"{m.tracking_error_mps:>9.3f}  {'yes' if m.fell else 'no':>4}  {m.distance_m:>6.2f}"


def adapt_budget(args: argparse.Namespace) -> int:
    """Check ``--shots``, ``--updates`` and ``--seed`` as typed; returns the updates (default: shots - 1).

    An update needs an episode after it, so ``--updates`` defaults to one fewer than ``--shots``
    (``--shots 2`` failed while it defaulted to 2 whatever the shots).
    """
    from agents.training.settings import MAX_SEED

    check_whole_number("--shots", args.shots, low=1)
    check_whole_number("--seed", args.seed, low=0, high=MAX_SEED)
    if args.updates is None:
        return int(args.shots) - 1
    if not 0 <= args.updates < args.shots:
        raise ValueError(
            f"--updates {args.updates} is not allowed with --shots {args.shots}: from 0 to {args.shots - 1} "
            "(each update needs an episode after it)"
        )
    return int(args.updates)


def run_adapt(args: argparse.Namespace) -> int:
    """Adapt the checkpoint's agent to the task and print one line per episode."""
    import torch

    from agents.core.adaptation import AdaptConfig, AdaptResult, EpisodeEvent, TaskChangeEvent, UpdateEvent, adapt
    from agents.core.device import resolve_device
    from agents.storage.bundle import resolve_agent
    from agents.storage.export_adapted import export_adapted
    from agents.training.agent_options import agent_factory
    from agents.training.train import load_trained, scratch_agent_source
    from app.cli.policy import episode_length_steps, print_export
    from sim.envs.locomotion import EnvConfig
    from sim.task_changes import parse_change

    updates = adapt_budget(args)
    if str(args.checkpoint) == "scratch":
        if not args.family:
            raise ValueError("--family is required with 'scratch' (the robot and held-out tasks to use)")
        trained = scratch_agent_source(load_family(args.family), env=args.env, seed=args.seed)
    else:
        checkpoint = resolve_agent(args.checkpoint, algorithm=args.algo)
        trained = load_trained(checkpoint, device=resolve_device(args.device))
    new_agent = agent_factory(trained, posterior_updates=args.posterior)
    torch.set_num_threads(1)  # a command that acts on single observations (agents/core/threads.py says why)
    task = _adapt_task(args, trained.family.test_tasks())
    trained.check_task(task)
    steps = episode_length_steps(args, EnvConfig().control_dt)
    changes = tuple(parse_change(text) for text in args.change)
    config = AdaptConfig(shots=args.shots, max_steps=steps, updates=updates, seed=args.seed, changes=changes)
    print(f"{'episode':>7}  {'phase':<16}  {'return':>9}  {'steps':>5}  {'error m/s':>9}  {'fell':>4}  {'dist m':>6}")
    for event in adapt(new_agent, trained.make_env, task, config):
        if isinstance(event, EpisodeEvent):
            cells = f"{event.episode:>7}  {event.phase:<16}  {event.episode_return:>9.2f}  {event.length:>5}"
            ending = ENDINGS.get(event.metrics.ending, "") if event.metrics is not None else ""
            print(f"{cells}  {_physical(event)}" + (f"  {ending}" if ending else ""))
        elif isinstance(event, UpdateEvent):
            print(f"{'':>7}  update {event.update}: loss {event.loss:.3f}, KL {event.kl:.4f}", file=sys.stderr)
        elif isinstance(event, TaskChangeEvent):
            print(f"{'':>7}  step {event.step}: {event.label}", file=sys.stderr)
        elif isinstance(event, AdaptResult):
            gain = event.episode_returns[-1] - event.episode_returns[0]
            print(f"last minus first episode return: {gain:+.2f}")
            if args.export is not None:
                exported = export_adapted(
                    event, args.export, algorithm=trained.algorithm, checkpoint=str(args.checkpoint)
                )
                print_export(exported)
    return 0


def run_bench_train(args: argparse.Namespace) -> int:
    """Train a throw-away run per device and print where each iteration's time goes."""
    import tempfile

    import torch

    from agents.algorithms import get_algorithm
    from agents.core.device import resolve_device
    from agents.training.settings import TrainSettings
    from agents.training.train import run_training, start_run

    family = load_family(args.family)
    config = get_algorithm(args.algo).config(preset=args.preset)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    header_printed = False
    for device in devices:
        settings = TrainSettings(
            algorithm=args.algo, iterations=args.iterations, device=device, num_workers=args.workers, config=config
        )
        torch_device = resolve_device(device)
        with tempfile.TemporaryDirectory() as tmp:
            run = start_run(tmp, settings=settings, family=family, device=torch_device)
            for stats in run_training(run, device=torch_device):
                phases = list(stats.seconds)
                if not header_printed:
                    rate = ["updates/s"] if "gradient_updates" in stats.extra else []
                    header = ["device", "iter", "env steps", *(f"{p} s" for p in phases), "steps/s", *rate]
                    print("  ".join(f"{h:>10}" for h in header))
                    header_printed = True
                cells = [device, str(stats.iteration), str(stats.env_steps)]
                cells += [f"{stats.seconds[p]:.2f}" for p in phases]
                cells.append(f"{stats.env_steps / stats.total_seconds:.0f}")
                if "gradient_updates" in stats.extra:
                    update_s = stats.total_seconds - stats.seconds.get("sampling", 0.0)
                    cells.append(f"{stats.extra['gradient_updates'] / max(update_s, 1e-9):.0f}")
                print("  ".join(f"{c:>10}" for c in cells))
    if devices == ["cpu"]:
        print("no CUDA device here: CPU only")
    return 0


def add_bundle_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """``bundle``: pack a trained run as a bundled agent with its held-out scores."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "bundle", help="pack a run as assets/agents/FAMILY-ALGO.pt with a sidecar of how it was made and scores"
    )
    parser.add_argument("run", type=Path, help="a run directory")
    parser.add_argument("--out", type=Path, help="checkpoint file to write (default: assets/agents/FAMILY-ALGO.pt)")
    parser.add_argument("--steps", type=int, help="steps per held-out episode (default: the training horizon)")
    return parser


def run_bundle(args: argparse.Namespace) -> int:
    """Evaluate the run on its held-out tasks and write the bundled checkpoint and sidecar."""
    from agents.storage.bundle import bundle_run, bundled_agent_path
    from agents.storage.runs import RunDir

    run = RunDir.open(args.run)
    out = args.out or bundled_agent_path(run.family.name, str(run.settings["algorithm"]))
    sidecar = bundle_run(args.run, out, max_steps=args.steps)
    held_out = sidecar["held_out"]
    print(f"bundled {out} ({out.stat().st_size / 1e6:.2f} MB), sidecar {out.with_suffix('.json')}")
    print(
        "held-out return per episode: "
        + ", ".join(f"{m:.1f} ± {c:.1f}" for m, c in zip(held_out["mean"], held_out["ci95"], strict=True))
    )
    return 0
