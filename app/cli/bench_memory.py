"""``sim2adapt bench memory``: what rebuilding rough ground costs, in memory and in speed.

Two tables from :mod:`sim.bench`:

- MB and seconds per rebuild of an env's rough ground, switching between distinct rough tasks:
  without visuals, as sampler workers build it, and with visuals drawn after every switch, as the
  window's preview does. PyBullet 3.2.7 never freed meshes given as vertex lists, so this figure
  once read +10.8 MB (sampler) and +21 MB (preview) per rebuild, without end.
- Env steps/s of episodes that each start on a new task, rough against flat, switches included.

Each measurement runs in a fresh process, so that one's memory never shows in another's. That process
ties itself to this one first thing (:func:`sim.lifeline.tie_to_parent`): killed any way, a bench
leaves no measurement running on (issue 14), and multiprocessing's resource tracker, which ends once
no process holds its pipe, goes with it.
"""

from __future__ import annotations

import argparse
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from sim.lifeline import tie_to_parent
from sim.params import RobotParams
from sim.render import BACKENDS

Row = TypeVar("Row")


def add_bench_memory_parser(benchmarks: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """``bench memory``: MB and seconds per rough-ground rebuild, and throughput with task switches."""
    parser: argparse.ArgumentParser = benchmarks.add_parser(
        "memory",
        help="MB and seconds per rough-ground rebuild (sampler, preview); env steps/s switching task every episode",
    )
    parser.add_argument("--robots", nargs="+", default=["a1", "ant"], metavar="ROBOT", help="default: a1 ant")
    parser.add_argument("--rebuilds", type=int, default=100, help="rebuilds per sampler-like run (default: 100)")
    parser.add_argument("--preview-rebuilds", type=int, default=40, help="rebuilds per preview-like run (default: 40)")
    parser.add_argument("--renderer", default="auto", choices=BACKENDS, help="the preview's renderer (default: auto)")
    parser.add_argument(
        "--episode-steps", type=int, nargs="+", default=[100, 600], metavar="N", help="default: 100 600"
    )
    parser.add_argument("--seconds", type=float, default=12.0, help="measuring time per switching cell (default: 12)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds per cell, best kept (default: 3)")
    parser.set_defaults(handler=run_bench_memory)
    return parser


def run_bench_memory(args: argparse.Namespace) -> int:
    """Print the rebuild table, then the switching table."""
    from app.cli.main import CliError
    from sim import bench

    for robot in args.robots:  # the schema names a bad robot before minutes of measuring
        RobotParams(name=robot)
    counts = (args.rebuilds, args.preview_rebuilds, *args.episode_steps)
    if min(counts) < 2 or args.seconds <= 0 or args.repeats < 1:
        raise CliError("--rebuilds, --preview-rebuilds and --episode-steps must be >= 2, --seconds > 0, --repeats >= 1")
    memory = []
    for robot in args.robots:
        memory.append(_in_fresh_process(bench.measure_rebuild_memory, robot, rebuilds=args.rebuilds, render=False))
    robot = args.robots[0]
    memory.append(
        _in_fresh_process(
            bench.measure_rebuild_memory, robot, rebuilds=args.preview_rebuilds, render=True, renderer=args.renderer
        )
    )
    print(bench.format_memory_table(memory))
    print()
    switching = _in_fresh_process(
        bench.run_switching_benchmark,
        robots=args.robots,
        episode_steps=args.episode_steps,
        seconds=args.seconds,
        repeats=args.repeats,
    )
    print(bench.format_switching_table(switching))
    return 0


def _in_fresh_process(measure: Callable[..., Row], *args: object, **kwargs: object) -> Row:
    """``measure(*args, **kwargs)`` in a new spawned process, tied to this one: its RSS starts clean, PyBullet's
    caches empty. The pool starts its process from this (the calling) thread, as PR_SET_PDEATHSIG needs."""
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn, initializer=tie_to_parent) as pool:
        return pool.submit(measure, *args, **kwargs).result()
