"""Shared pieces of the property-based tests (hypothesis): settings and generators of hostile user data.

Every entry point that reads user data (task and family JSON, field flags, checkpoints, URDF paths)
is fed these, and must answer with its documented error, naming the field, in one bounded line.
The generators lean on what once crashed: whole numbers of hundreds or thousands of digits, deep
nesting, megabyte strings, non-UTF-8 bytes, NaN and infinities, and keys near the real ones.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from sim.params import task_fields

FUZZ = settings(
    max_examples=1000,
    deadline=None,
    derandomize=True,  # the same cases on every run: CI cannot go red by chance
    database=None,  # nothing written beside the tests
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
"""1,000 generated cases, for entry points where each case costs well under a millisecond."""

MAX_MESSAGE_CHARS = 1500
"""An error message longer than this is not one readable line (the schema's longest is ~900)."""

FIELD_PATHS = [leaf.path for leaf in task_fields()]
SECTIONS = sorted({path.split(".")[0] for path in FIELD_PATHS})
FIELD_NAMES = sorted({path.split(".")[1] for path in FIELD_PATHS})


@functools.cache
def nested(depth: int) -> list[Any]:
    """A list nested ``depth`` levels deep, built without recursion, once (the entry points never mutate it)."""
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


huge_ints = st.tuples(st.sampled_from([309, 400, 4299, 5000]), st.integers(-5, 5), st.booleans()).map(
    lambda p: (10 ** p[0] + p[1]) * (-1 if p[2] else 1)
)
"""Whole numbers beyond any float, some beyond Python's 4300-digit text limit."""

long_text = st.sampled_from([1_000, 10_000, 1_000_000]).map(lambda n: "x" * n)
"""Strings of up to a megabyte."""

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    huge_ints,
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    long_text,
    st.sampled_from(FIELD_PATHS + SECTIONS + FIELD_NAMES + ["ant", "urdf", "rough", "flat"]),
)

plain_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.text(max_size=10), st.sampled_from(FIELD_NAMES)), inner, max_size=3),
    ),
    max_leaves=6,
)
"""Plain data as JSON could carry it, a few levels deep (what torch.save can write)."""
json_values = plain_values | st.sampled_from([990, 3000, 100_000]).map(nested)
"""Plain data as JSON could carry it, plus very deep nesting."""


def task_dicts_of(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Task-shaped dicts (known sections and field names with hostile ``values``) and anything else."""
    sections = st.dictionaries(
        st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=12), long_text), values, max_size=5
    )
    return st.one_of(
        st.dictionaries(st.one_of(st.sampled_from(SECTIONS), st.text(max_size=8)), sections, max_size=4), values
    )


def family_dicts_of(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Family-shaped dicts (known keys, hostile ``values``, ranges near the real ones) and anything else."""
    distributions = st.one_of(
        st.fixed_dictionaries({"uniform": st.lists(scalars, min_size=0, max_size=3)}),
        st.fixed_dictionaries({"choice": st.lists(scalars, max_size=5)}),
        values,
    )
    return st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                "name": scalars,
                "description": scalars,
                "base": task_dicts_of(values),
                "vary": st.one_of(
                    st.dictionaries(st.one_of(st.sampled_from(FIELD_PATHS), st.text(max_size=12)), distributions),
                    values,
                ),
                "num_test_tasks": st.one_of(st.integers(), huge_ints, scalars),
            },
        ),
        values,
    )


task_dicts = task_dicts_of(json_values)
family_dicts = family_dicts_of(json_values)


@functools.cache
def _deep_json(depth: int) -> str:
    return "[" * depth + "]" * depth


def to_json(value: Any) -> str:
    """JSON text of ``value``; huge numbers and deep nesting written by hand (``json.dumps`` refuses them)."""
    try:
        return json.dumps(value)
    except (ValueError, RecursionError, TypeError):
        return _deep_json(100_000)


json_texts = st.one_of(
    task_dicts.map(to_json),
    family_dicts.map(to_json),
    st.text(max_size=200),
    st.sampled_from([309, 400, 4300, 5000]).map(lambda n: '{"robot": {"payload_kg": 1%s}}' % ("0" * n)),
    st.sampled_from([309, 400, 4300, 5000]).map(lambda n: '{"num_test_tasks": 1%s, "name": "a"}' % ("0" * n)),
    st.sampled_from([990, 3000, 100_000]).map(_deep_json),
)
"""JSON text, valid or not, including the 400- and 5000-digit numbers and deep nesting once seen crashing."""


def assert_one_bounded_line(message: str) -> None:
    """The error is one line of reasonable length."""
    assert "\n" not in message, message[:300]
    assert 0 < len(message) <= MAX_MESSAGE_CHARS, message[:300]
