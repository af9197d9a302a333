"""Rough ground's geometry and files: the seeded height grid, its surface, and its meshes as OBJ files.

Pure numpy and files, no PyBullet: :mod:`sim.terrain` builds the heightfield body from
:func:`rough_heights` and gives it the visual meshes :data:`MESH_FILES` writes. The grid, its
interpolation (:class:`GridSurface`) and its triangles (:func:`grid_triangles`) split every cell
along the same diagonal, so the ground robots touch, the one they see and ``height_at`` agree.
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

import numpy as np
from numpy.typing import NDArray

from sim.params import TerrainParams

ROUGH_HALF_SIZE_M = 16.0
"""Half side of the rough patch: a 15 m walk from the origin in any direction stays on it.

That covers a 1000-step episode (16.7 s) at 0.9 m/s and a 200-step one at 4.5 m/s. At 32 m each
env cost ~240 MB and 0.9 s to build (measured), too much for a sampler holding 8 of them.
"""
ROUGH_FLAT_RADIUS_M = 0.5
"""Rough ground is exactly flat within this distance of the origin, so robots spawn cleanly."""
ROUGH_BLEND_M = 1.0
"""Width of the smooth blend from flat to full roughness (around the origin and at the patch edge)."""

_CHECKER_M = 1.0  # side of a checker square of rough ground, rounded to whole cells


@dataclass(frozen=True, eq=False)
class GridSurface:
    """Heights on a square grid centred on the origin, 0 outside it.

    Each cell is split along its (i, j)-(i+1, j+1) diagonal, as the rough ground's heightfield is
    (:func:`sim.terrain.build_terrain`) and :func:`grid_triangles` splits its visual mesh, so interpolation
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


class MeshFiles:
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


MESH_FILES = MeshFiles()
"""This process's terrain mesh files (see :class:`MeshFiles` for why it is process-wide)."""


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
