"""RGB frames of one PyBullet client's world, from an orbiting camera.

Two backends, chosen per client and recorded in :attr:`Renderer.backend`:

- ``egl``: the EGL renderer plugin shipped inside the pybullet wheel (``eglRenderer``), OpenGL
  through EGL. Without a GPU it runs on Mesa's llvmpipe (software, multi-threaded); measured on
  2 cores at 640x480 it is ~7x faster than TinyRenderer (``scripts/bench_render.py``).
- ``tiny``: PyBullet's built-in CPU TinyRenderer, the fallback where EGL cannot start (no
  ``libEGL``, no plugin in the wheel).

Facts about the plugin this module is shaped around (measured with pybullet 3.2.7):

- It must be loaded *before* any body exists: bodies created earlier are never drawn. A
  :class:`Renderer` is therefore made right after the client, before the world is built; it keeps
  drawing across ``resetSimulation``.
- Once loaded it draws every ``getCameraImage`` of that client, whatever ``renderer=`` says.
- It cannot draw visual meshes given as vertex lists (``createVisualShape(vertices=...)``); it
  needs a mesh *file*. :attr:`Renderer.needs_mesh_files` tells world builders so
  (:func:`sim.terrain.build_terrain` writes the rough ground's visual as OBJ files then).
- It draws correctly for **one live client per process**: once a second client loads it (in any
  thread), the first one's frames come out wrong (other scenes, black). Clients one after the
  other, in the same or other threads, are fine. So one :class:`Renderer` at a time holds the
  plugin (:data:`_EGL_SLOT`, the one piece of process-wide state here, because the limit is the
  process's); a second ``auto`` renderer falls back to TinyRenderer and says why. Use a renderer
  from the thread that made it, and close it (its env) when done, or later ones fall back.

Every call carries the client id through :class:`~sim.bullet.BulletSim`; nothing here touches
PyBullet's default client.
"""

from __future__ import annotations

import importlib.util
import math
import threading
from dataclasses import dataclass, replace

import numpy as np
import pybullet
from numpy.typing import NDArray

from sim.bullet import BulletSim

BACKENDS: tuple[str, ...] = ("auto", "egl", "tiny")
"""``auto`` tries EGL and falls back to TinyRenderer; ``egl`` fails without it; ``tiny`` never tries it."""

_EGL_SLOT = threading.Lock()
"""Held by the one renderer that has the EGL plugin loaded (see the module docstring)."""

MIN_DISTANCE_M = 0.3
MAX_DISTANCE_M = 40.0
MAX_PITCH_DEG = 89.0
"""Pitch is kept inside ±this: at ±90° the view's up vector is undefined."""


@dataclass(frozen=True, kw_only=True)
class Camera:
    """An orbit camera: it looks at ``target`` from ``distance_m`` away, turned by ``yaw_deg`` and ``pitch_deg``.

    PyBullet's convention: yaw turns about the world z axis, negative pitch looks down.
    """

    target: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """point looked at, m (world frame)"""
    distance_m: float = 2.5
    """distance from the target, m"""
    yaw_deg: float = 30.0
    """rotation of the camera about the world z axis through the target, deg"""
    pitch_deg: float = -20.0
    """elevation of the view, deg (negative looks down)"""
    fov_deg: float = 60.0
    """vertical field of view, deg"""

    def __post_init__(self) -> None:
        values = (*self.target, self.distance_m, self.yaw_deg, self.pitch_deg, self.fov_deg)
        if len(self.target) != 3 or not all(math.isfinite(v) for v in values):
            raise ValueError(f"{self!r} is not allowed: a 3-D target and finite numbers")
        if not MIN_DISTANCE_M <= self.distance_m <= MAX_DISTANCE_M:
            raise ValueError(
                f"Camera.distance_m = {self.distance_m!r} is not allowed: {MIN_DISTANCE_M} to {MAX_DISTANCE_M} m"
            )
        if abs(self.pitch_deg) > MAX_PITCH_DEG:
            limit = MAX_PITCH_DEG
            raise ValueError(f"Camera.pitch_deg = {self.pitch_deg!r} is not allowed: -{limit} to {limit}")
        if not 1.0 <= self.fov_deg <= 170.0:
            raise ValueError(f"Camera.fov_deg = {self.fov_deg!r} is not allowed: 1 to 170 deg")

    def orbited(self, *, yaw_deg: float = 0.0, pitch_deg: float = 0.0) -> Camera:
        """This camera turned by the given angles: yaw wraps to [-180, 180), pitch stays within the limits."""
        yaw = (self.yaw_deg + yaw_deg + 180.0) % 360.0 - 180.0
        pitch = min(MAX_PITCH_DEG, max(-MAX_PITCH_DEG, self.pitch_deg + pitch_deg))
        return replace(self, yaw_deg=yaw, pitch_deg=pitch)

    def zoomed(self, factor: float) -> Camera:
        """This camera ``factor`` times as far from its target (kept within the distance limits)."""
        if not (math.isfinite(factor) and factor > 0.0):
            raise ValueError(f"zoom factor = {factor!r} is not allowed: a positive number")
        return replace(self, distance_m=min(MAX_DISTANCE_M, max(MIN_DISTANCE_M, self.distance_m * factor)))

    def looking_at(self, target: tuple[float, float, float], *, distance_scale: float = 1.0) -> Camera:
        """This camera moved to look at ``target``, ``distance_scale`` times as far (for larger robots)."""
        distance = min(MAX_DISTANCE_M, max(MIN_DISTANCE_M, self.distance_m * distance_scale))
        return replace(self, target=(float(target[0]), float(target[1]), float(target[2])), distance_m=distance)


