"""Screenshots of the real window under Xvfb, driven from inside the app's own process.

    python scripts/screenshots.py OUT_DIR            # starts its own Xvfb (xvfb-run)
    python scripts/screenshots.py OUT_DIR --shots 3  # a shorter adaptation
    python scripts/screenshots.py OUT_DIR --live-only --live-agent run/checkpoint.pt  # only the live change

Needs, on Debian/Ubuntu: ``apt-get install -y xvfb libxcb-icccm4 libxcb-keysyms1 imagemagick``
(Xvfb and xvfb-run; the two xcb libraries Qt's X11 plugin loads; ImageMagick's ``import``).

It opens :class:`app.window.main_window.MainWindow` on a held-out task of a bundled agent's family
(``--agent``, ``--test-task``; by default the agent a first launch preselects), selects that agent
in the Adapt tab, runs an adaptation with frames, and saves the screen at
these moments:

1. ``1-preview``: the idle window, its live preview running;
2. ``2-adapting``: mid-adaptation (two episodes done, the third drawing);
3. ``3-adapted``: after the run, with its return and reward curves;
4. ``4-meta-train``: the Meta-train tab;
5. ``5-family-editor``: the task-family editor opened from it;
6. ``6-live-change``: a one-episode run of ``--live-agent`` (default: the same agent) on a held-out
   task of its family, in which the task form's ``--live-change`` field is edited a third of the way
   through: the change is marked on every plot, and the third plot draws the agent's running
   estimate of the task (an online agent such as RMA) or says it has none. ``--live-only`` takes
   only this one.

Each moment is saved twice: ``NAME.png`` is the X server's root window taken with ImageMagick's
``import -window root``, what a user would see on screen; ``NAME-grab.png`` is Qt's own
``QWidget.grab()`` of the window. A Qt timer steps through the moments (no sleeps); each waits for
its condition (frames shown, episodes done) for at most ``--timeout`` seconds, and a moment that
never comes fails the script with the reason.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SCREEN = (1500, 900)
"""Xvfb's screen and the window's size, px: without a window manager the window fills the screen."""
SETTLE_S = 1.0
"""Event-loop time given to repaints between a moment's condition and its screenshot."""


