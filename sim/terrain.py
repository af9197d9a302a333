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
  of two coloured meshes from OBJ files named by their content (:class:`_MeshFiles`): TinyRenderer
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

import atexit
import hashlib
import math
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pybullet
import pybullet_data
from numpy.typing import NDArray

from sim.bullet import BulletSim
from sim.params import TerrainParams

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
"""Fields of :class:`~sim.params.TerrainParams` whose change needs the terrain rebuilt."""

ROUGH_HALF_SIZE_M = 16.0
"""Half side of the rough patch: a 15 m walk from the origin in any direction stays on it.

That covers a 1000-step episode (16.7 s) at 0.9 m/s and a 200-step one at 4.5 m/s. At 32 m each
env cost ~240 MB and 0.9 s to build (measured), too much for a sampler holding 8 of them.
"""
ROUGH_FLAT_RADIUS_M = 0.5
"""Rough ground is exactly flat within this distance of the origin, so robots spawn cleanly."""
ROUGH_BLEND_M = 1.0
"""Width of the smooth blend from flat to full roughness (around the origin and at the patch edge)."""
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
_CHECKER_M = 1.0  # side of a checker square of rough ground, rounded to whole cells
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
    """A plane through the origin: z = gradient_x * x + gradient_y * y."""

    gradient_x: float
    gradient_y: float

    def height_at(self, x: float, y: float) -> float:
        """The plane's height."""
        return self.gradient_x * x + self.gradient_y * y


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
class GridSurface:
    """Heights on a square grid centred on the origin, 0 outside it.

    Each cell is split along its (i, j)-(i+1, j+1) diagonal, as the rough ground's heightfield is
    (:func:`_build_grid_body`) and :func:`grid_triangles` splits its visual mesh, so interpolation
    here equals the surface robots touch and see.
    """

    heights: NDArray[np.float64]
    """(n, n) heights; ``heights[i, j]`` is at x = (i - (n-1)/2) * cell, y = (j - (n-1)/2) * cell."""
    cell: float

    def height_at(self, x: float, y: float) -> float:
        """Linear interpolation on the triangle containing ``(x, y)``."""
        n = self.heights.shape[0]
        u, v = x / self.cell + (n - 1) / 2, y / self.cell + (n - 1) / 2
        if not (0.0 <= u <= n - 1 and 0.0 <= v <= n - 1):
            return 0.0
        i, j = min(int(u), n - 2), min(int(v), n - 2)
        fu, fv = u - i, v - j
        h = self.heights
        if fu >= fv:  # triangle (i, j), (i+1, j), (i+1, j+1)
            return float(h[i, j] + fu * (h[i + 1, j] - h[i, j]) + fv * (h[i + 1, j + 1] - h[i + 1, j]))
        return float(h[i, j] + fv * (h[i, j + 1] - h[i, j]) + fu * (h[i + 1, j + 1] - h[i, j + 1]))


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
    """Tilt the plane about the horizontal axis across the heading: it rises toward the heading."""
    slope, heading = math.radians(params.slope_deg), math.radians(params.slope_heading_deg)
    axis = (-math.sin(heading), math.cos(heading), 0.0)  # z x heading
    half = -slope / 2.0  # rotating +z about z x heading by -slope tips it back, away from the heading
    quaternion = (axis[0] * math.sin(half), axis[1] * math.sin(half), 0.0, math.cos(half))
    gradient = math.tan(slope)
    surface = SlopeSurface(gradient * math.cos(heading), gradient * math.sin(heading))
    return Terrain(_load_plane(sim, quaternion), surface)


# ----------------------------------------------------------------------------- rough
def rough_cell_size(feature_m: float) -> float:
    """Grid spacing of rough ground: about a quarter of the bump size, kept within 20-50 cm.

    Four cells follow a smooth bump closely. The cost of a contact with a mesh grows with the
    triangles a link's box overlaps: measured on this machine (random torques, resets every 4 s),
    the ant keeps ~60 % and the half_cheetah ~63 % of their flat-ground speed at 20 cm cells, but
    only ~42 % and ~50 % at 10 cm (and ~10 % at 5 cm). Hence the 20 cm floor. (Those figures are
    for the triangle mesh rough ground was until 2026-11; on the heightfield, 20 cm cells, one loaded
    sitting, best of 3: the ant keeps ~77 % (mesh ~62 %) and the A1 ~86 % (mesh ~85 %).)
    """
    nominal = float(np.clip(feature_m / 4.0, 0.2, 0.5))
    return ROUGH_HALF_SIZE_M / round(ROUGH_HALF_SIZE_M / nominal)  # whole cells span the patch


