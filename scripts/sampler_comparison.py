"""Uniform vs progress task sampling at equal env steps: the share of grid cells an agent tracks after one shot.

Usage::

    python scripts/sampler_comparison.py --family ant-wide --algo rma --iterations 240 --seeds 0 1 2 \\
        --runs-dir runs/sampler-comparison --x robot.payload_kg --y robot.motor_strength_scale --grid 6x6 \\
        --config episodes_per_task=2 --env-config observe_goal=true --env-config tracking_reward=exp [--dry-run]

(the bundled ant-faults-rma recipe: 240 x 16 tasks x 2 episodes x 600 steps = 4.61 M env steps per run).

For each sampler (``uniform``, ``progress``) and each seed it trains ``RUNS_DIR/{sampler}-seed{seed}``
with ``sim2adapt train`` (``--config task_sampler={sampler}``, every other setting the same), maps
the trained run with ``sim2adapt bench map`` over the grid (the held-out cells: the family's ranges
of ``--x`` and ``--y``, the other fields at the family's base task, one shot, ``--cell-seeds`` runs
per cell) and prints a markdown table: per sampler, the share of cells whose mean tracking error
after one shot is within 0.15 m/s, per seed, their mean and Student-t 95 % interval, and each run's
env steps. The six trainings take hours, so the command is made to be stopped and run again: a
finished run is skipped, a partial one resumed (``train --resume``), a run's map is cached in its
run directory and measured again only when the run trained on after it. A run directory that holds
other settings (another algorithm, config, family or a larger iteration target) is refused rather
than mixed into the comparison. ``--dry-run`` prints the plan and trains nothing.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.core.online_eval import mean_and_interval
from agents.storage.runs import CHECKPOINT_FILE, FAMILY_FILE, METRICS_FILE, RUN_FILE, RunDir
from app.cli.bench_map import TRACKING_TOLERANCE_MPS, check_flags, file_stem, parse_grid
from sim.tasks import TaskDistribution, load_family

PROG = "sampler_comparison"
EXIT_USAGE = 2
SAMPLERS = ("uniform", "progress")
SHOTS = 1
"""adaptation episodes before the measured one: the issue asks for the error after one shot"""
MAP_DIR = "sampler-map"
"""the sub-folder of a run directory where its map (CSV, PNGs, model) is cached"""
COMPARED_SETTINGS = ("algorithm", "seed", "env", "config", "env_config")
"""run.json entries that must match for a run to count: what it learns from and how much (device and
worker count change neither; the iteration target is checked on its own, since a partial run is extended)"""


@dataclass(frozen=True)
class RunSpec:
    """One run of the comparison: where it lives and what its run.json must say."""

    sampler: str
    seed: int
    path: Path
    settings: Mapping[str, Any]
    """the expected values of :data:`COMPARED_SETTINGS`, in run.json's JSON form"""
    family: TaskDistribution


@dataclass(frozen=True)
class RunPlan:
    """What this invocation does with one run: ``train`` it from scratch, ``resume`` it, or ``skip`` it (done)."""

    spec: RunSpec
    action: str
    done: int
    """iterations its checkpoint holds"""


def run_path(runs_dir: Path, sampler: str, seed: int) -> Path:
    """``RUNS_DIR/{sampler}-seed{seed}``: one name per run, so a restart finds each again."""
    return runs_dir / f"{sampler}-seed{seed}"


def first_difference(stored: Any, expected: Any, where: str) -> str | None:
    """The dotted key where two JSON values first differ, with both values (None when equal)."""
    if isinstance(stored, Mapping) and isinstance(expected, Mapping):
        for key in sorted(set(stored) | set(expected)):
            found = first_difference(stored.get(key), expected.get(key), f"{where}.{key}")
            if found is not None:
                return found
        return None
    return None if stored == expected else f"{where} = {stored!r} (this comparison: {expected!r})"


