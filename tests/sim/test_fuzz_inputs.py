"""Property-based tests (hypothesis) of the sim's user-data entry points: task and family JSON, field flags, URDFs.

Each entry point either accepts a generated input or raises its documented error
(:class:`~sim.params.TaskParamError`, or the CLI's :class:`~app.cli.task_args.TaskInputError`),
whose message names a field or the input it could not read, in one bounded line. 1,000 cases each.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.cli.task_args import TaskInputError, add_task_arguments, flag_name, task_from_args
from sim.bullet import BulletSim
from sim.params import RobotParams, TaskParamError, TaskParams, shorten
from sim.robots import load_robot
from sim.tasks import TaskDistribution, load_family
from sim.urdf_file import RobotModelError
from tests.fuzz import (
    FIELD_PATHS,
    FUZZ,
    MAX_MESSAGE_CHARS,
    assert_one_bounded_line,
    family_dicts,
    json_texts,
    long_text,
    task_dicts,
)

pytestmark = pytest.mark.slow  # 1,000 cases per entry point: CI runs them, `make test-fast` skips them

KNOWN_ROOTS = {"robot", "terrain", "goal", "task", "family", "vary", "num_test_tasks", "field"}


def assert_names_a_field(err: TaskParamError) -> None:
    """The message starts with the (shortened) field path, rooted in the schema, then what is allowed."""
    message = str(err)
    assert_one_bounded_line(message)
    root = re.split(r"[.\[]", str(err.path))[0]
    assert root in KNOWN_ROOTS or str(err.path).isidentifier(), message[:200]  # a known root, or the unknown key
    assert message.startswith(shorten(str(err.path), 200)), message[:200]
    assert " is not allowed: " in message


@FUZZ
@given(task_dicts)
def test_task_from_dict_accepts_or_names_the_field(data: object) -> None:
    try:
        TaskParams.from_dict(data)
    except TaskParamError as err:
        assert_names_a_field(err)


@FUZZ
@given(json_texts)
def test_task_from_json_accepts_or_names_the_field(text: str) -> None:
    try:
        TaskParams.from_json(text)
    except TaskParamError as err:
        assert_names_a_field(err)


@FUZZ
@given(family_dicts)
def test_family_from_dict_accepts_or_names_the_field(data: object) -> None:
    try:
        TaskDistribution.from_dict(data)
    except TaskParamError as err:
        assert_names_a_field(err)


@FUZZ
@given(json_texts)
def test_family_from_json_accepts_or_names_the_field(text: str) -> None:
    try:
        TaskDistribution.from_json(text)
    except TaskParamError as err:
        assert_names_a_field(err)


@pytest.fixture(scope="module")
def family_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "family.json"


raw_family_bytes = st.one_of(
    st.binary(max_size=300),
    json_texts.map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.tuples(json_texts, st.binary(min_size=1, max_size=8)).map(lambda p: p[0].encode("utf-8", "replace") + p[1]),
)


@FUZZ
@given(raw=raw_family_bytes)
def test_load_family_on_raw_bytes_accepts_or_names_the_field(family_file: Path, raw: bytes) -> None:
    family_file.write_bytes(raw)
    try:
        load_family(family_file)
    except TaskParamError as err:
        assert_names_a_field(err)
        if err.path == "family" and "UTF-8" in str(err):
            assert str(family_file) in str(err)  # a file it cannot decode is named


@FUZZ
@given(st.one_of(st.text(max_size=60), long_text, st.sampled_from(["x\0.json", "a" * 5000 + ".json", "/", "."])))
def test_load_family_on_any_name_or_path_is_one_line(name: str) -> None:
    try:
        load_family(name)
    except TaskParamError as err:
        assert_names_a_field(err)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_task_arguments(parser)
    return parser


PARSER = _parser()
flag_values = st.one_of(
    st.text(max_size=40),
    long_text,
    st.sampled_from([309, 400, 4300, 5000]).map(lambda n: "1" + "0" * n),
    st.sampled_from(["nan", "inf", "-inf", "1e400", "-0", "3_000", "٣", "true", "", " ", "0x10"]),
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
assignments = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(FIELD_PATHS).map(flag_name), flag_values).map(lambda p: f"{p[0]}={p[1]}"),
        st.tuples(st.one_of(st.sampled_from(FIELD_PATHS), st.text(max_size=20)), flag_values).map(
            lambda p: f"--set={p[0]}={p[1]}"
        ),
        flag_values.map(lambda v: f"--set={v}"),
    ),
    max_size=4,
)


@FUZZ
@given(assignments)
def test_field_flags_accept_or_name_the_field(argv: list[str]) -> None:
    args = PARSER.parse_args(argv)
    try:
        task_from_args(args)
    except TaskParamError as err:
        assert_names_a_field(err)
    except TaskInputError as err:
        assert_one_bounded_line(str(err))
        assert str(err).startswith("--set ")
    assert len(" ".join(argv)) >= 0  # every argv parsed: values never look like flags in --flag=value form


def test_the_bound_leaves_room_for_the_longest_real_message() -> None:
    with pytest.raises(TaskParamError) as info:
        TaskParams.from_dict({"robot": {"nope": 1}})
    assert len(str(info.value)) < MAX_MESSAGE_CHARS


@pytest.fixture(scope="module")
def bullet() -> Iterator[BulletSim]:
    with BulletSim() as sim:
        yield sim


@pytest.fixture(scope="module")
def urdf_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("urdf") / "robot.urdf"


urdf_paths = st.one_of(
    st.text(max_size=60),
    long_text,
    st.sampled_from(["/", ".", "~", "x\0.urdf", "a" * 5000 + ".urdf", __file__, "/dev/null", "\udcff.urdf"]),
)
urdf_bytes = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda t: ("<robot>" + t).encode("utf-8", "replace")),
    st.sampled_from([b"<robot/>", b"<robot><link/></robot>", b"<root/>", b"\xff\xfe<robot/>"]),
)


@FUZZ
@given(path=urdf_paths)
def test_any_urdf_path_loads_or_names_robot_urdf_path(bullet: BulletSim, path: str) -> None:
    try:
        load_robot(bullet, RobotParams(name="urdf", urdf_path=path), position=(0.0, 0.0, 1.0))
    except RobotModelError as err:
        assert str(err).startswith("robot.urdf_path = ")
        assert_one_bounded_line(str(err))
    except TaskParamError as err:  # the empty path: the schema's own rule
        assert err.path == "robot.urdf_path"


@FUZZ
@given(raw=urdf_bytes)
def test_any_urdf_file_content_loads_or_names_robot_urdf_path(bullet: BulletSim, urdf_file: Path, raw: bytes) -> None:
    urdf_file.write_bytes(raw)
    try:
        load_robot(bullet, RobotParams(name="urdf", urdf_path=str(urdf_file)), position=(0.0, 0.0, 1.0))
    except RobotModelError as err:
        assert str(err).startswith(f"robot.urdf_path = '{urdf_file}'")
        assert_one_bounded_line(str(err))
