"""``sim2adapt bench adapt``: return and physical metrics versus shots on a family's held-out tasks, per agent.

Rows: every bundled agent of the family (or the checkpoints given; the task-aware ones, ``oracle``
and ``oracle-pearl``, are references: the better of them is the 100 % of the normalised score), PPO
from scratch with the same episodes, and a random policy (the zero of the normalised score). Each
cell is the mean of episode ``k`` (0: before any adaptation) over held-out tasks x seeds, with a
Student-t 95 % interval: the return, and what a roboticist reads, the velocity-tracking error in m/s
(along the target heading, after the first second), the share of episodes that end in a fall and
the distance covered. Episodes last 10 s of simulated time unless ``--seconds`` or ``--steps`` say otherwise.
Writes ``adapt-FAMILY.csv`` and ``adapt-FAMILY.png`` (pyqtgraph's own exporter) beside the tables.

The scores themselves (means, intervals, the share of tasks improved, the normalised score) are
computed in :mod:`agents.core.evaluation`; this module parses the flags, prints and plots.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.cli.policy import add_episode_length_arguments, episode_length_steps
from sim.tasks import AGENTS_DIR, load_family

if TYPE_CHECKING:
    from agents.core.evaluation import AdaptationScores, Measure


def add_bench_adapt_parser(benchmarks: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """``bench adapt``: the adaptation benchmark table."""
    parser: argparse.ArgumentParser = benchmarks.add_parser(
        "adapt",
        help="return, tracking error (m/s), falls and distance before and after 1, 2, 3 shots on held-out tasks, "
        "per agent, with 95%% intervals",
    )
    parser.add_argument(
        "--family", default="cheetah-velocity", help="a family name or JSON file (default: cheetah-velocity)"
    )
    parser.add_argument("--agents", nargs="+", type=Path, help="checkpoints (default: the family's bundled agents)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per held-out task (default: 3)")
    parser.add_argument("--tasks", type=int, help="only the family's first N held-out tasks (default: all)")
    parser.add_argument("--shots", type=int, default=4, help="episodes per run, the first before adaptation")
    add_episode_length_arguments(parser)
    parser.add_argument("--out", type=Path, default=Path("bench"), help="folder for the CSV and PNG (default: bench)")
    return parser


def _score_all(args: argparse.Namespace, steps: int) -> list[AdaptationScores]:
    import torch

    from agents.core.evaluation import RANDOM_LABEL, RandomAgent, evaluate_adaptation
    from agents.training.agent_options import without_adaptation
    from agents.training.train import env_spaces, load_trained, scratch_agent_source

    family = load_family(args.family)
    paths = args.agents or sorted(AGENTS_DIR.glob(f"{family.name}-*.pt"))
    if not paths:
        raise ValueError(f"--family {family.name}: no bundled agents under {AGENTS_DIR}; give --agents CHECKPOINT ...")
    trained = [load_trained(path, device=torch.device("cpu")) for path in paths]
    for agent, path in zip(trained, paths, strict=True):
        if agent.family.name != family.name:
            raise ValueError(
                f"--agents {path} is not allowed: it was trained on {agent.family.name!r}, not {family.name!r}"
            )
    scratch = scratch_agent_source(family, env=trained[0].settings.env)  # its envs observe the robot only
    _, action_dim = env_spaces(scratch.settings, family)
    sources = [(a.algorithm, a.new_agent, a.make_env) for a in trained]
    for agent in trained:  # an online agent's before-adapting row: the same policy, its adaptation off
        frozen = without_adaptation(agent)
        if frozen is not None:
            sources.append((f"{agent.algorithm} (no adaptation)", frozen, agent.make_env))
    sources += [("scratch", scratch.new_agent, scratch.make_env)]
    sources += [(RANDOM_LABEL, lambda: RandomAgent(action_dim), scratch.make_env)]
    seeds = tuple(range(args.seeds))
    tasks = family.test_tasks(args.tasks)
    results = []
    for label, make_agent, make_env in sources:
        start = time.perf_counter()
        results.append(
            evaluate_adaptation(
                make_agent, make_env, tasks, label=label, shots=args.shots, max_steps=steps, seeds=seeds
            )
        )
        print(f"  {label}: {time.perf_counter() - start:.0f} s", flush=True)
    return results


def task_aware_labels() -> frozenset[str]:
    """The registry's algorithms that observe the true task: the references of the normalised score."""
    from agents.algorithms import ALGORITHMS

    return frozenset(name for name, algorithm in ALGORITHMS.items() if algorithm.observes_task)