def egl_plugin_path() -> str | None:
    """The file of the EGL renderer plugin inside the installed pybullet, or None if it has none."""
    spec = importlib.util.find_spec("eglRenderer")
    return spec.origin if spec is not None and spec.origin else None


class RendererUnavailableError(RuntimeError):
    """``backend="egl"`` was asked for and the EGL plugin could not be loaded."""


class Renderer:
    """Draws RGB frames of one :class:`BulletSim`'s world; create it before building the world.

    Args:
        sim: The client to draw (the renderer does not own it, but must be closed before it).
        backend: One of :data:`BACKENDS`.
    """

    def __init__(self, sim: BulletSim, *, backend: str = "auto") -> None:
        if backend not in BACKENDS:
            raise ValueError(f"renderer backend = {backend!r} is not allowed: one of {', '.join(BACKENDS)}")
        self._sim = sim
        self._plugin_id = -1
        self.fallback_reason: str | None = None
        """why ``auto`` fell back to TinyRenderer (None when it did not)"""
        if backend != "tiny":
            self._plugin_id, reason = self._load_egl()
            if self._plugin_id < 0:
                if backend == "egl":
                    raise RendererUnavailableError(f"the EGL renderer is not available: {reason}")
                self.fallback_reason = reason
        self.backend: str = "egl" if self._plugin_id >= 0 else "tiny"
        """the backend in use: ``egl`` or ``tiny``"""

    def _load_egl(self) -> tuple[int, str]:
        path = egl_plugin_path()
        if path is None:
            return -1, "this pybullet has no eglRenderer plugin"
        if self._sim.getNumBodies() > 0:
            return -1, "the world already has bodies, which the EGL plugin would never draw"
        if not _EGL_SLOT.acquire(blocking=False):
            return -1, "another client in this process holds the EGL renderer (it draws one at a time)"
        try:
            plugin_id = int(self._sim.loadPlugin(path, "_eglRendererPlugin"))
        except BaseException:
            _EGL_SLOT.release()
            raise
        if plugin_id < 0:
            _EGL_SLOT.release()
            return -1, "pybullet could not load it (no EGL driver?)"
        return plugin_id, ""

    @property
    def needs_mesh_files(self) -> bool:
        """Whether visual meshes must come from files to be drawn (true for EGL)."""
        return self.backend == "egl"

    def render(self, camera: Camera, width: int, height: int, *, shadows: bool = False) -> NDArray[np.uint8]:
        """One ``height x width x 3`` RGB frame seen by ``camera`` (a new array the caller owns)."""
        if width < 1 or height < 1:
            raise ValueError(f"render size {width}x{height} is not allowed: both at least 1")
        view = self._sim.computeViewMatrixFromYawPitchRoll(
            cameraTargetPosition=list(camera.target),
            distance=camera.distance_m,
            yaw=camera.yaw_deg,
            pitch=camera.pitch_deg,
            roll=0.0,
            upAxisIndex=2,
        )
        projection = self._sim.computeProjectionMatrixFOV(
            fov=camera.fov_deg, aspect=width / height, nearVal=0.05, farVal=60.0
        )
        renderer = pybullet.ER_BULLET_HARDWARE_OPENGL if self.backend == "egl" else pybullet.ER_TINY_RENDERER
        # No segmentation mask: skipping it saves a pass in both renderers.
        _, _, rgba, _, _ = self._sim.getCameraImage(
            width,
            height,
            view,
            projection,
            renderer=renderer,
            shadow=int(shadows),
            flags=pybullet.ER_NO_SEGMENTATION_MASK,
        )
        pixels = np.asarray(rgba, dtype=np.uint8).reshape(height, width, 4)
        return np.ascontiguousarray(pixels[:, :, :3])

    def close(self) -> None:
        """Unload the plugin (before the client disconnects) and free the EGL slot; safe to call twice."""
        plugin_id, self._plugin_id = self._plugin_id, -1
        if plugin_id < 0:
            return
        try:
            if not self._sim.closed:
                self._sim.unloadPlugin(plugin_id)
        finally:
            _EGL_SLOT.release()