@dataclass
class Moment:
    """One step of the script: wait for ``ready``, run ``act``, then (when ``shot``) save the screen."""

    name: str
    ready: Callable[[], bool]
    act: Callable[[], None] = lambda: None
    shot: bool = True


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="folder for the PNG files (created)")
    parser.add_argument("--shots", type=int, default=4, help="episodes of the adaptation (3 or 4 read well)")
    parser.add_argument("--steps", type=int, default=600, help="steps per episode (600: 10 s, what a person watches)")
    parser.add_argument("--agent", default="cheetah-velocity-pearl", help="bundled agent (assets/agents/NAME.pt)")
    parser.add_argument("--test-task", type=int, default=0, help="which held-out task of the agent's family")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds to wait for each moment")
    parser.add_argument("--live-agent", type=Path, help="checkpoint for the live-change moment (default: --agent's)")
    parser.add_argument(
        "--live-change", default="robot.payload_kg=10", help="FIELD=VALUE edited in the form during that run"
    )
    parser.add_argument("--live-only", action="store_true", help="take only the live-change moment")
    parser.add_argument("--inside-xvfb", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def relaunch_under_xvfb(argv: list[str]) -> int:
    """Run this script again inside ``xvfb-run`` with a screen of :data:`SCREEN`; its exit status."""
    if shutil.which("xvfb-run") is None:
        print("screenshots: xvfb-run not found: apt-get install -y xvfb libxcb-icccm4 libxcb-keysyms1 imagemagick")
        return 2
    width, height = SCREEN
    command = [
        "xvfb-run",
        "--auto-servernum",
        f"--server-args=-screen 0 {width}x{height}x24",
        sys.executable,
        str(Path(__file__).resolve()),
        *argv,
        "--inside-xvfb",
    ]
    return subprocess.run(command, check=False).returncode


class Director:
    """Steps through the moments on a Qt timer and saves the screenshots."""

    def __init__(self, window: object, moments: list[Moment], out_dir: Path, timeout_s: float) -> None:
        from PySide6.QtCore import QTimer

        self.window, self.moments, self.out_dir, self.timeout_s = window, moments, out_dir, timeout_s
        self.index = 0
        self.since = time.monotonic()
        self.settle_until: float | None = None
        self.failure: str | None = None
        self.saved: list[Path] = []
        self.timer = QTimer()
        self.timer.timeout.connect(self.tick)

    def start(self) -> None:
        """Begin (the first moment's clock starts now)."""
        self.since = time.monotonic()
        self.timer.start(100)

    def tick(self) -> None:
        """Advance: wait for the moment, act, let the screen settle, shoot, go on to the next."""
        moment = self.moments[self.index]
        now = time.monotonic()
        if self.settle_until is None:
            if not moment.ready():
                if now - self.since > self.timeout_s:
                    self.finish(f"{moment.name}: not ready after {self.timeout_s:.0f} s")
                return
            moment.act()
            self.settle_until = now + (SETTLE_S if moment.shot else 0.0)
            return
        if now < self.settle_until:
            return
        if moment.shot:
            self.shoot(moment.name)
        self.settle_until = None
        self.index += 1
        self.since = now
        if self.index == len(self.moments):
            self.finish(None)

    def shoot(self, name: str) -> None:
        """``NAME.png`` from the X server's root window, ``NAME-grab.png`` from Qt."""
        from PySide6.QtWidgets import QApplication, QWidget

        assert isinstance(self.window, QWidget)
        QApplication.processEvents()
        x_shot, grab = self.out_dir / f"{name}.png", self.out_dir / f"{name}-grab.png"
        subprocess.run(["import", "-window", "root", str(x_shot)], check=True)
        # A dialog is its own top-level window: grab it instead of the main window behind it.
        top = QApplication.activeModalWidget() or self.window
        if not top.grab().save(str(grab)):
            raise OSError(f"could not write {grab}")
        self.saved += [x_shot, grab]
        print(f"screenshots: {name}: {x_shot.name}, {grab.name}", flush=True)

    def finish(self, failure: str | None) -> None:
        """Stop the script and close the window (which quits the app)."""
        from PySide6.QtWidgets import QWidget

        self.failure = failure
        self.timer.stop()
        assert isinstance(self.window, QWidget)
        self.window.close()


def build_moments(window: object, bundled: Path, family_name: str, shots: int, steps: int) -> list[Moment]:
    """The script: preview, adaptation (mid and after), the Meta-train tab and the family editor."""
    from app.window.main_window import MainWindow

    assert isinstance(window, MainWindow)
    panel, plot, viewport = window.adapt_panel, window.adapt_panel.plot, window.viewport
    marks: dict[str, int] = {}

    def choose_and_run() -> None:
        panel.add_checkpoint(bundled)  # already listed by the scan: this selects it
        panel.shots.setValue(shots)
        panel.updates.setValue(shots - 1)
        panel.steps.setValue(steps)
        window.tabs.setCurrentWidget(panel)
        panel.run_button.click()

    def mid_run() -> bool:
        return plot.run_count() == 1 and len(plot.returns(0)[0]) >= 2 and len(plot.rewards(0)[0]) >= steps // 2

    def after_run() -> bool:
        if panel.is_running() or panel.last_outcome is None:
            return False
        marks.setdefault("frames", viewport.frames_shown)
        return viewport.frames_shown >= marks["frames"] + 15  # the preview is back

    def show_training() -> None:
        family = window.train_panel.family
        family.setCurrentText(family_name)
        family.activated.emit(family.currentIndex())
        window.tabs.setCurrentWidget(window.train_panel)

    def open_editor() -> None:
        window.train_panel.edit_family()
        editor = window.train_panel.family_editor
        assert editor is not None
        editor.setGeometry(60, 40, SCREEN[0] - 120, SCREEN[1] - 80)

    return [
        Moment("1-preview", lambda: viewport.frames_shown >= 30 and panel.checkpoint() is not None),
        Moment("start-run", lambda: True, choose_and_run, shot=False),
        Moment("2-adapting", mid_run),
        Moment("3-adapted", after_run),
        Moment("4-meta-train", lambda: True, show_training),
        Moment("5-family-editor", lambda: True, open_editor),
    ]


def live_moments(window: object, checkpoint: Path, task: object, change: str, steps: int) -> list[Moment]:
    """A one-episode run of ``checkpoint`` on ``task``, with ``change`` (FIELD=VALUE) typed into the form."""
    from app.window.main_window import MainWindow
    from sim.params import TaskParams, parse_value

    assert isinstance(window, MainWindow) and isinstance(task, TaskParams)
    panel, plot = window.adapt_panel, window.adapt_panel.plot
    path, _, raw = change.partition("=")
    value = parse_value(path, raw)
    marks: dict[str, int] = {}

    def ready_to_run() -> bool:
        editor = window.train_panel.family_editor
        if editor is not None and editor.isVisible():
            editor.reject()
        return not panel.is_running() and window.is_previewing()

    def start() -> None:
        window.task_panel.set_task(task)
        window.tabs.setCurrentWidget(panel)
        panel.add_checkpoint(checkpoint)
        panel.shots.setValue(1)
        panel.updates.setValue(0)
        panel.steps.setValue(steps)
        panel.run_button.click()
        marks["run"] = plot.run_count()

    def steps_done() -> int:
        return len(plot.rewards(marks["run"] - 1)[0]) if plot.run_count() == marks.get("run") else 0

    def edit() -> None:
        editor = window.form.editor(path)
        editor.setValue(value)  # type: ignore[attr-defined]  # a number field: what a user types

    def changed_and_on() -> bool:
        return bool(plot.markers(marks["run"] - 1, "rewards")) and steps_done() >= steps * 2 // 3

    return [
        Moment("live-start", ready_to_run, start, shot=False),
        Moment("live-edit", lambda: steps_done() >= steps // 3, edit, shot=False),
        Moment("6-live-change", changed_and_on),
    ]


def family_of(checkpoint: Path) -> str:
    """The task family a checkpoint's agent was trained on: its sidecar's, else the checkpoint's own."""
    sidecar = checkpoint.with_suffix(".json")
    if sidecar.is_file():
        return str(json.loads(sidecar.read_text())["family"])
    import torch

    from agents.training.train import load_trained

    return load_trained(checkpoint, device=torch.device("cpu")).family.name


def run_inside(args: argparse.Namespace) -> int:
    """Open the window on this X display, run the moments, and report."""
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    from PySide6.QtWidgets import QApplication

    from app.window.main_window import MainWindow
    from sim.tasks import AGENTS_DIR, load_family

    bundled = AGENTS_DIR / f"{args.agent}.pt"
    family_name = family_of(bundled)
    live_agent = args.live_agent or bundled
    live_task = load_family(family_of(live_agent)).test_tasks()[args.test_task]
    args.out_dir.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv[:1])
    app.setApplicationName("sim2adapt")
    window = MainWindow(live_task if args.live_only else load_family(family_name).test_tasks()[args.test_task])
    window.setGeometry(0, 0, *SCREEN)
    app.aboutToQuit.connect(window.shutdown)
    window.show()
    window.start()
    moments = [] if args.live_only else build_moments(window, bundled, family_name, args.shots, args.steps)
    moments += live_moments(window, live_agent, live_task, args.live_change, args.steps)
    director = Director(window, moments, args.out_dir, args.timeout)
    director.start()
    app.exec()
    if director.failure is not None:
        print(f"screenshots: failed: {director.failure}", file=sys.stderr)
        return 1
    print(f"screenshots: {len(director.saved)} files in {args.out_dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: relaunch under Xvfb (always: a real display's root window would be the user's screen)."""
    raw = sys.argv[1:] if argv is None else argv
    args = parse_args(raw)
    if not 1 <= args.shots <= 100:
        print(f"screenshots: --shots = {args.shots} is not allowed: 1 to 100", file=sys.stderr)
        return 2
    if args.inside_xvfb:
        return run_inside(args)
    return relaunch_under_xvfb(raw)


if __name__ == "__main__":
    sys.exit(main())
