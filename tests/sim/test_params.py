"""The task schema: JSON round trips, and every bad input names the field, the value and the rule."""

from __future__ import annotations

import math

import pytest

from sim.params import (
    GoalParams,
    RobotParams,
    TaskParamError,
    TaskParams,
    TerrainParams,
    field_by_path,
    get_value,
    parse_value,
    task_fields,
    with_values,
)
from sim.tasks import family_names, load_family


def test_default_task_round_trips_through_json_exactly() -> None:
    task = TaskParams()
    assert TaskParams.from_json(task.to_json()) == task


def test_sampled_tasks_of_every_family_round_trip_exactly() -> None:
    for name in family_names():
        for task in load_family(name).sample_tasks(5, seed=3):
            assert TaskParams.from_json(task.to_json()) == task


def test_integers_are_accepted_for_float_fields_and_stored_as_floats() -> None:
    task = TaskParams.from_dict({"robot": {"payload_kg": 3}})
    assert task.robot.payload_kg == 3.0
    assert isinstance(task.robot.payload_kg, float)


@pytest.mark.parametrize(
    ("data", "path", "fragment"),
    [
        ({"robot": {"mass_scale": 7.0}}, "robot.mass_scale", "from 0.25 to 4"),
        ({"robot": {"payload_kg": -1}}, "robot.payload_kg", "from 0 to 30 kg"),
        ({"terrain": {"friction": math.nan}}, "terrain.friction", "finite"),
        ({"terrain": {"slope_deg": math.inf}}, "terrain.slope_deg", "finite"),
        ({"goal": {"target_velocity_mps": "fast"}}, "goal.target_velocity_mps", "a number"),
        ({"goal": {"target_velocity_mps": True}}, "goal.target_velocity_mps", "a number"),
        ({"terrain": {"rough_seed": 1.5}}, "terrain.rough_seed", "whole number"),
        ({"robot": {"name": "spot"}}, "robot.name", "'ant'"),
        ({"terrain": {"kind": "lava"}}, "terrain.kind", "'rough'"),
        ({"robot": {"massscale": 1.0}}, "robot.massscale", "known: name"),
        ({"physics": {}}, "physics", "known: robot, terrain, goal"),
        ({"robot": {"name": "urdf"}}, "robot.urdf_path", "URDF file path"),
        ({"robot": {"name": "ant", "urdf_path": "x.urdf"}}, "robot.urdf_path", "empty unless"),
        ({"robot": [1, 2]}, "robot", "object of fields"),
        ({"robot": {"name": "ant", "weak_leg": 4}}, "robot.weak_leg", "-1 or a leg index 0-3 of the ant"),
        ({"robot": {"name": "urdf", "urdf_path": "x.urdf", "weak_leg": 0}}, "robot.weak_leg", "legs are unknown"),
        ({"robot": {"actuation": "hydraulic"}}, "robot.actuation", "'position'"),
    ],
)
def test_bad_values_are_rejected_naming_field_value_and_rule(data: dict, path: str, fragment: str) -> None:
    with pytest.raises(TaskParamError) as info:
        TaskParams.from_dict(data)
    assert info.value.path == path
    message = str(info.value)
    assert message.startswith(f"{path} = ")
    assert fragment in message


def test_bad_json_text_is_rejected_with_the_parse_error() -> None:
    with pytest.raises(TaskParamError, match="valid JSON"):
        TaskParams.from_json("{robot: }")


def test_direct_construction_validates_too() -> None:
    with pytest.raises(TaskParamError, match=r"robot\.motor_strength_scale = 0\.0"):
        RobotParams(motor_strength_scale=0.0)
    with pytest.raises(TaskParamError, match="a RobotParams"):
        TaskParams(robot=TerrainParams())  # type: ignore[arg-type]


def test_every_leaf_has_help_and_numbers_have_bounds() -> None:
    leaves = task_fields()
    sections = {leaf.path.split(".")[0] for leaf in leaves}
    assert sections == {"robot", "terrain", "goal"}
    for leaf in leaves:
        assert leaf.spec.help, leaf.path
        if leaf.type in (int, float):
            assert leaf.spec.low is not None and leaf.spec.high is not None, leaf.path
            assert leaf.spec.low <= leaf.default <= leaf.spec.high, leaf.path


def test_with_values_applies_dotted_paths_and_validates() -> None:
    task = with_values(TaskParams(), {"robot.payload_kg": 2.5, "goal.target_heading_deg": 90})
    assert get_value(task, "robot.payload_kg") == 2.5
    assert task.goal == GoalParams(target_heading_deg=90.0)
    with pytest.raises(TaskParamError, match=r"terrain\.friction = 9"):
        with_values(task, {"terrain.friction": 9})
    with pytest.raises(TaskParamError, match=r"known: robot\.name"):
        field_by_path("robot.colour")


def test_parse_value_converts_cli_text_and_names_the_field_on_failure() -> None:
    assert parse_value("terrain.rough_seed", "12") == 12
    assert parse_value("robot.payload_kg", "1.5") == 1.5
    with pytest.raises(TaskParamError, match=r"robot\.payload_kg = 'heavy'"):
        parse_value("robot.payload_kg", "heavy")


# --- input that once crashed the schema instead of being rejected (issue 14) ---


def test_a_whole_number_beyond_any_float_is_rejected_naming_the_field() -> None:
    with pytest.raises(TaskParamError, match=r"^robot\.payload_kg = <a whole number of 401 digits> is not allowed"):
        TaskParams.from_dict({"robot": {"payload_kg": 10**400}})


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"terrain": {"rough_seed": 1%s}}' % ("0" * 5000), "at most 4300 digits"),
        ('{"robot": {"payload_kg": 1%s}}' % ("0" * 400), "robot.payload_kg = <a whole number of 401 digits>"),
        ("[" * 100_000 + "]" * 100_000, "nested at most"),
    ],
    ids=["5000-digit", "400-digit", "deep-nesting"],
)
def test_task_json_python_cannot_read_is_one_bounded_error(text: str, fragment: str) -> None:
    with pytest.raises(TaskParamError) as info:
        TaskParams.from_json(text)
    assert fragment in str(info.value)
    assert len(str(info.value)) < 300


@pytest.mark.parametrize("where", ["value", "key"])
def test_a_megabyte_bad_string_gives_a_short_error_line(where: str) -> None:
    huge = "x" * 1_000_000
    data = {"robot": {"name": huge}} if where == "value" else {"robot": {huge: 1}}
    with pytest.raises(TaskParamError, match=r"^robot\.") as info:
        TaskParams.from_dict(data)
    assert len(str(info.value)) < 400
    assert "1000000 characters" in str(info.value) or "..." in str(info.value)


def test_a_deeply_nested_value_is_rejected_without_recursing() -> None:
    nested: list = []
    for _ in range(100_000):
        nested = [nested]
    with pytest.raises(TaskParamError, match=r"^goal\.target_velocity_mps = \[\[\[") as info:
        TaskParams.from_dict({"goal": {"target_velocity_mps": nested}})
    assert len(str(info.value)) < 300
