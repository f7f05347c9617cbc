"""afkit.core.locks: one writer per output folder (store build, train), stale locks taken over."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from afkit.core import locks
from afkit.core.locks import LockedError
from afkit.data import featurize, store
from afkit.io.records import write_records
from tests.helpers.paths import REPO

HOLDER = """
import sys, time
from afkit.core import locks
with locks.hold(sys.argv[1], "test holder"):
    print("held", flush=True)
    time.sleep(600)
"""


@pytest.fixture
def data_dir(tmp_path, videos):
    (tmp_path / "data" / "frame").mkdir(parents=True)
    write_records(tmp_path / "data" / "frame" / "train0000.tfrecord", videos(6, frames=[1, 3]))
    return tmp_path / "data"


def _holder_process(lock: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_build_is_refused_naming_the_holder_then_a_killed_holder_is_taken_over(
    data_dir, tmp_path
):
    out = tmp_path / "store"
    lock = out / "train" / locks.LOCK_NAME
    proc = _holder_process(lock)
    try:
        with pytest.raises(LockedError) as e:
            featurize.build(out, data_dir, frames=True, progress=False)
        msg = str(e.value)
        assert f"pid {proc.pid} on host {socket.gethostname()}" in msg and "test holder" in msg
        assert str(out / "train") in msg and str(lock) in msg
        assert not (out / "train" / store.MANIFEST).exists()  # nothing was written
        proc.send_signal(signal.SIGKILL)  # dies holding it: the lock file stays, stale
        proc.wait()
        assert locks.holder(lock)["pid"] == proc.pid
        featurize.build(out, data_dir, frames=True, progress=False)
    finally:
        proc.kill()
        proc.wait()
    assert len(store.open_store(out, "train")) == 6
    assert not lock.exists()  # released: the store folder holds only the store


def test_second_train_on_the_same_run_folder_is_refused(tmp_path):
    from afkit.training import train

    run = tmp_path / "run"
    with locks.hold(run / locks.LOCK_NAME, "afkit train (first)"):
        with pytest.raises(
            LockedError, match=rf"pid {os.getpid()} on host .*afkit train \(first\)"
        ):
            train.train(
                train.make_config("smoke", model="attend_fusion"), tmp_path / "no-store", run
            )
    assert not (run / train.CHECKPOINT).exists() and not (run / train.CONFIG).exists()


def test_stale_lock_of_a_dead_pid_is_taken_over_and_recorded(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    lock = tmp_path / "x" / locks.LOCK_NAME
    lock.parent.mkdir()
    lock.write_text(
        json.dumps({"pid": int(dead), "host": socket.gethostname(), "what": "old"}) + "\n"
    )
    with locks.hold(lock, "new") as p:
        rec = locks.holder(p)
        assert rec["pid"] == os.getpid() and rec["what"] == "new"
        assert rec["took_over_from"]["pid"] == int(dead) and rec["took_over_from"]["alive"] is False
        with pytest.raises(LockedError, match=f"pid {os.getpid()}"):  # a second open file: refused
            with locks.hold(lock, "third"):
                pass
    assert not lock.exists()
    with locks.hold(lock, "again"):  # free again
        pass


def test_overwrite_build_keeps_its_own_lock(data_dir, tmp_path):
    out = tmp_path / "store"
    featurize.build(out, data_dir, frames=True, progress=False)
    featurize.build(out, data_dir, frames=False, progress=False, overwrite=True)
    s = store.open_store(out, "train")
    assert len(s) == 6 and not s.manifest["frames"]
    assert not [p.name for p in (out / "train").iterdir() if p.name.startswith(".")]
