"""Property-based tests (hypothesis) of checkpoints as user data: raw bytes, and dicts with damaged entries.

``load_checkpoint`` on any bytes, and :func:`~agents.training.train.load_trained` on any dict of
plain data, either load or raise :class:`~agents.storage.checkpoint.CheckpointError` naming the file
(and the entry), in one bounded line: ``adapt`` and ``export`` print that line, never a traceback.
"""

from __future__ import annotations

import dataclasses
import io
import zipfile
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from agents.storage.checkpoint import CheckpointError, load_checkpoint
from agents.training.train import TrainSettings, load_trained
from sim.params import TaskParams, with_values
from sim.tasks import TaskDistribution, UniformRange
from tests.fuzz import FUZZ, assert_one_bounded_line, family_dicts_of, json_values, plain_values, scalars

pytestmark = pytest.mark.slow  # 1,000 cases per entry point: CI runs them, `make test-fast` skips them

FAMILY = TaskDistribution(
    name="point-heading",
    base=with_values(TaskParams(), {"goal.target_velocity_mps": 1.0}),
    vary={"goal.target_heading_deg": UniformRange(-180.0, 180.0)},
    num_test_tasks=2,
)
TINY = {"meta_batch_size": 2, "episodes_per_task": 2, "horizon": 5, "outer_epochs": 1, "hidden_sizes": (8,)}
SETTINGS = TrainSettings(
    seed=1, num_workers=1, env="point_mass", device="cpu", config=dataclasses.replace(TrainSettings().config, **TINY)
)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "checkpoint.pt"


def _zip_of(members: dict[str, bytes]) -> bytes:
    """A zip file like torch's format, with members of our choosing (a damaged checkpoint)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _real_checkpoint_bytes() -> bytes:
    buffer = io.BytesIO()
    torch.save({"algorithm": "maml", "learner": {"w": torch.zeros(3)}}, buffer)
    return buffer.getvalue()


REAL = _real_checkpoint_bytes()
checkpoint_bytes = st.one_of(
    st.binary(max_size=400),
    st.tuples(st.integers(0, len(REAL)), st.binary(max_size=16)).map(lambda p: REAL[: p[0]] + p[1] + REAL[p[0] :]),
    st.integers(0, len(REAL)).map(lambda n: REAL[:n]),
    st.dictionaries(st.sampled_from(["archive/data.pkl", "archive/version", "archive/data/0", "x"]), st.binary()).map(
        _zip_of
    ),
)
"""Random bytes, a real checkpoint cut or spliced at random, and zip files with torch-like members."""


@FUZZ
@given(raw=checkpoint_bytes)
@pytest.mark.slow
def test_load_checkpoint_on_any_bytes_loads_a_dict_or_names_the_file(scratch: Path, raw: bytes) -> None:
    scratch.write_bytes(raw)
    try:
        assert isinstance(load_checkpoint(scratch), dict)
    except CheckpointError as err:
        assert_one_bounded_line(str(err))
        assert str(scratch) in str(err)


settings_rows = st.one_of(  # plain values: a checkpoint holds them
    st.fixed_dictionaries(
        {},
        optional={
            "algorithm": st.one_of(st.sampled_from(["maml", "pearl", "multitask", "nope"]), scalars),
            "seed": st.one_of(st.integers(), scalars),
            "iterations": st.one_of(st.integers(), scalars),
            "device": st.one_of(st.sampled_from(["cpu", "cuda:7", "auto"]), scalars),
            "num_workers": st.one_of(st.integers(), scalars),
            "env": st.one_of(st.sampled_from(["point_mass", "locomotion"]), scalars),
            "config": st.one_of(st.dictionaries(st.sampled_from([*TINY, "lr", "x"]), plain_values), plain_values),
            "env_config": st.one_of(st.dictionaries(st.sampled_from(["frame_skip", "x"]), plain_values), plain_values),
        },
    ),
    plain_values,
)


@FUZZ
@given(st.one_of(settings_rows, json_values))
@pytest.mark.slow
def test_train_settings_from_any_dict_is_valid_or_a_value_error(row: object) -> None:
    try:
        TrainSettings.from_dict(row)
    except ValueError as err:
        assert_one_bounded_line(str(err))


def _state(entries: dict) -> dict:
    good = {
        "algorithm": "maml",
        "settings": SETTINGS.to_dict(),
        "family": FAMILY.to_dict(),
        "learner": {"iteration": 0},
    }
    return {key: entries.get(key, value) for key, value in good.items() if entries.get(key, value) is not None}


damaged_states = st.fixed_dictionaries(
    {},
    optional={
        "algorithm": st.one_of(st.sampled_from(["maml", "pearl"]), scalars),
        "settings": settings_rows,
        "family": family_dicts_of(plain_values),  # what torch.save can write: no deep nesting
        "learner": st.one_of(plain_values, st.dictionaries(st.text(max_size=8), plain_values)),
    },
).map(_state)
"""A checkpoint's entries, each either kept, dropped (None) or replaced with hostile data."""


@FUZZ
@given(state=damaged_states)
@pytest.mark.slow
def test_load_trained_on_damaged_entries_names_the_entry(scratch: Path, state: dict) -> None:
    torch.save(state, scratch)
    try:
        load_trained(scratch, device=torch.device("cpu"))
    except CheckpointError as err:
        message = str(err)
        assert_one_bounded_line(message)
        assert str(scratch) in message
    except ValueError as err:  # a valid checkpoint whose family's robot cannot load: one line, a field named
        assert_one_bounded_line(str(err))
