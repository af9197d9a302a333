"""Episode metrics in physical units: what a roboticist reads beside the return.

The locomotion env describes each episode in its ``reset`` info (control period, target speed,
where the torso starts) and each step in its ``step`` info (velocity and position of the torso
along the target heading, whether it fell). :class:`EpisodeMeter` folds those plain floats into
one :class:`EpisodeMetrics`, so the adaptation generator, the benchmark, the bundled sidecars and
``sim2adapt play`` all measure the same thing. Torch-free and Qt-free: it lives beside the env.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

EVAL_SECONDS = 10.0
"""simulated time of an evaluation episode: the horizon a person watches (600 steps at 60 Hz)"""
SETTLE_SECONDS = 1.0
"""the start of an episode left out of the tracking error: a robot at rest needs time to reach any speed"""

# Keys of the env's reset info that :meth:`EpisodeMeter.from_reset_info` needs.
_RESET_KEYS = ("control_dt_s", "target_velocity_mps", "position_along_heading_m")


def episode_steps(seconds: float, control_dt: float) -> int:
    """Env steps in ``seconds`` of simulated time at ``control_dt`` seconds per step (at least one).

    Raises:
        ValueError: ``seconds`` or ``control_dt`` not a positive finite number.
    """
    for name, value in (("seconds", seconds), ("control_dt", control_dt)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} = {value!r} is not allowed: a positive finite number")
    return max(1, round(seconds / control_dt))


@dataclass(frozen=True)
class EpisodeMetrics:
    """One episode in physical units (plain values: it crosses threads and processes inside events)."""

    tracking_error_mps: float
    """mean |v - v*| of the torso along the target heading, m/s, over the steps after the first second
    (over all steps if the episode lasted 1 s or less)"""
    fell: bool
    """the episode ended with a fall, or on its back (a robot that cannot fall, the planar cheetah, can flip
    and lie there: a person sees a fall)"""
    distance_m: float
    """displacement of the torso along the target heading since the episode started, m"""
    steps: int
    """env steps measured"""
    ending: str = ""
    """how the episode ended when neither a fall nor its length ended it: ``left_world`` (the torso off
    the terrain or at an absurd height) or ``physics_blowup``; empty otherwise (see :data:`ENDINGS`)"""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


ENDINGS = {
    "left_world": "left the world (torso off the terrain or at an absurd height)",
    "physics_blowup": "physics blow-up (the simulation diverged)",
}
"""what :attr:`EpisodeMetrics.ending` says, in words for the CLI and the window"""


def ending_of(info: Mapping[str, Any]) -> str:
    """The :attr:`EpisodeMetrics.ending` code of a step's info ('' when it ended no episode in a special way)."""
    return next((code for code in ENDINGS if info.get(code)), "")


class EpisodeMeter:
    """Accumulates one episode's step infos into :class:`EpisodeMetrics`, in constant memory.

    Feed it every step's info with :meth:`add`; :meth:`result` may be called at any time. A step
    whose info lacks the torso readings (a physics blow-up ends the episode with an empty info)
    counts as a step but adds no velocity sample; a blow-up is not a fall.
    """

    def __init__(
        self,
        *,
        control_dt: float,
        target_velocity_mps: float,
        start_position_m: float = 0.0,
        settle_s: float = SETTLE_SECONDS,
    ) -> None:
        if not (math.isfinite(control_dt) and control_dt > 0):
            raise ValueError(f"control_dt = {control_dt!r} is not allowed: a positive finite number of seconds")
        if not (math.isfinite(settle_s) and settle_s >= 0):
            raise ValueError(f"settle_s = {settle_s!r} is not allowed: a finite number of seconds >= 0")
        self.control_dt = float(control_dt)
        self.target_velocity_mps = float(target_velocity_mps)
        self.start_position_m = float(start_position_m)
        # Count steps, not seconds: 60 * (4 / 240) is not exactly 1.0 in floating point.
        self.settle_steps = round(settle_s / control_dt)
        self._steps = 0
        self._error_sum_all = 0.0
        self._samples_all = 0
        self._error_sum_settled = 0.0
        self._samples_settled = 0
        self._position_m = self.start_position_m
        self._fell = False
        self._ending = ""

    @classmethod
    def from_reset_info(cls, info: Mapping[str, Any], *, settle_s: float = SETTLE_SECONDS) -> EpisodeMeter | None:
        """A meter for the episode that ``env.reset`` just began, or None if the env does not describe its
        episodes (the toy point mass reports no torso: its episodes have no physical metrics)."""
        if not all(key in info for key in _RESET_KEYS):
            return None
        return cls(
            control_dt=float(info["control_dt_s"]),
            target_velocity_mps=float(info["target_velocity_mps"]),
            start_position_m=float(info["position_along_heading_m"]),
            settle_s=settle_s,
        )

    def add(self, info: Mapping[str, Any]) -> None:
        """One env step's info: ``velocity_along_heading_mps``, ``position_along_heading_m``, ``fallen``,
        ``upside_down``."""
        velocity = info.get("velocity_along_heading_mps")
        if velocity is not None:
            error = abs(float(velocity) - self.target_velocity_mps)
            self._error_sum_all += error
            self._samples_all += 1
            if self._steps >= self.settle_steps:
                self._error_sum_settled += error
                self._samples_settled += 1
            self._position_m = float(info["position_along_heading_m"])
        self._steps += 1
        # Only the last step's says how the episode ended.
        self._fell = bool(info.get("fallen", False) or info.get("upside_down", False))
        self._ending = ending_of(info)

    def result(self) -> EpisodeMetrics:
        """The metrics of the steps added so far (NaN error before any velocity sample)."""
        if self._samples_settled:
            error = self._error_sum_settled / self._samples_settled
        elif self._samples_all:
            error = self._error_sum_all / self._samples_all
        else:
            error = math.nan
        return EpisodeMetrics(
            tracking_error_mps=error,
            fell=self._fell,
            distance_m=self._position_m - self.start_position_m,
            steps=self._steps,
            ending=self._ending,
        )
