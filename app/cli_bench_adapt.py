"""``sim2adapt bench adapt``: return versus shots on a family's held-out tasks, per agent, with 95 % intervals.

Rows: every bundled agent of the family (or the checkpoints given; the task-aware ones, ``oracle``
and ``oracle-pearl``, are references: the better of them is the 100 % of the normalised score), PPO
from scratch with the same episodes, and a random policy (the zero of the normalised score). Each
cell is the mean return of episode ``k`` (0: before any adaptation) over held-out tasks x seeds,
with a Student-t interval.
Writes ``adapt-FAMILY.csv`` and ``adapt-FAMILY.png`` (pyqtgraph's own exporter) beside the table.
"""

from __future__ import annotations

import argparse
import csv
import io
import time
from pathlib import Path
from typing import TYPE_CHECKING

from sim.tasks import AGENTS_DIR, load_family

if TYPE_CHECKING:
    from agents.evaluation import AdaptationScores


def add_bench_adapt_parser(benchmarks: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """``bench adapt``: the adaptation benchmark table."""
    parser: argparse.ArgumentParser = benchmarks.add_parser(
        "adapt", help="return before and after 1, 2, 3 shots on held-out tasks, per agent, with 95%% intervals"
    )
    parser.add_argument("--family", default="cheetah-velocity")
    parser.add_argument("--agents", nargs="+", type=Path, help="checkpoints (default: the family's bundled agents)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per held-out task (default: 3)")
    parser.add_argument("--shots", type=int, default=4, help="episodes per run, the first before adaptation")
    parser.add_argument("--steps", type=int, help="steps per episode (default: the first agent's training horizon)")
    parser.add_argument("--out", type=Path, default=Path("bench"), help="folder for the CSV and PNG (default: bench)")
    return parser


def _score_all(args: argparse.Namespace) -> list[AdaptationScores]:
    import torch

    from agents.evaluation import RandomAgent, evaluate_adaptation
    from agents.train import env_spaces, load_trained, scratch_agent_source

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
    steps = args.steps or int(trained[0].settings.algo_config.horizon)
    scratch = scratch_agent_source(family, env=trained[0].settings.env)  # its envs observe the robot only
    _, action_dim = env_spaces(scratch.settings, family)
    sources = [(a.algorithm, a.new_agent, a.make_env) for a in trained]
    sources += [("scratch", scratch.new_agent, scratch.make_env)]
    sources += [("random", lambda: RandomAgent(action_dim), scratch.make_env)]
    seeds = tuple(range(args.seeds))
    results = []
    for label, make_agent, make_env in sources:
        start = time.perf_counter()
        results.append(
            evaluate_adaptation(
                make_agent, make_env, family.test_tasks(), label=label, shots=args.shots, max_steps=steps, seeds=seeds
            )
        )
        print(f"  {label}: {time.perf_counter() - start:.0f} s", flush=True)
    return results


def reference_label(scores: list[AdaptationScores]) -> str | None:
    """The task-aware row with the highest mean return (the ceiling), or None without one."""
    from agents.algorithms import ALGORITHMS

    aware = [s for s in scores if s.label in ALGORITHMS and ALGORITHMS[s.label].observes_task]
    return max(aware, key=lambda s: float(s.mean().mean())).label if aware else None


def normalised_after_one(score: AdaptationScores, scores: list[AdaptationScores]) -> float | None:
    """Return after one shot on a scale where the random policy is 0 and the best task-aware reference 1.

    Both anchors are averaged over all their episodes (neither adapts); None without both rows.
    """
    by_label = {s.label: s for s in scores}
    reference = reference_label(scores)
    if "random" not in by_label or reference is None:
        return None
    zero, one = float(by_label["random"].mean().mean()), float(by_label[reference].mean().mean())
    return (float(score.mean()[1]) - zero) / (one - zero) if one != zero else None


def format_table(scores: list[AdaptationScores]) -> str:
    """Mean ± 95 % interval per shot, one row per agent, and the normalised score after one shot."""
    shots = scores[0].returns.shape[-1]
    header = ["agent", "before", *(f"after {k}" for k in range(1, shots)), "improved", "norm. after 1"]
    lines = ["  ".join(f"{h:>16}" for h in header)]
    for score in scores:
        cells = [f"{m:.1f} ± {c:.1f}" for m, c in zip(score.mean(), score.ci95(), strict=True)]
        improved = f"{score.improved_fraction(1):.0%}"
        normalised = normalised_after_one(score, scores)
        norm = "-" if normalised is None else f"{normalised:.0%}"
        lines.append("  ".join(f"{c:>16}" for c in [score.label, *cells, improved, norm]))
    return "\n".join(lines)


def write_csv(scores: list[AdaptationScores], path: Path) -> None:
    """One row per (agent, shot): mean, 95 % half-width, runs."""
    from agents.atomic import atomic_write

    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["agent", "shot", "mean_return", "ci95", "runs"])
    for score in scores:
        for shot, (mean, ci) in enumerate(zip(score.mean(), score.ci95(), strict=True)):
            writer.writerow([score.label, shot, f"{mean:.4f}", f"{ci:.4f}", score.per_run().shape[0]])
    atomic_write(path, lambda f: f.write(text.getvalue().encode()))


