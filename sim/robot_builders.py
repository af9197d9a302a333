"""How each robot is built and driven: load its body into a client and say how its joints are
controlled (:class:`Control`), before :mod:`sim.robots` turns that into a :class:`~sim.robots.RobotHandle`.

Kept apart from the handle and its run-time properties because each robot kind brings its own loading
details (MJCF text for the procedural robots, the A1's rotor inertia, a user URDF's checks) and its own
gains, and ``robot.actuation`` may drive any of them another way (:func:`with_actuation`).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from dataclasses import dataclass

import numpy as np
import pybullet

from sim.bullet import BulletSim
from sim.mjcf import ModelSpec, rotor_inertia
from sim.params import RobotParams
from sim.robot_models import model_spec
from sim.tasks import ASSETS_DIR
from sim.urdf_file import RobotModelError, checked_urdf_path, missing_mesh

A1_URDF = ASSETS_DIR / "robots" / "a1" / "a1.urdf"
"""PyBullet's A1 with visual meshes cut to ~10 % of their triangles for software rendering
(``scripts/make_a1_visuals.py``); collision shapes, masses and joints are the stock model's."""

_A1_STAND = (0.0, 0.8, -1.5)  # hip, thigh, calf (rad): thigh + swings the foot back, calf - forward
_A1_MAX_TORQUE = 33.5  # N·m, the A1 motors' peak torque
_A1_ARMATURE = 0.01  # kg m², reflected rotor inertia (MuJoCo Menagerie's A1 uses the same)
_POSITION_RANGE_RAD = 0.5  # actuation "position" on a torque-native robot: target = nominal + action * this
_POSITION_SATURATION_RAD = 0.4  # ... and the strongest joint reaches its torque limit this far from its target
_POSITION_DAMPING_RATIO = 0.05  # kd = kp * this: ~half of critical damping for the ant's legs
_DEFAULT_EFFORT = 20.0  # N·m when a user URDF gives no (or a zero) effort limit
_ACTUATED_TYPES = (pybullet.JOINT_REVOLUTE,)  # continuous joints also load as JOINT_REVOLUTE


@dataclass(frozen=True)
class Control:
    """How a robot is driven and judged, independent of how it was built."""

    kind: str
    max_torques: tuple[float, ...]
    nominal: tuple[float, ...]
    fall_height: float | None
    planar: bool = False
    kp: float = 0.0
    kd: float = 0.0
    action_scale_rad: float = 0.0


def build_robot(sim: BulletSim, params: RobotParams) -> tuple[int, Control]:
    """Load ``params``' robot (the caller places it) and say how to drive it.

    Raises:
        RobotModelError: for ``name == "urdf"``, when the file is missing, malformed or has no
            revolute joint.
    """
    if params.name == "a1":
        body_id, control = _load_a1(sim, params.limb_length_scale)
    elif params.name == "urdf":
        body_id, control = _load_user_urdf(sim, params.urdf_path, params.limb_length_scale)
    else:
        body_id, control = _load_procedural(sim, model_spec(params.name, params.limb_length_scale))
    return body_id, with_actuation(control, params.actuation)


def with_actuation(control: Control, actuation: str) -> Control:
    """``control`` driven as ``actuation`` asks (see :data:`sim.params.ACTUATIONS`).

    Position targets on a robot built for torques get PD gains from its strongest motor: it saturates
    :data:`_POSITION_SATURATION_RAD` from its target, so a full action (:data:`_POSITION_RANGE_RAD`)
    asks for all of it, and weaker joints saturate sooner. Why offer it: torque-driven legs are what
    failed to learn a gait that lasts 10 s, while the PD-driven A1 learned one.
    """
    if actuation == "auto" or (actuation == "torque") == (control.kind == "torque"):
        return control
    if actuation == "torque":
        return dataclasses.replace(control, kind="torque")
    kp = max(control.max_torques) / _POSITION_SATURATION_RAD
    return dataclasses.replace(
        control, kind="pd", kp=kp, kd=kp * _POSITION_DAMPING_RATIO, action_scale_rad=_POSITION_RANGE_RAD
    )


def _load_procedural(sim: BulletSim, spec: ModelSpec) -> tuple[int, Control]:
    """Write the MJCF to a temporary file, load it, and impose the spec's inertia."""
    handle, path = tempfile.mkstemp(suffix=".xml", prefix=f"sim2adapt_{spec.name}_")
    try:
        with os.fdopen(handle, "w") as file:
            file.write(spec.to_mjcf())
        body_id = int(sim.loadMJCF(path)[0])
    finally:
        os.unlink(path)
    inertials = spec.inertials()
    for link in range(-1, sim.getNumJoints(body_id)):
        # The importer drops MJCF colours (everything draws white), so paint each link here.
        sim.changeVisualShape(body_id, link, rgbaColor=spec.rgba)
        inertial = inertials.get(link_name(sim, body_id, link))
        if inertial is not None:  # the importer's own inertia is a bounding-box guess
            sim.changeDynamics(body_id, link, mass=inertial.mass, localInertiaDiagonal=inertial.diagonal)
    hinges = spec.hinges()
    control = Control(
        kind="torque",
        max_torques=tuple(h.max_torque for h in hinges),
        nominal=tuple(h.nominal for h in hinges),
        fall_height=spec.fall_height,
        planar=spec.planar,
    )
    return body_id, control


