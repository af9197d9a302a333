"""``sim2adapt bench sim``: simulation throughput, printed as a table (never a timed test).

For each built-in robot on flat and rough ground it measures, in env steps per second:
``raw`` (a plain PyBullet loop: same robot, terrain and frame skip, torque commands every physics
step and a full state read every env step), ``env`` (:class:`LocomotionEnv` with random actions),
their ratio, and the :class:`VectorSampler` with 1, 2 and 4 workers over the same number of envs.
Targets from the foundation issue: env >= 85 % of raw, 2 workers >= 1.7x one, rough >= 50 % of flat.

For ``sim2adapt bench memory`` (:mod:`app.cli.bench_memory`): MB and seconds per rough-ground
rebuild as sampler workers and the preview rebuild it (:func:`measure_rebuild_memory`), and env
steps/s when every episode starts on a new task (:func:`run_switching_benchmark`).
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np
import pybullet
from numpy.typing import NDArray

from sim.bullet import BulletSim
from sim.envs.locomotion import EnvConfig, LocomotionEnv
from sim.params import ROBOT_NAMES, TaskParams, with_values
from sim.robots import load_robot, place_robot
from sim.sampler import ActionTablePolicy, EpisodeJob, VectorSampler
from sim.terrain import apply_terrain_dynamics, build_terrain

BUILTIN_ROBOTS = tuple(name for name in ROBOT_NAMES if name != "urdf")


@dataclass(frozen=True)
class SimBenchRow:
    """One robot x terrain line of the table (steps/s are env steps, i.e. frame_skip physics steps)."""

    robot: str
    terrain: str
    raw_steps_per_s: float
    env_steps_per_s: float
    sampler_steps_per_s: dict[int, float]

    @property
    def env_over_raw(self) -> float:
        """Fraction of raw PyBullet speed the env keeps."""
        return self.env_steps_per_s / self.raw_steps_per_s


def _timed_loop(step: Callable[[], object], seconds: float) -> float:
    """Call ``step()`` repeatedly for about ``seconds``; returns calls per second."""
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        step()
        count += 1
        if time.perf_counter() >= deadline:
            return count / (time.perf_counter() - start)


def random_actions(action_dim: int, rows: int = 1024) -> NDArray[np.float32]:
    """A fixed table of uniform actions that every measurement cycles through (drawing costs nothing)."""
    return np.random.default_rng(0).uniform(-1.0, 1.0, (rows, action_dim)).astype(np.float32)


def measure_raw(task: TaskParams, config: EnvConfig, seconds: float, episode_steps: int = 200) -> float:
    """Env steps/s of a bare PyBullet loop with the env's robot, terrain and frame skip."""
    with BulletSim() as sim:
        sim.setPhysicsEngineParameter(fixedTimeStep=config.time_step, deterministicOverlappingPairs=1)
        terrain = build_terrain(sim, task.terrain)
        apply_terrain_dynamics(sim, terrain, task.terrain)
        ground = terrain.height_at(0.0, 0.0)
        robot = load_robot(sim, task.robot, position=(0.0, 0.0, ground + 10.0))
        place_robot(sim, robot, position=(0.0, 0.0, ground + robot.spawn_height))
        state_id = sim.saveState()
        joints, body = list(robot.joint_indices), robot.body_id
        torque_table = (random_actions(len(joints)) * robot.max_torques).tolist()
        steps = [0]

        def step() -> None:
            torques = torque_table[steps[0] % len(torque_table)]
            for _ in range(config.frame_skip):
                if robot.control == "pd":  # a PD-driven robot needs its joint state every physics step
                    states = sim.getJointStates(body, joints)
                    q, qd = np.array([s[0] for s in states]), np.array([s[1] for s in states])
                    torques = (robot.pd_kp * (robot.nominal_pose - q) - robot.pd_kd * qd).tolist()
                sim.setJointMotorControlArray(body, joints, pybullet.TORQUE_CONTROL, forces=torques)
                sim.stepSimulation()
            if robot.torso_link < 0:
                sim.getBasePositionAndOrientation(body)
                sim.getBaseVelocity(body)
            else:  # the planar runner's torso is a link
                sim.getLinkState(body, robot.torso_link, computeLinkVelocity=1)
            sim.getJointStates(body, joints)
            steps[0] += 1
            if steps[0] % episode_steps == 0:
                sim.restoreState(stateId=state_id)

        return _timed_loop(step, seconds)


