"""Rough ground rebuilt again and again: memory stays flat, and the world is the same each time.

PyBullet 3.2.7 never freed meshes given as vertex lists: each rough-ground build grew the process
by ~10.8 MB (collision only) or ~20 MB (with a visual mesh), without end. These tests measure RSS
in a fresh interpreter, so nothing else this test session allocated shows in the figure.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from sim.envs.locomotion import LocomotionEnv
from sim.params import TaskParams, with_values
from sim.render import egl_plugin_path

REPO = Path(__file__).resolve().parents[2]

# Builds rough ground again and again in one client, as an env's set_task does, and prints the RSS
# (MB) after each build. The terrains cycle through `distinct` shapes (all different when large).
_REBUILDS = """
import json, os, sys
from sim.bullet import BulletSim
from sim.params import TerrainParams
from sim.render import Camera, Renderer
from sim.terrain import build_terrain

builds, distinct, backend = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
visible = backend != "none"
rss = []
with BulletSim() as sim:
    renderer = Renderer(sim, backend=backend) if visible else None
    for k in range(builds):
        sim.resetSimulation()
        params = TerrainParams(kind="rough", rough_amplitude_m=0.08, rough_feature_m=0.8, rough_seed=k % distinct)
        build_terrain(sim, params, visible=visible)
        if renderer is not None:
            renderer.render(Camera(distance_m=4.0, pitch_deg=-30.0), 64, 48)
        with open("/proc/self/statm") as statm:
            rss.append(int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20)
    if renderer is not None:
        renderer.close()
print(json.dumps(rss))
"""


def rss_over_rebuilds(builds: int, distinct: int, *, renderer: str) -> list[float]:
    """RSS (MB) after each of ``builds`` rough-ground builds, in a fresh interpreter; ``renderer``
    ``none`` builds no visuals (a sampler's env), ``tiny`` or ``egl`` draws a frame after each."""
    script = textwrap.dedent(_REBUILDS)
    args = [sys.executable, "-c", script, str(builds), str(distinct), renderer]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False, cwd=REPO)
    if done.returncode != 0 and "RendererUnavailableError" in done.stderr:
        pytest.skip(f"no {renderer} renderer here: {done.stderr.strip().splitlines()[-1]}")
    assert done.returncode == 0, done.stderr
    return [float(v) for v in json.loads(done.stdout.strip().splitlines()[-1])]


def growth_per_build(rss: list[float], warmup: int) -> float:
    """Least-squares slope of RSS over the builds after ``warmup``, MB per build."""
    tail = np.asarray(rss[warmup:])
    return float(np.polyfit(np.arange(tail.size), tail, 1)[0])


@pytest.mark.slow
def test_collision_only_rebuilds_keep_memory_flat() -> None:
    """A sampler worker's envs: every task another rough ground (was +10.8 MB per build)."""
    rss = rss_over_rebuilds(40, 40, renderer="none")
    assert growth_per_build(rss, warmup=5) < 0.5, rss
    assert rss[-1] - rss[4] < 20.0, rss  # 35 more builds: was ~380 MB


@pytest.mark.slow
@pytest.mark.parametrize("renderer", ["tiny", "egl"])
def test_visible_rebuilds_of_known_grounds_keep_memory_flat(renderer: str) -> None:
    """A preview flipping between a few grounds: each one's visual mesh is parsed once (was +20 MB
    a build), and no texture is loaded again (the EGL plugin never frees one: +1.3 MB a build)."""
    if renderer == "egl" and egl_plugin_path() is None:
        pytest.skip("this pybullet has no EGL plugin")
    rss = rss_over_rebuilds(16, 3, renderer=renderer)
    assert growth_per_build(rss, warmup=4) < 0.5, rss
    # The allocator steps RSS up and down by ~11 MB from one build to the next (EGL, flat over 16
    # builds): compare the highest of four builds early and late. A leak was ~240 MB here.
    assert max(rss[-4:]) - max(rss[2:6]) < 15.0, rss


@pytest.mark.slow
def test_visible_rebuilds_of_new_grounds_keep_memory_flat_with_tiny_renderer() -> None:
    """Every build another ground, drawn by TinyRenderer: PyBullet's own OBJ cache is kept empty."""
    rss = rss_over_rebuilds(16, 16, renderer="tiny")
    assert growth_per_build(rss, warmup=4) < 1.0, rss


def rollout(env: LocomotionEnv, seed: int, steps: int = 40) -> np.ndarray:
    """Observations of ``steps`` steps of fixed actions from ``reset(seed=seed)``."""
    obs, _ = env.reset(seed=seed)
    actions = np.random.default_rng(3).uniform(-1, 1, (steps, env.action_space.shape[0])).astype(np.float32)
    return np.array([obs] + [env.step(action)[0] for action in actions])


def test_the_same_task_after_other_grounds_gives_the_same_trajectory_bit_for_bit() -> None:
    """Rebuilt after other rough grounds, a task's world is the one a fresh env builds."""
    rough = {"robot.name": "a1", "terrain.kind": "rough", "terrain.rough_amplitude_m": 0.08}
    tasks = [with_values(TaskParams(), {**rough, "terrain.rough_seed": seed}) for seed in (11, 12, 13)]
    fresh = LocomotionEnv(tasks[0])
    switched = LocomotionEnv(tasks[1])
    try:
        expected = rollout(fresh, seed=4)
        for task in (tasks[2], tasks[1], tasks[0]):
            switched.set_task(task)
            rollout(switched, seed=9)
        assert np.array_equal(rollout(switched, seed=4), expected)
    finally:
        fresh.close()
        switched.close()
