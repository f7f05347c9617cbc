"""Featurization throughput, CPU cost and memory: frame-level videos into the store, beside a plain
read.

    .venv/bin/python benchmarks/featurize.py [--videos 6000] [--frames-mean 150] [--workers 1,2]
    .venv/bin/python benchmarks/featurize.py --quick        # 4,000 videos, best of 2

Random frame-level shards of 1000 videos (T uniform in [frames-mean/2, 3*frames-mean/2]) are
written once under --tmp. Every measurement runs in a fresh subprocess, which reports its wall
time, its CPU time *with its worker processes'* (``getrusage`` SELF + CHILDREN, user + system),
and its peak RSS (its own and its workers'):

- ``read``: ``afkit.io.records.read_records`` over the files (CRCs checked), nothing else;
- ``pool``: the featurization alone (``afkit.data.mfstd.video_features``, mean_std) on frames
  already in memory (the first shard, 4 times), i.e. afkit's own cost;
- ``store`` w=N: ``afkit.data.featurize.build`` (mean_std, float16) with N processes (the calling
  process and N-1 spawned workers), with the time of the final merge step
  (``store_writer.concatenate``) measured apart;
- ``store+frames`` w=N: the same with the frame store (frames written once, fsynced: the output
  is ~170 KB a video, so this row is bound by the disk's write rate as well as by the CPU).

The input is read from the page cache (written just before): ``read``/``pool``/``store`` measure
afkit's CPU cost, not a disk. The process counts are judged in wall time: they run
interleaved (repeat after repeat, side by side on a shared machine) and the fastest wall time of
each is kept; "wall speedup" is what a user feels, "cores obtained" (CPU s / wall s) says how
many cores the run really got. CPU-time speedup of N processes = N x (CPU-s per video at 1) /
(CPU-s per video at N): what N idle cores would give. Projected hours for the full release
(6.1M videos, ~1.5 TB of frame-level records) on 16 cores = 6.1M x CPU-s per video / 16,
beside the hours a disk reading ``--read-mb-s`` MB/s needs for the 1.5 TB: the larger of the two
is the estimate.
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

import _results
import numpy as np

FULL_RELEASE = 6.1e6
RELEASE_TB = 1.5  # frame-level records of the full release (the starter code's README: ~1.5 TB)
PER_SHARD = 1000  # the release: ~1000 videos a frame-level shard

CHILD = r"""
import json, os, resource, sys, time
import numpy as np
kind, data, out, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
load = os.getloadavg()[0]

def cpu(who):
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime

merge = {"seconds": 0.0, "cpu": 0.0}
t = time.perf_counter()
c0 = cpu(resource.RUSAGE_SELF)
n = 0
if kind == "read":
    from afkit.io.records import read_records
    for r in read_records(os.path.join(data, "frame", "train*.tfrecord")):
        n += 1
elif kind == "pool":
    from afkit.io.records import read_records
    from afkit.data.mfstd import video_features
    recs = list(read_records(os.path.join(data, "frame", "train0000.tfrecord")))
    out_buf = np.empty(2304)
    t = time.perf_counter()
    c0 = cpu(resource.RUSAGE_SELF)
    for _ in range(4):
        for r in recs:
            video_features(r, "mean_std", out=out_buf)
            n += 1
else:
    from afkit.data import featurize
    from afkit.data import store_writer
    concat = store_writer.concatenate
    def timed(*a, **k):
        t1, c1 = time.perf_counter(), cpu(resource.RUSAGE_SELF)
        concat(*a, **k)
        merge["seconds"] += time.perf_counter() - t1
        merge["cpu"] += cpu(resource.RUSAGE_SELF) - c1
    store_writer.concatenate = timed
    frames = kind == "store+frames"
    rep = featurize.build(out, data, splits=["train"], feature_set="mean_std", frames=frames,
                          workers=workers, progress=False)
    n = rep["train"].videos
dt = time.perf_counter() - t
cpu_self = cpu(resource.RUSAGE_SELF) - c0
cpu_children = cpu(resource.RUSAGE_CHILDREN)
self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"videos": n, "seconds": dt, "cpu_self": cpu_self, "cpu_children": cpu_children,
                  "merge_seconds": merge["seconds"], "merge_cpu": merge["cpu"],
                  "rss_mb": self_kb / 1024, "child_rss_mb": child_kb / 1024, "load": load}))
