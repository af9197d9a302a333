"""The ``sim2adapt`` command line.

Subcommands:
    ``gui``        open the window on a task (the only one that loads Qt);
    ``task``       print the resolved task as JSON, which validates a task file and its overrides;
    ``bench sim``  print the simulation benchmark table of :mod:`sim.bench`.

A task the schema rejects is reported as one line, ``sim2adapt: error: <what and what is allowed>``,
with exit status 2 and no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from app.cli.task_args import TaskInputError, add_task_arguments, task_from_args
from sim.params import TaskParamError, TaskParams

PROG = "sim2adapt"
EXIT_USAGE = 2


class CliError(Exception):
    """A failure to report as one ``sim2adapt: error:`` line; carries the exit status."""

    def __init__(self, message: str, status: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.status = status


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand (task flags come from the schema)."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Meta-train, adapt and export locomotion policies over PyBullet tasks."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    gui = commands.add_parser("gui", help="open the window with a live preview of the task")
    add_task_arguments(gui)
    gui.set_defaults(handler=_run_gui)

    task = commands.add_parser("task", help="print the resolved task as JSON (validates a task file)")
    add_task_arguments(task)
    task.set_defaults(handler=_run_task)

    from app.cli.agents import add_adapt_parser, add_bench_train_parser, add_bundle_parser, add_train_parser
    from app.cli.bench_adapt import add_bench_adapt_parser
    from app.cli.bench_online import add_bench_online_parser
    from app.cli.policy import add_export_parser, add_play_parser

    add_train_parser(commands).set_defaults(handler=_run_agents_command, agents_command="train")
    add_adapt_parser(commands).set_defaults(handler=_run_agents_command, agents_command="adapt")
    add_export_parser(commands).set_defaults(handler=_run_agents_command, agents_command="export")
    add_bundle_parser(commands).set_defaults(handler=_run_agents_command, agents_command="bundle")
    add_play_parser(commands).set_defaults(handler=_run_agents_command, agents_command="play")

    bench = commands.add_parser("bench", help="measure throughput")
    benchmarks = bench.add_subparsers(dest="benchmark", required=True, metavar="WHAT")
    sim = benchmarks.add_parser("sim", help="env steps per second per robot and terrain: raw, env, sampler")
    sim.add_argument("--robots", nargs="+", default=None, metavar="ROBOT", help="default: every built-in robot")
    sim.add_argument("--terrains", nargs="+", default=["flat", "rough"], metavar="KIND")
    sim.add_argument("--seconds", type=float, default=3.0, help="measuring time per cell (default: 3)")
    sim.add_argument("--num-envs", type=int, default=8, help="envs spread over the sampler's workers (default: 8)")
    sim.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4], metavar="N")
    sim.add_argument(
        "--backend",
        choices=["process", "ray"],
        default="process",
        help="ray: also time Ray actors against the process pool on the same episodes (a second table)",
    )
    sim.add_argument("--ray-address", metavar="ADDR", help="with --backend ray: a cluster to join (default: local)")
    sim.set_defaults(handler=_run_bench_sim)
    add_bench_train_parser(benchmarks).set_defaults(handler=_run_agents_command, agents_command="bench_train")
    add_bench_adapt_parser(benchmarks).set_defaults(handler=_run_agents_command, agents_command="bench_adapt")
    add_bench_online_parser(benchmarks).set_defaults(handler=_run_agents_command, agents_command="bench_online")
    from app.cli.bench_memory import add_bench_memory_parser

    add_bench_memory_parser(benchmarks)  # sets its own handler
    from app.cli.bench_map import add_bench_map_parser

    add_bench_map_parser(benchmarks)  # sets its own handler
    return parser


def _resolve_task(args: argparse.Namespace) -> TaskParams:
    try:
        return task_from_args(args)
    except (TaskInputError, TaskParamError) as err:
        raise CliError(str(err)) from err


def _run_task(args: argparse.Namespace) -> int:
    print(_resolve_task(args).to_json())
    return 0


def _run_gui(args: argparse.Namespace) -> int:
    task = _resolve_task(args)  # before Qt loads: a bad task fails fast, headless
    from app.runtime.task_files import first_launch_task
    from app.window.main import run_gui

    if task == TaskParams():  # nothing given: open where the bundled agent can adapt at once
        task = first_launch_task()

    return run_gui(task)


def _run_agents_command(args: argparse.Namespace) -> int:
    """``train`` / ``adapt`` / ``play``: bad input, missing files and foreign checkpoints become one error line."""
    from agents.storage.checkpoint import CheckpointError
    from agents.storage.export import ExportError
    from app.cli import agents as cli_agents
    from app.cli import bench_adapt as cli_bench_adapt
    from app.cli import bench_online as cli_bench_online
    from app.cli import policy as cli_policy
    from sim.sampler import SamplerError

    commands = {
        "train": cli_agents.run_train,
        "adapt": cli_agents.run_adapt,
        "export": cli_policy.run_export,
        "bundle": cli_agents.run_bundle,
        "play": cli_policy.run_play,
        "bench_train": cli_agents.run_bench_train,
        "bench_adapt": cli_bench_adapt.run_bench_adapt,
        "bench_online": cli_bench_online.run_bench_online,
    }
    try:
        return commands[args.agents_command](args)
    except (ValueError, CheckpointError, ExportError, SamplerError, OSError) as err:
        raise CliError(str(err)) from err


def _run_bench_sim(args: argparse.Namespace) -> int:
    from sim.bench import BUILTIN_ROBOTS, format_table, run_sim_benchmark
    from sim.params import RobotParams, TerrainParams

    robots = args.robots or list(BUILTIN_ROBOTS)
    for robot in robots:  # the schema names a bad robot or terrain, before minutes of measuring
        RobotParams(name=robot)
    for kind in args.terrains:
        TerrainParams(kind=kind)
    if args.seconds <= 0 or args.num_envs < max(args.workers) or min(args.workers) < 1:
        raise CliError("--seconds must be > 0 and 1 <= --workers <= --num-envs")
    from sim.sampler import SamplingConfig

    if args.ray_address is not None and args.backend != "ray":
        raise CliError("--ray-address is not allowed without --backend ray")
    ray = SamplingConfig(backend="ray", ray_address=args.ray_address) if args.backend == "ray" else None
    rows = run_sim_benchmark(
        robots=robots, terrains=args.terrains, seconds=args.seconds, num_envs=args.num_envs, workers=args.workers
    )
    print(format_table(rows))
    if ray is not None:
        from sim.bench_backends import format_backend_table, run_backend_benchmark

        backend_rows = run_backend_benchmark(
            robots=robots, terrains=args.terrains, num_envs=args.num_envs, workers=args.workers, ray=ray
        )
        print()
        print(format_backend_table(backend_rows))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (argparse usage errors exit 2 themselves)."""
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except (CliError, TaskParamError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return err.status if isinstance(err, CliError) else EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `sim2adapt task | head`: the reader left; exit quietly (Python docs' recipe)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
