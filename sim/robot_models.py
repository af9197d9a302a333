"""Procedural robot bodies (half_cheetah, ant, hexapod) written as MJCF text.

The three built-in procedural robots are generated rather than shipped as files so that
``limb_length_scale`` can lengthen the legs themselves: every leg segment length and every
leg-mounting offset is multiplied by it, while the torso keeps its size. Segment masses follow
their volume (a longer leg is a heavier leg), so the robot stays physically consistent.

This module only builds text and numbers (no PyBullet): :mod:`sim.robots` loads the result.

PyBullet's MJCF importer ignores ``density`` and MuJoCo's ``settotalmass`` (it weighs geoms at
1000 kg/m³), puts a body's centre of mass at its last geom and guesses its inertia from a bounding
box. So each :class:`Body` carries its intended mass; :meth:`Body.inertial` computes the centre of
mass and inertia from the geoms (plus the joint's armature, the rotor inertia MuJoCo models have
and PyBullet lacks), the MJCF states mass and centre in ``<inertial>``, and the loader sets the
inertia with ``changeDynamics``. Collision filters ``contype=1 conaffinity=0`` (as in the classic
models) let every geom touch the ground but not the robot's other links, which keeps contacts few
and the simulation fast.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Vec3 = tuple[float, float, float]

HALF_CHEETAH_MASS_KG = 14.0
"""Total mass of the half_cheetah at limb_length_scale 1, as the classic model's ``settotalmass``."""

_CHEETAH_RADIUS = 0.046
_CHEETAH_ARMATURE = 0.1  # kg m², the classic model's value
_ANT_RADIUS = 0.08


def _fmt(values: tuple[float, ...]) -> str:
    return " ".join(f"{v:.10g}" for v in values)


@dataclass(frozen=True)
class Geom:
    """One MJCF collision/visual shape in its body's frame.

    ``capsule``: ``size = (radius,)`` and ``fromto`` the two segment ends; ``sphere``:
    ``size = (radius,)`` at ``pos``; ``box``: ``size`` = half extents at ``pos``.
    """

    kind: str
    size: tuple[float, ...]
    fromto: tuple[float, ...] | None = None
    pos: Vec3 = (0.0, 0.0, 0.0)
    collides: bool = True
    """False: drawn only (its mass still counts); the loader filters it out of every contact."""

    def volume(self) -> float:
        """Volume in m³, used to give segments masses that follow their length."""
        if self.kind == "box":
            return 8.0 * self.size[0] * self.size[1] * self.size[2]
        radius = self.size[0]
        sphere = 4.0 / 3.0 * math.pi * radius**3
        if self.kind == "sphere":
            return sphere
        assert self.fromto is not None
        a, b = self.fromto[:3], self.fromto[3:]
        return math.pi * radius**2 * math.dist(a, b) + sphere

    def centre(self) -> NDArray[np.float64]:
        """Centre of mass of the shape (uniform density) in the body frame."""
        if self.fromto is not None:
            ends = np.asarray(self.fromto, dtype=np.float64).reshape(2, 3)
            return np.asarray(ends.mean(axis=0), dtype=np.float64)
        return np.asarray(self.pos, dtype=np.float64)

    def inertia(self, mass: float) -> NDArray[np.float64]:
        """3x3 inertia tensor (kg m²) about :meth:`centre`, in the body axes, for a uniform ``mass``."""
        if self.kind == "box":
            a, b, c = (2.0 * h for h in self.size)
            return np.diag([b * b + c * c, a * a + c * c, a * a + b * b]) * mass / 12.0
        radius = self.size[0]
        if self.kind == "sphere":
            return np.eye(3) * 0.4 * mass * radius**2
        assert self.fromto is not None
        axis = np.asarray(self.fromto[3:]) - np.asarray(self.fromto[:3])
        length = float(np.linalg.norm(axis))
        unit = axis / length
        # Cylinder plus two hemispheres (each hemisphere's centre is 3r/8 beyond the cylinder end).
        cylinder = mass * math.pi * radius**2 * length / self.volume()
        caps = mass - cylinder
        along = cylinder * radius**2 / 2.0 + caps * 0.4 * radius**2
        across = cylinder * (radius**2 / 4.0 + length**2 / 12.0) + caps * (
            0.4 * radius**2 + length**2 / 4.0 + 3.0 * length * radius / 8.0
        )
        outer = np.outer(unit, unit)
        return np.asarray(across * (np.eye(3) - outer) + along * outer, dtype=np.float64)

    def to_xml(self, rgba: tuple[float, ...]) -> str:
        """The ``<geom>`` element."""
        place = f'fromto="{_fmt(self.fromto)}"' if self.fromto is not None else f'pos="{_fmt(self.pos)}"'
        ghost = "" if self.collides else ' contype="0" conaffinity="0"'
        return f'<geom type="{self.kind}" size="{_fmt(self.size)}" {place} rgba="{_fmt(rgba)}"{ghost}/>'


