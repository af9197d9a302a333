"""Terrain: the heights the env believes are the heights robots touch, and the ground is seen."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pybullet
import pytest

from sim.bullet import BulletSim
from sim.params import TERRAIN_KINDS, TerrainParams
from sim.rough_ground import ROUGH_FLAT_RADIUS_M, ROUGH_HALF_SIZE_M, rough_cell_size, rough_heights
from sim.terrain import STAIRS_START_M, STAIRS_STEPS, TERRAIN_GEOMETRY_FIELDS, apply_terrain_dynamics, build_terrain

# Points off grid lines and step edges, near and far (the last ones lie beyond the rough patch).
POINTS = [(0.3, 0.2), (1.37, -0.81), (2.11, 1.93), (-3.73, 4.21), (5.55, 0.13), (7.31, -2.9), (-12.1, -6.61)]
EDGE = [(ROUGH_HALF_SIZE_M - 0.01, 0.31), (0.29, -ROUGH_HALF_SIZE_M + 0.01)]  # no gap at the rim of rough
FAR = [
    *EDGE,
    (ROUGH_HALF_SIZE_M + 0.01, 0.3),
    (ROUGH_HALF_SIZE_M + 3.3, 1.1),
    (-0.7, -ROUGH_HALF_SIZE_M - 8.2),
]
KINDS = {
    "flat": TerrainParams(kind="flat"),
    "slope": TerrainParams(kind="slope", slope_deg=12.0, slope_heading_deg=35.0),
    "rough": TerrainParams(kind="rough", rough_amplitude_m=0.2, rough_feature_m=0.9, rough_seed=7),
    "stairs": TerrainParams(kind="stairs", step_rise_m=0.12, step_run_m=0.45),
}


@pytest.fixture
def sim() -> Iterator[BulletSim]:
    with BulletSim() as client:
        yield client


def ray_height(sim: BulletSim, x: float, y: float) -> float:
    hit = sim.rayTest([x, y, 20.0], [x, y, -20.0])[0]
    assert hit[0] >= 0, f"no ground under ({x}, {y})"
    return float(hit[3][2])


def test_kinds_are_covered_and_geometry_fields_exist() -> None:
    assert set(KINDS) == set(TERRAIN_KINDS)
    assert set(TERRAIN_GEOMETRY_FIELDS) <= set(TerrainParams.__dataclass_fields__)


@pytest.mark.parametrize("kind", TERRAIN_KINDS)
def test_height_at_matches_a_ray(sim: BulletSim, kind: str) -> None:
    terrain = build_terrain(sim, KINDS[kind])
    for x, y in POINTS + FAR:
        assert terrain.height_at(x, y) == pytest.approx(ray_height(sim, x, y), abs=1e-4), (x, y)
    assert terrain.height_at(0.0, 0.0) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("kind", TERRAIN_KINDS)
def test_one_body_carries_the_ground(sim: BulletSim, kind: str) -> None:
    terrain = build_terrain(sim, KINDS[kind])
    assert sim.getNumBodies() == 1
    for x, y in POINTS:
        assert sim.rayTest([x, y, 20.0], [x, y, -20.0])[0][0] == terrain.body_id


@pytest.mark.parametrize("feature_m", [0.4, 0.9, 1.7])
def test_rough_collision_is_the_grid_surface_exactly(sim: BulletSim, feature_m: float) -> None:
    """The heightfield is split into the very triangles GridSurface interpolates (the other
    diagonal would be off by up to a quarter of the amplitude between grid points)."""
    params = TerrainParams(kind="rough", rough_amplitude_m=0.3, rough_feature_m=feature_m, rough_seed=3)
    terrain = build_terrain(sim, params, visible=False)
    points = np.random.default_rng(0).uniform(-ROUGH_HALF_SIZE_M + 0.1, ROUGH_HALF_SIZE_M - 0.1, (300, 2))
    hits = sim.rayTestBatch([[x, y, 5.0] for x, y in points], [[x, y, -5.0] for x, y in points])
    errors = [abs(hit[3][2] - terrain.height_at(x, y)) for hit, (x, y) in zip(hits, points, strict=True)]
    assert max(errors) < 1e-6  # heights travel as 32-bit floats


def test_rough_ground_of_zero_amplitude_is_flat(sim: BulletSim) -> None:
    terrain = build_terrain(sim, TerrainParams(kind="rough", rough_amplitude_m=0.0))
    for x, y in POINTS:
        assert ray_height(sim, x, y) == pytest.approx(0.0, abs=1e-6)
        assert terrain.height_at(x, y) == 0.0


def test_slope_rises_toward_its_heading(sim: BulletSim) -> None:
    terrain = build_terrain(sim, KINDS["slope"])
    heading = math.radians(35.0)
    uphill = terrain.height_at(10.0 * math.cos(heading), 10.0 * math.sin(heading))
    across = terrain.height_at(-10.0 * math.sin(heading), 10.0 * math.cos(heading))
    assert uphill == pytest.approx(10.0 * math.tan(math.radians(12.0)))
    assert across == pytest.approx(0.0, abs=1e-9)


def test_stairs_steps_and_plateau(sim: BulletSim) -> None:
    terrain = build_terrain(sim, KINDS["stairs"])
    assert terrain.height_at(STAIRS_START_M - 0.05, 0.0) == 0.0
    for step in range(1, STAIRS_STEPS):
        x = STAIRS_START_M + (step - 0.5) * 0.45
        assert terrain.height_at(x, 3.0) == pytest.approx(step * 0.12)
        assert ray_height(sim, x, 3.0) == pytest.approx(step * 0.12, abs=1e-4)
    plateau = STAIRS_START_M + STAIRS_STEPS * 0.45 + 5.0
    assert terrain.height_at(plateau, -2.0) == pytest.approx(STAIRS_STEPS * 0.12)


def test_rough_cells_follow_the_bumps_within_bounds() -> None:
    assert rough_cell_size(0.8) == pytest.approx(0.2)
    assert rough_cell_size(0.2) == pytest.approx(0.2)  # floor: finer cells cost too much speed
    assert rough_cell_size(5.0) == pytest.approx(0.5, rel=0.02)
    assert rough_cell_size(1.3) == pytest.approx(1.3 / 4, rel=0.02)


def test_rough_is_seeded() -> None:
    params = KINDS["rough"]
    same, again = rough_heights(params), rough_heights(params)
    other = rough_heights(TerrainParams(kind="rough", rough_amplitude_m=0.2, rough_feature_m=0.9, rough_seed=8))
    np.testing.assert_array_equal(same, again)
    assert np.abs(same - other).max() > 0.05


def test_rough_is_built_the_same_for_the_same_seed() -> None:
    heights = []
    for _ in range(2):
        with BulletSim() as sim:
            build_terrain(sim, KINDS["rough"])
            heights.append([ray_height(sim, x, y) for x, y in POINTS])
    assert heights[0] == heights[1]
    assert max(abs(h) for h in heights[0]) > 0.02  # and it is not flat


def test_invisible_rough_ground_collides_the_same_and_has_no_visual_mesh() -> None:
    """Sampler envs never render: their rough ground gets no visual mesh (nor one a renderer derives)."""
    heights, tints = [], []
    for visible in (True, False):
        with BulletSim() as sim:
            terrain = build_terrain(sim, KINDS["rough"], visible=visible)
            heights.append([ray_height(sim, x, y) for x, y in POINTS])
            mesh_links = [d for d in sim.getVisualShapeData(terrain.body_id) if d[1] >= 0]
            tints.append({tuple(round(c, 2) for c in d[7]) for d in mesh_links})
    assert heights[0] == heights[1]
    assert tints[0] == {(0.85, 0.95, 0.8, 1.0), (0.58, 0.74, 0.75, 1.0)}  # the checker's two meshes
    assert not tints[1] & tints[0]  # PyBullet's default colour, not our meshes


def test_rough_shape() -> None:
    params = KINDS["rough"]
    heights = rough_heights(params)
    assert heights.max() - heights.min() == pytest.approx(0.2, rel=0.1)  # peak to valley
    n = heights.shape[0]
    assert (n - 1) * rough_cell_size(0.9) == pytest.approx(2 * ROUGH_HALF_SIZE_M)
    coords = (np.arange(n) - (n - 1) / 2) * rough_cell_size(0.9)
    x, y = np.meshgrid(coords, coords, indexing="ij")
    assert np.all(heights[np.hypot(x, y) <= ROUGH_FLAT_RADIUS_M] == 0.0)  # clean spawn
    assert np.all(heights[[0, -1], :] == 0.0) and np.all(heights[:, [0, -1]] == 0.0)  # meets the flat rim


@pytest.mark.parametrize("kind", TERRAIN_KINDS)
def test_dynamics_are_applied(sim: BulletSim, kind: str) -> None:
    terrain = build_terrain(sim, KINDS[kind])
    apply_terrain_dynamics(sim, terrain, TerrainParams(kind=kind, friction=0.35, restitution=0.6, gravity_mps2=3.7))
    for link in range(-1, sim.getNumJoints(terrain.body_id)):
        info = sim.getDynamicsInfo(terrain.body_id, link)
        assert info[1] == pytest.approx(0.35) and info[5] == pytest.approx(0.6)
    ball = sim.createMultiBody(1.0, sim.createCollisionShape(pybullet.GEOM_SPHERE, radius=0.1), -1, [0, 0, 5])
    sim.setPhysicsEngineParameter(fixedTimeStep=0.01)
    sim.stepSimulation()
    assert sim.getBaseVelocity(ball)[0][2] == pytest.approx(-0.037, rel=1e-3)


def render_ground(sim: BulletSim) -> np.ndarray:
    view = sim.computeViewMatrix([0.0, -3.0, 1.5], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0])
    projection = sim.computeProjectionMatrixFOV(60.0, 320 / 240, 0.05, 60.0)
    rgba = sim.getCameraImage(320, 240, view, projection, renderer=pybullet.ER_TINY_RENDERER, shadow=0)[2]
    return np.asarray(rgba, dtype=np.uint8).reshape(240, 320, 4)[:, :, :3]


@pytest.mark.parametrize("kind", TERRAIN_KINDS)
def test_tiny_renderer_draws_the_ground(sim: BulletSim, kind: str) -> None:
    build_terrain(sim, KINDS[kind])
    with BulletSim() as empty:
        background = render_ground(empty)
    image = render_ground(sim)
    lower_half = np.abs(image[120:].astype(int) - background[120:].astype(int)).sum(axis=2)
    assert (lower_half > 30).mean() > 0.9  # the ground fills the lower half of the view
