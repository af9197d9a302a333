"""``sim2adapt bench map``: where an agent fails over a grid of one or two task fields, before and after adapting.

Every cell of the grid (the other fields at the family's base task) is adapted to ``--shots`` times
per seed by :func:`agents.core.task_map.run_map`, spread over ``--workers`` processes; cells are
printed as they finish. Writes, under ``--out``, ``map-AGENT-X[-Y].csv`` (one row per cell x episode:
tracking error in m/s, falls, distance and return, means with Student-t 95 % half-widths over
seeds), heatmaps of tracking error before / after, falls before / after and the gain from adapting
(with one field: curves with intervals), and a performance model fitted to the results
(``.model.json``, :mod:`agents.core.performance_model`). ``--predict`` draws that model's prediction
and its uncertainty over the grid instead of measuring, labelled as a prediction; without a map's
model, it draws the one a MAML or PEARL run kept while training (``RUN/performance.model.json``: the
return after adapting of each training task, a table, since the plots draw m/s).
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli.agents import AlgorithmHelpFormatter
from app.cli.policy import add_episode_length_arguments, episode_length_steps

if TYPE_CHECKING:
    from agents.core.performance_model import PerformanceModel
    from agents.core.task_map import CellResult, MapSpec
    from sim.tasks import TaskDistribution

TRACKING_TOLERANCE_MPS = 0.15
"""a cell "tracks" when its mean error after adapting is within this: the summary line's share"""


def add_bench_map_parser(benchmarks: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """``bench map``: the agent's performance map over one or two task fields."""
    parser: argparse.ArgumentParser = benchmarks.add_parser(
        "map",
        help="tracking error, falls and the gain from adapting over a grid of one or two task fields",
        formatter_class=AlgorithmHelpFormatter,
    )
    parser.add_argument("agent", help="a checkpoint file, a run directory, or a family name (its bundled agent)")
    parser.add_argument("--algo", help="with a family name: the bundled agent's algorithm, one of {algorithms}")
    parser.add_argument("--x", required=True, metavar="FIELD", help="a numeric task field, e.g. robot.payload_kg")
    parser.add_argument("--y", metavar="FIELD", help="a second numeric field (none: a curve over --x)")
    parser.add_argument(
        "--x-range", metavar="LOW,HIGH", help="default: the family's range, else the schema's (write --x-range=-5,5)"
    )
    parser.add_argument("--y-range", metavar="LOW,HIGH", help="as --x-range, for --y")
    parser.add_argument(
        "--grid", metavar="NxM", help="points along x and y, ends included (default: 8x8; 8 for a curve)"
    )
    parser.add_argument("--shots", type=int, default=1, help="adaptation episodes after the first (default: 1)")
    parser.add_argument("--seeds", type=int, default=3, help="runs per cell (default: 3)")
    add_episode_length_arguments(parser)
    parser.add_argument("--workers", type=int, default=2, help="processes measuring cells (default: 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench"), help="folder for CSV, PNGs, model (default: bench)")
    parser.add_argument(
        "--predict",
        action="store_true",
        help="draw the saved model's prediction over the grid instead of measuring "
        "(the map's model in --out, else the one a run directory kept while training)",
    )
    parser.set_defaults(handler=run_bench_map)
    return parser


def parse_grid(text: str | None, *, two_fields: bool) -> tuple[int, int | None]:
    """``--grid``: ``N`` or ``NxM`` (``N`` alone means ``NxN`` for two fields).

    Raises:
        ValueError: naming the flag, the value and what is allowed.
    """
    if text is None:
        return (8, 8) if two_fields else (8, None)
    parts = text.lower().split("x")
    allowed = "NxM with whole numbers >= 2 (e.g. 8x8)" if two_fields else "N, a whole number >= 2, with --x alone"
    if len(parts) > (2 if two_fields else 1) or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"--grid {text!r} is not allowed: {allowed}")
    counts = [int(p) for p in parts]
    if min(counts) < 2:
        raise ValueError(f"--grid {text!r} is not allowed: {allowed}")
    if not two_fields:
        return counts[0], None
    return counts[0], counts[-1]


