"""Procedural robot bodies (half_cheetah, ant, hexapod), built from :mod:`sim.mjcf`'s blocks.

The three built-in procedural robots are generated rather than shipped as files so that
``limb_length_scale`` can lengthen the legs themselves: every leg segment length and every
leg-mounting offset is multiplied by it, while the torso keeps its size. Segment masses follow
their volume (a longer leg is a heavier leg), so the robot stays physically consistent.

This module only builds text and numbers (no PyBullet): :mod:`sim.robots` loads the result. Why
each body states its own mass and inertia is told in :mod:`sim.mjcf`.
"""

from __future__ import annotations

import math

from sim.mjcf import Body, Geom, Hinge, ModelSpec, Vec3, capsule

HALF_CHEETAH_MASS_KG = 14.0
"""Total mass of the half_cheetah at limb_length_scale 1, as the classic model's ``settotalmass``."""

_CHEETAH_RADIUS = 0.046
_CHEETAH_ARMATURE = 0.1  # kg m², the classic model's value
_ANT_RADIUS = 0.08


def _mass(density: float, geoms: tuple[Geom, ...]) -> float:
    return density * sum(g.volume() for g in geoms)


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