def write_plot(scores: list[AdaptationScores], path: Path, title: str) -> None:
    """Return versus shots with error bars, through pyqtgraph's image exporter (offscreen Qt)."""
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import numpy as np
    import pyqtgraph as pg
    from pyqtgraph.exporters import ImageExporter
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])  # the exporter needs one
    plot = pg.PlotWidget(background="w")
    plot.resize(800, 500)
    plot.setTitle(title, color="k")
    plot.addLegend(offset=(-10, 10), labelTextColor="k")
    for side, label in (("bottom", "episode (0: before adaptation, k: after k updates)"), ("left", "return")):
        axis = plot.getAxis(side)
        axis.setPen("k")
        axis.setTextPen("k")
        axis.setLabel(label, color="k")
    shots = scores[0].returns.shape[-1]
    plot.getAxis("bottom").setTicks([[(k, str(k)) for k in range(shots)]])
    for index, score in enumerate(scores):
        x = np.arange(score.returns.shape[-1], dtype=float) + 0.04 * index  # spread overlapping bars
        colour = pg.intColor(index, hues=max(len(scores), 3))
        plot.plot(x, score.mean(), pen=pg.mkPen(colour, width=2), symbol="o", symbolBrush=colour, name=score.label)
        plot.addItem(pg.ErrorBarItem(x=x, y=score.mean(), height=2 * score.ci95(), pen=pg.mkPen(colour), beam=0.05))
    plot.show()  # lay the title and axes out before exporting, or the exporter crops the title
    app.processEvents()
    exporter = ImageExporter(plot.plotItem)
    exporter.parameters()["width"] = 800
    partial = path.with_name(f".{path.name}.partial.png")
    exporter.export(str(partial))
    os.replace(partial, path)


def run_bench_adapt(args: argparse.Namespace) -> int:
    """Score every agent, print the table, write the CSV and the plot."""
    if args.seeds < 2 or args.shots < 2:
        raise ValueError(f"--seeds {args.seeds} / --shots {args.shots} are not allowed: both must be >= 2")
    start = time.perf_counter()
    family = load_family(args.family).name  # a name or a JSON file: files are named after the family
    scores = _score_all(args)
    print(format_table(scores))
    args.out.mkdir(parents=True, exist_ok=True)
    csv_path, png_path = args.out / f"adapt-{family}.csv", args.out / f"adapt-{family}.png"
    write_csv(scores, csv_path)
    write_plot(scores, png_path, f"{family}: held-out return vs. episodes of adaptation")
    print(f"wrote {csv_path} and {png_path} in {time.perf_counter() - start:.0f} s")
    return 0
