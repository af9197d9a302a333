"""The performance model: it recovers a smooth error surface, is unsure away from its data, round-trips its file."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from agents.core.performance_model import PerformanceModel
from sim.params import TaskParams, with_values
from sim.tasks import TaskDistribution, UniformRange

FAMILY = TaskDistribution(
    name="scripted",
    vary={"robot.payload_kg": UniformRange(0.0, 20.0), "terrain.friction": UniformRange(0.2, 1.6)},
)


def task(payload: float, friction: float) -> TaskParams:
    return with_values(FAMILY.base, {"robot.payload_kg": payload, "terrain.friction": friction})


def error(payload: float, friction: float) -> float:
    """A smooth scripted error: worse with payload, and worse on slippery ground."""
    return 0.05 + 0.02 * payload + 0.3 * (1.6 - friction) ** 2


def fitted(points: int = 6) -> PerformanceModel:
    model = PerformanceModel(FAMILY)
    grid = [(p, f) for p in np.linspace(0, 20, points) for f in np.linspace(0.2, 1.6, points)]
    model.update([task(p, f) for p, f in grid], [error(p, f) for p, f in grid])
    return model


def test_it_predicts_held_out_tasks_of_a_smooth_surface_within_a_few_centimetres_per_second() -> None:
    model = fitted()
    held_out = [(3.0, 0.5), (11.0, 1.1), (17.5, 0.3), (7.0, 1.5)]
    mean, std = model.predict([task(p, f) for p, f in held_out])
    truth = np.array([error(p, f) for p, f in held_out])
    assert np.abs(mean - truth).max() < 0.03
    assert (std < 0.05).all()


def test_it_is_less_sure_far_from_what_it_saw() -> None:
    model = PerformanceModel(FAMILY)
    seen = [task(p, 0.9) for p in (0.0, 2.0, 4.0)]
    model.update(seen, [0.1, 0.12, 0.15])
    _, std = model.predict([task(2.0, 0.9), task(20.0, 1.6)])
    assert std[1] > 5 * std[0]


def test_nan_errors_are_skipped_and_only_the_newest_results_are_kept() -> None:
    model = PerformanceModel(FAMILY, max_points=3)
    model.update([task(p, 1.0) for p in (0.0, 5.0, 10.0, 15.0, 20.0)], [0.1, math.nan, 0.2, 0.3, 0.4])
    assert model.num_points == 3
    mean, _ = model.predict([task(20.0, 1.0)])
    assert mean[0] == pytest.approx(0.4, abs=0.05)


def test_it_round_trips_through_its_file_and_predicts_the_same(tmp_path: Path) -> None:
    model = fitted(points=3)
    model.save(tmp_path / "model.json")
    loaded = PerformanceModel.load(tmp_path / "model.json")
    probe = [task(4.0, 0.7), task(19.0, 1.2)]
    assert np.array_equal(model.predict(probe)[0], loaded.predict(probe)[0])
    assert loaded.family == FAMILY


def test_bad_input_is_refused_with_what_is_allowed(tmp_path: Path) -> None:
    model = PerformanceModel(FAMILY)
    with pytest.raises(ValueError, match="no results yet"):
        model.predict([task(1.0, 1.0)])
    with pytest.raises(ValueError, match=r"errors: 1 values is not allowed: one per task \(2\)"):
        model.update([task(1.0, 1.0), task(2.0, 1.0)], [0.1])
    (tmp_path / "other.json").write_text('{"kind": "something-else"}')
    with pytest.raises(ValueError, match="model kind = 'something-else' is not allowed"):
        PerformanceModel.load(tmp_path / "other.json")
    with pytest.raises(ValueError, match="max_points = 0 is not allowed"):
        PerformanceModel(FAMILY, max_points=0)
