"""``sim2adapt bench sim``: simulation throughput, printed as a table (never a timed test).

For each built-in robot on flat and rough ground it measures, in env steps per second:
``raw`` (a plain PyBullet loop: same robot, terrain and frame skip, torque commands every physics
step and a full state read every env step), ``env`` (:class:`LocomotionEnv` with random actions),
their ratio, and the :class:`VectorSampler` with 1, 2 and 4 workers over the same number of envs.
Targets from the foundation issue: env >= 85 % of raw, 2 workers >= 1.7x one, rough >= 50 % of flat.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pybullet

from sim.bullet import BulletSim
from sim.envs.locomotion import EnvConfig, LocomotionEnv
from sim.params import ROBOT_NAMES, TaskParams, with_values
from sim.robots import load_robot
from sim.sampler import VectorSampler
from sim.terrain import build_terrain

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


def _timed_loop(step: object, seconds: float) -> float:
    """Call ``step()`` repeatedly for about ``seconds``; returns calls per second."""
    assert callable(step)
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        step()
        count += 1
        if count % 16 == 0 and time.perf_counter() >= deadline:
            return count / (time.perf_counter() - start)


def measure_raw(task: TaskParams, config: EnvConfig, seconds: float, episode_steps: int = 200) -> float:
    """Env steps/s of a bare PyBullet loop with the env's robot, terrain and frame skip."""
    rng = np.random.default_rng(0)
    with BulletSim() as sim:
        sim.setPhysicsEngineParameter(fixedTimeStep=config.time_step)
        terrain = build_terrain(sim, task.terrain)
        robot = load_robot(sim, task.robot, position=(0.0, 0.0, terrain.height_at(0.0, 0.0) + 1.0))
        state_id = sim.saveState()
        joints, body = list(robot.joint_indices), robot.body_id
        steps = [0]

        def step() -> None:
            torques = (rng.uniform(-1.0, 1.0, len(joints)) * robot.max_torques).tolist()
            for _ in range(config.frame_skip):
                sim.setJointMotorControlArray(body, joints, pybullet.TORQUE_CONTROL, forces=torques)
                sim.stepSimulation()
            sim.getBasePositionAndOrientation(body)
            sim.getBaseVelocity(body)
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
        env.action_space.seed(0)

        def step() -> None:
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            if terminated or truncated:
                env.reset()

        return _timed_loop(step, seconds)
    finally:
        env.close()


def measure_sampler(task: TaskParams, config: EnvConfig, seconds: float, *, num_envs: int, workers: int) -> float:
    """Env steps/s (summed over envs) of a :class:`VectorSampler` stepping random actions."""
    probe = LocomotionEnv(task, config=config)
    dim = int(np.prod(probe.action_space.shape or (0,)))
    probe.close()
    rng = np.random.default_rng(0)
    with VectorSampler([task] * num_envs, num_workers=workers, config=config) as sampler:
        sampler.reset(seeds=0)

        def step() -> None:
            sampler.step(rng.uniform(-1.0, 1.0, (num_envs, dim)).astype(np.float32))

        return num_envs * _timed_loop(step, seconds)


def run_sim_benchmark(
    *,
    robots: Sequence[str] = BUILTIN_ROBOTS,
    terrains: Sequence[str] = ("flat", "rough"),
    seconds: float = 1.0,
    num_envs: int = 8,
    workers: Sequence[int] = (1, 2, 4),
) -> list[SimBenchRow]:
    """Measure every robot x terrain; returns the rows (see :func:`format_table`)."""
    config = EnvConfig(max_episode_steps=200)
    rows = []
    for robot in robots:
        for terrain in terrains:
            task = with_values(TaskParams(), {"robot.name": robot, "terrain.kind": terrain})
            rows.append(
                SimBenchRow(
                    robot=robot,
                    terrain=terrain,
                    raw_steps_per_s=measure_raw(task, config, seconds),
                    env_steps_per_s=measure_env(task, config, seconds),
                    sampler_steps_per_s={
                        w: measure_sampler(task, config, seconds, num_envs=num_envs, workers=w) for w in workers
                    },
                )
            )
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
