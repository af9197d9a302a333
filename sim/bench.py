"""``sim2adapt bench sim``: simulation throughput, printed as a table (never a timed test).

For each built-in robot on flat and rough ground it measures, in env steps per second:
``raw`` (a plain PyBullet loop: same robot, terrain and frame skip, torque commands every physics
step and a full state read every env step), ``env`` (:class:`LocomotionEnv` with random actions),
their ratio, and the :class:`VectorSampler` with 1, 2 and 4 workers over the same number of envs.
Targets from the foundation issue: env >= 85 % of raw, 2 workers >= 1.7x one, rough >= 50 % of flat.
"""

from __future__ import annotations

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
