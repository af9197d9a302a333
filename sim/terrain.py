"""Build the ground in a :class:`~sim.bullet.BulletSim` and apply its contact and gravity properties.

Kinds (``TerrainParams.kind``), each one static body whose top passes through z = 0 at the origin:

- ``flat``: ``pybullet_data/plane.urdf`` (a 200 m box with a checker texture the renderers draw).
- ``slope``: the same plane tilted by ``slope_deg`` so that it rises toward ``slope_heading_deg``.
- ``rough``: a seeded height map of smooth bumps (``rough_feature_m`` across, ``rough_amplitude_m``
  peak to valley) on a square patch reaching :data:`ROUGH_HALF_SIZE_M` from the origin, flat within
  :data:`ROUGH_FLAT_RADIUS_M` of the origin and blended to 0 at the patch edge, where flat ground
  (4 boxes) continues so the world never ends. The patch is fixed (it does not follow the robot).
  Collision is one PyBullet heightfield with cells of about a quarter of a bump, 20-50 cm (see
  :func:`rough_cell_size` for why, and for the speed measured), split into triangles exactly as
  :class:`GridSurface` interpolates. A heightfield rather than a triangle mesh because PyBullet
  3.2.7 never frees meshes given as vertex lists (+10.8 MB per build, for the life of the process)
  and ``saveState`` serialises a mesh's whole BVH (~0.26 s per build); a heightfield is freed by
  ``resetSimulation`` and saved in ~4 ms. Renderers get a visual mesh of the same grid, a checker
  of two coloured meshes from OBJ files named by their content (:class:`~sim.rough_ground.MeshFiles`): TinyRenderer
  draws heightfields without our checker, the EGL renderer draws only mesh files and never frees a
  texture, and PyBullet keeps every OBJ file it parsed, by path, for the life of the process, so
  the same ground reuses the same files.
- ``stairs``: :data:`STAIRS_STEPS` steps of ``step_rise_m`` x ``step_run_m`` rising along +x from
  :data:`STAIRS_START_M` ahead of the origin, then a plateau; boxes on a 200 m ground box.

:meth:`Terrain.height_at` gives the ground height under a point: exact for every kind (for
``rough`` it interpolates on the very triangles the heightfield collides with). The env uses it for the
spawn height and the torso-height observation.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import pybullet
import pybullet_data

from sim.bullet import BulletSim
from sim.params import TerrainParams
from sim.rough_ground import (
    MESH_FILES,
    ROUGH_HALF_SIZE_M,
    GridSurface,
    rough_cell_size,
    rough_heights,
)

TERRAIN_GEOMETRY_FIELDS: tuple[str, ...] = (
    "kind",
    "slope_deg",
    "slope_heading_deg",
    "rough_amplitude_m",
    "rough_feature_m",
    "rough_seed",
    "step_rise_m",
    "step_run_m",
)
"""Fields of :class:`~sim.params.TerrainParams` that shape the ground."""

SLOPE_FIELDS: tuple[str, ...] = ("slope_deg", "slope_heading_deg")
"""Shape fields that 'slope' ground changes in place (:func:`tilt_slope`); every other one rebuilds it,
and on other kinds of ground they shape nothing."""

STAIRS_START_M = 1.0
"""x of the first step's front edge."""
STAIRS_STEPS = 10
"""Steps up to the plateau."""
STAIRS_PLATEAU_M = 30.0
"""Length of the plateau after the last step."""

_GROUND_HALF_M = 100.0  # half side of the ground box under slope and stairs (as plane.urdf)
_GROUND_RGBA = (0.55, 0.6, 0.5, 1.0)
_ROUGH_CHECKER = ((0.85, 0.95, 0.8, 1.0), (0.576, 0.741, 0.75, 1.0))
# The flat plane's checker (white and (173, 199, 239)) tinted greener, as two coloured meshes: the EGL
# plugin never frees a texture, and loads one again at every build (+1.3 MB a build, any ground).
_STEP_RGBA = ((0.75, 0.7, 0.6, 1.0), (0.6, 0.55, 0.5, 1.0))


class Surface(Protocol):
    """The ground's shape as a function of the horizontal position."""

    def height_at(self, x: float, y: float) -> float:
        """Ground height (m) under ``(x, y)``."""
        ...


@dataclass(frozen=True)
class FlatSurface:
    """z = 0 everywhere."""

    def height_at(self, x: float, y: float) -> float:
        """Always 0."""
        return 0.0