def check_matches(run: RunDir, spec: RunSpec) -> None:
    """Refuse a run directory trained with other settings or on another family: it would not be this comparison.

    Raises:
        ValueError: naming the run directory, the key and both values.
    """
    stored = run.settings
    for key in COMPARED_SETTINGS:
        found = first_difference(stored.get(key), spec.settings.get(key), key)
        if found is not None:
            raise ValueError(
                f"--runs-dir {run.path.parent} is not allowed: {run.path} holds another run ({RUN_FILE}: {found}); "
                "choose another --runs-dir or the same settings"
            )
    if run.family != spec.family:
        raise ValueError(
            f"--runs-dir {run.path.parent} is not allowed: {run.path} trained on family {run.family.name!r} "
            f"({FAMILY_FILE} differs from --family {spec.family.name})"
        )


def checkpoint_iterations(path: Path) -> int:
    """Iterations the run's checkpoint holds, from its metrics lines without loading the checkpoint.

    A kill between an iteration's metrics line and its checkpoint leaves one line more than the
    checkpoint holds (the line is written first); a metrics file newer than the checkpoint says so.
    """
    checkpoint, metrics = path / CHECKPOINT_FILE, path / METRICS_FILE
    if not checkpoint.is_file():
        return 0
    lines = len(RunDir(path).metrics())
    newer = metrics.is_file() and metrics.stat().st_mtime_ns > checkpoint.stat().st_mtime_ns
    return max(lines - 1, 0) if newer else lines


def plan_run(spec: RunSpec, iterations: int) -> RunPlan:
    """Whether ``spec``'s run is to be trained, resumed or skipped, from what its directory holds.

    Raises:
        ValueError: a directory that holds another run, or one set to train more than ``iterations``.
    """
    if not (spec.path / RUN_FILE).is_file():
        return RunPlan(spec, "train", 0)  # nothing, or a directory a kill left before run.json: start afresh
    run = RunDir.open(spec.path, require_checkpoint=False)
    check_matches(run, spec)
    target = int(run.settings["iterations"])
    if target > iterations:
        raise ValueError(
            f"--iterations {iterations} is not allowed: {spec.path} is set to train {target} "
            "(every run of the comparison gets the same budget)"
        )
    done = checkpoint_iterations(spec.path)
    return RunPlan(spec, "skip" if done >= iterations else "resume", done)


def train_argv(plan: RunPlan, args: argparse.Namespace) -> list[str]:
    """The ``sim2adapt train`` words that train (or resume) one run to ``--iterations``."""
    path, iterations = str(plan.spec.path), str(args.iterations)
    if plan.action == "resume":
        return ["train", "--resume", path, "--iterations", iterations]
    configs = [w for c in [*args.config, f"task_sampler={plan.spec.sampler}"] for w in ("--config", c)]
    env_configs = [w for c in args.env_config for w in ("--env-config", c)]
    return [
        *("train", "--algo", args.algo, "--family", args.family, "--run-dir", path, "--iterations", iterations),
        *("--seed", str(plan.spec.seed), "--preset", args.preset, "--env", args.env),
        *("--workers", str(args.workers), "--device", args.device),
        *configs,
        *env_configs,
    ]


def map_argv(path: Path, args: argparse.Namespace) -> list[str]:
    """The ``sim2adapt bench map`` words that map one run into its :data:`MAP_DIR`."""
    fields = ["--x", args.x, *(["--y", args.y] if args.y else [])]
    return [
        *("bench", "map", str(path), *fields, "--grid", args.grid, "--shots", str(SHOTS)),
        *("--seeds", str(args.cell_seeds), "--workers", str(args.workers), "--out", str(path / MAP_DIR)),
    ]


def map_csv(path: Path, x: str, y: str | None) -> Path:
    """Where ``bench map`` writes the run's CSV (its own file naming, so the two cannot drift apart)."""
    return path / MAP_DIR / f"{file_stem(argparse.Namespace(x=x, y=y), path)}.csv"


