"""Checkpoints: atomic writes, weights-only loads, and clear errors naming the file."""

from __future__ import annotations

import io
import re
import stat
from pathlib import Path
from typing import Any

import pytest
import torch

from agents.storage.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


class Opaque:
    """A class a weights-only load must refuse to rebuild."""


def _payload() -> dict[str, Any]:
    return {
        "policy": {"w": torch.arange(6.0).view(2, 3), "count": torch.tensor(7)},
        "config": {"lr": 0.1, "steps": 3, "first_order": False, "name": "maml", "note": None},
        "history": [1.5, 2.5, (3, "x")],
    }


def test_round_trip_keeps_tensors_and_plain_data(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "ckpt.pt", _payload())
    loaded = load_checkpoint(path)
    assert torch.equal(loaded["policy"]["w"], _payload()["policy"]["w"])
    assert loaded["config"] == _payload()["config"]
    assert loaded["history"] == [1.5, 2.5, (3, "x")]
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]


def test_a_failure_mid_write_leaves_the_old_checkpoint_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = save_checkpoint(tmp_path / "ckpt.pt", _payload())
    old_bytes = path.read_bytes()
    real_save = torch.save

    def half_then_fail(obj: object, file: io.BufferedWriter) -> None:
        buffer = io.BytesIO()
        real_save(obj, buffer)
        file.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        raise RuntimeError("killed half way")

    monkeypatch.setattr(torch, "save", half_then_fail)
    with pytest.raises(RuntimeError, match="killed half way"):
        save_checkpoint(path, {"policy": {"w": torch.zeros(1000)}})
    assert path.read_bytes() == old_bytes
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]


def test_a_pickled_object_is_refused_naming_file_and_class(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"w": torch.ones(2), "thing": Opaque()}, path)
    with pytest.raises(CheckpointError, match=rf"{re.escape(str(path))}.*refused.*pickled Python object.*Opaque"):
        load_checkpoint(path)


def test_missing_truncated_and_non_dict_files_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=rf"{re.escape(str(tmp_path / 'absent.pt'))} does not exist"):
        load_checkpoint(tmp_path / "absent.pt")
    good = save_checkpoint(tmp_path / "good.pt", _payload()).read_bytes()
    for cut in (0, 10, len(good) // 2, len(good) - 10):
        cut_path = tmp_path / f"cut{cut}.pt"
        cut_path.write_bytes(good[:cut])
        damaged = rf"{re.escape(str(cut_path))} (is truncated|was refused: it is corrupt)"
        with pytest.raises(CheckpointError, match=damaged):
            load_checkpoint(cut_path)
    listed = tmp_path / "list.pt"
    torch.save([torch.ones(1)], listed)
    with pytest.raises(CheckpointError, match=rf"{re.escape(str(listed))} holds a list, not a dict"):
        load_checkpoint(listed)


def test_save_refuses_what_a_weights_only_load_could_not_read(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"payload\['config'\]\['opaque'\] is a Opaque"):
        save_checkpoint(tmp_path / "ckpt.pt", {"config": {"opaque": Opaque()}})
    with pytest.raises(CheckpointError, match=r"payload\['history'\] has a key 1.5"):
        save_checkpoint(tmp_path / "ckpt.pt", {"history": {1.5: 2.0}})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("raw", [b"\x80", b"}\x81", b"J", b"\x87"], ids=["index", "pop", "struct", "range"])
def test_bytes_that_break_the_unpickler_anywhere_are_a_checkpoint_error(tmp_path: Path, raw: bytes) -> None:
    """torch's weights-only unpickler raised IndexError or struct.error on these: adapt printed a traceback."""
    path = tmp_path / "garbage.pt"
    path.write_bytes(raw)
    with pytest.raises(CheckpointError, match=re.escape(str(path)) + " is truncated or corrupt"):
        load_checkpoint(path)


def test_a_saved_file_has_the_permissions_of_any_file_the_user_writes(tmp_path: Path) -> None:
    """Atomic writes go through a private temporary file; the result must not stay private (0600)."""
    save_checkpoint(tmp_path / "checkpoint.pt", {"weights": torch.zeros(2)})
    (tmp_path / "plain.txt").write_text("x")
    mode = stat.S_IMODE((tmp_path / "checkpoint.pt").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode)
