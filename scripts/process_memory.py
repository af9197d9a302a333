"""Run a command and record the resident memory of it and every process it starts, until it ends.

    python scripts/process_memory.py --run-dir RUN --csv RUN/memory.csv -- sim2adapt train ... --run-dir RUN

Why: a training run must stay flat in memory however long it runs (issue 14: every process within
1 GB of its size after the first iteration). Samples /proc every ``--every`` seconds (Linux only), notes
when the run's first iteration is written (``RUN/metrics.jsonl`` gets its first line), and prints, per
process, its RSS then, at its highest and at its last sample. The CSV has one row per process per
sample: seconds, pid, command, RSS in MB.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

PAGE_MB = 4096 / 2**20


@dataclass
class Track:
    """One process's RSS over the run."""

    command: str
    after_first_mb: float | None = None
    samples: list[float] = field(default_factory=list)


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid`` (every thread's children file)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def tree(root: int) -> list[int]:
    """``root`` and all its descendants alive now."""
    pids, queue = [], [root]
    while queue:
        pid = queue.pop()
        pids.append(pid)
        queue += children_of(pid)
    return pids


def rss_mb(pid: int) -> float | None:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_MB
    except (OSError, IndexError, ValueError):
        return None


def command_of(pid: int) -> str:
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    text = " ".join(w.decode(errors="replace") for w in words if w)
    return text[-60:]


def first_iteration_done(run_dir: Path | None) -> bool:
    metrics = run_dir / "metrics.jsonl" if run_dir else None
    return metrics is not None and metrics.exists() and metrics.stat().st_size > 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, help="the run's directory (to find its first iteration)")
    parser.add_argument("--csv", type=Path, required=True, help="where the samples go")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples (default 10)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("a command to run is needed after --")
    child = subprocess.Popen(command)
    tracks: dict[int, Track] = {}
    start = time.monotonic()
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    with args.csv.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["seconds", "pid", "command", "rss_mb"])
        while child.poll() is None:
            first_done = first_iteration_done(args.run_dir)
            for pid in tree(child.pid):
                rss = rss_mb(pid)
                if rss is None:
                    continue
                track = tracks.setdefault(pid, Track(command_of(pid)))
                track.samples.append(rss)
                if first_done and track.after_first_mb is None:
                    track.after_first_mb = rss
                writer.writerow([round(time.monotonic() - start, 1), pid, track.command, round(rss, 1)])
            file.flush()
            time.sleep(args.every)
    print(f"{'pid':>7}  {'after 1st it.':>13}  {'highest':>8}  {'last':>8}  {'growth':>8}  command")
    for pid, track in tracks.items():
        base = track.after_first_mb if track.after_first_mb is not None else track.samples[0]
        top, last = max(track.samples), track.samples[-1]
        print(f"{pid:>7}  {base:>10.0f} MB  {top:>5.0f} MB  {last:>5.0f} MB  {top - base:>+5.0f} MB  {track.command}")
    return child.returncode


if __name__ == "__main__":
    sys.exit(main())
