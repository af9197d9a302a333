"""Load a robot into a :class:`~sim.bullet.BulletSim` and apply its run-time physical properties.

Robots (``RobotParams.name``):

- ``half_cheetah``: the planar runner, generated as MJCF (:mod:`sim.robot_models`), ~14 kg, six
  torque-controlled joints; a fixed base with passive root joints slide-x, slide-z, hinge-y
  carries the torso, which is a link.
- ``ant``: the classic four-legged ant (hip + ankle per leg), generated as MJCF with sane masses
  (~13.5 kg); only its feet touch the ground (see :func:`sim.robot_models.ant`).
- ``hexapod``: a six-legged walker of our own (hip yaw + knee per leg), generated as MJCF;
  ~5.5 kg; stands with zero torque, resting on its knee limits.
- ``a1``: Unitree A1 from ``pybullet_data`` (with lighter visual meshes, :data:`A1_URDF`),
  PD-controlled around a standing pose, with the rotor inertia the URDF lacks.
- ``urdf``: the user's file at ``robot.urdf_path``: the base link is the torso and every
  revolute/continuous joint is torque-controlled (limit: the URDF effort, else 20 N·m).

What ``limb_length_scale`` does:

- ``half_cheetah``, ``ant``, ``hexapod``: multiplies the length of every leg segment (for the
  ant also the hip offset drawn from the torso, part of its leg); the torso and where the legs
  attach to it keep their size, and segment masses follow their length.
- ``a1`` and ``urdf``: PyBullet's ``globalScaling``, a uniform scale of the whole body (lengths
  and offsets, torso included; masses unchanged). PyBullet cannot lengthen single links of a mesh
  model, so this is the only faithful option for a file-based robot.

Changing any of :data:`ROBOT_GEOMETRY_FIELDS` needs a new :func:`load_robot`; everything else is
applied in place by :func:`apply_robot_dynamics`, except ``motor_strength_scale`` and the weak leg,
which the env applies by scaling :attr:`RobotHandle.max_torques` (:func:`torque_limits`). Joint
damping is capped where the time step could not integrate it stably (:func:`stable_damping`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pybullet
from numpy.typing import NDArray

from sim.bullet import BulletSim
from sim.params import ROBOT_LEGS, RobotParams
from sim.robot_builders import A1_URDF as A1_URDF  # where the A1 comes from, importable beside the handle
from sim.robot_builders import Control, actuated_joints, build_robot, joint_limits, link_name

ROBOT_GEOMETRY_FIELDS: tuple[str, ...] = ("name", "urdf_path", "limb_length_scale", "actuation")
"""Fields of :class:`~sim.params.RobotParams` whose change needs the robot rebuilt."""

SPAWN_CLEARANCE_M = 0.02
"""Gap left between the lowest point of the robot and the ground when it is placed."""


@dataclass(frozen=True, eq=False)
class RobotHandle:
    """Everything the env needs to drive and judge one loaded robot; angles in rad, torques in N·m."""

    body_id: int
    torso_link: int
    """-1 when the torso is the base link, else its link index (the planar half_cheetah)."""
    joint_indices: tuple[int, ...]
    """Actuated joints, in action order."""
    joint_names: tuple[str, ...]
    joint_lower: NDArray[np.float64]
    """Lower joint limits (``-inf`` for a continuous joint)."""
    joint_upper: NDArray[np.float64]
    max_torques: NDArray[np.float64]
    """Torque limits at ``motor_strength_scale == 1``."""
    control: str
    """``"torque"``: torque = action * max_torque; ``"pd"``: action -> target angle."""
    pd_kp: float
    pd_kd: float
    action_scale_rad: float
    """For ``"pd"``: target = nominal_pose + action * action_scale_rad."""
    nominal_pose: NDArray[np.float64]
    """Joint angles at reset, and the PD centre."""
    spawn_height: float
    """Base height above the ground at reset, m: placed there (:func:`place_robot`), the robot's
    lowest point is :data:`SPAWN_CLEARANCE_M` above the ground."""
    fall_height: float | None
    """The episode ends when the torso is lower than this above the ground; None = never."""
    planar: bool
    nominal_masses: tuple[float, ...]
    """Masses of the base (-1) then links 0..N-1 at ``mass_scale == 1``."""
    nominal_inertias: tuple[tuple[float, float, float], ...]
    """Principal inertias (kg m²) of the same links at ``mass_scale == 1``."""
    size_m: float
    """Diagonal of the robot's bounding box at the nominal pose, m (limb length scale included): the
    following camera keeps robots from the 0.75 m A1 to the 2.5 m ant equally in frame."""
    joint_mobility: float
    """Largest eigenvalue (1/(kg m²)) of the inverse mass matrix over the actuated joints, at the
    nominal pose and ``mass_scale == 1``: how fast the lightest joint motion answers a torque.
    Bounds the damping that explicit integration keeps stable (see :func:`stable_damping`)."""


def load_robot(sim: BulletSim, params: RobotParams, *, position: tuple[float, float, float]) -> RobotHandle:
    """Build or load the robot with its base at ``position``, upright, yaw 0, in its nominal pose.

    The base is the torso's centre of mass, except for the planar half_cheetah, whose fixed base
    carries the torso (at rest on it). The env picks ``z`` as ground height + :func:`spawn_height`.

    The default velocity motors are disabled (so torque control works) and
    :func:`apply_robot_dynamics` is applied.

    Raises:
        RobotModelError: for ``name == "urdf"``, when the file is missing, malformed or has no
            revolute joint.
    """
    body_id, control = build_robot(sim, params)
    robot = _make_handle(sim, body_id, control)
    place_robot(sim, robot, position=position)
    apply_robot_dynamics(sim, robot, params)
    return robot


def torque_limits(robot: RobotHandle, params: RobotParams) -> NDArray[np.float64]:
    """Each actuated joint's torque limit under ``params``: the robot's limits times
    ``motor_strength_scale``, the weak leg's joints (``weak_leg``) also times ``weak_leg_strength``."""
    limits = robot.max_torques * params.motor_strength_scale
    if params.weak_leg >= 0:
        per_leg = len(limits) // ROBOT_LEGS[params.name]
        limits[params.weak_leg * per_leg : (params.weak_leg + 1) * per_leg] *= params.weak_leg_strength
    return limits


