"""The renderer: the orbit camera's arithmetic, frames from both backends, the one-EGL-client rule."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from sim.bullet import BulletSim
from sim.envs.locomotion import EnvConfig, LocomotionEnv
from sim.params import TaskParams, with_values
from sim.render import MAX_DISTANCE_M, MAX_PITCH_DEG, MIN_DISTANCE_M, Camera, Renderer, RendererUnavailableError
from sim.terrain import build_terrain

ROUGH = with_values(TaskParams(), {"terrain.kind": "rough", "terrain.rough_amplitude_m": 0.3})


def test_orbit_wraps_yaw_and_clamps_pitch_and_distance() -> None:
    camera = Camera(yaw_deg=170.0, pitch_deg=-80.0, distance_m=2.0)
    turned = camera.orbited(yaw_deg=20.0, pitch_deg=-30.0)
    assert turned.yaw_deg == pytest.approx(-170.0) and turned.pitch_deg == -MAX_PITCH_DEG
    assert camera.zoomed(1000.0).distance_m == MAX_DISTANCE_M
    assert camera.zoomed(1e-6).distance_m == MIN_DISTANCE_M
    moved = camera.looking_at((1.0, 2.0, 0.5), distance_scale=1.5)
    assert moved.target == (1.0, 2.0, 0.5) and moved.distance_m == 3.0 and moved.yaw_deg == 170.0


@pytest.mark.parametrize(
    "kwargs",
    [{"distance_m": 0.0}, {"pitch_deg": 90.0}, {"yaw_deg": float("nan")}, {"fov_deg": 0.0}],
    ids=["distance", "pitch", "nan", "fov"],
)
def test_camera_rejects_bad_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="is not allowed"):
        Camera(**kwargs)


def make_env(backend: str, task: TaskParams | None = None, size: tuple[int, int] = (640, 480)) -> LocomotionEnv:
    task = task or TaskParams()
    config = EnvConfig(render_width=size[0], render_height=size[1], renderer=backend)
    try:
        return LocomotionEnv(task, config=config, render_mode="rgb_array")
    except RendererUnavailableError as err:
        pytest.skip(str(err))


@pytest.fixture(params=["egl", "tiny"])
def env(request: pytest.FixtureRequest) -> Iterator[LocomotionEnv]:
    made = make_env(request.param, ROUGH)
    try:
        made.reset(seed=0)
        yield made
    finally:
        made.close()


def test_frames_are_640x480_rgb_and_orbiting_changes_them(env: LocomotionEnv) -> None:
    front = env.render()
    assert front is not None and front.shape == (480, 640, 3) and front.dtype == np.uint8
    assert np.array_equal(env.render(), front)  # nothing moved: the same frame
    env.set_camera(env.camera.orbited(yaw_deg=90.0))
    side = env.render()
    assert side is not None and np.abs(side.astype(int) - front.astype(int)).mean() > 5
    env.set_camera(env.camera.zoomed(3.0))
    far = env.render()
    assert far is not None and not np.array_equal(far, side)


def test_rough_ground_is_drawn_by_both_backends(env: LocomotionEnv) -> None:
    """The ground fills the lower half of a downward view, bumps and all (EGL needs mesh files)."""
    env.set_camera(Camera(distance_m=6.0, pitch_deg=-45.0))
    frame = env.render()
    assert frame is not None
    flat_colour = np.median(frame[240:].reshape(-1, 3), axis=0)
    sky = frame[:5].reshape(-1, 3).mean(axis=0)
    assert np.abs(flat_colour - sky).sum() > 30  # the lower half is ground, not background
    assert frame[240:].std() > 20  # the checker texture shows


@pytest.mark.parametrize("backend", ["egl", "tiny"])
def test_each_rough_ground_is_drawn_as_itself_when_grounds_follow_one_another(backend: str) -> None:
    """PyBullet keeps each OBJ file it parsed, by path, for the life of the process: a visual
    file reused across grounds would draw the first one. Another ground looks different; the
    same ground again (its file reused) looks exactly the same."""
    frames = []
    for seed in (1, 2, 1):
        with BulletSim() as sim:
            try:
                renderer = Renderer(sim, backend=backend)
            except RendererUnavailableError as err:
                pytest.skip(str(err))
            try:
                terrain = with_values(ROUGH, {"terrain.rough_seed": seed}).terrain
                build_terrain(sim, terrain, visual_mesh_files=renderer.needs_mesh_files)
                frames.append(renderer.render(Camera(distance_m=5.0, pitch_deg=-30.0), 160, 120).astype(int))
            finally:
                renderer.close()
    assert np.abs(frames[0] - frames[1]).mean() > 1.0
    assert np.array_equal(frames[0], frames[2])


def test_only_one_client_holds_the_egl_renderer_at_a_time() -> None:
    first = make_env("egl", size=(64, 48))
    try:
        second = make_env("auto", size=(64, 48))
        try:
            assert (first.renderer_backend, second.renderer_backend) == ("egl", "tiny")
            assert second._renderer is not None and "holds the EGL renderer" in str(second._renderer.fallback_reason)
            with pytest.raises(RendererUnavailableError, match="holds the EGL renderer"):
                LocomotionEnv(TaskParams(), config=EnvConfig(renderer="egl"), render_mode="rgb_array")
        finally:
            second.close()
    finally:
        first.close()
    again = make_env("auto", size=(64, 48))
    try:
        assert again.renderer_backend == "egl"  # the slot was freed by close()
    finally:
        again.close()


def test_the_egl_plugin_is_refused_once_bodies_exist() -> None:
    with BulletSim() as sim:
        build_terrain(sim, TaskParams().terrain)
        renderer = Renderer(sim)
        assert renderer.backend == "tiny" and "already has bodies" in str(renderer.fallback_reason)
        renderer.close()


def test_no_renderer_without_render_mode() -> None:
    with LocomotionEnv(TaskParams()) as env:
        assert env.render() is None and env.renderer_backend is None
