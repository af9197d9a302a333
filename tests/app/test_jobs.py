"""Short jobs: the function runs in another thread, its result or error comes back on the GUI thread."""

from __future__ import annotations

import threading

from app.window.jobs import JobRunner

TIMEOUT_MS = 5000


def test_results_and_errors_come_back_on_the_gui_thread(qtbot) -> None:
    runner = JobRunner()
    gui = threading.get_ident()
    seen: list[tuple[str, object, bool]] = []

    def record(kind: str):
        return lambda value: seen.append((kind, value, threading.get_ident() == gui))

    worker_threads: list[int] = []

    def work() -> int:
        worker_threads.append(threading.get_ident())
        return 42

    runner.call(work, on_done=record("done"), on_failed=record("failed"))
    runner.call(lambda: 1 / 0, on_done=record("done"), on_failed=record("failed"))
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=TIMEOUT_MS)
    assert sorted(seen, key=str) == [("done", 42, True), ("failed", "ZeroDivisionError: division by zero", True)]
    assert worker_threads and worker_threads[0] != gui
    qtbot.waitUntil(lambda: runner.running() == 0, timeout=TIMEOUT_MS)
    assert runner.shutdown()
