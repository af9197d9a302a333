"""Gymnasium registration: one env id per built-in robot, e.g. ``gymnasium.make("sim2adapt/Ant-v0")``."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from sim.params import ROBOT_NAMES, TaskParams, with_values

ENV_IDS: dict[str, str] = {
    "half_cheetah": "sim2adapt/HalfCheetah-v0",
    "ant": "sim2adapt/Ant-v0",
    "hexapod": "sim2adapt/Hexapod-v0",
    "a1": "sim2adapt/A1-v0",
    "urdf": "sim2adapt/Urdf-v0",
}
assert set(ENV_IDS) == set(ROBOT_NAMES), "every robot in the schema needs an env id"


def make_robot_env(robot: str, task: TaskParams | None = None, **kwargs: Any) -> gym.Env[Any, Any]:
    """Entry point behind each id: the id fixes the robot; ``task`` (if given) must agree with it."""
    from sim.envs.locomotion import LocomotionEnv  # keeps `import sim` light

    if task is None:
        if robot == "urdf":
            raise ValueError("robot.urdf_path is required for sim2adapt/Urdf-v0: pass task=TaskParams(...)")
        task = with_values(TaskParams(), {"robot.name": robot})
    elif task.robot.name != robot:
        raise ValueError(
            f"robot.name = {task.robot.name!r} is not allowed for {ENV_IDS[robot]}: it simulates {robot!r}"
        )
    return LocomotionEnv(task, **kwargs)


def register_envs() -> None:
    """Register every id (idempotent)."""
    for robot, env_id in ENV_IDS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point="sim.envs:make_robot_env", kwargs={"robot": robot})


register_envs()
