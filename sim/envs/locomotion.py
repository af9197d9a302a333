"""The locomotion env: one robot on one terrain chasing a velocity goal, in its own PyBullet client.

Follows the meta-RL task interface shared by learn2learn, garage, RLlib and Meta-World
(``sample_tasks`` / ``set_task`` / ``get_task``), typed with :class:`~sim.params.TaskParams`.
``set_task`` applies run-time properties (masses, friction, damping, gravity...) in place with
``changeDynamics``, turns 'slope' ground in place, and rebuilds the world only when other geometry
changes (limb length, terrain shape).

Determinism: after every build the world state is saved once; ``reset`` restores it (contacts
included) before applying the seeded reset noise, so the same seed and task give the same
trajectory bit for bit, however many episodes ran before.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, SupportsFloat

import gymnasium as gym
import numpy as np
import pybullet
from numpy.typing import NDArray

from sim.bullet import BulletSim
from sim.envs.env_config import CAMERA_REFERENCE_SIZE_M
from sim.envs.env_config import EnvConfig as EnvConfig  # the env's settings, importable beside it
from sim.params import TaskParams
from sim.render import Camera, Renderer
from sim.robots import (
    RobotHandle,
    apply_robot_dynamics,
    load_robot,
    place_robot,
    torque_limits,
)
from sim.task_changes import rebuild_key
from sim.tasks import TaskDistribution
from sim.terrain import (
    SLOPE_FIELDS,
    Terrain,
    apply_terrain_dynamics,
    build_terrain,
    tilt_slope,
)

Obs = NDArray[np.float32]

WORLD_CEILING_SIZES = 3.0
"""A torso higher above the ground than this many robot sizes (bounding-box diagonals) plus 1 m has
left the world: no gait gets there (a user's mini_cheetah was thrown 12 m up at the 100 rad/s joint cap)."""
WORLD_FLOOR_M = 1.0
"""A torso more than this below the ground under it has fallen off the terrain's edge or through it
(a half_cheetah sliding off the steepest slope free-fell 260 m)."""


class _TorsoState(NamedTuple):
    """One read of the torso, as plain floats: the env's hot path avoids tiny numpy arrays."""

    position: tuple[float, float, float]
    rotation: tuple[float, ...]  # row-major 3x3 body-to-world (pybullet's getMatrixFromQuaternion)
    linear_velocity: tuple[float, float, float]
    angular_velocity: tuple[float, float, float]
    height: float  # above the ground below the torso

    @property
    def up_z(self) -> float:
        """World-z component of the body's up axis: 1 upright, < 0 upside down."""
        return self.rotation[8]

    @property
    def speed(self) -> float:
        """Magnitude of the linear velocity."""
        vx, vy, vz = self.linear_velocity
        return math.sqrt(vx * vx + vy * vy + vz * vz)


def _slope(task: TaskParams) -> tuple[float, ...]:
    return tuple(getattr(task.terrain, name) for name in SLOPE_FIELDS)


class LocomotionEnv(gym.Env[Obs, NDArray[np.float32]]):
    """A robot on a terrain, rewarded for tracking a target velocity along a target heading.

    Actions are in ``[-1, 1]`` per actuated joint: torque fractions for torque-controlled robots,
    PD targets around the standing pose for PD-controlled ones. Reward terms are reported by name
    in ``info["reward_terms"]``.

    An episode ends with ``info["left_world"]`` when the torso leaves the terrain's extent or its
    height above the ground is absurd for the robot (below :data:`WORLD_FLOOR_M` under it, or above
    :data:`WORLD_CEILING_SIZES` robot sizes plus 1 m).
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 60}  # noqa: RUF012
    _terrain: Terrain

    def __init__(
        self,
        task: TaskParams | None = None,
        *,
        config: EnvConfig | None = None,
        family: TaskDistribution | None = None,
        render_mode: str | None = None,
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode = {render_mode!r} is not allowed: None or 'rgb_array'")
        self.task = task if task is not None else (family.base if family else TaskParams())
        if not isinstance(self.task, TaskParams):
            raise TypeError(f"task must be a TaskParams, got {type(self.task).__name__}")
        self.config = config or EnvConfig()
        self.family = family
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": round(1.0 / self.config.control_dt)}
        self._sim = BulletSim()
        self._renderer: Renderer | None = None
        self._camera = self.config.initial_camera()
        try:
            # The renderer comes before any body: the EGL plugin never draws bodies made before it.
            if render_mode == "rgb_array":
                self._renderer = Renderer(self._sim, backend=self.config.renderer)
            self._build_world()
        except BaseException:
            self.close()  # a failed build (a bad URDF...) must not keep the client or the EGL renderer
            raise
        n = len(self._robot.joint_indices)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(n,), dtype=np.float32)
        self._obs_dim = len(self._observe(self._read_torso()))
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(self._obs_dim,), dtype=np.float32)
        self._steps = 0

    # ----------------------------------------------------------------- task interface
    def get_task(self) -> TaskParams:
        """The task the env simulates now."""
        return self.task

    def set_task(self, task: TaskParams) -> None:
        """Switch to ``task`` in place: run-time properties at once, a slope by turning the ground about
        the point under the torso (:func:`~sim.terrain.tilt_slope`), other shapes by rebuilding the world.

        The robot model itself (``robot.name`` / ``robot.urdf_path``) cannot change, because the
        observation and action spaces depend on it: make a new env for another robot.
        """
        if not isinstance(task, TaskParams):
            raise TypeError(f"set_task needs a TaskParams, got {type(task).__name__}")
        for name in ("name", "urdf_path"):
            old, new = getattr(self.task.robot, name), getattr(task.robot, name)
            if old != new:
                raise ValueError(
                    f"robot.{name} = {new!r} is not allowed in set_task: this env simulates {old!r} "
                    "and its spaces depend on it; make a new env for another robot"
                )
        rebuild = rebuild_key(task) != rebuild_key(self.task)
        tilt = task.terrain.kind == "slope" and _slope(task) != _slope(self.task)
        self.task = task
        if rebuild:
            self._build_world()
            return
        apply_robot_dynamics(self._sim, self._robot, task.robot)
        apply_terrain_dynamics(self._sim, self._terrain, task.terrain)
        if tilt:  # about the point under the torso, so a running episode goes on; reset rebuilds
            self._terrain = tilt_slope(self._sim, self._terrain, task.terrain, self._read_torso().position[:2])
            self._ground_tilted = True

    def sample_tasks(self, n: int) -> list[TaskParams]:
        """``n`` tasks from the env's family, drawn with the env's own ``np_random``."""
        if self.family is None:
            raise ValueError("sample_tasks needs a task family: construct the env with family=...")
        return self.family.sample_tasks(n, self.np_random)

    # ----------------------------------------------------------------- gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Obs, dict[str, Any]]:
        """Restore the freshly built world, then apply seeded joint noise.

        ``options={"task": TaskParams}`` switches task first (as :meth:`set_task`).
        """
        super().reset(seed=seed)
        if options and "task" in options:
            self.set_task(options["task"])
        if self._ground_tilted:  # the saved state does not move the ground back
            self._build_world()
        self._sim.restoreState(stateId=self._state_id)
        robot = self._robot
        noise = self.np_random.uniform(-1.0, 1.0, size=len(robot.joint_indices)) * self.config.reset_noise_rad
        for joint, angle in zip(robot.joint_indices, robot.nominal_pose + noise, strict=True):
            self._sim.resetJointState(robot.body_id, joint, float(angle), 0.0)
        self._steps = 0
        torso = self._read_torso()
        info = {
            "torso_height_m": torso.height,
            # What an episode metric (sim.metrics.EpisodeMeter) needs to know before the first step.
            "control_dt_s": self.config.control_dt,
            "target_velocity_mps": self.task.goal.target_velocity_mps,
            "xy_position_m": torso.position[:2],
            "position_along_heading_m": self._along_heading(torso.position),
        }
        return self._observe(torso), info

    def step(self, action: NDArray[np.float32]) -> tuple[Obs, SupportsFloat, bool, bool, dict[str, Any]]:
        """Apply ``action`` for ``frame_skip`` physics steps and score the result."""
        # Two ufuncs instead of np.clip: the same values at a fifth of np.clip's wrapper cost.
        act = np.minimum(np.maximum(np.asarray(action, dtype=np.float64), -1.0), 1.0)
        if act.shape != self.action_space.shape:
            raise ValueError(f"action shape {act.shape} is not allowed: expected {self.action_space.shape}")
        self._simulate(act)
        self._steps += 1
        torso = self._read_torso()
        truncated = self._steps >= self.config.max_episode_steps
        if self._blew_up(torso):
            zero = np.zeros(self._obs_dim, dtype=np.float32)
            info = {"physics_blowup": True, "left_world": False, "fallen": False, "reward_terms": {}}
            return zero, 0.0, True, truncated, info
        obs = self._observe(torso)
        reward_terms, info = self._score(torso, act)
        # Plain float comparisons on the torso already read: the hot path stays cheap (MEASURED.md).
        x, y, _ = torso.position
        x_low, x_high, y_low, y_high, floor, ceiling = self._world_limits
        left = not (x_low <= x <= x_high and y_low <= y <= y_high and floor <= torso.height <= ceiling)
        info["left_world"] = left
        return obs, sum(reward_terms.values()), bool(info["fallen"]) or left, truncated, info

    def render(self) -> NDArray[np.uint8] | None:
        """An RGB frame from the camera (:meth:`set_camera`) following the torso (``render_mode="rgb_array"``)."""
        if self._renderer is None:
            return None
        cfg = self.config
        torso = self._read_torso().position
        scale = min(1.5, max(0.5, self._robot.size_m / CAMERA_REFERENCE_SIZE_M))
        camera = self._camera.looking_at(torso, distance_scale=scale)
        return self._renderer.render(camera, cfg.render_width, cfg.render_height, shadows=cfg.render_shadows)

    @property
    def robot_mass_kg(self) -> float:
        """The robot's mass without payload, kg (what a "+50 % of body mass" payload is measured against)."""
        return float(sum(self._robot.nominal_masses)) * self.task.robot.mass_scale

    @property
    def camera(self) -> Camera:
        """The orbit of the following camera (its ``target`` is replaced by the torso when rendering)."""
        return self._camera

    def set_camera(self, camera: Camera) -> None:
        """Turn or zoom the following camera; its ``target`` is ignored (the camera follows the torso)."""
        if not isinstance(camera, Camera):
            raise TypeError(f"set_camera needs a Camera, got {type(camera).__name__}")
        self._camera = camera

    @property
    def renderer_backend(self) -> str | None:
        """``egl`` or ``tiny`` when rendering, None without ``render_mode``."""
        return self._renderer.backend if self._renderer is not None else None

    def close(self) -> None:
        """Release the renderer and the PyBullet client; safe to call twice."""
        if self._renderer is not None:
            self._renderer.close()
        self._sim.close()
        super().close()

    # ----------------------------------------------------------------- internals
    def _build_world(self) -> None:
        sim = self._sim
        sim.resetSimulation()
        sim.setPhysicsEngineParameter(fixedTimeStep=self.config.time_step, deterministicOverlappingPairs=1)
        mesh_files = self._renderer is not None and self._renderer.needs_mesh_files
        visible = self._renderer is not None
        self._terrain = build_terrain(sim, self.task.terrain, visual_mesh_files=mesh_files, visible=visible)
        apply_terrain_dynamics(sim, self._terrain, self.task.terrain)
        ground = self._terrain.height_at(0.0, 0.0)
        # Load clear of the ground, then set down at the height the loaded model reports.
        self._robot: RobotHandle = load_robot(sim, self.task.robot, position=(0.0, 0.0, ground + 10.0))
        place_robot(sim, self._robot, position=(0.0, 0.0, ground + self._robot.spawn_height))
        self._world_limits = self._measure_world_limits()
        self._state_id: int = sim.saveState()
        self._ground_tilted = False

    def _measure_world_limits(self) -> tuple[float, float, float, float, float, float]:
        """x and y extent of the ground (the union of its shapes' boxes), then the torso heights above
        the ground between which the robot is still in the world (see :data:`WORLD_FLOOR_M`)."""
        sim, body = self._sim, self._terrain.body_id
        boxes = [sim.getAABB(body, link) for link in range(-1, sim.getNumJoints(body))]
        x_low, y_low = min(box[0][0] for box in boxes), min(box[0][1] for box in boxes)
        x_high, y_high = max(box[1][0] for box in boxes), max(box[1][1] for box in boxes)
        ceiling = 1.0 + WORLD_CEILING_SIZES * self._robot.size_m
        return float(x_low), float(x_high), float(y_low), float(y_high), -WORLD_FLOOR_M, ceiling

    def _simulate(self, act: NDArray[np.float64]) -> None:
        """``frame_skip`` physics steps; torques are fixed for torque control, recomputed for PD."""
        robot, sim = self._robot, self._sim
        limit = torque_limits(robot, self.task.robot)
        pd_control = robot.control == "pd"
        target = robot.nominal_pose + act * robot.action_scale_rad if pd_control else act
        torques = (act * limit).tolist()
        for _ in range(self.config.frame_skip):
            if pd_control:
                q, qd = self._joint_state()
                pd = robot.pd_kp * (target - np.array(q)) - robot.pd_kd * np.array(qd)
                torques = np.clip(pd, -limit, limit).tolist()
            sim.setJointMotorControlArray(robot.body_id, robot.joint_indices, pybullet.TORQUE_CONTROL, forces=torques)
            sim.stepSimulation()

    def _read_torso(self) -> _TorsoState:
        sim, robot = self._sim, self._robot
        if robot.torso_link < 0:
            pos, orn = sim.getBasePositionAndOrientation(robot.body_id)
            lin, ang = sim.getBaseVelocity(robot.body_id)
        else:
            link = sim.getLinkState(robot.body_id, robot.torso_link, computeLinkVelocity=1)
            pos, orn, lin, ang = link[0], link[1], link[6], link[7]
        height = pos[2] - self._terrain.height_at(pos[0], pos[1])
        return _TorsoState(pos, sim.getMatrixFromQuaternion(orn), lin, ang, height)

    def _joint_state(self) -> tuple[list[float], list[float]]:
        """Angles and speeds of the actuated joints, as lists (cheaper than arrays at this size)."""
        states = self._sim.getJointStates(self._robot.body_id, self._robot.joint_indices)
        return [s[0] for s in states], [s[1] for s in states]

    def _observe(self, torso: _TorsoState) -> Obs:
        r = torso.rotation
        yaw = math.atan2(r[3], r[0])
        cos_yaw, sin_yaw = math.cos(yaw), math.sin(yaw)
        vx, vy, vz = torso.linear_velocity
        wx, wy, wz = torso.angular_velocity
        body_angular = (
            r[0] * wx + r[3] * wy + r[6] * wz,
            r[1] * wx + r[4] * wy + r[7] * wz,
            r[2] * wx + r[5] * wy + r[8] * wz,
        )
        q, qd = self._joint_state()
        values = [
            torso.height,
            *r[6:9],  # world up axis in the body frame: roll and pitch without angle wrap-around
            cos_yaw,
            sin_yaw,
            cos_yaw * vx + sin_yaw * vy,  # velocity in the heading frame
            -sin_yaw * vx + cos_yaw * vy,
            vz,
            *body_angular,
        ]
        if self.config.observe_goal:
            heading_error = math.radians(self.task.goal.target_heading_deg) - yaw
            values += [self.task.goal.target_velocity_mps, math.cos(heading_error), math.sin(heading_error)]
        values += q
        values += [0.1 * v for v in qd]
        return np.array(values, dtype=np.float32)

    def _blew_up(self, torso: _TorsoState) -> bool:
        # One sum carries any NaN or inf through: a cheap check on the hot path.
        if not math.isfinite(sum(torso.position) + sum(torso.linear_velocity) + sum(torso.angular_velocity)):
            return True
        return torso.speed > self.config.max_speed_mps

    def _along_heading(self, vector: tuple[float, ...]) -> float:
        """Component of a world-frame vector along the target heading (planar robots: along x, where they move)."""
        if self._robot.planar:
            return vector[0]
        heading = math.radians(self.task.goal.target_heading_deg)
        return vector[0] * math.cos(heading) + vector[1] * math.sin(heading)

    def _velocity_error(self, torso: _TorsoState) -> float:
        goal = self.task.goal
        vx, vy, _ = torso.linear_velocity
        if self._robot.planar:
            return abs(vx - goal.target_velocity_mps)
        heading = math.radians(goal.target_heading_deg)
        return math.hypot(
            vx - goal.target_velocity_mps * math.cos(heading), vy - goal.target_velocity_mps * math.sin(heading)
        )

    def _score(self, torso: _TorsoState, act: NDArray[np.float64]) -> tuple[dict[str, float], dict[str, Any]]:
        cfg, robot = self.config, self._robot
        can_fall = robot.fall_height is not None
        fallen = can_fall and (torso.height < (robot.fall_height or 0.0) or torso.up_z < 0.0)
        error = self._velocity_error(torso)
        if cfg.tracking_reward == "exp":
            tracking = math.exp(-((error / cfg.tracking_sigma_mps) ** 2))
        else:
            tracking = -error
        terms = {
            "velocity_tracking": tracking,
            "control": -cfg.ctrl_cost_weight * float(act @ act) / len(act),
            "alive": cfg.alive_bonus if can_fall and not fallen else 0.0,
            "fall": -cfg.fall_penalty if fallen else 0.0,
        }
        info = {
            "reward_terms": terms,
            "fallen": fallen,
            "upside_down": torso.up_z < 0.0,  # a robot that cannot fall (the planar cheetah) can still flip
            "physics_blowup": False,
            "torso_height_m": torso.height,
            "x_position_m": torso.position[0],
            "xy_position_m": torso.position[:2],
            "velocity_mps": torso.linear_velocity[:2],
            "velocity_along_heading_mps": self._along_heading(torso.linear_velocity),
            "position_along_heading_m": self._along_heading(torso.position),
        }
        return terms, info
