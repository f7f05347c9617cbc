"""Generation speed of the synthetic release (run by hand; prints a table).

    .venv/bin/python benchmarks/synth.py [--profiles smoke cpu] [--train N]

Each profile is generated once into a temporary folder (``--train`` overrides the train count,
to keep a run short; ``cpu`` at full size is the number the 2-minute goal is about).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from afkit import synth


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profiles", nargs="+", default=["smoke", "cpu"])
    ap.add_argument("--train", type=int, default=None, help="override train_videos")
    a = ap.parse_args()
    rows = []
    for name in a.profiles:
        d = Path(tempfile.mkdtemp(prefix=f"synth-{name}-"))
        kw = {} if a.train is None else {"train_videos": a.train}
        try:
            t0 = time.perf_counter()
            m = synth.generate(d, name, 0, progress=False, **kw)
            dt = time.perf_counter() - t0
            size = sum(p.stat().st_size for p in d.rglob("*") if p.is_file())
        finally:
            shutil.rmtree(d, ignore_errors=True)
        videos = sum(c["videos"] for c in m["counts"].values())
        frames = sum(c["frames"] for c in m["counts"].values())
        rows.append((name, videos, frames, size / 2**20, dt, videos / dt, frames / dt, size / 2**20 / dt))
    print(f"cpus={os.cpu_count()}")
    print(f"| profile | videos | frames | MiB | seconds | videos/s | frames/s | MiB/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.0f} | {r[4]:.1f} | {r[5]:.0f} | {r[6]:.0f} | {r[7]:.1f} |")


if __name__ == "__main__":
    main()