def capsule(start: Vec3, end: Vec3, radius: float) -> Geom:
    """A capsule from ``start`` to ``end``."""
    return Geom("capsule", (radius,), fromto=(*start, *end))


@dataclass(frozen=True)
class Hinge:
    """An actuated hinge joint: its axis in the body frame, range, torque limit and reset angle."""

    name: str
    axis: Vec3
    lower: float
    upper: float
    max_torque: float
    nominal: float = 0.0
    armature: float = 0.0
    """Rotor inertia (kg m²) reflected through the gearbox, as MuJoCo's ``armature``: added to the
    body's inertia about the joint axis. It keeps explicit joint damping stable on light links."""

    def to_xml(self) -> str:
        """The ``<joint>`` element (angles in radians, see the ``<compiler>`` tag)."""
        return (
            f'<joint name="{self.name}" type="hinge" axis="{_fmt(self.axis)}" '
            f'limited="true" range="{self.lower:.6g} {self.upper:.6g}"/>'
        )


@dataclass(frozen=True)
class Body:
    """A rigid body of the tree: where it hangs on its parent, its joint, shapes, mass and children."""

    name: str
    pos: Vec3
    geoms: tuple[Geom, ...]
    mass: float
    joint: Hinge | None = None
    children: tuple[Body, ...] = ()
    yaw: float = 0.0
    """Rotation (rad) of the body's frame about its parent's z axis."""

    def walk(self) -> Iterator[Body]:
        """This body, then its descendants depth first (MJCF document order = action order)."""
        yield self
        for child in self.children:
            yield from child.walk()

    def inertial(self) -> Inertial:
        """Mass, centre of mass and inertia of the body, its mass spread over its geoms by volume.

        Computed here because PyBullet's importer puts a body's centre of mass at its last geom
        and guesses the inertia from a bounding box.
        """
        volumes = np.array([g.volume() for g in self.geoms])
        masses = self.mass * volumes / volumes.sum()
        centres = [g.centre() for g in self.geoms]
        com = np.average(np.stack(centres), axis=0, weights=volumes)
        tensor = np.zeros((3, 3))
        for geom, mass, centre in zip(self.geoms, masses, centres, strict=True):
            offset = centre - com
            tensor += geom.inertia(float(mass)) + mass * (offset @ offset * np.eye(3) - np.outer(offset, offset))
        # PyBullet takes a diagonal inertia: the products of inertia of tilted segments are dropped.
        diagonal = np.diag(tensor).copy()
        if self.joint is not None:
            diagonal += rotor_inertia(np.asarray(self.joint.axis, dtype=np.float64), self.joint.armature)
        return Inertial(
            self.mass, (float(com[0]), float(com[1]), float(com[2])), (diagonal[0], diagonal[1], diagonal[2])
        )


@dataclass(frozen=True)
class Inertial:
    """Mass (kg), centre of mass (m, body frame) and diagonal inertia (kg m², body axes) of a body."""

    mass: float
    com: Vec3
    diagonal: tuple[float, float, float]


def rotor_inertia(axis: NDArray[np.float64], armature: float) -> NDArray[np.float64]:
    """Diagonal of a thin rotor disk's inertia: ``armature`` about the unit ``axis``, half across.

    Adding the whole disk (not just the axial part) keeps the link's inertia physically valid
    (each principal moment at most the sum of the other two), which Bullet's inverse dynamics checks.
    """
    unit = axis / np.linalg.norm(axis)
    return np.asarray(0.5 * armature * (1.0 + unit**2), dtype=np.float64)