def parse_range(flag: str, text: str | None) -> tuple[float, float] | None:
    """``--x-range LOW,HIGH`` as two finite numbers, or None when not given.

    Raises:
        ValueError: naming the flag, the value and what is allowed.
    """
    if text is None:
        return None
    parts = text.split(",")
    try:
        low, high = (float(p) for p in parts)
    except ValueError as err:
        raise ValueError(f"{flag} {text!r} is not allowed: LOW,HIGH, two numbers (write {flag}=-5,5)") from err
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"{flag} {text!r} is not allowed: LOW,HIGH with finite LOW < HIGH")
    return low, high


def agent_label(agent_path: Path) -> str:
    """A run directory's name, or a checkpoint's file name without suffix (its run's name for ``checkpoint.pt``)."""
    label = agent_path.name if agent_path.is_dir() else agent_path.stem
    return agent_path.resolve().parent.name if label == "checkpoint" else label


def file_stem(args: argparse.Namespace, agent_path: Path) -> str:
    """``map-AGENT-X[-Y]``: the name every file of one map shares (``--predict`` finds the model by it)."""
    return "-".join(["map", agent_label(agent_path), args.x, *([args.y] if args.y else [])])


def check_flags(args: argparse.Namespace) -> None:
    """Refuse bad fields, grids and ranges in a moment, before an agent is loaded or an episode run.

    Raises:
        ValueError: naming the flag, the value and what is allowed.
    """
    from agents.core.task_map import MapAxis, numeric_field

    numeric_field("--x", args.x)
    if args.y is not None:
        numeric_field("--y", args.y)
        if args.y == args.x:
            raise ValueError(f"--y {args.y} is not allowed: a field other than --x {args.x}")
    elif args.y_range is not None:
        raise ValueError(f"--y-range {args.y_range} is not allowed without --y")
    parse_grid(args.grid, two_fields=args.y is not None)
    for flag, path, text in (("--x", args.x, args.x_range), ("--y", args.y, args.y_range)):
        given = parse_range(f"{flag}-range", text)
        if given is not None and path is not None:
            MapAxis(path, given[0], given[1], 2, flag)  # within the field's bounds, or its error now
    for flag, value in (("--shots", args.shots), ("--seeds", args.seeds)):
        if value < 1:
            raise ValueError(f"{flag} {value} is not allowed: a whole number >= 1")
    if args.workers < 0:
        raise ValueError(f"--workers {args.workers} is not allowed: a whole number >= 0 (0 or 1: in this process)")


def build_spec(args: argparse.Namespace, family: TaskDistribution, max_steps: int) -> MapSpec:
    """The grid and budget the flags describe, over ``family``'s base task."""
    from agents.core.task_map import MapSpec, axis_for

    check_flags(args)
    nx, ny = parse_grid(args.grid, two_fields=args.y is not None)
    x = axis_for("--x", args.x, family, count=nx, value_range=parse_range("--x-range", args.x_range))
    y = None
    if args.y is not None and ny is not None:
        y = axis_for("--y", args.y, family, count=ny, value_range=parse_range("--y-range", args.y_range))
    return MapSpec(base=family.base, x=x, y=y, shots=args.shots, seeds=args.seeds, max_steps=max_steps, seed=args.seed)


def run_bench_map(args: argparse.Namespace) -> int:
    """Measure (or, with ``--predict``, predict) the map; print it; write CSV, PNGs and the model."""
    from app.cli.main import CliError

    try:
        return _predict(args) if args.predict else _measure(args)
    except (ValueError, OSError) as err:
        raise CliError(str(err)) from err


def _episode_steps(args: argparse.Namespace) -> int:
    from sim.envs.locomotion import EnvConfig

    config = EnvConfig()
    steps = episode_length_steps(args, config.control_dt)
    if steps > config.max_episode_steps:
        flag = f"--steps {args.steps}" if args.steps is not None else f"--seconds {args.seconds:g}"
        limit = config.max_episode_steps
        raise ValueError(f"{flag} is not allowed: at most {limit} steps ({limit * config.control_dt:g} s)")
    return steps