def reference_label(scores: list[AdaptationScores]) -> str | None:
    """The table's 100 %: :func:`agents.core.evaluation.reference_label` over the registry's task-aware rows."""
    from agents.core import evaluation

    return evaluation.reference_label(scores, task_aware_labels())


def normalised_after_one(score: AdaptationScores, scores: list[AdaptationScores]) -> float | None:
    """The table's normalised score: :func:`agents.core.evaluation.normalised_after_one` against the registry's
    task-aware rows."""
    from agents.core import evaluation

    return evaluation.normalised_after_one(score, scores, references=task_aware_labels())


def _cell(mean: float, ci: float, decimals: int) -> str:
    """``mean ± ci``; ``-`` where nothing was measured (an env without a torso), ``± ?`` for a single run."""
    if math.isnan(mean):
        return "-"
    return f"{mean:.{decimals}f} ± {'?' if math.isnan(ci) else f'{ci:.{decimals}f}'}"


def _measure_rows(scores: list[AdaptationScores], measure: Measure) -> list[list[str]]:
    return [
        [
            score.label,
            *(
                _cell(m, c, measure.decimals)
                for m, c in zip(score.mean(measure.key), score.ci95(measure.key), strict=True)
            ),
        ]
        for score in scores
    ]


def format_table(scores: list[AdaptationScores]) -> str:
    """Mean ± 95 % interval per shot, one row per agent: the return with the normalised score after one shot,
    then one table per physical measure (tracking error, falls, distance)."""
    from agents.core.evaluation import MEASURES

    shots = scores[0].returns.shape[-1]
    shot_names = ["before", *(f"after {k}" for k in range(1, shots))]
    header = ["agent", *shot_names, "improved", "norm. after 1"]
    lines = ["  ".join(f"{h:>16}" for h in header)]
    for score, row in zip(scores, _measure_rows(scores, MEASURES[0]), strict=True):
        improved = f"{score.improved_fraction(1):.0%}"
        normalised = normalised_after_one(score, scores)
        norm = "-" if normalised is None else f"{normalised:.0%}"
        lines.append("  ".join(f"{c:>16}" for c in [*row, improved, norm]))
    for measure in MEASURES[1:]:
        lines += ["", f"{measure.title} ({measure.unit}), mean ± 95 % interval"]
        lines.append("  ".join(f"{h:>16}" for h in ["agent", *shot_names]))
        lines += ["  ".join(f"{c:>16}" for c in row) for row in _measure_rows(scores, measure)]
    return "\n".join(lines)


def write_csv(scores: list[AdaptationScores], path: Path) -> None:
    """One row per (agent, shot): mean return and its 95 % half-width, the same for each physical measure
    (``nan`` where the env measured none), runs."""
    from agents.core.evaluation import PHYSICAL_KEYS
    from agents.storage.atomic import atomic_write

    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(
        ["agent", "shot", "mean_return", "ci95", *(f"{k}{s}" for k in PHYSICAL_KEYS for s in ("", "_ci95")), "runs"]
    )
    for score in scores:
        columns = [score.mean(), score.ci95()]
        columns += [values for key in PHYSICAL_KEYS for values in (score.mean(key), score.ci95(key))]
        for shot in range(score.returns.shape[-1]):
            cells = [f"{column[shot]:.4f}" for column in columns]
            writer.writerow([score.label, shot, *cells, score.per_run().shape[0]])
    atomic_write(path, lambda f: f.write(text.getvalue().encode()))


