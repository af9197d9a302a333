"""A procedural robot as a tree of rigid bodies, with its mass properties, written out as MJCF text.

The building blocks of :mod:`sim.robot_models`: shapes (:class:`Geom`), actuated joints
(:class:`Hinge`), bodies (:class:`Body`) and a whole model (:class:`ModelSpec`). Text and numbers
only, no PyBullet: :mod:`sim.robots` loads the result.

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
