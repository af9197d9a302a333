"""The one failure type of every child process this project starts.

A job run by :class:`agents.core.child_process.ChildProcess` (training, the window's simulation
jobs) and a sampler worker (:class:`sim.sampler.SamplerError` is a :class:`ChildFailed`) fail the
same way: one line saying what went wrong, the child's traceback, and its exit code when it died.
It lives in ``sim`` because the sampler, which may not import ``agents``, raises it too.
"""

from __future__ import annotations

from typing import Any


class ChildFailed(RuntimeError):
    """A child's job raised, or the child ended without saying why (killed, or crashed in C code).

    ``message`` is one line (the job's exception type and message), ``details`` the child's traceback,
    ``error`` the job's exception itself when it could cross (it is also the ``__cause__``), and
    ``exitcode`` the child's exit code when it died.
    """

    def __init__(
        self, message: str, *, details: str = "", error: BaseException | None = None, exitcode: int | None = None
    ) -> None:
        super().__init__(message)
        self.message, self.details, self.error, self.exitcode = message, details, error, exitcode
        self.__cause__ = error

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild_failure, (type(self), self.message, self.details, self.error, self.exitcode)


def _rebuild_failure(
    kind: type[ChildFailed], message: str, details: str, error: BaseException | None, exitcode: int | None
) -> ChildFailed:  # pickling helper: keyword-only fields, and the subclass (a SamplerError) kept
    return kind(message, details=details, error=error, exitcode=exitcode)