def measure_env(task: TaskParams, config: EnvConfig, seconds: float) -> float:
    """Env steps/s of :class:`LocomotionEnv` with uniformly random actions."""
    env = LocomotionEnv(task, config=config)
    try:
        env.reset(seed=0)
        actions = random_actions(int(np.prod(env.action_space.shape or (0,))))
        steps = [0]

        def step() -> None:
            _, _, terminated, truncated, _ = env.step(actions[steps[0] % len(actions)])
            steps[0] += 1
            if terminated or truncated:
                env.reset()

        return _timed_loop(step, seconds)
    finally:
        env.close()


def measure_samplers(
    task: TaskParams,
    config: EnvConfig,
    *,
    num_envs: int,
    workers: Sequence[int],
    episodes: int = 64,
    repeats: int = 3,
) -> dict[int, float]:
    """Env steps/s of :meth:`VectorSampler.run_episodes` collecting ``episodes`` episodes, per worker count.

    Every episode of every run simulates exactly the same motion (one seed, one action table, the
    full horizon), so worker counts differ only in how the same work is spread. Jobs are as large
    as the biggest worker count allows, identical for every count. Samplers are timed in
    interleaved rounds, best kept.
    """
    probe = LocomotionEnv(task, config=config)
    table = random_actions(int(np.prod(probe.action_space.shape or (0,))))
    probe.close()
    per_job = max(1, num_envs // max(workers))
    jobs = [EpisodeJob(ActionTablePolicy(table), (task,) * per_job, (0,) * per_job)] * (episodes // per_job)
    steps = len(jobs) * per_job * config.max_episode_steps
    with ExitStack() as stack:
        samplers = {
            w: stack.enter_context(VectorSampler([task] * num_envs, num_workers=w, config=config)) for w in workers
        }
        best = dict.fromkeys(workers, 0.0)
        for _ in range(repeats):
            for w, sampler in samplers.items():
                start = time.perf_counter()
                sampler.run_episodes(jobs, config.max_episode_steps)
                best[w] = max(best[w], steps / (time.perf_counter() - start))
        return best


def _raw_and_env(task: TaskParams, config: EnvConfig, seconds: float, repeats: int) -> tuple[float, float]:
    """Best of ``repeats`` interleaved raw/env runs: noise on a shared VM only ever slows a run down."""
    raw, env = [], []
    for _ in range(repeats):
        raw.append(measure_raw(task, config, seconds / repeats))
        env.append(measure_env(task, config, seconds / repeats))
    return max(raw), max(env)


def run_sim_benchmark(
    *,
    robots: Sequence[str] = BUILTIN_ROBOTS,
    terrains: Sequence[str] = ("flat", "rough"),
    seconds: float = 3.0,
    repeats: int = 5,
    num_envs: int = 8,
    workers: Sequence[int] = (1, 2, 4),
) -> list[SimBenchRow]:
    """Measure every robot x terrain; returns the rows (see :func:`format_table`)."""
    config = EnvConfig(max_episode_steps=200)
    rows = []
    for robot in robots:
        for terrain in terrains:
            task = with_values(TaskParams(), {"robot.name": robot, "terrain.kind": terrain})
            raw, env = _raw_and_env(task, config, seconds, repeats)
            sampler = measure_samplers(task, config, num_envs=num_envs, workers=workers, repeats=repeats)
            rows.append(SimBenchRow(robot, terrain, raw, env, sampler))
    return rows


def format_table(rows: Sequence[SimBenchRow]) -> str:
    """The benchmark table, with the three target ratios per row."""
    workers = sorted(rows[0].sampler_steps_per_s) if rows else []
    flat = {r.robot: r.env_steps_per_s for r in rows if r.terrain == "flat"}
    head = ["robot", "terrain", "raw/s", "env/s", "env/raw"]
    head += [f"{w} wkr/s" for w in workers] + ["2wkr/1wkr", "rough/flat"]
    lines = [head]
    for r in rows:
        s = r.sampler_steps_per_s
        speedup = f"{s[2] / s[1]:.2f}x" if 1 in s and 2 in s else "-"
        rough = f"{r.env_steps_per_s / flat[r.robot]:.0%}" if r.terrain != "flat" and r.robot in flat else "-"
        lines.append(
            [r.robot, r.terrain, f"{r.raw_steps_per_s:,.0f}", f"{r.env_steps_per_s:,.0f}", f"{r.env_over_raw:.0%}"]
            + [f"{s[w]:,.0f}" for w in workers]
            + [speedup, rough]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    text = ["  ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True)) for line in lines]
    text.insert(1, "  ".join("-" * w for w in widths))
    footer = "targets: env/raw >= 85%, 2wkr/1wkr >= 1.70x (2 cores), rough/flat >= 50%"
    return "\n".join([*text, footer])


# ----------------------------------------------------------------------------- rough ground: memory and task switches
def current_rss_mb() -> float:
    """This process's resident memory, MB (Linux ``/proc/self/statm``; elsewhere the peak so far)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def switching_tasks(robot: str, terrain: str, count: int, seed: int = 0) -> list[TaskParams]:
    """``count`` tasks as a terrain family draws them (the a1-rough family's ranges), all different.

    On rough ground every task has another seed, bump size and height, so every switch rebuilds
    the world; on other kinds only the friction changes, which is applied in place.
    """
    rng = np.random.default_rng(seed)
    tasks = []
    for _ in range(count):
        values: dict[str, object] = {"robot.name": robot, "terrain.kind": terrain}
        values["terrain.friction"] = float(rng.uniform(0.4, 1.2))
        if terrain == "rough":
            values["terrain.rough_amplitude_m"] = float(rng.uniform(0.0, 0.1))
            values["terrain.rough_feature_m"] = float(rng.uniform(0.4, 2.0))
            values["terrain.rough_seed"] = int(rng.integers(0, 1_000_000))
        tasks.append(with_values(TaskParams(), values))
    return tasks


@dataclass(frozen=True)
class RebuildMemoryRow:
    """Memory and time of rebuilding one env's rough ground again and again (one process)."""

    robot: str
    visuals: str
    """``none`` (a sampler worker's env) or the renderer that draws the ground (a preview's env)"""
    rebuilds: int
    rss_after_warmup_mb: float
    rss_end_mb: float
    mb_per_rebuild: float
    """least-squares slope of the process's RSS over the rebuilds after the warm-up"""
    s_per_rebuild: float
    """median time of ``set_task`` (reset of the world, ground, robot, saved state)"""


def measure_rebuild_memory(
    robot: str, *, rebuilds: int, render: bool, renderer: str = "auto", warmup: int = 5
) -> RebuildMemoryRow:
    """Switch one env between ``rebuilds`` distinct rough tasks, as a sampler worker (``render=False``)
    or the window's preview (``render=True``: a frame after each switch) does; run it in a fresh process."""
    tasks = switching_tasks(robot, "rough", rebuilds + 1)
    config = EnvConfig(renderer=renderer, render_width=160, render_height=120)
    env = LocomotionEnv(tasks[0], config=config, render_mode="rgb_array" if render else None)
    try:
        rss, seconds = [], []
        for k, task in enumerate(tasks[1:]):
            start = time.perf_counter()
            env.set_task(task)
            seconds.append(time.perf_counter() - start)
            env.reset(seed=k)
            if render:
                env.render()
            rss.append(current_rss_mb())
        visuals = (env.renderer_backend or "?") if render else "none"
    finally:
        env.close()
    tail = np.asarray(rss[min(warmup, max(0, len(rss) - 2)) :])  # short runs keep two points for a slope
    slope = float(np.polyfit(np.arange(tail.size), tail, 1)[0]) if tail.size > 1 else float("nan")
    return RebuildMemoryRow(robot, visuals, rebuilds, float(tail[0]), float(tail[-1]), slope, float(np.median(seconds)))


@dataclass(frozen=True)
class SwitchingRow:
    """Env steps/s of episodes that each start on a new task (one env, random actions)."""

    robot: str
    terrain: str
    episode_steps: int
    steps_per_s: float
    s_per_switch: float
    """mean time of the ``reset`` that switches the task"""


def measure_switching(robot: str, terrain: str, *, episode_steps: int, seconds: float) -> SwitchingRow:
    """Run episodes of ``episode_steps`` (fewer on a fall), each on the next task of
    :func:`switching_tasks`, for about ``seconds``; the switches count in the time."""
    tasks = switching_tasks(robot, terrain, 64)
    env = LocomotionEnv(tasks[0], config=EnvConfig(max_episode_steps=episode_steps))
    try:
        actions = random_actions(int(np.prod(env.action_space.shape or (0,))))
        steps = switches = 0
        switch_time = 0.0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds or switches == 0:
            before = time.perf_counter()
            env.reset(seed=switches, options={"task": tasks[switches % len(tasks)]})
            switch_time += time.perf_counter() - before
            switches += 1
            done = False
            while not done:
                _, _, terminated, truncated, _ = env.step(actions[steps % len(actions)])
                steps += 1
                done = terminated or truncated
        elapsed = time.perf_counter() - start
    finally:
        env.close()
    return SwitchingRow(robot, terrain, episode_steps, steps / elapsed, switch_time / switches)


def run_switching_benchmark(
    *, robots: Sequence[str], episode_steps: Sequence[int], seconds: float, repeats: int = 3
) -> list[SwitchingRow]:
    """:func:`measure_switching` for every robot x episode length on flat and rough ground, in
    interleaved rounds of ``seconds / repeats``, best kept (load on a shared VM only slows a run)."""
    best: dict[tuple[str, int, str], SwitchingRow] = {}
    for _ in range(repeats):
        for robot in robots:
            for steps in episode_steps:
                for terrain in ("flat", "rough"):
                    row = measure_switching(robot, terrain, episode_steps=steps, seconds=seconds / repeats)
                    key = (robot, steps, terrain)
                    if key not in best or row.steps_per_s > best[key].steps_per_s:
                        best[key] = row
    return list(best.values())


def format_memory_table(rows: Sequence[RebuildMemoryRow]) -> str:
    """One line per robot x visuals: MB and seconds per rough-ground rebuild."""
    head = ["robot", "visuals", "rebuilds", "RSS after warm-up MB", "RSS end MB", "MB/rebuild", "s/rebuild"]
    lines = [head] + [
        [
            r.robot,
            r.visuals,
            str(r.rebuilds),
            f"{r.rss_after_warmup_mb:,.0f}",
            f"{r.rss_end_mb:,.0f}",
            f"{r.mb_per_rebuild:+.2f}",
            f"{r.s_per_rebuild:.3f}",
        ]
        for r in rows
    ]
    return _aligned(lines, footer="target: RSS flat over long runs (PyBullet 3.2.7 meshes from vertex lists: ~+11 MB)")


def format_switching_table(rows: Sequence[SwitchingRow]) -> str:
    """One line per robot x terrain x episode length, with rough over flat at the same length."""
    flat = {(r.robot, r.episode_steps): r.steps_per_s for r in rows if r.terrain == "flat"}
    head = ["robot", "terrain", "episode steps", "env steps/s", "s/switch", "rough/flat"]
    lines = [head]
    for r in rows:
        base = flat.get((r.robot, r.episode_steps))
        ratio = f"{r.steps_per_s / base:.0%}" if base and r.terrain != "flat" else "-"
        lines.append(
            [r.robot, r.terrain, str(r.episode_steps), f"{r.steps_per_s:,.0f}", f"{r.s_per_switch:.3f}", ratio]
        )
    return _aligned(lines, footer="target: rough >= 50% of flat, task switches included")


def _aligned(lines: list[list[str]], *, footer: str) -> str:
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    text = ["  ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True)) for line in lines]
    text.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join([*text, footer])
