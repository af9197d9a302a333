"""Drive the window's preview child through many rough-ground edits and print its resident memory.

    python scripts/preview_memory.py [--edits 200] [--robot a1]

Why: the preview rebuilds the ground at every terrain edit, and PyBullet keeps some of what a build
makes for the life of the process (issue 14: the preview's child must stay within 1 GB of its size
after the first build over 200 edits). This runs the very child the window starts
(:meth:`app.runtime.launcher.JobLauncher.preview`), renderer included, sends it a new rough ground
(another seed and bump size) per edit, waits for two frames of each, and reads the child's RSS from
/proc (Linux only).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.runtime.launcher import JobLauncher
from app.runtime.preview import Frame
from sim.params import TaskParams, with_values

PAGE_MB = 4096 / 2**20


def rss_mb(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_MB


def rough_ground(robot: str, edit: int) -> TaskParams:
    """The ground of edit ``edit``: a new seed, and bumps from 0.4 to 2 m across."""
    values = {"robot.name": robot, "terrain.kind": "rough", "terrain.rough_amplitude_m": 0.06}
    values |= {"terrain.rough_seed": 1000 + edit, "terrain.rough_feature_m": 0.4 + 0.2 * (edit % 9)}
    return with_values(TaskParams(), values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=200)
    parser.add_argument("--robot", default="a1")
    args = parser.parse_args(argv)
    job = JobLauncher().preview(rough_ground(args.robot, 0), camera=None, fps=30)
    events = iter(job.events())
    renderer, first, readings = "", 0.0, []
    try:
        for edit in range(args.edits + 1):
            frames = 0
            while frames < 2:
                event = next(events)
                if isinstance(event, Frame):
                    frames, renderer = frames + 1, event.renderer
            pid = job.pid  # type: ignore[attr-defined]
            rss = rss_mb(pid)
            first = first or rss
            if edit % 20 == 0:
                readings.append((edit, rss))
                print(f"edit {edit:>4}: {rss:7.0f} MB ({rss - first:+.0f} MB since the first build)", flush=True)
            job.put("task", rough_ground(args.robot, edit + 1))
    finally:
        job.request_stop()
        for _ in events:  # drain until the child has ended
            pass
    growth = readings[-1][1] - readings[0][1]
    per_edit = growth / args.edits
    print(f"{args.robot}, renderer {renderer}: {growth:+.0f} MB over {args.edits} edits, {per_edit:+.2f} MB an edit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