def _mass(density: float, geoms: tuple[Geom, ...]) -> float:
    return density * sum(g.volume() for g in geoms)


@dataclass(frozen=True)
class ModelSpec:
    """A procedural robot: its body tree and what the loader needs to know beyond the MJCF."""

    name: str
    root: Body
    planar: bool
    fall_height: float | None
    rgba: tuple[float, float, float, float]

    def hinges(self) -> tuple[Hinge, ...]:
        """The actuated joints in action order."""
        return tuple(b.joint for b in self.root.walk() if b.joint is not None)

    def inertials(self) -> dict[str, Inertial]:
        """Intended mass properties of every body, by name (PyBullet names links after bodies)."""
        return {b.name: b.inertial() for b in self.root.walk()}

    def to_mjcf(self) -> str:
        """The whole model as MJCF text for ``loadMJCF``."""
        lines = [
            f'<mujoco model="{self.name}">',
            '<compiler angle="radian" coordinate="local"/>',
            '<default><geom contype="1" conaffinity="0" condim="3"/></default>',
            "<worldbody>",
            *self._body_xml(self.root, is_root=True),
            "</worldbody>",
            "</mujoco>",
        ]
        return "\n".join(lines)

    def _body_xml(self, body: Body, *, is_root: bool) -> list[str]:
        turn = (math.cos(body.yaw / 2.0), 0.0, 0.0, math.sin(body.yaw / 2.0))  # MuJoCo order: w x y z
        lines = [f'<body name="{body.name}" pos="{_fmt(body.pos)}" quat="{_fmt(turn)}">']
        if is_root and self.planar:
            # Slide x, slide z, hinge y: the body moves only in the x-z plane of a fixed base.
            lines += [
                '<joint name="rootx" type="slide" axis="1 0 0" limited="false"/>',
                '<joint name="rootz" type="slide" axis="0 0 1" limited="false"/>',
                '<joint name="rooty" type="hinge" axis="0 1 0" limited="false"/>',
            ]
        if body.joint is not None:
            lines.append(body.joint.to_xml())
        inertial = body.inertial()  # the importer reads mass and pos; the loader sets the inertia
        diagonal = _fmt(inertial.diagonal)
        lines.append(f'<inertial pos="{_fmt(inertial.com)}" mass="{inertial.mass:.6g}" diaginertia="{diagonal}"/>')
        lines += [g.to_xml(self.rgba) for g in body.geoms]
        for child in body.children:
            lines += self._body_xml(child, is_root=False)
        lines.append("</body>")
        return lines


# ----------------------------------------------------------------------------- half_cheetah
# (name, segment end = next joint's offset in the x-z plane, lower, upper (rad), torque limit (N·m)),
# thigh to foot. Offsets, ranges and torques follow the classic model.
_CHEETAH_LEGS: dict[str, tuple[tuple[str, tuple[float, float], float, float, float], ...]] = {
    "b": (
        ("bthigh", (0.16, -0.25), -0.52, 1.05, 120.0),
        ("bshin", (-0.28, -0.14), -0.785, 0.785, 90.0),
        ("bfoot", (0.05, -0.18), -0.4, 0.785, 60.0),
    ),
    "f": (
        ("fthigh", (-0.14, -0.24), -1.5, 0.8, 120.0),
        ("fshin", (0.13, -0.18), -1.2, 1.1, 60.0),
        ("ffoot", (0.08, -0.12), -3.1, -0.3, 30.0),
    ),
}


def _cheetah_leg(
    segments: tuple[tuple[str, tuple[float, float], float, float, float], ...],
    hip: Vec3,
    scale: float,
    density: float,
) -> Body:
    """A chain of hinged capsules; each child hangs at its parent's segment end."""
    child: Body | None = None
    ends: list[Vec3] = [(dx * scale, 0.0, dz * scale) for _, (dx, dz), *_ in segments]
    for index in reversed(range(len(segments))):
        name, _, lower, upper, torque = segments[index]
        geoms = (capsule((0.0, 0.0, 0.0), ends[index], _CHEETAH_RADIUS),)
        pos = hip if index == 0 else ends[index - 1]
        child = Body(
            name,
            pos,
            geoms,
            _mass(density, geoms),
            Hinge(name, (0.0, 1.0, 0.0), lower, upper, torque, min(max(0.0, lower), upper), _CHEETAH_ARMATURE),
            () if child is None else (child,),
        )
    assert child is not None
    return child