@dataclass(frozen=True)
class SlopeSurface:
    """A plane: z = gradient_x * x + gradient_y * y + offset (through the origin as built; a slope
    changed in place pivots about the point under the robot instead, see :func:`tilt_slope`)."""

    gradient_x: float
    gradient_y: float
    offset: float = 0.0

    def height_at(self, x: float, y: float) -> float:
        """The plane's height."""
        return self.gradient_x * x + self.gradient_y * y + self.offset


@dataclass(frozen=True)
class StairsSurface:
    """Flat until ``start``, then ``count`` steps of ``rise`` x ``run``, then the plateau."""

    start: float
    rise: float
    run: float
    count: int

    def height_at(self, x: float, y: float) -> float:
        """The height of the step under ``x`` (the front edge belongs to the higher step)."""
        plateau_end = self.start + (self.count - 1) * self.run + STAIRS_PLATEAU_M
        if x < self.start or x >= plateau_end:
            return 0.0
        step = min(int((x - self.start) // self.run) + 1, self.count)
        return step * self.rise


@dataclass(frozen=True, eq=False)
class Terrain:
    """The built ground: its body and its shape."""

    body_id: int
    """The one static body carrying every ground shape (contacts with any of them report this id)."""
    surface: Surface

    def height_at(self, x: float, y: float) -> float:
        """Ground height (m) under ``(x, y)``."""
        return self.surface.height_at(x, y)


def build_terrain(
    sim: BulletSim, params: TerrainParams, *, visual_mesh_files: bool = False, visible: bool = True
) -> Terrain:
    """Create the ground described by ``params`` (its contact properties come from
    :func:`apply_terrain_dynamics`).

    ``visible=False`` gives rough ground no visual mesh, for envs that never render (sampler
    workers): the build is faster and no renderer turns the heightfield into a mesh of its own.

    ``visual_mesh_files`` is accepted for callers that say whether their renderer needs mesh files
    (:attr:`sim.render.Renderer.needs_mesh_files`); rough ground's visual is always an OBJ file now,
    because PyBullet never frees visual meshes given as vertex lists (~10 MB per build).
    """
    del visual_mesh_files  # always satisfied: see the docstring
    if params.kind == "flat":
        return Terrain(_load_plane(sim, (0.0, 0.0, 0.0, 1.0)), FlatSurface())
    if params.kind == "slope":
        return _build_slope(sim, params)
    if params.kind == "rough":
        surface = GridSurface(rough_heights(params), rough_cell_size(params.rough_feature_m))
        return Terrain(_build_grid_body(sim, surface, visible=visible), surface)
    if params.kind == "stairs":
        return _build_stairs(sim, params)
    raise ValueError(f"terrain.kind = {params.kind!r} is not allowed: no builder for it")


def apply_terrain_dynamics(sim: BulletSim, terrain: Terrain, params: TerrainParams) -> None:
    """Set the ground's friction and restitution on every shape, and the world's gravity."""
    for link in range(-1, sim.getNumJoints(terrain.body_id)):
        sim.changeDynamics(terrain.body_id, link, lateralFriction=params.friction, restitution=params.restitution)
    sim.setGravity(0.0, 0.0, -params.gravity_mps2)


# ----------------------------------------------------------------------------- flat and slope
def _load_plane(sim: BulletSim, orientation: tuple[float, float, float, float]) -> int:
    path = os.path.join(pybullet_data.getDataPath(), "plane.urdf")
    return int(sim.loadURDF(path, (0.0, 0.0, 0.0), orientation, useFixedBase=True))


def _build_slope(sim: BulletSim, params: TerrainParams) -> Terrain:
    """The plane tilted so that it rises toward the heading, through the origin."""
    quaternion, surface = _slope_pose(params)
    return Terrain(_load_plane(sim, quaternion), surface)


def tilt_slope(sim: BulletSim, terrain: Terrain, params: TerrainParams, pivot_xy: tuple[float, float]) -> Terrain:
    """Turn built 'slope' ground to ``params``' slope in place, about the ground point under
    ``pivot_xy`` (the robot's torso), so the robot stays where it stands: a slope that changes under a
    walking robot. The plane's top passes through its base origin, so the base moves to that point.
    Nothing else in the world moves; a rebuild puts the ground back through the origin.
    """
    x, y = pivot_xy
    z = terrain.height_at(x, y)
    quaternion, through_origin = _slope_pose(params)
    sim.resetBasePositionAndOrientation(terrain.body_id, (x, y, z), quaternion)
    offset = z - through_origin.height_at(x, y)
    return Terrain(terrain.body_id, replace(through_origin, offset=offset))


def _slope_pose(params: TerrainParams) -> tuple[tuple[float, float, float, float], SlopeSurface]:
    """The plane's orientation for ``params``' slope, and its surface through the origin: tilted about
    the horizontal axis across the heading, so that it rises toward the heading."""
    slope, heading = math.radians(params.slope_deg), math.radians(params.slope_heading_deg)
    axis = (-math.sin(heading), math.cos(heading), 0.0)  # z x heading
    half = -slope / 2.0  # rotating +z about z x heading by -slope tips it back, away from the heading
    quaternion = (axis[0] * math.sin(half), axis[1] * math.sin(half), 0.0, math.cos(half))
    gradient = math.tan(slope)
    return quaternion, SlopeSurface(gradient * math.cos(heading), gradient * math.sin(heading))


_QUARTER_TURN = (0.0, 0.0, math.sin(math.pi / 4.0), math.cos(math.pi / 4.0))  # +90 deg about z
_HIDDEN_BOX_M = 0.001  # half side of the visual an invisible heightfield carries, 1 m under the ground


def _build_grid_body(sim: BulletSim, surface: GridSurface, *, visible: bool) -> int:
    """One static body: flat ground boxes around the patch (base) and the grid as a heightfield (link 0).

    Bullet splits each heightfield cell along its (i, j+1)-(i+1, j) diagonal, the other one than
    :class:`GridSurface`; turned a quarter about z, with its rows reversed, the heightfield is the
    very same triangles. Bullet centres a heightfield on the middle of its height range, so the link
    sits that much higher. Heights travel as 32-bit floats (~1e-9 m off at these amplitudes).
    """
    heights = np.asarray(surface.heights, dtype=np.float32)
    n = heights.shape[0]
    middle = 0.5 * (float(heights.min()) + float(heights.max()))  # as Bullet computes it, in double
    collision = int(
        sim.createCollisionShape(
            pybullet.GEOM_HEIGHTFIELD,
            meshScale=[surface.cell, surface.cell, 1.0],
            heightfieldData=heights[::-1, :].ravel().tolist(),
            numHeightfieldRows=n,
            numHeightfieldColumns=n,
        )
    )
    # The link is turned and raised; the visual's frame undoes that, so meshes stay in world coordinates.
    undo = {"visualFramePosition": [0.0, 0.0, -middle], "visualFrameOrientation": _inverse(_QUARTER_TURN)}
    if visible:
        return _visible_grid_body(sim, surface, collision, undo, middle)
    # Without a visual of its own, PyBullet's TinyRenderer turns the heightfield into a render
    # mesh at every build (~25 ms and ~25 MB while it lives): a millimetre box under the ground.
    below = {**undo, "visualFramePosition": [0.0, 0.0, -middle - 1.0]}
    visual = sim.createVisualShape(pybullet.GEOM_BOX, halfExtents=[_HIDDEN_BOX_M] * 3, **below)
    base = _ground_frame(sim, ROUGH_HALF_SIZE_M)
    return _static_body(sim, base, [(collision, int(visual))], ((0.0, 0.0, middle), _QUARTER_TURN))


def _visible_grid_body(
    sim: BulletSim, surface: GridSurface, collision: int, undo: dict[str, list[float]], middle: float
) -> int:
    """The body of :func:`_build_grid_body` with the grid's visual: the light and the dark squares
    of a checker (so that both relief and motion show) as two coloured OBJ meshes.

    PyBullet keeps every OBJ file it parses for the life of the process (~1.5 MB per square colour
    here), unless file caching is off: it is turned off while the ground is made, which also
    empties that cache, so other meshes (the robot's) are parsed again at their next load. The EGL
    plugin keeps its own cache, which nothing empties: :class:`~sim.rough_ground.MeshFiles` names files so that it
    stays right.
    """
    sim.setPhysicsEngineParameter(enableFileCaching=0)
    try:
        files = [str(MESH_FILES.obj_for(surface, colour)) for colour in range(len(_ROUGH_CHECKER))]
        visual = sim.createVisualShapeArray(
            [pybullet.GEOM_MESH] * len(files),
            fileNames=files,
            rgbaColors=[list(c) for c in _ROUGH_CHECKER],
            visualFramePositions=[undo["visualFramePosition"]] * len(files),
            visualFrameOrientations=[undo["visualFrameOrientation"]] * len(files),
        )
        base = _ground_frame(sim, ROUGH_HALF_SIZE_M)
        return _static_body(sim, base, [(collision, int(visual))], ((0.0, 0.0, middle), _QUARTER_TURN))
    finally:
        sim.setPhysicsEngineParameter(enableFileCaching=1)


def _inverse(quaternion: tuple[float, float, float, float]) -> list[float]:
    x, y, z, w = quaternion
    return [-x, -y, -z, w]


def _ground_frame(sim: BulletSim, inner: float) -> tuple[int, int]:
    """Four boxes with their top at z = 0 around the square ``[-inner, inner]²``, out to the ground edge."""
    width = (_GROUND_HALF_M - inner) / 2.0
    middle = inner + width
    halves = [(width, _GROUND_HALF_M, 1.0)] * 2 + [(inner, width, 1.0)] * 2
    centres = [(middle, 0.0, -1.0), (-middle, 0.0, -1.0), (0.0, middle, -1.0), (0.0, -middle, -1.0)]
    return _box_array(sim, halves, centres, [_GROUND_RGBA] * 4)


# ----------------------------------------------------------------------------- stairs
def _build_stairs(sim: BulletSim, params: TerrainParams) -> Terrain:
    """Ground box (base) with the checker plane on top, and every step as one compound link."""
    surface = StairsSurface(STAIRS_START_M, params.step_rise_m, params.step_run_m, STAIRS_STEPS)
    halves, centres, colours = [], [], []
    for step in range(1, STAIRS_STEPS + 1):
        length = STAIRS_PLATEAU_M if step == STAIRS_STEPS else params.step_run_m
        front = STAIRS_START_M + (step - 1) * params.step_run_m
        top = step * params.step_rise_m
        halves.append((length / 2.0, _GROUND_HALF_M, top / 2.0 + 0.5))
        centres.append((front + length / 2.0, 0.0, top / 2.0 - 0.5))  # reaches 1 m into the ground
        colours.append(_STEP_RGBA[step % 2])
    steps = _box_array(sim, halves, centres, colours)
    return Terrain(_static_body(sim, _ground_box(sim), [steps]), surface)


def _ground_box(sim: BulletSim) -> tuple[int, int]:
    """A 200 m ground box with its top at z = 0, drawn as pybullet_data's checker plane."""
    collision = sim.createCollisionShape(
        pybullet.GEOM_BOX,
        halfExtents=[_GROUND_HALF_M, _GROUND_HALF_M, 5.0],
        collisionFramePosition=[0, 0, -5.0],
    )
    visual = sim.createVisualShape(
        pybullet.GEOM_MESH, fileName=os.path.join(pybullet_data.getDataPath(), "plane100.obj")
    )
    return collision, visual


# ----------------------------------------------------------------------------- shared builders
def _box_array(
    sim: BulletSim,
    halves: list[tuple[float, float, float]],
    centres: list[tuple[float, float, float]],
    colours: list[tuple[float, float, float, float]],
) -> tuple[int, int]:
    """One compound collision shape and one visual shape of several boxes."""
    count = len(halves)
    collision = sim.createCollisionShapeArray(
        [pybullet.GEOM_BOX] * count, halfExtents=halves, collisionFramePositions=centres
    )
    visual = sim.createVisualShapeArray(
        [pybullet.GEOM_BOX] * count, halfExtents=halves, visualFramePositions=centres, rgbaColors=colours
    )
    return int(collision), int(visual)


def _static_body(
    sim: BulletSim,
    base: tuple[int, int],
    links: list[tuple[int, int]],
    link_pose: tuple[tuple[float, float, float], tuple[float, float, float, float]] | None = None,
) -> int:
    """A massless (static) body: ``base`` shapes plus each of ``links`` on a fixed joint at ``link_pose``.

    A single body keeps ``Terrain.body_id`` the one id every ground contact reports.
    """
    count = len(links)
    origin, identity = [0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]
    position, orientation = link_pose or (origin, identity)
    return int(
        sim.createMultiBody(
            baseMass=0.0,
            baseCollisionShapeIndex=base[0],
            baseVisualShapeIndex=base[1],
            linkMasses=[0.0] * count,
            linkCollisionShapeIndices=[link[0] for link in links],
            linkVisualShapeIndices=[link[1] for link in links],
            linkPositions=[list(position)] * count,
            linkOrientations=[list(orientation)] * count,
            linkInertialFramePositions=[origin] * count,
            linkInertialFrameOrientations=[identity] * count,
            linkParentIndices=[0] * count,
            linkJointTypes=[pybullet.JOINT_FIXED] * count,
            linkJointAxis=[[0.0, 0.0, 1.0]] * count,
        )
    )
