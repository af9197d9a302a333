"""Simulation and reward settings of the locomotion env that are not part of the task (:class:`EnvConfig`).

Kept apart from the env itself because runs store them (``--env-config``), the CLI parses them and
evaluation rebuilds envs from them, none of which needs PyBullet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from sim.render import BACKENDS, Camera

TRACKING_REWARDS = ("linear", "exp")
"""the velocity-tracking reward kernels :class:`EnvConfig` offers"""

CAMERA_REFERENCE_SIZE_M = 2.0
"""bounding-box diagonal of the robot that ``EnvConfig.camera_distance_m`` frames (the ant's is 2.5 m,
the half_cheetah's 1.8, the hexapod's 0.9, the A1's 0.75)"""


@dataclass(frozen=True, kw_only=True)
class EnvConfig:
    """Simulation and reward settings that are not part of the task (the same for every task)."""

    time_step: float = 1.0 / 240.0
    """physics step, s"""
    frame_skip: int = 4
    """physics steps per env step (control period = time_step * frame_skip)"""
    max_episode_steps: int = 1000
    """env steps before ``truncated``"""
    ctrl_cost_weight: float = 0.1
    """weight of the mean squared action in the reward"""
    alive_bonus: float = 0.2
    """reward per step while a robot that can fall is upright"""
    fall_penalty: float = 5.0
    """reward subtracted on the step the robot falls"""
    reset_noise_rad: float = 0.05
    """half-width of the uniform noise on joint angles at reset"""
    observe_goal: bool = False
    """append the goal (target speed, heading error) to the observation; meta-RL families hide it"""
    tracking_reward: str = "linear"
    """``linear``: -|v - v*| (the MAML and PEARL papers' velocity reward); ``exp``: exp(-|v - v*|^2 / sigma^2),
    bounded in (0, 1] (legged_gym, walk-these-ways): every upright step then earns something, so ending
    the episode by falling never pays, and the gradient is largest near the target"""
    tracking_sigma_mps: float = 0.25
    """width sigma of the ``exp`` tracking kernel, m/s (an error of sigma earns exp(-1) = 0.37 a step)"""
    max_speed_mps: float = 50.0
    """a torso faster than this is a physics blow-up: the episode ends with ``info['physics_blowup']``"""
    render_width: int = 640
    """width of ``render()`` frames, pixels"""
    render_height: int = 480
    """height of ``render()`` frames, pixels"""
    renderer: str = "auto"
    """``auto`` (EGL, else TinyRenderer), ``egl`` or ``tiny``: see :mod:`sim.render`"""
    render_shadows: bool = False
    """TinyRenderer: draw shadows (~2x slower). The EGL plugin always draws them, whatever this says."""
    camera_distance_m: float = 2.5
    """initial distance of the following camera, m, for a robot of :data:`CAMERA_REFERENCE_SIZE_M`
    (others are seen from proportionally nearer or farther, within 0.5-1.5x)"""
    camera_yaw_deg: float = 30.0
    """initial yaw of the following camera, deg"""
    camera_pitch_deg: float = -20.0
    """initial pitch of the following camera, deg (negative looks down)"""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                if not math.isfinite(value):
                    raise ValueError(f"EnvConfig.{f.name} = {value!r} is not allowed: a finite number")
        positive = ("time_step", "frame_skip", "max_episode_steps", "render_width", "render_height")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"EnvConfig.{name} = {getattr(self, name)!r} is not allowed: must be > 0")
        if self.tracking_reward not in TRACKING_REWARDS:
            raise ValueError(
                f"EnvConfig.tracking_reward = {self.tracking_reward!r} is not allowed: "
                f"one of {', '.join(TRACKING_REWARDS)}"
            )
        if self.tracking_sigma_mps <= 0:
            raise ValueError(f"EnvConfig.tracking_sigma_mps = {self.tracking_sigma_mps!r} is not allowed: must be > 0")
        if self.renderer not in BACKENDS:
            raise ValueError(f"EnvConfig.renderer = {self.renderer!r} is not allowed: one of {', '.join(BACKENDS)}")
        self.initial_camera()  # validates the camera fields

    def initial_camera(self) -> Camera:
        """The following camera's orbit before anyone turns it."""
        return Camera(distance_m=self.camera_distance_m, yaw_deg=self.camera_yaw_deg, pitch_deg=self.camera_pitch_deg)

    @property
    def control_dt(self) -> float:
        """Seconds of simulated time per env step."""
        return self.time_step * self.frame_skip
