"""Run a store build or a training run crashed at every write point, each crash then resumed.

    python -m tests.helpers.crash_driver store OUT DATA_DIR OPTIONS_JSON
    python -m tests.helpers.crash_driver train OUT STORE_DIR CONFIG_JSON

Run from the repository root (``-m`` puts it first on ``sys.path``: this checkout's afkit, not
an installed one).

For k = 1, 2, ...: a forked child runs the job into ``OUT/kNNN`` with ``AFKIT_CRASH_AT_WRITE=k``
(:mod:`afkit.core.faults`: the child ends with ``os._exit`` at its k-th write point), then a second
forked child runs the same job again without the hook, as a user would after a crash (a build
is simply run again; a run with ``last.pt`` is resumed, one without is started anew). The first
k whose child finishes without reaching the point ends the loop (that run was uninterrupted;
its folder is removed). Prints one JSON line: ``{"points": k - 1}``; a child that fails
otherwise makes the driver exit 1 with its output. Forking (not a fresh interpreter per case)
keeps each case to the cost of the job itself: the driver runs the job once uninterrupted
before forking, so imports and one-time initialization are paid once (training runs
single-threaded, ``num_threads=1``, so there is no thread pool to inherit broken).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import traceback
from pathlib import Path


def _job(kind: str, out: Path, src: str, opts: dict) -> None:
    if kind == "store":
        from afkit.data import featurize

        featurize.build(out, src, **opts)
    else:
        from afkit.training import train

        train.train(
            train.TrainConfig.from_dict(opts), src, out, resume=(out / train.CHECKPOINT).exists()
        )


def _fork(kind, out, src, opts, crash_at: int | None) -> int:
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            from afkit.core import faults

            faults.reset()
            if crash_at is None:
                os.environ.pop(faults.CRASH_ENV, None)
            else:
                os.environ[faults.CRASH_ENV] = str(crash_at)
            _job(kind, out, src, opts)
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def main(argv) -> int:
    kind, root, src, opts = argv[0], Path(argv[1]), argv[2], json.loads(argv[3])
    from afkit.core import faults

    # one uninterrupted job here first: every import and one-time initialization is then done
    # once, not in each child (training runs single-threaded, so no thread pool is forked)
    _job(kind, root / "warm", src, opts)
    shutil.rmtree(root / "warm")
    k = 0
    while True:
        k += 1
        out = root / f"k{k:03d}"
        rc = _fork(kind, out, src, opts, k)
        if rc == 0:  # finished before its k-th write point: every point is covered
            shutil.rmtree(out, ignore_errors=True)
            break
        if rc != faults.CRASH_EXIT:
            print(f"crash point {k}: the job failed (exit {rc}) before crashing", file=sys.stderr)
            return 1
        rc = _fork(kind, out, src, opts, None)
        if rc != 0:
            print(f"crash point {k}: the resumed job failed (exit {rc})", file=sys.stderr)
            return 1
    print(json.dumps({"points": k - 1}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
