"""``sim2adapt bench memory``, called as a function on a tiny budget: both tables, one-line errors."""

from __future__ import annotations

import pytest

from app.cli.main import main


@pytest.mark.slow  # three spawned processes
def test_bench_memory_prints_the_rebuild_and_switching_tables(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bench", "memory", "--robots", "ant", "--rebuilds", "4", "--preview-rebuilds", "3"]
    argv += ["--renderer", "tiny", "--episode-steps", "5", "--seconds", "0.2", "--repeats", "1"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "MB/rebuild" in out and "s/rebuild" in out
    lines = out.splitlines()
    assert any(line.split()[:3] == ["ant", "none", "4"] for line in lines)  # the sampler's way
    assert any(line.split()[:3] == ["ant", "tiny", "3"] for line in lines)  # the preview's way
    assert any(line.split()[:3] == ["ant", "rough", "5"] and line.endswith("%") for line in lines)


@pytest.mark.parametrize(
    "flags", [["--robots", "dog"], ["--rebuilds", "1"], ["--seconds", "0"]], ids=["robot", "rebuilds", "seconds"]
)
def test_bench_memory_rejects_bad_flags_in_one_line(capsys: pytest.CaptureFixture[str], flags: list[str]) -> None:
    assert main(["bench", "memory", *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sim2adapt: error:") and len(err.strip().splitlines()) == 1
