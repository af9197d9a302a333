"""``sim2adapt bench online``: how each agent copes with a mid-episode change of the task.

Rows: every bundled agent of the family (or the checkpoints given) x each change of
:data:`agents.core.online_eval.PERTURBATIONS` that the family's tasks can take (a payload of +50 % of
the body mass, friction 0.3, motors at 0.6x, and on 'slope' tasks a slope 6 degrees steeper), applied
at ``--change-at`` seconds of ``--seconds``-long episodes on held-out tasks x seeds. Cells: the
tracking error over the second before the change, the peak 0.5-s error after it, the mean error from
the change to the end, the recovery time and the share of falls, with Student-t 95 % intervals.
Writes ``online-FAMILY.csv`` (one row per agent x change) and ``online-FAMILY.png``.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sim.tasks import AGENTS_DIR, load_family

if TYPE_CHECKING:
    from agents.core.adaptation import AdaptiveAgent
    from agents.training.train import TrainedAgent


def add_bench_online_parser(benchmarks: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """``bench online``: recovery from mid-episode changes, per agent and change."""
    parser: argparse.ArgumentParser = benchmarks.add_parser(
        "online", help="tracking error before and after a mid-episode change, recovery time and falls, per agent"
    )
    parser.add_argument("--family", default="ant-dynamics", help="a family name or JSON file (default: ant-dynamics)")
    parser.add_argument("--agents", nargs="+", type=Path, help="checkpoints (default: the family's bundled agents)")
    parser.add_argument("--tasks", type=int, default=8, help="the family's first N held-out tasks (default: 8)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per task (default: 3)")
    parser.add_argument("--seconds", type=float, default=10.0, help="simulated seconds per episode (default: 10)")
    parser.add_argument("--change-at", type=float, default=5.0, help="simulated second of the change (default: 5)")
    parser.add_argument(
        "--pearl-per-step",
        action="store_true",
        help="also score each PEARL agent with its posterior updated after every step (row 'ALGO-step')",
    )
    parser.add_argument("--out", type=Path, default=Path("bench"), help="folder for the CSV (default: bench)")
    return parser


def _check(args: argparse.Namespace) -> None:
    if args.tasks < 1 or args.seeds < 1:
        raise ValueError(f"--tasks {args.tasks} --seeds {args.seeds} are not allowed: each at least 1")
    if not (math.isfinite(args.seconds) and args.seconds > 0):
        raise ValueError(f"--seconds {args.seconds:g} is not allowed: a number of seconds > 0")
    if not (math.isfinite(args.change_at) and 1.0 <= args.change_at < args.seconds):
        raise ValueError(
            f"--change-at {args.change_at:g} is not allowed: from 1 s (a second before it is measured) "
            f"to less than --seconds {args.seconds:g}"
        )


def run_bench_online(args: argparse.Namespace) -> int:
    """Evaluate every agent on every change and print the table; write the CSV."""
    import torch

    from agents.core.online_eval import evaluate_online, perturbations_for, summarise
    from agents.storage.atomic import atomic_write
    from agents.training.train import load_trained
    from app.cli.online_plots import write_online_plot

    _check(args)
    family = load_family(args.family)
    paths = args.agents or sorted(AGENTS_DIR.glob(f"{family.name}-*.pt"))
    if not paths:
        raise ValueError(f"--family {family.name}: no bundled agents under {AGENTS_DIR}; give --agents CHECKPOINT ...")
    trained = [load_trained(path, device=torch.device("cpu")) for path in paths]
    dt = trained[0].settings.env_config.control_dt
    steps, change_step = round(args.seconds / dt), round(args.change_at / dt)
    tasks, seeds = family.test_tasks(args.tasks), tuple(range(args.seeds))
    contenders = [(agent.algorithm, agent.new_agent, agent) for agent in trained]
    if args.pearl_per_step:
        contenders += _per_step_contenders(trained)
    rows = []
    for label, new_agent, agent in contenders:
        for perturbation in perturbations_for(tasks):
            runs = evaluate_online(
                new_agent,
                agent.make_env,
                tasks,
                perturbation,
                seeds=seeds,
                max_steps=steps,
                change_step=change_step,
            )
            rows.append({"agent": label, "change": perturbation.name, **summarise(runs)})
            _print_row(rows[-1])
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"online-{family.name}.csv"
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(path, lambda file: file.write(text.getvalue().encode()))
    plot = path.with_suffix(".png")
    title = f"{family.name}: a change at {args.change_at:g} s of {args.seconds:g}-s episodes"
    title += f", {len(tasks)} held-out tasks x {len(seeds)} seeds"
    write_online_plot(rows, plot, title)
    print(f"wrote {path} and {plot}")
    return 0


def _per_step_contenders(trained: list[TrainedAgent]) -> list[tuple[str, Callable[[], AdaptiveAgent], TrainedAgent]]:
    """``(ALGO-step, its maker, agent)`` for each agent that can update its posterior after every step.

    Asked through the acting options (``--posterior step``), so a new algorithm that offers them gets its row too.
    """
    from agents.algorithms import offering
    from agents.training.agent_options import agent_variant, offers

    posterior = [agent for agent in trained if offers(agent, "posterior")]
    if not posterior:
        kinds = " or ".join(offering("posterior"))
        raise ValueError(f"--pearl-per-step is not allowed here: none of the agents is a {kinds} agent")
    return [(f"{agent.algorithm}-step", agent_variant(agent, "posterior", "step"), agent) for agent in posterior]


def _print_row(row: dict[str, object]) -> None:
    def cell(name: str, digits: int) -> str:
        return f"{row[name]:.{digits}f} ± {row[f'{name}_ci95']:.{digits}f}"

    print(
        f"{row['agent']:>14}  {row['change']:<24}  before {cell('before_mps', 3)} m/s  peak {cell('peak_mps', 3)} m/s  "
        f"after {cell('after_mps', 3)} m/s  recovery {cell('recovery_s', 2)} s  falls {cell('falls', 2)}",
        flush=True,
    )