def _load_a1(sim: BulletSim, scale: float) -> tuple[int, Control]:
    path = str(A1_URDF)
    body_id = int(sim.loadURDF(path, globalScaling=scale, flags=pybullet.URDF_USE_INERTIA_FROM_FILE))
    _add_armature(sim, body_id, actuated_joints(sim, body_id), _A1_ARMATURE)
    control = Control(
        kind="pd",
        max_torques=(_A1_MAX_TORQUE,) * 12,
        nominal=_A1_STAND * 4,
        fall_height=0.15 * scale,
        kp=50.0,
        kd=1.0,
        action_scale_rad=0.35,
    )
    return body_id, control


def _load_user_urdf(sim: BulletSim, urdf_path: str, scale: float) -> tuple[int, Control]:
    """Load a user URDF with every revolute/continuous joint actuated, or raise RobotModelError."""
    path, root = checked_urdf_path(urdf_path)
    try:
        body_id = int(sim.loadURDF(str(path), globalScaling=scale, flags=pybullet.URDF_USE_INERTIA_FROM_FILE))
    except pybullet.error as err:
        missing = missing_mesh(root, path.parent)
        if missing is not None:
            mesh, link = missing
            raise RobotModelError(
                urdf_path, f"a URDF whose meshes exist (link {link!r} uses {mesh!r}, which is not there)"
            ) from err
        raise RobotModelError(urdf_path, f"a URDF that PyBullet can load ({err})") from err
    joints = actuated_joints(sim, body_id)
    if not joints:
        kinds = sorted(
            {_JOINT_KINDS.get(sim.getJointInfo(body_id, j)[2], "other") for j in range(sim.getNumJoints(body_id))}
        )
        sim.removeBody(body_id)
        found = ", ".join(kinds) if kinds else "none"
        raise RobotModelError(urdf_path, f"a URDF with at least one revolute or continuous joint (found: {found})")
    efforts = tuple(float(sim.getJointInfo(body_id, j)[10]) for j in joints)
    lower, upper = joint_limits(sim, body_id, joints)
    control = Control(
        kind="torque",
        max_torques=tuple(e if e > 0.0 else _DEFAULT_EFFORT for e in efforts),
        nominal=tuple(float(np.clip(0.0, lo, hi)) for lo, hi in zip(lower, upper, strict=True)),
        fall_height=None,  # unknown morphology: a height threshold could end every episode at once
    )
    return body_id, control


_JOINT_KINDS = {
    pybullet.JOINT_REVOLUTE: "revolute",
    pybullet.JOINT_PRISMATIC: "prismatic",
    pybullet.JOINT_FIXED: "fixed",
    pybullet.JOINT_SPHERICAL: "spherical",
    pybullet.JOINT_PLANAR: "planar",
}


def _add_armature(sim: BulletSim, body_id: int, joints: tuple[int, ...], armature: float) -> None:
    """Add a rotor's inertia (``armature`` about the joint axis) to each joint's link.

    The URDF has no rotor inertia; without it the A1's 0.2 kg calves are so light that the PD
    damping alone nearly destabilises explicit integration at 240 Hz.
    """
    for joint in joints:
        axis = np.asarray(sim.getJointInfo(body_id, joint)[13], dtype=np.float64)  # in the link frame
        info = sim.getDynamicsInfo(body_id, joint)
        to_link = np.asarray(sim.getMatrixFromQuaternion(info[4]), dtype=np.float64).reshape(3, 3)
        inertia = np.asarray(info[2], dtype=np.float64) + rotor_inertia(to_link.T @ axis, armature)
        sim.changeDynamics(body_id, joint, localInertiaDiagonal=inertia.tolist())


def link_name(sim: BulletSim, body_id: int, link: int) -> str:
    raw = sim.getBodyInfo(body_id)[0] if link < 0 else sim.getJointInfo(body_id, link)[12]
    return str(raw.decode("utf-8"))


def actuated_joints(sim: BulletSim, body_id: int) -> tuple[int, ...]:
    return tuple(j for j in range(sim.getNumJoints(body_id)) if sim.getJointInfo(body_id, j)[2] in _ACTUATED_TYPES)


def joint_limits(sim: BulletSim, body_id: int, joints: tuple[int, ...]) -> tuple[list[float], list[float]]:
    """Joint limits; PyBullet reports ``lower > upper`` for an unlimited (continuous) joint."""
    lower, upper = [], []
    for joint in joints:
        info = sim.getJointInfo(body_id, joint)
        lo, hi = float(info[8]), float(info[9])
        lower.append(lo if lo <= hi else -np.inf)
        upper.append(hi if lo <= hi else np.inf)
    return lower, upper