def read_map(csv_path: Path) -> list[dict[str, str]]:
    """The rows of a ``bench map`` CSV (one per cell x episode)."""
    with open(csv_path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def map_is_current(csv_path: Path, *, fields: Sequence[str], cells: int, seeds: int) -> bool:
    """Whether a cached map measured this grid with these seeds, after the run's last checkpoint.

    A run resumed past its map (a larger ``--iterations``) or a map of another grid is measured again.
    """
    checkpoint = csv_path.parent.parent / CHECKPOINT_FILE
    if not csv_path.is_file() or not checkpoint.is_file():
        return False
    if csv_path.stat().st_mtime_ns < checkpoint.stat().st_mtime_ns:
        return False
    rows = [row for row in read_map(csv_path) if row.get("episode") == str(SHOTS)]
    if not rows or any(field not in rows[0] for field in fields):
        return False
    places = {tuple(row[field] for field in fields) for row in rows}
    return len(places) == cells == len(rows) and all(row.get("runs") == str(seeds) for row in rows)


def errors_after_shot(csv_path: Path) -> list[float]:
    """Per cell, the mean tracking error over seeds after :data:`SHOTS` adaptation episode(s) (m/s; NaN unmeasured)."""
    return [float(row["tracking_error_mps"]) for row in read_map(csv_path) if row["episode"] == str(SHOTS)]


def tracking_share(errors: Sequence[float], tolerance: float = TRACKING_TOLERANCE_MPS) -> float:
    """Share of cells whose error is within ``tolerance``, over the cells that measured one (NaN if none did).

    The same rule as ``bench map``'s summary line: a cell tracks when its mean error over seeds does.
    """
    measured = [e for e in errors if math.isfinite(e)]
    return sum(e <= tolerance for e in measured) / len(measured) if measured else math.nan


def env_steps(path: Path, iterations: int) -> int:
    """Env steps the run collected in its first ``iterations`` iterations (from metrics.jsonl)."""
    return sum(int(row["env_steps"]) for row in RunDir(path).metrics()[:iterations])


@dataclass(frozen=True)
class RunResult:
    """One trained and mapped run: its share of tracking cells and the env steps it trained on."""

    sampler: str
    seed: int
    share: float
    env_steps: int


def percent(value: float) -> str:
    """A share as a whole percentage, ``-`` when undefined."""
    return "-" if not math.isfinite(value) else f"{100 * value:.0f} %"


def interval_text(values: Sequence[float]) -> tuple[str, str]:
    """Mean and Student-t 95 % interval (``low-high``) of per-seed shares, as table cells."""
    mean, half = mean_and_interval(values)
    if not math.isfinite(mean):
        return "-", "-"
    if not math.isfinite(half):
        return percent(mean), "- (one seed)"
    return percent(mean), f"{percent(max(mean - half, 0.0))}-{percent(min(mean + half, 1.0))} (± {percent(half)})"


def format_table(results: Sequence[RunResult], seeds: Sequence[int]) -> str:
    """The markdown table: a row per sampler, a column per seed, then mean, interval and env steps per run."""
    header = ["sampler", *(f"seed {s}" for s in seeds), "mean", "95 % interval (Student t)", "env steps per run"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for sampler in SAMPLERS:
        by_seed = {r.seed: r for r in results if r.sampler == sampler}
        shares = [by_seed[s].share if s in by_seed else math.nan for s in seeds]
        steps = ", ".join(f"{by_seed[s].env_steps:,}" if s in by_seed else "-" for s in seeds)
        lines.append("| " + " | ".join([sampler, *map(percent, shares), *interval_text(shares), steps]) + " |")
    return "\n".join(lines)


def format_report(results: Sequence[RunResult], args: argparse.Namespace, command: str) -> str:
    """The table with what it measured, the budget every run shared and the command that made it."""
    fields = args.x + (f" x {args.y}" if args.y else "")
    return "\n".join(
        [
            f"Share of the {args.grid} grid cells ({fields} over {args.family}'s ranges, other fields at its base "
            f"task) where {args.algo} tracks within {TRACKING_TOLERANCE_MPS} m/s after {SHOTS} shot "
            f"(mean error over {args.cell_seeds} runs per cell), per training seed:",
            "",
            format_table(results, args.seeds),
            "",
            f"Equal budgets: every run trained {args.iterations} iterations with the same settings "
            "(checked in each run.json), only task_sampler differs; env steps differ only where episodes "
            "ended early (falls).",
            f"Command: {command}",
        ]
    )


def build_parser() -> argparse.ArgumentParser:
    """The script's flags; ``--x``, ``--y`` and ``--grid`` mean what they mean to ``bench map``."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--family", required=True, help="a bundled family name or a family JSON file")
    parser.add_argument("--algo", required=True, help="an algorithm with a task_sampler setting (maml, pearl, rma)")
    parser.add_argument("--iterations", type=int, required=True, help="training iterations of every run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (default: 0 1 2)")
    parser.add_argument("--runs-dir", type=Path, required=True, help="where the runs are (and are resumed from)")
    parser.add_argument("--x", required=True, metavar="FIELD", help="a numeric task field, e.g. robot.payload_kg")
    parser.add_argument("--y", metavar="FIELD", help="a second numeric field (none: a curve over --x)")
    parser.add_argument("--grid", default="6x6", metavar="NxM", help="points along x and y (default: 6x6)")
    parser.add_argument("--cell-seeds", type=int, default=3, help="runs per grid cell (default: 3)")
    parser.add_argument("--config", action="append", default=[], metavar="KEY=VALUE", help="algorithm setting")
    parser.add_argument("--env-config", action="append", default=[], metavar="KEY=VALUE", help="env setting")
    parser.add_argument("--preset", default="paper", help="algorithm defaults to start from: paper or quick")
    parser.add_argument("--env", default="locomotion", help="locomotion, or point_mass for a smoke run")
    parser.add_argument("--workers", type=int, default=2, help="sampler and map worker processes (default: 2)")
    parser.add_argument("--device", default="auto", help="training device: auto, cpu, cuda (default: auto)")
    parser.add_argument("--dry-run", action="store_true", help="print what would be trained and mapped; do nothing")
    return parser


def check_numbers(args: argparse.Namespace) -> None:
    """Refuse bad counts and seeds in one line naming the flag, before anything loads.

    Raises:
        ValueError: naming the flag, the value and what is allowed.
    """
    from agents.training.settings import ENV_KINDS, MAX_SEED
    from app.cli.setting_flags import check_whole_number

    check_whole_number("--iterations", args.iterations, low=1)
    check_whole_number("--cell-seeds", args.cell_seeds, low=1)
    check_whole_number("--workers", args.workers, low=1)
    for seed in args.seeds:
        check_whole_number("--seeds", seed, low=0, high=MAX_SEED)
    if len(set(args.seeds)) != len(args.seeds):
        raise ValueError(f"--seeds {' '.join(map(str, args.seeds))} is not allowed: distinct whole numbers")
    if args.preset not in ("paper", "quick"):
        raise ValueError(f"--preset {args.preset} is not allowed: paper or quick")
    if args.env not in ENV_KINDS:
        raise ValueError(f"--env {args.env} is not allowed: one of {', '.join(ENV_KINDS)}")


def check_algorithm(args: argparse.Namespace) -> None:
    """Refuse an algorithm that has no ``task_sampler`` and a ``--config`` that sets it (the script does).

    Raises:
        ValueError: naming ``--algo`` or ``--config``.
    """
    from dataclasses import fields

    from agents.algorithms import ALGORITHMS

    names = [name for name, a in ALGORITHMS.items() if "task_sampler" in {f.name for f in fields(a.config_type)}]
    if args.algo not in names:
        raise ValueError(f"--algo {args.algo} is not allowed: one with a task_sampler setting ({', '.join(names)})")
    for assignment in args.config:
        if assignment.partition("=")[0] == "task_sampler":
            raise ValueError(f"--config {assignment} is not allowed: the script trains each sampler in turn")


def expected_settings(args: argparse.Namespace, sampler: str, seed: int) -> dict[str, Any]:
    """The :data:`COMPARED_SETTINGS` that ``sim2adapt train`` will write for this run, in run.json's JSON form.

    Built by the same functions the train command uses, so a bad ``--config`` or ``--env-config``
    is refused here, naming the flag, before any run is trained.
    """
    from agents.algorithms import get_algorithm
    from agents.training.settings import TrainSettings
    from app.cli.setting_flags import config_overrides, env_config_overrides

    config = config_overrides(get_algorithm(args.algo), args.preset, [*args.config, f"task_sampler={sampler}"])
    settings = TrainSettings(
        algorithm=args.algo,
        seed=seed,
        iterations=args.iterations,
        env=args.env,
        config=config,
        env_config=env_config_overrides(args.env_config),
    )
    row = json.loads(json.dumps(settings.to_dict()))  # tuples as lists, as run.json holds them
    return {key: row[key] for key in COMPARED_SETTINGS}


def run_specs(args: argparse.Namespace) -> list[RunSpec]:
    """Every run of the comparison, after checking every flag (one line naming the first bad one).

    Raises:
        ValueError: naming the flag, the value and what is allowed.
    """
    check_numbers(args)
    check_algorithm(args)
    map_flags = {"x": args.x, "y": args.y, "x_range": None, "y_range": None, "grid": args.grid}
    check_flags(argparse.Namespace(**map_flags, shots=SHOTS, seeds=args.cell_seeds, workers=args.workers))
    try:
        family = load_family(args.family)
    except (ValueError, OSError) as err:
        raise ValueError(f"--family {args.family} is not allowed: {err}") from err
    if args.runs_dir.exists() and not args.runs_dir.is_dir():
        raise ValueError(f"--runs-dir {args.runs_dir} is not allowed: a folder (it is a file)")
    return [
        RunSpec(sampler, seed, run_path(args.runs_dir, sampler, seed), expected_settings(args, sampler, seed), family)
        for sampler in SAMPLERS
        for seed in args.seeds
    ]


def grid_cells(args: argparse.Namespace) -> int:
    """Cells of the map (``NxM``, or ``N`` along a curve)."""
    nx, ny = parse_grid(args.grid, two_fields=args.y is not None)
    return nx * (ny or 1)


def describe_plan(plan: RunPlan, args: argparse.Namespace) -> str:
    """One line: the run, what happens to its training, and whether its map is cached."""
    csv_path = map_csv(plan.spec.path, args.x, args.y)
    fields = [args.x, *([args.y] if args.y else [])]
    cached = map_is_current(csv_path, fields=fields, cells=grid_cells(args), seeds=args.cell_seeds)
    mapping = "map cached" if cached and plan.action == "skip" else "map to measure"
    return f"{plan.spec.path}: {plan.action} ({plan.done}/{args.iterations} iterations), {mapping}"


def sim2adapt(argv: list[str]) -> None:
    """Run one ``sim2adapt`` command in this process; a failure or Ctrl-C stops the comparison here.

    Raises:
        ValueError: the command failed (its own error line is already printed).
        KeyboardInterrupt: the user stopped it.
    """
    from app.cli.main import main as cli_main

    print(f"$ sim2adapt {shlex.join(argv)}", file=sys.stderr, flush=True)
    status = cli_main(argv)
    if status == 130:
        raise KeyboardInterrupt
    if status != 0:
        raise ValueError(f"sim2adapt {argv[0]} {argv[1]} exited with {status}: run this command again to resume")


def complete_run(plan: RunPlan, args: argparse.Namespace) -> RunResult:
    """Train the run as far as the plan says, map it unless its map is current, and read its share."""
    if plan.action != "skip":
        sim2adapt(train_argv(plan, args))
    csv_path = map_csv(plan.spec.path, args.x, args.y)
    fields = [args.x, *([args.y] if args.y else [])]
    if not map_is_current(csv_path, fields=fields, cells=grid_cells(args), seeds=args.cell_seeds):
        sim2adapt(map_argv(plan.spec.path, args))
    share = tracking_share(errors_after_shot(csv_path))
    return RunResult(plan.spec.sampler, plan.spec.seed, share, env_steps(plan.spec.path, args.iterations))


def main(argv: Sequence[str] | None = None) -> int:
    """Check every flag, plan every run, then train, map and report (or, with ``--dry-run``, print the plan)."""
    raw = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(raw)
    try:
        plans = [plan_run(spec, args.iterations) for spec in run_specs(args)]
        for plan in plans:
            print(describe_plan(plan, args), file=sys.stderr)
        if args.dry_run:
            return 0
        results = [complete_run(plan, args) for plan in plans]
    except ValueError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: stopped; run the same command again to resume", file=sys.stderr)
        return 130
    print(format_report(results, args, shlex.join(["python", "scripts/sampler_comparison.py", *raw])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
