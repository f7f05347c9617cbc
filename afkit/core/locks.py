"""One writer per output folder: an advisory lock file, ``hold(path, what)``.

``featurize.build_split`` holds ``<split dir>/.afkit.lock`` and ``train.train`` holds
``<run dir>/.afkit.lock`` while they write, so that a second ``featurize`` or ``train`` on the
same folder is refused (:class:`LockedError`, naming the holder) instead of interleaving its
writes with the first one's.

The lock is ``fcntl.flock`` on the lock file; the file also holds who took it (pid, host, what,
when; one JSON line) for the error message. The kernel drops a flock when its process dies, however
it dies (SIGKILL, OOM, ``os._exit``), so a lock file left by a killed process is *stale by
construction*: the next writer locks it and takes it over; no pid guessing decides anything
(the recorded pid only feeds the message). The file is removed on release; a writer that locked
a file which was removed (or replaced) meanwhile retries on the new one, so two writers can
never both hold the lock. ``flock`` is local to one machine on most network file systems: two
hosts writing one NFS folder are not excluded (the message names the host to help see that).
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

__all__ = ["LOCK_NAME", "LockedError", "hold", "holder"]

LOCK_NAME = ".afkit.lock"


class LockedError(RuntimeError):
    """Another live process holds the lock. Attributes: ``path`` (the lock file), ``holder``
    (the holder's record: ``pid``, ``host``, ``what``, ``since``; empty if unreadable)."""

    def __init__(self, path, holder: dict, what: str):
        self.path, self.holder = str(path), dict(holder)
        who = (
            (
                f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}"
                f" ({holder.get('what', '?')}, since {holder.get('since', '?')})"
            )
            if holder
            else "another process"
        )
        super().__init__(
            f"{what}: {Path(path).parent} is in use by {who}; lock file {path}. "
            f"Wait for that process to finish (or stop it); a lock left by a process "
            f"that died is taken over automatically"
        )


def holder(path) -> dict:
    """The record in lock file ``path`` (``{}`` when missing or unreadable)."""
    try:
        text = Path(path).read_text()
        rec = json.loads(text) if text.strip() else {}
        return rec if isinstance(rec, dict) else {}
    except (OSError, ValueError):
        return {}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


@contextlib.contextmanager
def hold(path, what: str) -> Iterator[Path]:
    """Hold the lock file ``path`` (created, with its folder, if missing) for the ``with`` block.

    Raises :class:`LockedError` at once (no waiting) when a live process holds it. A lock file
    whose process died is taken over; ``LockedError.holder`` / :func:`holder` tell who held it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise LockedError(path, holder(path), what) from None
        try:  # the file we locked must still be the one at `path` (not removed by a releaser)
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        previous = holder(path)
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "what": what,
            "since": datetime.datetime.now().isoformat(timespec="seconds"),
        }
        if previous.get("pid") is not None:  # a stale lock: its process died without releasing
            alive = previous.get("host") == record["host"] and _pid_alive(int(previous["pid"]))
            record["took_over_from"] = {**previous, "alive": alive}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        yield path
    finally:
        try:
            path.unlink()  # before unlocking: a waiter that locked the old file retries
        except FileNotFoundError:
            pass
        os.close(fd)
