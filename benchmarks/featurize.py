"""Featurization throughput and memory: frame-level videos/s into the store, beside a plain read.

    .venv/bin/python benchmarks/featurize.py [--videos 2000,6000] [--frames-mean 150] [--workers 1,2]

For each input size (random frame-level shards of 1000 videos, T uniform in [frames-mean/2,
3*frames-mean/2], written once under --tmp), every measurement runs in a fresh subprocess and
reports its wall time and peak RSS (its own and its worker processes'):

- ``read``: ``afkit.records.read_records`` over the files (CRCs checked), nothing else;
- ``pool``: the featurization alone (``afkit.features.video_features``, mean_std) on frames
  already in memory (the first shard, 4 times), i.e. afkit's own cost;
- ``store`` w=N: ``afkit.store.build`` (mean_std, float16) with N worker processes;
- ``store+frames`` w=1: the same with the frame store.

The files are read from the page cache (written just before): this measures afkit's CPU cost,
not a disk. Projected hours = 6.1M videos / rate.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FULL_RELEASE = 6.1e6
PER_SHARD = 1000  # the release: ~1000 videos a frame-level shard

CHILD = r"""
import json, os, resource, sys, time
import numpy as np
kind, data, out, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
t = time.perf_counter()
n = 0
if kind == "read":
    from afkit.records import read_records
    for r in read_records(os.path.join(data, "frame", "train*.tfrecord")):
        n += 1
elif kind == "pool":
    from afkit.records import read_records
    from afkit.features import video_features
    recs = list(read_records(os.path.join(data, "frame", "train0000.tfrecord")))
    out_buf = np.empty(2304)
    t = time.perf_counter()
    for _ in range(4):
        for r in recs:
            video_features(r, "mean_std", out=out_buf)
            n += 1
else:
    from afkit.store import build
    frames = kind == "store+frames"
    rep = build(out, data, splits=["train"], feature_set="mean_std", frames=frames, workers=workers,
                progress=False)
    n = rep["train"].videos
dt = time.perf_counter() - t
self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"videos": n, "seconds": dt, "rss_mb": self_kb / 1024, "child_rss_mb": child_kb / 1024}))
"""


def make_data(root: Path, videos: int, frames_mean: int, seed: int = 0) -> int:
    """Random frame-level shards under root/frame; returns the total number of frames."""
    from afkit.records import write_records

    (root / "frame").mkdir(parents=True, exist_ok=True)
    (root / "vocabulary.csv").write_text("Index,Name\n" + "".join(f"{i},c{i}\n" for i in range(3862)))
    rng = np.random.default_rng(seed)
    total = 0
    for shard in range(-(-videos // PER_SHARD)):
        n = min(PER_SHARD, videos - shard * PER_SHARD)
        recs = []
        for i in range(n):
            t = int(rng.integers(frames_mean // 2, frames_mean * 3 // 2 + 1))
            total += t
            recs.append({"id": f"s{shard}v{i}", "labels": rng.choice(3862, 3, replace=False),
                         "rgb": rng.integers(0, 256, (t, 1024), dtype=np.uint8),
                         "audio": rng.integers(0, 256, (t, 128), dtype=np.uint8)})
        write_records(root / "frame" / f"train{shard:04d}.tfrecord", recs)
    return total


def run(kind: str, data: Path, out: Path, workers: int) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    proc = subprocess.run([sys.executable, "-c", CHILD, kind, str(data), str(out), str(workers)],
                          capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--videos", default="2000,6000", help="input sizes (videos), comma-separated")
    p.add_argument("--frames-mean", type=int, default=150)
    p.add_argument("--workers", default="1,2")
    p.add_argument("--tmp", default=None, help="scratch directory (default: a temp dir, removed)")
    a = p.parse_args(argv)
    sizes = [int(x) for x in a.videos.split(",")]
    workers = [int(x) for x in a.workers.split(",")]
    tmp = Path(a.tmp or tempfile.mkdtemp(prefix="afkit-bench-"))
    rows = []
    try:
        for size in sizes:
            data = tmp / f"data{size}"
            if not (data / "frame").exists():
                t = time.perf_counter()
                frames = make_data(data, size, a.frames_mean)
                print(f"# wrote {size} videos ({frames / size:.0f} frames each, "
                      f"{sum(f.stat().st_size for f in (data / 'frame').iterdir()) / 2**20:.0f} MiB) "
                      f"in {time.perf_counter() - t:.1f} s", file=sys.stderr)
            plan = [("read", 1), ("pool", 1)] + [("store", w) for w in workers] + [("store+frames", 1)]
            for kind, w in plan:
                r = run(kind, data, tmp / "store", w)
                rows.append((size, kind, w, r))
                print(f"# {size} {kind} w={w}: {r}", file=sys.stderr)
    finally:
        if a.tmp is None:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nframe-level featurization, {a.frames_mean} frames/video on average "
          f"(cpu: {os.cpu_count()} cores; page-cached input)\n")
    print("| videos | what | processes | videos/s | videos/s per process | peak RSS main / worker (MiB) | full release (6.1M), hours |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for size, kind, w, r in rows:
        rate = r["videos"] / r["seconds"]
        rss = f"{r['rss_mb']:.0f} / {r['child_rss_mb']:.0f}" if w > 1 else f"{r['rss_mb']:.0f}"
        hours = FULL_RELEASE / rate / 3600
        print(f"| {size} | {kind} | {w} | {rate:,.0f} | {rate / w:,.0f} | {rss} | {hours:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