def _cheetah_tree(scale: float, density: float) -> Body:
    torso_geoms = (
        capsule((-0.5, 0.0, 0.0), (0.5, 0.0, 0.0), _CHEETAH_RADIUS),
        capsule((0.49, 0.0, 0.0), (0.71, 0.0, 0.2), _CHEETAH_RADIUS),  # the head
    )
    back = _cheetah_leg(_CHEETAH_LEGS["b"], (-0.5, 0.0, 0.0), scale, density)
    front = _cheetah_leg(_CHEETAH_LEGS["f"], (0.5, 0.0, 0.0), scale, density)
    return Body("torso", (0.0, 0.0, 0.0), torso_geoms, _mass(density, torso_geoms), None, (back, front))


def half_cheetah(limb_length_scale: float) -> ModelSpec:
    """The planar runner: torso + head, back and front leg of thigh, shin and foot (6 joints).

    The density is chosen so that the robot weighs :data:`HALF_CHEETAH_MASS_KG` at scale 1.
    """
    unit_mass = sum(b.mass for b in _cheetah_tree(1.0, 1.0).walk())
    root = _cheetah_tree(limb_length_scale, HALF_CHEETAH_MASS_KG / unit_mass)
    return ModelSpec("half_cheetah", root, planar=True, fall_height=None, rgba=(0.8, 0.6, 0.4, 1.0))


# ----------------------------------------------------------------------------- ant
_ANT_TORSO_KG = 5.0
_ANT_LEG_KG_PER_M = 2.5  # capsule segments: ~0.7 kg thigh, ~1.4 kg shin at scale 1 -> ~13.5 kg total
_ANT_TORQUE = 40.0  # N·m; standing needs ~15, so a walking gait has room to push off


def _ant_leg(index: int, yaw: float, scale: float) -> Body:
    """A leg pointing along ``yaw``: hip (vertical axis), then ankle (positive = foot down).

    The leg's frames are turned by ``yaw`` so that the leg runs along their x axis and the ankle
    axis is exactly y: PyBullet stores axes in single precision, and a diagonal axis is not unit
    length there, which makes its inverse dynamics (mass matrix) complain.
    """
    thigh, shin = 0.2 * math.sqrt(2) * scale, 0.4 * math.sqrt(2) * scale
    hip_offset = (0.2 * math.sqrt(2) * scale * math.cos(yaw), 0.2 * math.sqrt(2) * scale * math.sin(yaw), 0.0)
    # Only the foot (the capsule's rounded end, its own link: PyBullet filters contacts per link)
    # touches the ground. With the ankle always pointing the shin down it is the shin's lowest
    # point, and sphere-triangle contacts keep rough ground fast.
    shin_geoms = (Geom("capsule", (_ANT_RADIUS,), fromto=(0.0, 0.0, 0.0, shin, 0.0, 0.0), collides=False),)
    thigh_geoms = (capsule((0.0, 0.0, 0.0), (thigh, 0.0, 0.0), _ANT_RADIUS),)
    ankle = Hinge(f"ankle_{index}", (0.0, 1.0, 0.0), math.radians(30.0), math.radians(100.0), _ANT_TORQUE, 1.0, 0.02)
    hip = Hinge(f"hip_{index}", (0.0, 0.0, 1.0), -math.radians(40.0), math.radians(40.0), _ANT_TORQUE, 0.0, 0.02)
    shin_kg = _ANT_LEG_KG_PER_M * shin
    foot = Body(f"foot_{index}", (shin, 0.0, 0.0), (Geom("sphere", (_ANT_RADIUS,)),), shin_kg * 0.2)
    shin_body = Body(f"shin_{index}", (thigh, 0.0, 0.0), shin_geoms, shin_kg * 0.8, ankle, (foot,))
    return Body(f"thigh_{index}", hip_offset, thigh_geoms, _ANT_LEG_KG_PER_M * thigh, hip, (shin_body,), yaw)


