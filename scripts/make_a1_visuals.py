"""Write assets/robots/a1: PyBullet's Unitree A1 with visual meshes decimated for software rendering.

Why: without a GPU, the viewport draws through Mesa's llvmpipe, and the A1's stock visual meshes
(about 45,000 triangles, the trunk alone 28,750) are drawn twice a frame (shadow map and image).
With them, 640x480 frames of the A1 on rough ground came at 13-15 fps while training ran beside;
with meshes cut to ~10 % of their triangles, at 17-22 fps. Collision shapes in the A1 URDF are
boxes, cylinders and spheres, and its inertias are given in the file, so the physics is unchanged
(``tests/sim/test_robots.py`` checks masses and joints against the stock model).

The URDF is copied as is (its mesh paths are relative); each OBJ is reduced with
fast-simplification (quadric decimation, a small maintained wheel) and written without texture
coordinates, so the trunk shows its URDF colour instead of the stock texture.

    pip install fast-simplification && python scripts/make_a1_visuals.py
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import fast_simplification
import numpy as np
import pybullet_data

from sim.tasks import ASSETS_DIR

KEEP_FRACTION = 0.1
"""triangles kept per mesh: below this the thin leg meshes start losing their outline"""


def read_obj(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (n, 3) and triangles (m, 3, zero-based) of an OBJ file; polygons are fanned."""
    vertices: list[list[float]] = []
    triangles: list[list[int]] = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "v":
            vertices.append([float(x) for x in parts[1:4]])
        elif parts[0] == "f":
            corners = [int(p.split("/")[0]) - 1 for p in parts[1:]]
            triangles += [[corners[0], corners[k], corners[k + 1]] for k in range(1, len(corners) - 1)]
    return np.asarray(vertices, dtype=np.float32), np.asarray(triangles, dtype=np.int32)


def write_obj(path: Path, vertices: np.ndarray, triangles: np.ndarray) -> None:
    """A plain OBJ: positions and triangles only."""
    lines = [f"# decimated from pybullet_data/a1/meshes/{path.name} by scripts/make_a1_visuals.py"]
    lines += [f"v {x:.5f} {y:.5f} {z:.5f}" for x, y, z in vertices]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in triangles]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=float, default=KEEP_FRACTION, help="fraction of triangles kept per mesh")
    args = parser.parse_args()
    source = Path(pybullet_data.getDataPath()) / "a1"
    target = ASSETS_DIR / "robots" / "a1"
    shutil.rmtree(target, ignore_errors=True)
    (target / "meshes").mkdir(parents=True)
    shutil.copy(source / "a1.urdf", target / "a1.urdf")
    for mesh in sorted((source / "meshes").glob("*.obj")):
        vertices, triangles = read_obj(mesh)
        fewer_vertices, fewer_triangles = fast_simplification.simplify(
            vertices, triangles, target_reduction=1.0 - args.keep
        )
        write_obj(target / "meshes" / mesh.name, fewer_vertices, fewer_triangles)
        print(f"{mesh.name:18s} {len(triangles):6d} -> {len(fewer_triangles):6d} triangles")


if __name__ == "__main__":
    main()
