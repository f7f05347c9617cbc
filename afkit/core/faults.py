"""Fault injection for tests: end the process at its N-th write, as a crash would.

``afkit.data.featurize`` (build) and ``afkit.training.train`` (run folder) call :func:`crash_point`
at every point where what is on disk changes: after a temporary file is written and before it is
renamed into place, after each rename, after each streamed chunk. With ``AFKIT_CRASH_AT_WRITE=N`` in
the environment the N-th call in this process ends it with ``os._exit(CRASH_EXIT)``: no ``finally``,
no ``atexit``, no flush of Python's file buffers, just as a SIGKILL or a power cut (minus the
page cache). A test runs a build or a training run with N = 1, 2, ... until one finishes
without reaching the N-th point; every crash state is then resumed and compared with an
uninterrupted run. Unset (the default), :func:`crash_point` only counts.
"""

from __future__ import annotations

import os

__all__ = ["CRASH_ENV", "CRASH_EXIT", "crash_point", "reset", "count"]

CRASH_ENV = "AFKIT_CRASH_AT_WRITE"
CRASH_EXIT = 86  # the exit status of a process ended by crash_point

_count = 0


def crash_point(what: str = "") -> None:
    """Count one write event; end the process (``os._exit(CRASH_EXIT)``) when it is the N-th,
    N from ``$AFKIT_CRASH_AT_WRITE``. ``what`` names the point (for debugging only)."""
    global _count
    _count += 1
    at = os.environ.get(CRASH_ENV)
    if at and int(at) == _count:
        os._exit(CRASH_EXIT)


def reset() -> None:
    """Start counting from 0 again (a forked test child, a second run in one process)."""
    global _count
    _count = 0


def count() -> int:
    """The number of :func:`crash_point` calls since the start (or :func:`reset`)."""
    return _count
