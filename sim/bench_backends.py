"""``sim2adapt bench sim --backend ray``: the sampler's backends side by side, in env steps per second.

For each robot x terrain and worker count, :meth:`VectorSampler.run_episodes` collects the same
episodes (one seed, one action table, the full horizon, as :func:`sim.bench.measure_samplers` does)
on the process pool and on Ray actors, timed in interleaved rounds, best kept. Target (issue 15): on
one machine, Ray keeps >= 0.9x of the process pool; past one machine only Ray adds CPUs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np

from sim.bench import random_actions
from sim.envs.locomotion import EnvConfig, LocomotionEnv
from sim.params import TaskParams, with_values
from sim.ray_sampler import require_ray
from sim.sampler import ActionTablePolicy, EpisodeJob, SamplingConfig, VectorSampler

TARGET_RAY_OVER_PROCESS = 0.9


@dataclass(frozen=True)
class BackendRow:
    """One robot x terrain line: env steps/s per worker count on each backend."""

    robot: str
    terrain: str
    process_steps_per_s: dict[int, float]
    ray_steps_per_s: dict[int, float]

    def ratio(self, workers: int) -> float:
        """Ray's steps/s over the process pool's at ``workers``."""
        return self.ray_steps_per_s[workers] / self.process_steps_per_s[workers]


def measure_backends(
    task: TaskParams,
    config: EnvConfig,
    *,
    num_envs: int,
    workers: int,
    ray: SamplingConfig,
    episodes: int = 64,
    repeats: int = 3,
) -> tuple[float, float]:
    """(process, Ray) env steps/s of ``run_episodes`` over ``episodes`` identical episodes with ``workers`` each."""
    probe = LocomotionEnv(task, config=config)
    table = random_actions(int(np.prod(probe.action_space.shape or (0,))))
    probe.close()
    per_job = max(1, num_envs // workers)
    jobs = [EpisodeJob(ActionTablePolicy(table), (task,) * per_job, (0,) * per_job)] * (episodes // per_job)
    steps = len(jobs) * per_job * config.max_episode_steps
    with ExitStack() as stack:
        samplers = [
            stack.enter_context(VectorSampler([task] * num_envs, num_workers=workers, config=config, sampling=s))
            for s in (SamplingConfig(), ray)
        ]
        best = [0.0, 0.0]
        for _ in range(repeats):
            for k, sampler in enumerate(samplers):
                start = time.perf_counter()
                sampler.run_episodes(jobs, config.max_episode_steps)
                best[k] = max(best[k], steps / (time.perf_counter() - start))
    return best[0], best[1]


def run_backend_benchmark(
    *,
    robots: Sequence[str],
    terrains: Sequence[str],
    num_envs: int = 8,
    workers: Sequence[int] = (1, 2, 4),
    ray: SamplingConfig | None = None,
    repeats: int = 3,
) -> list[BackendRow]:
    """Every robot x terrain on both backends, with one Ray for all (local unless ``ray`` names a cluster)."""
    ray = ray or SamplingConfig(backend="ray")
    module = require_ray()
    owns = not module.is_initialized()
    if owns:  # started once here: a local Ray costs seconds to start
        module.init(
            address=ray.ray_address,
            num_cpus=None if ray.ray_address else max(workers),
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
    try:
        config = EnvConfig(max_episode_steps=200)
        rows = []
        for robot in robots:
            for terrain in terrains:
                task = with_values(TaskParams(), {"robot.name": robot, "terrain.kind": terrain})
                measured = {
                    w: measure_backends(task, config, num_envs=num_envs, workers=w, ray=ray, repeats=repeats)
                    for w in workers
                }
                process = {w: pair[0] for w, pair in measured.items()}
                rows.append(BackendRow(robot, terrain, process, {w: pair[1] for w, pair in measured.items()}))
        return rows
    finally:
        if owns:
            module.shutdown()


def format_backend_table(rows: Sequence[BackendRow]) -> str:
    """Process and Ray steps/s per worker count, and Ray over process at each count."""
    workers = sorted(rows[0].process_steps_per_s) if rows else []
    head = ["robot", "terrain"]
    for w in workers:
        head += [f"{w} wkr proc/s", f"{w} wkr ray/s", f"ray/proc {w}"]
    lines = [head]
    for r in rows:
        cells = [r.robot, r.terrain]
        for w in workers:
            cells += [f"{r.process_steps_per_s[w]:,.0f}", f"{r.ray_steps_per_s[w]:,.0f}", f"{r.ratio(w):.2f}x"]
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    text = ["  ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True)) for line in lines]
    text.insert(1, "  ".join("-" * w for w in widths))
    footer = f"target: ray/proc >= {TARGET_RAY_OVER_PROCESS:.2f}x on one machine (the same episodes, best of rounds)"
    return "\n".join([*text, footer])
