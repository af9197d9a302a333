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
        ({"terrain.kind": {"uniform": [0, 1]}}, "'choice' list"),
        ({"robot.name": {"choice": ["ant", "a1"]}}, "vary.robot.name"),
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
    with pytest.raises(TaskParamError, match=r"num_test_tasks.*a whole number from 1 to 1000"):
        TaskDistribution.from_dict({"name": "bad", "vary": {}, "num_test_tasks": count})


def test_unknown_family_name_lists_the_bundled_ones() -> None:
    with pytest.raises(TaskParamError, match="cheetah-velocity"):
        load_family("no-such-family")


# --- families that were accepted or crashed instead of being rejected (issue 14) ---


@pytest.mark.parametrize("name", [5, "", "   ", None, ["a"], "a/b", "x" * 101, "nul\0"])
def test_a_family_name_must_be_a_short_non_empty_text(name: object) -> None:
    with pytest.raises(TaskParamError, match=r"^family\.name = .* is not allowed: a non-empty text"):
        TaskDistribution.from_dict({"name": name})


@pytest.mark.parametrize("bounds", [[False, True], [0, True], [0, 10**400], [-(10**400), 0]])
def test_uniform_bounds_are_numbers_a_float_holds_and_not_booleans(bounds: list) -> None:
    with pytest.raises(TaskParamError, match=r"^vary\.goal\.target_velocity_mps = .*not true/false") as info:
        TaskDistribution.from_dict({"name": "a", "vary": {"goal.target_velocity_mps": {"uniform": bounds}}})
    assert len(str(info.value)) < 300


def test_the_held_out_set_is_bounded_so_adapt_cannot_hang_drawing_it() -> None:
    with pytest.raises(TaskParamError, match=r"num_test_tasks = 1000000000000 .* from 1 to 1000"):
        TaskDistribution.from_dict({"name": "a", "num_test_tasks": 10**12})
    assert len(TaskDistribution(name="a", num_test_tasks=1000).test_tasks()) == 1000


def test_a_non_utf8_family_file_is_named_in_the_message(tmp_path) -> None:
    path = tmp_path / "family.json"
    path.write_bytes(b'{"name": "caf\xe9"}')
    with pytest.raises(TaskParamError, match=r"family = '.*family\.json' .*UTF-8 .*byte 13 is 0xe9"):
        load_family(path)


def test_family_json_errors_name_the_file(tmp_path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"name": "a", "num_test_tasks": 0}')
    with pytest.raises(TaskParamError, match=r"num_test_tasks = 0 .*\(in .*bad\.json\)"):
        load_family(path)


@pytest.mark.parametrize("kind", ["directory", "too-long", "nul"])
def test_family_paths_the_os_refuses_are_one_error_line(tmp_path, kind: str) -> None:
    arg = {"directory": str(tmp_path), "too-long": "a" * 5000 + ".json", "nul": "x\0.json"}[kind]
    with pytest.raises(TaskParamError, match=r"^family = ") as info:
        load_family(arg)
    assert len(str(info.value)) < 400
    if kind == "directory":
        assert "not a directory" in str(info.value)