def rough_heights(params: TerrainParams) -> NDArray[np.float64]:
    """The seeded height grid of rough ground, (n, n), spacing :func:`rough_cell_size`.

    A sum of 24 sinusoids with random directions and phases and wavelengths of about twice the bump
    size, scaled to ``rough_amplitude_m`` peak to valley, then blended to exactly 0 near the origin
    and at the patch edge. The same ``rough_seed`` gives the same grid. Bumps are never drawn
    narrower than two cells (40 cm): the grid could not carry them (see :func:`rough_cell_size`).
    """
    cell = rough_cell_size(params.rough_feature_m)
    bump = max(params.rough_feature_m, 2.0 * cell)
    half_cells = round(ROUGH_HALF_SIZE_M / cell)
    coords = np.arange(-half_cells, half_cells + 1) * cell
    x, y = np.meshgrid(coords, coords, indexing="ij")
    rng = np.random.default_rng(params.rough_seed)
    waves = 24
    wavelength = 2.0 * bump * rng.uniform(0.7, 1.4, waves)
    direction = rng.uniform(0.0, 2.0 * math.pi, waves)
    phase = rng.uniform(0.0, 2.0 * math.pi, waves)
    weight = rng.uniform(0.5, 1.0, waves)
    # sin(a x + b y + phase) = sin(a x) cos(b y + phase) + cos(a x) sin(b y + phase): the waves over
    # the grid are one sum of products of 1-D rows, ~1 ms instead of ~30 (it runs at every task
    # switch). einsum without optimize sums in a fixed order; BLAS (matmul) may not, with threads.
    along_x = np.outer(2.0 * math.pi * np.cos(direction) / wavelength, coords)
    along_y = np.outer(2.0 * math.pi * np.sin(direction) / wavelength, coords) + phase[:, None]
    rows_x = np.concatenate([np.sin(along_x), np.cos(along_x)]) * np.concatenate([weight, weight])[:, None]
    rows_y = np.concatenate([np.cos(along_y), np.sin(along_y)])
    heights = np.einsum("ki,kj->ij", rows_x, rows_y)
    spread = float(heights.max() - heights.min())
    heights = (heights - (heights.max() + heights.min()) / 2.0) * (params.rough_amplitude_m / spread)
    centre = _smoothstep((np.hypot(x, y) - ROUGH_FLAT_RADIUS_M) / ROUGH_BLEND_M)
    edge = _smoothstep((ROUGH_HALF_SIZE_M - np.maximum(np.abs(x), np.abs(y))) / ROUGH_BLEND_M)
    return np.asarray(heights * centre * edge, dtype=np.float64)


def _smoothstep(t: NDArray[np.float64]) -> NDArray[np.float64]:
    t = np.clip(t, 0.0, 1.0)
    return np.asarray(t * t * (3.0 - 2.0 * t), dtype=np.float64)


def grid_vertices(surface: GridSurface) -> NDArray[np.float64]:
    """(n*n, 3) vertex positions, vertex ``i * n + j`` at grid point (i, j)."""
    n = surface.heights.shape[0]
    coords = (np.arange(n) - (n - 1) / 2) * surface.cell
    x, y = np.meshgrid(coords, coords, indexing="ij")
    return np.stack([x.ravel(), y.ravel(), surface.heights.ravel()], axis=1)


