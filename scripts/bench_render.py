"""Frames per second of the env's renderers, as a table: which backend can drive a live viewport.

For each renderer backend (EGL on Mesa llvmpipe, TinyRenderer), frame size, shadows on or off and
scene (robot on terrain), it times ``LocomotionEnv.render()`` alone and the preview's loop (one
frame per 1/25 s of simulated time: two env steps and one frame). Each cell takes the best of
``--repeats`` runs of ``--seconds`` (run-to-run noise on a shared 2-core machine is ±30 %).

    python scripts/bench_render.py                   # the full table
    python scripts/bench_render.py --sizes 640x480 --scenes ant/rough
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.envs.locomotion import EnvConfig, LocomotionEnv
from sim.params import TaskParams, with_values
from sim.render import egl_plugin_path

PREVIEW_STEPS_PER_FRAME = 2
"""env steps per frame in the preview at 25 fps (60 env steps per simulated second)"""


@dataclass(frozen=True)
class RenderBenchRow:
    """One line of the table."""

    backend: str
    size: tuple[int, int]
    shadows: bool
    scene: str
    render_fps: float
    preview_fps: float


def _rate(call: Callable[[], object], seconds: float, repeats: int) -> float:
    best = 0.0
    for _ in range(repeats):
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            call()
            count += 1
        best = max(best, count / (time.perf_counter() - start))
    return best


def scene_task(scene: str) -> TaskParams:
    """``robot/terrain``, e.g. ``ant/rough``."""
    robot, _, terrain = scene.partition("/")
    return with_values(TaskParams(), {"robot.name": robot, "terrain.kind": terrain or "flat"})


def bench_cell(
    backend: str, size: tuple[int, int], shadows: bool, scene: str, *, seconds: float, repeats: int
) -> RenderBenchRow:
    """Time one backend x size x shadows x scene."""
    config = EnvConfig(render_width=size[0], render_height=size[1], renderer=backend, render_shadows=shadows)
    env = LocomotionEnv(scene_task(scene), config=config, render_mode="rgb_array")
    try:
        env.reset(seed=0)
        env.render()  # the first frame pays for setting up buffers
        actions = np.random.default_rng(0).uniform(-1, 1, (1024, env.action_space.shape[0])).astype(np.float32)
        index = 0

        def preview_frame() -> None:
            nonlocal index
            for _ in range(PREVIEW_STEPS_PER_FRAME):
                _, _, terminated, truncated, _ = env.step(actions[index % len(actions)])
                index += 1
                if terminated or truncated:
                    env.reset()
            env.render()

        render_fps = _rate(env.render, seconds, repeats)
        preview_fps = _rate(preview_frame, seconds, repeats)
        return RenderBenchRow(env.renderer_backend or "", size, shadows, scene, render_fps, preview_fps)
    finally:
        env.close()


def main() -> None:
    """Parse the arguments and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=["egl", "tiny"])
    parser.add_argument("--sizes", nargs="+", default=["640x480", "320x240"])
    parser.add_argument("--scenes", nargs="+", default=["ant/flat", "ant/rough", "a1/rough"])
    parser.add_argument("--shadows", nargs="+", default=["off", "on"], choices=["off", "on"])
    parser.add_argument("--seconds", type=float, default=1.5)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    if "egl" in args.backends and egl_plugin_path() is None:
        print("this pybullet has no EGL plugin: skipping egl")
        args.backends = [b for b in args.backends if b != "egl"]
    print(f"{'backend':<7} {'size':>7} {'shadows':>7} {'scene':<10} {'render fps':>10} {'preview fps':>11}")
    for backend in args.backends:
        for size_text in args.sizes:
            width, height = (int(v) for v in size_text.split("x"))
            for shadows in args.shadows:
                for scene in args.scenes:
                    row = bench_cell(
                        backend, (width, height), shadows == "on", scene, seconds=args.seconds, repeats=args.repeats
                    )
                    print(
                        f"{row.backend:<7} {size_text:>7} {shadows:>7} {row.scene:<10} "
                        f"{row.render_fps:>10.1f} {row.preview_fps:>11.1f}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