def spawn_height(params: RobotParams) -> float:
    """Base height above the ground at reset for ``params``, before anything is loaded.

    Loads the robot once into a throw-away client (a few ms; ~0.1 s for the A1's meshes), so the env
    can choose the spawn position before :func:`load_robot`. Equals the handle's ``spawn_height``.
    """
    with BulletSim() as scratch:
        return load_robot(scratch, params, position=(0.0, 0.0, 10.0)).spawn_height


def place_robot(sim: BulletSim, robot: RobotHandle, *, position: tuple[float, float, float]) -> None:
    """Put the base at ``position`` (upright, yaw 0), joints at the nominal pose, everything at rest."""
    sim.resetBasePositionAndOrientation(robot.body_id, position, (0.0, 0.0, 0.0, 1.0))
    sim.resetBaseVelocity(robot.body_id, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0))
    nominal = dict(zip(robot.joint_indices, robot.nominal_pose, strict=True))
    for joint in range(sim.getNumJoints(robot.body_id)):
        # Planar root joints are not actuated and go back to 0: the torso sits on the base.
        sim.resetJointState(robot.body_id, joint, float(nominal.get(joint, 0.0)), 0.0)


def apply_robot_dynamics(sim: BulletSim, robot: RobotHandle, params: RobotParams) -> None:
    """Apply the run-time robot properties in place with ``changeDynamics``.

    Every link's mass and inertia become nominal * ``mass_scale``; the torso also carries
    ``payload_kg`` (its inertia grows in proportion, as if the payload were spread like the torso);
    actuated joints get ``joint_damping`` (capped by :func:`stable_damping`); every link gets
    ``foot_friction`` as lateral friction and restitution 1, so that the ground's restitution is the
    effective one (Bullet multiplies the two). ``motor_strength_scale`` is not applied here: the env
    scales the torque limits.
    """
    torso = robot.torso_link
    for link, (mass, inertia) in enumerate(zip(robot.nominal_masses, robot.nominal_inertias, strict=True), start=-1):
        if mass <= 0.0:  # the fixed base or a massless connector link: nothing to scale
            sim.changeDynamics(robot.body_id, link, lateralFriction=params.foot_friction, restitution=1.0)
            continue
        new_mass = mass * params.mass_scale + (params.payload_kg if link == torso else 0.0)
        factor = new_mass / mass
        sim.changeDynamics(
            robot.body_id,
            link,
            mass=new_mass,
            localInertiaDiagonal=[i * factor for i in inertia],
            lateralFriction=params.foot_friction,
            restitution=1.0,
        )
    damping = stable_damping(sim, robot, params)
    for joint in robot.joint_indices:
        sim.changeDynamics(robot.body_id, joint, jointDamping=damping)


def stable_damping(sim: BulletSim, robot: RobotHandle, params: RobotParams) -> float:
    """``params.joint_damping``, capped where the time step could not carry it.

    Bullet applies joint damping explicitly, as the env applies a PD controller's ``kd``. With joint
    damping c on every actuated joint, a step dt scales the joint speeds' fastest mode by
    1 - c * dt * :attr:`RobotHandle.joint_mobility`, which grows into oscillation below -1. The cap
    keeps joint damping plus ``pd_kd`` at most 1 / (dt * mobility): that mode then stops in one step,
    the strongest damping a step can show, with a factor 2 of margin for other poses. At 240 Hz,
    thanks to their armature (rotor inertia), the half_cheetah and the ant take the schema's full
    5 N·m·s/rad, the hexapod ~3.3 and the A1 ~0.4 on top of its PD; a user URDF with light links may
    be capped lower still. Without the cap such robots leave the simulation at 100 rad/s.
    """
    if robot.joint_mobility <= 0.0:  # unknown (see _joint_mobility)
        return params.joint_damping
    engine = sim.getPhysicsEngineParameters()
    dt = float(engine["fixedTimeStep"]) / max(1, int(engine["numSubSteps"]))
    cap = params.mass_scale / (dt * robot.joint_mobility) - robot.pd_kd
    return float(np.clip(cap, 0.0, params.joint_damping))


