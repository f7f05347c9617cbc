"""Generation speed of the synthetic release (run by hand; prints a table).

    .venv/bin/python benchmarks/synth.py [--profiles smoke cpu] [--train N]

Each profile is generated once into a temporary folder (``--train`` overrides the train count,
to keep a run short; ``cpu`` at full size is the number the 2-minute goal is about).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import _results

from afkit.data import synth


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profiles", nargs="+", default=["smoke", "cpu"])
    ap.add_argument("--train", type=int, default=None, help="override train_videos")
    ap.add_argument("--quick", action="store_true", help="smoke, and cpu with 2,000 train videos")
    a = ap.parse_args()
    if a.quick:
        a.profiles, a.train = ["smoke", "cpu"], 2000
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
        rows.append(
            (name, videos, frames, size / 2**20, dt, videos / dt, frames / dt, size / 2**20 / dt)
        )
    cells = [
        [
            r[0],
            f"{r[1]:,}",
            f"{r[2]:,}",
            f"{r[3]:.0f}",
            f"{r[4]:.1f}",
            f"{r[5]:,.0f}",
            f"{r[6]:,.0f}",
            f"{r[7]:.1f}",
        ]
        for r in rows
    ]
    _results.write(
        "synth",
        "Generating the synthetic release",
        ["profile", "videos", "frames", "MiB", "seconds", "videos/s", "frames/s", "MiB/s"],
        cells,
        size=(
            "profiles "
            + ", ".join(a.profiles)
            + (f", train videos overridden to {a.train:,}" if a.train else " at full size")
            + (" (`--quick`)" if a.quick else "")
        ),
        notes=["Wall clock, one process, into a temporary folder (written to disk)."],
        data=[
            dict(zip(("profile", "videos", "frames", "mib", "seconds"), r[:5], strict=True))
            for r in rows
        ],
        config={"profiles": a.profiles, "train": a.train},
    )


if __name__ == "__main__":
    main()