def write_plot(scores: list[AdaptationScores], path: Path, title: str) -> None:
    """Each measure versus shots with error bars, one panel each, through pyqtgraph's image exporter (offscreen)."""
    from agents.core.evaluation import MEASURES
    from app.cli.plot_files import export_png, white_layout

    app, layout = white_layout(title, 800)
    for index, measure in enumerate(MEASURES):
        if index % 2 == 0:
            layout.nextRow()
        _draw_measure(layout.addPlot(), scores, measure, legend=index == 0)
    export_png(app, layout, path)


def _draw_measure(plot: Any, scores: list[AdaptationScores], measure: Measure, *, legend: bool) -> None:
    """One panel: ``measure`` per shot, one line with 95 % error bars per agent (unmeasured points left out)."""
    import numpy as np
    import pyqtgraph as pg

    if legend:
        plot.addLegend(offset=(-10, 10), labelTextColor="k")
    unit = f" ({measure.unit})" if measure.unit else ""
    for side, label in (
        ("bottom", "episode (0: before adaptation, k: after k updates)"),
        ("left", measure.title + unit),
    ):
        axis = plot.getAxis(side)
        axis.setPen("k")
        axis.setTextPen("k")
        axis.setLabel(label, color="k")
        axis.enableAutoSIPrefix(False)  # m/s as they are, not in thousandths
    shots = scores[0].returns.shape[-1]
    plot.getAxis("bottom").setTicks([[(k, str(k)) for k in range(shots)]])
    if measure.key == "fall_share":  # a share: the whole 0-1 scale, not a zoom on 0 % rescaled by pyqtgraph
        plot.setYRange(0.0, 1.0)
    for index, score in enumerate(scores):
        mean, ci = score.mean(measure.key), np.nan_to_num(score.ci95(measure.key))
        x = np.arange(shots, dtype=float) + 0.04 * index  # spread overlapping bars
        shown = ~np.isnan(mean)
        if not shown.any():
            continue
        colour = pg.intColor(index, hues=max(len(scores), 3))
        pen = pg.mkPen(colour, width=2)
        plot.plot(x[shown], mean[shown], pen=pen, symbol="o", symbolBrush=colour, name=score.label)
        bars = pg.ErrorBarItem(x=x[shown], y=mean[shown], height=2 * ci[shown], pen=pg.mkPen(colour), beam=0.05)
        plot.addItem(bars)


def run_bench_adapt(args: argparse.Namespace) -> int:
    """Score every agent, print the tables, write the CSV and the plot."""
    from sim.envs.locomotion import EnvConfig

    if args.shots < 2:
        raise ValueError(f"--shots {args.shots} is not allowed: at least 2 (before and after adaptation)")
    if args.tasks is not None and args.tasks < 1:
        raise ValueError(f"--tasks {args.tasks} is not allowed: at least 1")
    tasks = len(load_family(args.family).test_tasks(args.tasks))
    if args.seeds < 1 or tasks * args.seeds < 2:
        raise ValueError(
            f"--seeds {args.seeds} is not allowed with {tasks} held-out task(s): "
            "at least 1, and at least 2 runs (tasks x seeds) for an interval"
        )
    env_config = EnvConfig()  # the configuration agents are evaluated in (TrainedAgent.make_env)
    steps = episode_length_steps(args, env_config.control_dt)
    limit = env_config.max_episode_steps
    if steps > limit:
        flag = f"--steps {args.steps}" if args.steps is not None else f"--seconds {args.seconds:g}"
        raise ValueError(
            f"{flag} is not allowed: episodes end at the env's limit of {limit} steps "
            f"({limit * env_config.control_dt:g} s)"
        )
    start = time.perf_counter()
    family = load_family(args.family).name  # a name or a JSON file: files are named after the family
    print(f"{family}: {steps} steps ({steps * env_config.control_dt:g} s) per episode", flush=True)
    scores = _score_all(args, steps)
    print(format_table(scores))
    args.out.mkdir(parents=True, exist_ok=True)
    csv_path, png_path = args.out / f"adapt-{family}.csv", args.out / f"adapt-{family}.png"
    write_csv(scores, csv_path)
    write_plot(scores, png_path, f"{family}: held-out tasks vs. episodes of adaptation ({steps} steps per episode)")
    print(f"wrote {csv_path} and {png_path} in {time.perf_counter() - start:.0f} s")
    return 0