def _make_handle(sim: BulletSim, body_id: int, control: Control) -> RobotHandle:
    """Discover joints and masses of a freshly loaded body, disable its motors, measure its height."""
    movable = [j for j in range(sim.getNumJoints(body_id)) if sim.getJointInfo(body_id, j)[2] != pybullet.JOINT_FIXED]
    sim.setJointMotorControlArray(body_id, movable, pybullet.VELOCITY_CONTROL, forces=[0.0] * len(movable))
    joints = actuated_joints(sim, body_id)
    if control.planar:  # the first three movable joints are the passive root slide-x, slide-z, hinge-y
        joints = tuple(j for j in joints if j not in movable[:3])
    lower, upper = joint_limits(sim, body_id, joints)
    links = range(-1, sim.getNumJoints(body_id))
    dynamics = [sim.getDynamicsInfo(body_id, link) for link in links]
    torso = next((link for link in links if link_name(sim, body_id, link) == "torso"), -1) if control.planar else -1
    robot = RobotHandle(
        body_id=body_id,
        torso_link=torso,
        joint_indices=joints,
        joint_names=tuple(str(sim.getJointInfo(body_id, j)[1].decode("utf-8")) for j in joints),
        joint_lower=np.asarray(lower),
        joint_upper=np.asarray(upper),
        max_torques=np.asarray(control.max_torques, dtype=np.float64),
        control=control.kind,
        pd_kp=control.kp,
        pd_kd=control.kd,
        action_scale_rad=control.action_scale_rad,
        # Clipped because PyBullet stores limits in single precision (-0.3 reads back as -0.30000001).
        nominal_pose=np.clip(np.asarray(control.nominal, dtype=np.float64), lower, upper),
        spawn_height=0.0,  # measured below, once the handle can place the robot
        fall_height=control.fall_height,
        planar=control.planar,
        nominal_masses=tuple(float(d[0]) for d in dynamics),
        nominal_inertias=tuple((float(d[2][0]), float(d[2][1]), float(d[2][2])) for d in dynamics),
        size_m=0.0,  # measured below, once the robot stands in its nominal pose
        joint_mobility=0.0,
    )
    place_robot(sim, robot, position=(0.0, 0.0, 0.0))
    return dataclasses.replace(
        robot,
        spawn_height=_spawn_height(sim, robot),
        size_m=_bounding_box_diagonal(sim, body_id),
        joint_mobility=_joint_mobility(sim, robot, movable),
    )


def _bounding_box_diagonal(sim: BulletSim, body_id: int) -> float:
    boxes = [sim.getAABB(body_id, link) for link in range(-1, sim.getNumJoints(body_id))]
    low = np.min([box[0] for box in boxes], axis=0)
    high = np.max([box[1] for box in boxes], axis=0)
    return float(np.linalg.norm(high - low))


def _joint_mobility(sim: BulletSim, robot: RobotHandle, movable: list[int]) -> float:
    """Largest eigenvalue of the inverse mass matrix over the actuated joints, at the current pose.

    0 (unknown: damping is then not capped) when PyBullet cannot build the mass matrix, as for a
    user URDF whose inertia is not physically valid, or the matrix is singular (massless links).
    """
    positions = [float(state[0]) for state in sim.getJointStates(robot.body_id, movable)]
    try:
        mass_matrix = np.asarray(sim.calculateMassMatrix(robot.body_id, positions), dtype=np.float64)
        inverse = np.linalg.inv(mass_matrix)
    except (pybullet.error, np.linalg.LinAlgError):
        return 0.0
    base_dofs = mass_matrix.shape[0] - len(movable)  # 6 for a floating base, 0 for a fixed one
    dofs = [base_dofs + movable.index(joint) for joint in robot.joint_indices]
    return float(np.linalg.eigvalsh(inverse[np.ix_(dofs, dofs)]).max())


def _spawn_height(sim: BulletSim, robot: RobotHandle) -> float:
    """Base height above the robot's lowest point, the robot being placed at the origin.

    Link AABBs are too loose for this (Bullet boxes a rotated capsule's box: 13 cm too high for the
    ant), so the exact distance to a probe box below is asked instead. The probe is a bare collision
    shape, never a body, so it touches nothing; it is left to the world (removing a shape makes
    PyBullet 3.2.7 print a warning) and goes with the next ``resetSimulation``.
    """
    depth = 100.0
    probe = sim.createCollisionShape(pybullet.GEOM_BOX, halfExtents=[depth, depth, 1.0])
    points = sim.getClosestPoints(
        robot.body_id,
        -1,
        2.0 * depth,
        collisionShapeB=probe,
        collisionShapePositionB=[0.0, 0.0, -depth - 1.0],
    )
    lowest = min(float(point[8]) for point in points) - depth
    return -lowest + SPAWN_CLEARANCE_M