def ant(limb_length_scale: float) -> ModelSpec:
    """The classic four-legged ant: a sphere torso, four diagonal legs of hip + ankle (8 joints).

    Unlike ``pybullet_data/mjcf/ant.xml`` (65 kg torso from the importer's default density) the
    masses are set explicitly: a 5 kg torso and legs of 2.5 kg per metre, ~13.5 kg in all.
    """
    yaws = tuple(math.radians(angle) for angle in (45.0, 135.0, -135.0, -45.0))
    reach = 0.2 * math.sqrt(2) * limb_length_scale  # the hip offset, drawn as part of the torso
    torso_geoms = (
        Geom("sphere", (0.25,)),
        *(capsule((0.0, 0.0, 0.0), (reach * math.cos(y), reach * math.sin(y), 0.0), _ANT_RADIUS) for y in yaws),
    )
    legs = tuple(_ant_leg(i + 1, yaw, limb_length_scale) for i, yaw in enumerate(yaws))
    root = Body("torso", (0.0, 0.0, 0.0), torso_geoms, _ANT_TORSO_KG, None, legs)
    return ModelSpec("ant", root, planar=False, fall_height=0.2, rgba=(0.8, 0.6, 0.4, 1.0))


# ----------------------------------------------------------------------------- hexapod
_HEX_TORSO_HALF: Vec3 = (0.22, 0.1, 0.035)
_HEX_TORSO_KG = 3.0
_HEX_THIGH, _HEX_SHIN = 0.12, 0.18  # m at scale 1
_HEX_SPLAY = 0.3  # rad: the knee's outward limit, where the body rests with zero torque


def _hex_leg(name: str, x: float, side: float, scale: float) -> Body:
    """Hip yaw (vertical axis) then knee (axis along the body, positive = foot swings outward).

    Weight pushes a splayed foot further out, so with zero torque every knee rests on its outward
    limit ``_HEX_SPLAY`` and the robot stands on its own.
    """
    thigh_end: Vec3 = (0.0, side * _HEX_THIGH * scale, 0.0)
    foot: Vec3 = (0.0, 0.0, -_HEX_SHIN * scale)
    thigh_geoms = (capsule((0.0, 0.0, 0.0), thigh_end, 0.02),)
    shin_geoms = (capsule((0.0, 0.0, 0.0), foot, 0.02),)
    knee = Hinge(f"{name}_knee", (side, 0.0, 0.0), -1.2, _HEX_SPLAY, 10.0, _HEX_SPLAY, 0.03)
    hip = Hinge(f"{name}_hip", (0.0, 0.0, 1.0), -0.6, 0.6, 10.0, 0.0, 0.03)
    shin = Body(f"{name}_shin", thigh_end, shin_geoms, 1.4 * _HEX_SHIN * scale, knee)
    return Body(
        f"{name}_thigh",
        (x, side * _HEX_TORSO_HALF[1], 0.0),
        thigh_geoms,
        1.4 * _HEX_THIGH * scale,
        hip,
        (shin,),
    )


def hexapod(limb_length_scale: float) -> ModelSpec:
    """A six-legged walker: a flat box torso, three legs a side of hip yaw + knee (12 joints).

    ~5.5 kg at scale 1. It stands with zero action (see :func:`_hex_leg`), which makes it the
    gentlest robot to start learning on.
    """
    legs = tuple(
        _hex_leg(f"{side_name}{i}", x, side, limb_length_scale)
        for side_name, side in (("l", 1.0), ("r", -1.0))
        for i, x in enumerate((0.18, 0.0, -0.18))
    )
    torso = (Geom("box", _HEX_TORSO_HALF),)
    root = Body("torso", (0.0, 0.0, 0.0), torso, _HEX_TORSO_KG, None, legs)
    return ModelSpec("hexapod", root, planar=False, fall_height=0.07, rgba=(0.3, 0.5, 0.8, 1.0))


def model_spec(name: str, limb_length_scale: float) -> ModelSpec:
    """The procedural robot called ``name`` at the given limb scale."""
    builders = {"half_cheetah": half_cheetah, "ant": ant, "hexapod": hexapod}
    return builders[name](limb_length_scale)