def _measure(args: argparse.Namespace) -> int:
    import torch

    from agents.core.performance_model import PerformanceModel
    from agents.core.task_map import CheckpointLoader, model_family, run_map
    from agents.storage.bundle import resolve_agent
    from agents.training.train import load_trained
    from app.cli.map_plots import write_map_plots
    from sim.child_failure import ChildFailed

    start = time.perf_counter()
    check_flags(args)
    steps = _episode_steps(args)
    agent_path = resolve_agent(args.agent, algorithm=args.algo)
    # loaded here too: the family's ranges and base task, and a bad checkpoint fails before any worker starts
    trained = load_trained(agent_path, device=torch.device("cpu"))
    family = trained.family
    spec = build_spec(args, family, steps)
    loader = CheckpointLoader(str(agent_path))
    total = len(spec.cells())
    print(f"{agent_path}: {total} cells x {spec.seeds} seed(s), {spec.shots + 1} episodes of {spec.max_steps} steps")
    results: list[CellResult] = []
    try:
        for result in run_map(spec, (lambda: trained) if args.workers <= 1 else loader, workers=args.workers):
            results.append(result)
            print(f"[{len(results):>3}/{total}] {_describe(spec, result)}", flush=True)
    except ChildFailed as err:
        raise ValueError(f"a map worker failed: {err.message}") from err
    results.sort(key=lambda r: r.cell.index)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = file_stem(args, agent_path)
    csv_path = args.out / f"{stem}.csv"
    write_csv(spec, results, csv_path)
    model = PerformanceModel(model_family(family, spec))
    for result in results:
        model.update([result.cell.task] * spec.seeds, result.per_seed("tracking_error_mps")[:, -1].tolist())
    plots = write_map_plots(spec, results, args.out / stem, family=family, title=agent_label(agent_path))
    written = [csv_path, *plots]
    if model.num_points:
        model.save(args.out / f"{stem}.model.json")
        written.append(args.out / f"{stem}.model.json")
    else:
        print(
            "note: this agent's env measures no tracking error (the toy env): no model, returns only", file=sys.stderr
        )
    print(format_summary(spec, results))
    print(f"wrote {', '.join(str(p) for p in written)} in {time.perf_counter() - start:.0f} s")
    return 0


def _describe(spec: MapSpec, result: CellResult) -> str:
    """One progress line: where the cell is and how it went before and after adapting."""
    cell = result.cell
    place = f"{spec.x.path}={cell.x:g}" + ("" if spec.y is None else f", {spec.y.path}={cell.y:g}")
    error, falls = result.mean("tracking_error_mps"), result.mean("fall_share")
    return (
        f"{place}: error {error[0]:.3f} -> {error[-1]:.3f} m/s, falls {falls[0]:.0%} -> {falls[-1]:.0%}, "
        f"{result.seconds:.0f} s"
    )


def write_csv(spec: MapSpec, results: list[CellResult], path: Path) -> None:
    """One row per cell x episode (0: before adapting): each measure's mean over seeds and its 95 % half-width."""
    from agents.core.task_map import MEASURES
    from agents.storage.atomic import atomic_write

    text = io.StringIO()
    writer = csv.writer(text)
    places = [spec.x.path, *([spec.y.path] if spec.y is not None else [])]
    writer.writerow([*places, "episode", *(f"{m}{s}" for m in MEASURES for s in ("", "_ci95")), "runs"])
    for result in results:
        where = [f"{result.cell.x:g}", *([f"{result.cell.y:g}"] if spec.y is not None else [])]
        columns = [v for m in MEASURES for v in (result.mean(m), result.ci95(m))]
        for episode in range(spec.shots + 1):
            writer.writerow([*where, episode, *(f"{c[episode]:.4f}" for c in columns), spec.seeds])
    atomic_write(path, lambda f: f.write(text.getvalue().encode()))