def grid_triangles(rows: int, cols: int) -> NDArray[np.int32]:
    """Counter-clockwise (seen from above) triangles of a rows x cols vertex grid, split as
    :class:`GridSurface` splits its cells; vertex ``i * cols + j`` is grid point (i, j)."""
    i, j = np.meshgrid(np.arange(rows - 1), np.arange(cols - 1), indexing="ij")
    v00 = (i * cols + j).ravel()
    v10, v01, v11 = v00 + cols, v00 + 1, v00 + cols + 1
    lower = np.stack([v00, v10, v11], axis=1)
    upper = np.stack([v00, v11, v01], axis=1)
    return np.concatenate([lower, upper]).astype(np.int32)


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
    plugin keeps its own cache, which nothing empties: :class:`_MeshFiles` names files so that it
    stays right.
    """
    sim.setPhysicsEngineParameter(enableFileCaching=0)
    try:
        files = [str(_MESH_FILES.obj_for(surface, colour)) for colour in range(len(_ROUGH_CHECKER))]
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


class _MeshFiles:
    """OBJ files of rough ground's visual meshes, two per distinct grid, in a folder of this process.

    The EGL plugin parses an OBJ file once per path and keeps the result for the life of the
    process: a new path per build grows the process by ~1.7 MB each time, and rewriting one path
    would draw the stale mesh. So a file is named by a digest of its grid: the same ground built
    again (episodes, edits of anything but its shape, another env) costs nothing, and a new ground
    costs one parse. At most ``keep`` files stay on disk; one evicted and needed again is written
    again, identical, under the same name.

    Process-wide, like the cache it mirrors; a forked child starts its own folder.
    """

    def __init__(self, keep: int = 16) -> None:
        self._keep = keep
        self._lock = threading.Lock()
        self._pid = -1
        self._folder: Path | None = None
        self._files: OrderedDict[str, Path] = OrderedDict()

    def obj_for(self, surface: GridSurface, colour: int) -> Path:
        """The path of the OBJ file of ``surface``'s checker squares of ``colour`` (0 or 1), written
        if it is not on disk."""
        digest = hashlib.sha1(np.ascontiguousarray(surface.heights).tobytes())
        digest.update(repr(surface.cell).encode())
        name = f"rough-{digest.hexdigest()[:20]}-{colour}.obj"
        with self._lock:
            folder = self._own_folder()
            path = self._files.pop(name, None) or folder / name
            self._files[name] = path  # most recently used last
            if not path.exists():
                _write_grid_obj(path, surface, colour)
            while len(self._files) > self._keep:
                _, old = self._files.popitem(last=False)
                old.unlink(missing_ok=True)
            return path

    def _own_folder(self) -> Path:
        if self._folder is None or self._pid != os.getpid():
            self._pid, self._files = os.getpid(), OrderedDict()
            self._folder = Path(tempfile.mkdtemp(prefix="sim2adapt-terrain-"))
            atexit.register(shutil.rmtree, self._folder, ignore_errors=True)
        return self._folder


_MESH_FILES = _MeshFiles()
"""This process's terrain mesh files (see :class:`_MeshFiles` for why it is process-wide)."""


def _write_grid_obj(path: Path, surface: GridSurface, colour: int) -> None:
    """The cells of the grid whose checker square has ``colour`` (0 or 1), as an OBJ mesh with
    normals; written aside and renamed, so that no reader sees half a file."""
    n = surface.heights.shape[0]
    points = grid_vertices(surface)
    normals = _grid_normals(points.reshape(n, n, 3)).reshape(-1, 3)
    triangles = grid_triangles(n, n)
    cells = n - 1
    cell_i, cell_j = np.divmod(np.arange(cells * cells), cells)  # the cell of each triangle, twice
    per_square = max(1, round(_CHECKER_M / surface.cell))
    square = np.floor_divide(cell_i - cells // 2, per_square) + np.floor_divide(cell_j - cells // 2, per_square)
    keep = np.tile(square % 2 == colour, 2)  # grid_triangles lists every cell's lower, then upper triangles
    used, remapped = np.unique(triangles[keep], return_inverse=True)
    partial = path.with_suffix(".part")
    points_used = points[used]
    write_obj(partial, points_used, normals[used], points_used[:, :2] / 2.0, remapped.reshape(-1, 3).astype(np.int32))
    partial.replace(path)


def write_obj(
    path: Path,
    points: NDArray[np.float64],
    normals: NDArray[np.float64],
    uvs: NDArray[np.float64],
    triangles: NDArray[np.int32],
) -> None:
    """A Wavefront OBJ mesh: one normal and texture coordinate per vertex, triangles 0-based in.

    Each section is formatted by one ``%`` over a flat tuple: ~2x faster than ``np.savetxt``, which
    formats row by row (a 128x128 tile: ~0.09 s).
    """
    corners = np.repeat(triangles + 1, 3, axis=1)  # OBJ counts from 1; v/vt/vn share the index
    sections = (
        ("v %.6f %.6f %.6f\n", points),
        ("vt %.4f %.4f\n", uvs),
        ("vn %.4f %.4f %.4f\n", normals),
        ("f %d/%d/%d %d/%d/%d %d/%d/%d\n", corners),
    )
    path.write_text("".join((line * len(rows)) % tuple(rows.ravel().tolist()) for line, rows in sections))


def _grid_normals(vertices: NDArray[np.float64]) -> NDArray[np.float64]:
    """Unit upward normals of an (n, n, 3) vertex grid, from the height gradient."""
    cell = float(vertices[1, 0, 0] - vertices[0, 0, 0])
    slope_x, slope_y = np.gradient(vertices[:, :, 2], cell)
    normals = np.stack([-slope_x, -slope_y, np.ones_like(slope_x)], axis=2)
    return np.asarray(normals / np.linalg.norm(normals, axis=2, keepdims=True), dtype=np.float64)


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