"""


def make_data(root: Path, videos: int, frames_mean: int, seed: int = 0) -> int:
    """Random frame-level shards under root/frame; returns the total number of frames."""
    from afkit.io.records import write_records

    (root / "frame").mkdir(parents=True, exist_ok=True)
    (root / "vocabulary.csv").write_text(
        "Index,Name\n" + "".join(f"{i},c{i}\n" for i in range(3862))
    )
    rng = np.random.default_rng(seed)
    total = 0
    for shard in range(-(-videos // PER_SHARD)):
        n = min(PER_SHARD, videos - shard * PER_SHARD)
        recs = []
        for i in range(n):
            t = int(rng.integers(frames_mean // 2, frames_mean * 3 // 2 + 1))
            total += t
            recs.append(
                {
                    "id": f"s{shard}v{i}",
                    "labels": rng.choice(3862, 3, replace=False),
                    "rgb": rng.integers(0, 256, (t, 1024), dtype=np.uint8),
                    "audio": rng.integers(0, 256, (t, 128), dtype=np.uint8),
                }
            )
        write_records(root / "frame" / f"train{shard:04d}.tfrecord", recs)
    return total


def run(kind: str, data: Path, out: Path, workers: int) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, kind, str(data), str(out), str(workers)],
        capture_output=True,
        text=True,
        env=env,
    )
    shutil.rmtree(out, ignore_errors=True)
    if proc.returncode:
        raise RuntimeError(proc.stderr)
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    r["cpu"] = r["cpu_self"] + r["cpu_children"]
    return r


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--videos", type=int, default=6000, help="input size (videos)")
    p.add_argument("--quick", action="store_true", help="4,000 videos, best of 2")
    p.add_argument("--frames-mean", type=int, default=150)
    p.add_argument("--workers", default="1,2")
    p.add_argument(
        "--repeat", type=int, default=2, help="store rows: the best (least CPU) of this many"
    )
    p.add_argument(
        "--read-mb-s", type=float, default=500.0, help="disk read rate for the disk-bound estimate"
    )
    p.add_argument("--cores", type=int, default=16, help="cores of the projection")
    p.add_argument("--tmp", default=None, help="scratch directory (default: a temp dir, removed)")
    a = p.parse_args(argv)
    if a.quick:
        a.videos, a.repeat = 4000, 2
    workers = [int(x) for x in a.workers.split(",")]
    tmp = Path(a.tmp or tempfile.mkdtemp(prefix="afkit-bench-"))
    rows = []
    try:
        data = tmp / f"data{a.videos}"
        if not (data / "frame").exists():
            t = time.perf_counter()
            frames = make_data(data, a.videos, a.frames_mean)
            print(
                f"# wrote {a.videos} videos ({frames / a.videos:.0f} frames each, "
                f"{sum(f.stat().st_size for f in (data / 'frame').iterdir()) / 2**20:.0f} MiB) "
                f"in {time.perf_counter() - t:.1f} s",
                file=sys.stderr,
            )
        mib = sum(f.stat().st_size for f in (data / "frame").glob("*.tfrecord")) / 2**20
        # judged in wall time: the process counts of a kind interleaved, repeat after repeat
        # (side by side on a shared machine), the fastest wall time of each kept
        plan = [("read", [1], 1), ("pool", [1], 1)] + [
            (kind, workers, a.repeat) for kind in ("store", "store+frames")
        ]
        for kind, ws, reps in plan:
            best = {}
            for _ in range(reps):
                for w in ws:
                    r = run(kind, data, tmp / "store", w)
                    r["load_before"] = r.pop("load")
                    print(f"# {kind} w={w}: {r}", file=sys.stderr)
                    if w not in best or r["seconds"] < best[w]["seconds"]:
                        best[w] = r
            rows.extend((kind, w, best[w]) for w in ws)
    finally:
        if a.tmp is None:
            shutil.rmtree(tmp, ignore_errors=True)

    base = {kind: r["cpu"] / r["videos"] for kind, w, r in rows if w == 1}
    base_wall = {kind: r["seconds"] for kind, w, r in rows if w == 1}
    mb_per_video = mib * 2**20 / 1e6 / a.videos
    disk_hours = RELEASE_TB * 1e6 / a.read_mb_s / 3600
    cells, data_rows = [], []
    for kind, w, r in rows:
        per = r["cpu"] / r["videos"]
        speed = w * base[kind] / per if kind in base else None
        cpu_hours = FULL_RELEASE * per / a.cores / 3600
        rss = f"{r['rss_mb']:.0f} / {r['child_rss_mb']:.0f}" if w > 1 else f"{r['rss_mb']:.0f}"
        merge = (
            f"{r['merge_seconds']:.2f} / {r['merge_cpu']:.2f}" if kind.startswith("store") else "-"
        )
        cells.append(
            [
                kind,
                w,
                f"{r['videos'] / r['seconds']:,.0f}",
                f"{per * 1e3:.3f}",
                f"{r['cpu_self']:.2f} / {r['cpu_children']:.2f}",
                merge,
                f"{base_wall[kind] / r['seconds']:.2f}x" if w > 1 else "-",
                f"{r['cpu'] / r['seconds']:.2f}",
                f"{speed:.2f}x" if speed is not None and w > 1 else "-",
                rss,
                f"{cpu_hours:.2f}" if kind.startswith("store") else "-",
            ]
        )
        data_rows.append(
            {
                "kind": kind,
                "workers": w,
                **r,
                "cpu_ms_per_video": per * 1e3,
                "cpu_speedup": speed,
                "wall_speedup": base_wall[kind] / r["seconds"] if w > 1 else None,
                "cores_obtained": r["cpu"] / r["seconds"],
                "cpu_hours_full_release": cpu_hours,
            }
        )
    st = {w: r for kind, w, r in rows if kind == "store"}
    sf = {w: r for kind, w, r in rows if kind == "store+frames"}
    notes = [
        f"{a.videos:,} videos ({mib:,.0f} MiB of records, {mb_per_video:.3f} MB a video) in shards "
        f"of {PER_SHARD}, ~{a.frames_mean} frames a video, CRCs checked, dequantized, mean and "
        "std; the input from the page cache. CPU = the process and its workers (user + system); "
        "merge = the final step (parts -> final arrays, manifest), wall / CPU seconds.",
        f"Full release on {a.cores} cores, CPU-bound: 6.1M x CPU-s per video / {a.cores} (last "
        f"column); disk-bound: {RELEASE_TB} TB at {a.read_mb_s:.0f} MB/s = {disk_hours:.2f} hours. "
        "The estimate is the larger: "
        f"{max(disk_hours, FULL_RELEASE * st[1]['cpu'] / st[1]['videos'] / a.cores / 3600):.2f} "
        "hours for the features store (the disk, on 16 cores).",
    ]
    if 1 in st and 2 in st:
        idle = 2 * base["store"] / (st[2]["cpu"] / st[2]["videos"])
        extra = 100 * (st[2]["cpu"] / st[2]["videos"] / base["store"] - 1)
        notes.append(
            f"Judged in wall time (the fastest of {a.repeat} interleaved repeats): 2 processes "
            f"build the store {st[1]['seconds'] / st[2]['seconds']:.2f}x as fast as 1 here, "
            f"while getting {st[2]['cpu'] / st[2]['seconds']:.2f} cores against "
            f"{st[1]['cpu'] / st[1]['seconds']:.2f} (cores obtained = CPU s / wall s; the "
            f"machine's 1-minute load average before the rows was "
            f"{min(r['load_before'] for _, _, r in rows):.1f} to "
            f"{max(r['load_before'] for _, _, r in rows):.1f} on {os.cpu_count()} cores). The "
            f"second process costs {extra:.0f}% "
            f"more CPU a video (its start, the parts' merge), so on two idle cores it gives "
            f"{idle:.2f}x (the CPU-time speedup); on a machine with no idle core it cannot "
            "beat 1 process, and `afkit.data.featurize.useful_workers` starts it only where a "
            "core is idle."
        )
    if 1 in sf:
        notes.append(
            f"store+frames vs store at 1 process: {sf[1]['videos'] / sf[1]['seconds']:,.0f} vs "
            f"{st[1]['videos'] / st[1]['seconds']:,.0f} videos/s wall "
            f"({sf[1]['videos'] / sf[1]['seconds'] / (st[1]['videos'] / st[1]['seconds']):.2f}), "
            f"{st[1]['cpu'] / sf[1]['cpu']:.2f} in CPU time; the frame store writes "
            f"~{mb_per_video:.2f} MB a video once and fsyncs it, so its wall rate is the disk's "
            "write rate where that is lower than the CPU rate."
        )
    _results.write(
        "featurize",
        "Featurizing into the store",
        [
            "what",
            "processes",
            "videos/s (wall)",
            "CPU ms / video",
            "CPU s main / workers",
            "merge s wall / CPU",
            "wall speedup",
            "cores obtained",
            "CPU-time speedup (idle cores)",
            "peak RSS main / worker (MiB)",
            f"full release, hours on {a.cores} cores (CPU-bound)",
        ],
        cells,
        size=f"{a.videos:,} frame-level videos" + (" (`--quick`)" if a.quick else ""),
        notes=notes,
        data=data_rows,
        config={
            "videos": a.videos,
            "frames_mean": a.frames_mean,
            "workers": workers,
            "repeat": a.repeat,
            "read_mb_s": a.read_mb_s,
            "cores": a.cores,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