def format_summary(spec: MapSpec, results: list[CellResult]) -> str:
    """The tracking error after adapting as a table (rows: y, columns: x), and the share of cells that track."""
    import numpy as np

    from agents.core.task_map import grid_values

    after = grid_values(spec, results, lambda r: float(r.mean("tracking_error_mps")[-1]))
    before = grid_values(spec, results, lambda r: float(r.mean("tracking_error_mps")[0]))
    lines = [f"tracking error (m/s) after {spec.shots} adaptation episode(s); columns: {spec.x.path}"]
    lines.append(f"{spec.y.path if spec.y else '':>24}  " + "  ".join(f"{x:>7g}" for x in spec.x.values()))
    ys = spec.y.values() if spec.y is not None else (math.nan,)
    for row, y in zip(after, ys, strict=True):
        lines.append(f"{'' if math.isnan(y) else f'{y:g}':>24}  " + "  ".join(f"{v:>7.3f}" for v in row))
    if np.isfinite(after).any():
        tracks_after = float((after[np.isfinite(after)] <= TRACKING_TOLERANCE_MPS).mean())
        tracks_before = float((before[np.isfinite(before)] <= TRACKING_TOLERANCE_MPS).mean())
        lines.append(
            f"cells within {TRACKING_TOLERANCE_MPS} m/s: {tracks_before:.0%} before, {tracks_after:.0%} after "
            f"{spec.shots} adaptation episode(s)"
        )
    return "\n".join(lines)


def _predict(args: argparse.Namespace) -> int:
    """Draw a saved model's prediction over the grid (no episode is run): the map's, else the run's."""
    from agents.core.performance_model import PerformanceModel
    from agents.storage.bundle import resolve_agent
    from app.cli.map_plots import write_prediction_plot

    check_flags(args)
    agent_path = resolve_agent(args.agent, algorithm=args.algo)
    stem = file_stem(args, agent_path)
    model_path, source = find_model(args.out / f"{stem}.model.json", agent_path)
    model = PerformanceModel.load(model_path)
    if source == "run":
        check_run_model_fields(args, model)
    spec = build_spec(args, model.family, max_steps=1)
    tasks = [cell.task for cell in spec.cells()]
    mean, std = model.predict(tasks)
    measure, shape = model.measure, model.hyperparameters
    what = "runs" if source == "map" else "training tasks' returns after adapting (training episodes, not m/s)"
    print(
        f"prediction (not measured) from {model_path}: {model.num_points} {what}; "
        f"length scale {shape['length_scale']:g}, signal std {measure.with_unit(shape['signal_std'])}"
    )
    for cell, m, s in zip(spec.cells(), mean, std, strict=True):
        place = f"{spec.x.path}={cell.x:g}" + ("" if spec.y is None else f", {spec.y.path}={cell.y:g}")
        print(f"{place}: predicted {measure.label} {measure.with_unit(m)} ± {measure.with_unit(1.96 * s)}")
    rows, cols = spec.shape
    args.out.mkdir(parents=True, exist_ok=True)  # a run's model can be drawn before any map was measured
    png = write_prediction_plot(
        spec,
        mean.reshape(rows, cols),
        std.reshape(rows, cols),
        args.out / f"{stem}-predicted.png",
        title=f"PREDICTION, not measured: a Gaussian process fitted to {model.num_points} runs of "
        f"{agent_label(agent_path)}",
        measure=measure,
    )
    print(f"wrote {png}")
    return 0


def find_model(map_model: Path, agent_path: Path) -> tuple[Path, str]:
    """The model ``--predict`` draws and where it came from: the map's (``map``) when ``bench map`` measured
    these fields before, else the training run's (``run``, beside the checkpoint).

    Raises:
        ValueError: neither exists, naming both places.
    """
    from agents.core.performance_model import RUN_MODEL_FILE

    if map_model.is_file():
        return map_model, "map"
    run_model = (agent_path if agent_path.is_dir() else agent_path.parent) / RUN_MODEL_FILE
    if run_model.is_file():
        return run_model, "run"
    raise ValueError(
        f"--predict is not allowed: no model at {map_model} (run bench map without --predict first) "
        f"nor at {run_model} (a MAML or PEARL run writes one while it trains)"
    )


def check_run_model_fields(args: argparse.Namespace, model: PerformanceModel) -> None:
    """A run's model sees only the fields its family varies: refuse mapping another (its prediction would be flat).

    Raises:
        ValueError: naming the flag, the field and the fields allowed.
    """
    varied = list(model.family.vary)
    for flag, path in (("--x", args.x), ("--y", args.y)):
        if path is not None and path not in varied:
            raise ValueError(
                f"{flag} {path} is not allowed with the run's model: a field its family varies ({', '.join(varied)})"
            )
