"""A training curve in physical units: held-out tracking error of a run's snapshots vs env steps and wall-clock.

Usage: ``python scripts/training_curve.py RUN_DIR SNAPSHOT.pt [SNAPSHOT.pt ...] [--shots 2] [--seeds 3]``

Each snapshot is a copy of the run's ``checkpoint.pt`` taken while it trained (e.g. every 10
iterations). For each one this prints a markdown row: iteration, env steps and wall-clock up to it
(summed from the run's ``metrics.jsonl``), and the held-out error before and after one adaptation
episode, falls and distance, on the family's held-out tasks x seeds at 10-s episodes (the same
evaluation as ``sim2adapt bench adapt``). Wall-clock counts each iteration's own timing, so a run
paused (SIGSTOP) in the middle of an iteration counts the pause: the second figure leaves out
iterations slower than 10x the median, the mark of a pause rather than of work (as bundled sidecars do).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from agents.core.evaluation import evaluate_adaptation
from agents.storage.bundle import iteration_seconds, working_seconds
from agents.training.train import load_trained


def spent_up_to(metrics: list[dict[str, float]], iteration: int) -> tuple[int, float, float]:
    """Env steps, wall-clock seconds and wall-clock without paused iterations, over iterations < ``iteration``."""
    rows = metrics[:iteration]
    seconds = iteration_seconds(rows)
    return int(sum(row["env_steps"] for row in rows)), sum(seconds), sum(working_seconds(seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("snapshots", type=Path, nargs="+")
    parser.add_argument("--shots", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    metrics = [json.loads(line) for line in (args.run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    columns = ["iteration", "env steps", "wall-clock (without pauses)", "error before (m/s)", "after 1 shot (m/s)"]
    print("| " + " | ".join([*columns, "falls", "distance (m)"]) + " |")
    print("|---|---|---|---|---|---|---|")
    for path in args.snapshots:
        trained = load_trained(path, device=torch.device("cpu"))
        scores = evaluate_adaptation(
            trained.new_agent,
            trained.make_env,
            trained.family.test_tasks(),
            label=trained.algorithm,
            shots=args.shots,
            seeds=tuple(range(args.seeds)),
        )
        steps, seconds, working = spent_up_to(metrics, trained.iteration)
        error, ci = scores.mean("tracking_error_mps"), scores.ci95("tracking_error_mps")
        falls, distance = scores.mean("fall_share"), scores.mean("distance_m")
        print(
            f"| {trained.iteration} | {steps / 1e6:.2f} M | {seconds / 60:.0f} min ({working / 60:.0f}) "
            f"| {error[0]:.3f} ± {ci[0]:.3f} | {error[1]:.3f} ± {ci[1]:.3f} | {falls[1]:.0%} | {distance[1]:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
