"""Task families: seeded sampling, held-out test tasks, and validation of the ranges themselves."""

from __future__ import annotations

import pytest

from sim.params import TaskParamError, TaskParams
from sim.tasks import ChoiceSet, TaskDistribution, UniformRange, family_names, load_family

REQUIRED_FAMILIES = {
    "cheetah-velocity",
    "ant-heading",
    "ant-payload-motor",
    "ant-friction-slope",
    "a1-rough",
    "ant-dynamics",
    "quadruped-terrain",
}


def test_bundled_families_cover_the_required_kinds_and_round_trip() -> None:
    assert REQUIRED_FAMILIES <= set(family_names())
    for name in family_names():
        family = load_family(name)
        assert family.name == name
        assert TaskDistribution.from_json(family.to_json()) == family


def test_sampling_is_seeded_and_stays_in_range() -> None:
    family = TaskDistribution(
        name="t",
        vary={
            "robot.payload_kg": UniformRange(1.0, 4.0),
            "terrain.rough_seed": UniformRange(0, 3),
            "terrain.kind": ChoiceSet(("flat", "rough")),
        },
    )
    first, again = family.sample_tasks(20, seed=7), family.sample_tasks(20, seed=7)
    other = family.sample_tasks(20, seed=8)
    assert first == again
    assert first != other
    assert all(1.0 <= t.robot.payload_kg <= 4.0 for t in first)
    assert {t.terrain.rough_seed for t in first} <= {0, 1, 2, 3}
    assert {t.terrain.kind for t in first} == {"flat", "rough"}
    assert all(t.goal == TaskParams().goal for t in first)


def test_held_out_tasks_are_fixed_and_differ_from_training_draws() -> None:
    family = load_family("cheetah-velocity")
    assert family.test_tasks() == family.test_tasks()
    assert len(family.test_tasks()) == family.num_test_tasks
    training = {t.goal.target_velocity_mps for seed in range(20) for t in family.sample_tasks(20, seed)}
    assert not training & {t.goal.target_velocity_mps for t in family.test_tasks()}


@pytest.mark.parametrize(
    ("vary", "fragment"),
    [
        ({"robot.payload_kg": {"uniform": [0, 99]}}, "vary.robot.payload_kg"),
        ({"robot.payload_kg": {"uniform": [3, 1]}}, "low <= high"),
        ({"robot.name": {"uniform": [0, 1]}}, "'choice' list"),
        ({"terrain.kind": {"choice": ["flat", "lava"]}}, "vary.terrain.kind = 'lava'"),
        ({"robot.payload": {"uniform": [0, 1]}}, "known: robot.name"),
        ({"robot.payload_kg": [0, 1]}, '{"uniform": [low, high]}'),
    ],
)
def test_bad_family_ranges_are_rejected_with_the_path(vary: dict, fragment: str) -> None:
    with pytest.raises(TaskParamError) as info:
        TaskDistribution.from_dict({"name": "bad", "vary": vary})
    assert fragment in str(info.value)


@pytest.mark.parametrize("count", [2.7, "8", 0, True])
def test_a_test_set_size_that_is_not_a_whole_number_is_rejected_not_truncated(count: object) -> None:
    with pytest.raises(TaskParamError, match=r"num_test_tasks.*a whole number >= 1"):
        TaskDistribution.from_dict({"name": "bad", "vary": {}, "num_test_tasks": count})


def test_unknown_family_name_lists_the_bundled_ones() -> None:
    with pytest.raises(TaskParamError, match="cheetah-velocity"):
        load_family("no-such-family")
