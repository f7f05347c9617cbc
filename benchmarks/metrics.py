"""Benchmark: the YouTube-8M metrics on N videos x C classes, streaming vs a dense reference.

    .venv/bin/python benchmarks/metrics.py                       # 100,000 x 3862, batches of 1024
    .venv/bin/python benchmarks/metrics.py --videos 20000        # quicker

Rows (same scores, same machine, same run):

- ``afkit MetricAccumulator (all metrics)``: batches of ``--batch`` videos go through
  ``update`` (GAP, mAP, Hit@1, PERR, F1 at 0.5, the threshold histogram for best F1), then
  ``compute``; the scores are never all in memory.
- ``numpy argpartition, dense (GAP only)``: the reference of issue 7: the dense [N, C] score
  matrix, ``np.argpartition(scores, -20, axis=1)``, top-20 gather, one argsort of the pool, AP.
- ``numpy argpartition, per batch (GAP only)``: the same, batch by batch (to show how much of
  the gap comes from batching alone).

Scores: uniform random float32 (the worst case for the candidate filter and the histogram);
labels: 1 to 5 classes per video (~3), uniform. Time excludes generating the scores. Peak memory
is measured with ``tracemalloc`` (numpy reports its allocations there) in a second pass, beyond
the scores themselves (one batch for the streaming rows, the whole matrix for the dense one).
"""

from __future__ import annotations

import argparse
import platform
import time
import tracemalloc

import _results
import numpy as np

from afkit.metrics.classification import MetricAccumulator


def make_batch(seed: int, index: int, b: int, c: int):
    rng = np.random.default_rng([seed, index])
    scores = rng.random((b, c), dtype=np.float32)
    sizes = rng.integers(1, 6, b)
    ids = rng.integers(0, c, (b, 5))
    labels = [ids[i, : sizes[i]] for i in range(b)]
    return scores, labels


def batches(args):
    for i, lo in enumerate(range(0, args.videos, args.batch)):
        yield make_batch(args.seed, i, min(args.batch, args.videos - lo), args.classes)


def gap_of_pool(top_s, top_y, num_positives):
    """Positional AP of the pooled top-k (the starter code's ap_at_n, n=None)."""
    order = np.argsort(-top_s, kind="stable")
    y = top_y[order]
    hits = np.flatnonzero(y)
    return float((np.arange(1, hits.size + 1) / (hits + 1)).sum() / num_positives)


class Clock:
    """Wall and CPU seconds of this process (CPU time is steadier on a shared machine)."""

    def __init__(self):
        self.wall = self.cpu = 0.0

    def __enter__(self):
        self._w, self._c = time.perf_counter(), time.process_time()

    def __exit__(self, *exc):
        self.wall += time.perf_counter() - self._w
        self.cpu += time.process_time() - self._c


def run_streaming(args):
    acc = MetricAccumulator(args.classes, top_k=20, threshold=0.5)
    clock = Clock()
    for scores, labels in batches(args):
        with clock:
            acc.update(scores, labels)
    with clock:
        result = acc.compute()
    return clock, result


def _top20(scores, labels, c):
    idx = np.argpartition(scores, -20, axis=1)[:, -20:]
    top_s = np.take_along_axis(scores, idx, 1).ravel()
    keys = np.concatenate([i * c + np.unique(lab) for i, lab in enumerate(labels)])
    top_y = np.isin((np.arange(scores.shape[0])[:, None] * c + idx).ravel(), keys)
    return top_s, top_y, keys.size


def run_reference_batched(args):
    pools_s, pools_y, positives, clock = [], [], 0, Clock()
    for scores, labels in batches(args):
        with clock:
            s, y, p = _top20(scores, labels, args.classes)
            pools_s.append(s)
            pools_y.append(y)
            positives += p
    with clock:
        value = gap_of_pool(np.concatenate(pools_s), np.concatenate(pools_y), positives)
    return clock, value


def run_reference_dense(scores, labels, args):
    clock = Clock()
    with clock:
        s, y, p = _top20(scores, labels, args.classes)
        value = gap_of_pool(s, y, p)
    return clock, value


def peak_mib(fn, *a):
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    fn(*a)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak / 2**20


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--videos", type=int, default=100_000)
    p.add_argument("--classes", type=int, default=3862)
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-memory", action="store_true", help="skip the tracemalloc pass")
    p.add_argument("--quick", action="store_true", help="20,000 videos")
    args = p.parse_args(argv)
    if args.quick:
        args.videos = 20_000
    n, c = args.videos, args.classes
    batch_mib = args.batch * c * 4 / 2**20
    dense_mib = n * c * 4 / 2**20

    t_stream, result = run_streaming(args)
    t_batched, gap_batched = run_reference_batched(args)
    all_scores, all_labels = [], []
    for scores, labels in batches(args):
        all_scores.append(scores)
        all_labels.extend(labels)
    dense = np.concatenate(all_scores)
    del all_scores
    t_dense, gap_dense = run_reference_dense(dense, all_labels, args)

    mem = {}
    if not args.no_memory:
        mem["dense"] = peak_mib(run_reference_dense, dense, all_labels, args)
        del dense
        mem["stream"] = peak_mib(run_streaming, args) - batch_mib
        mem["batched"] = peak_mib(run_reference_batched, args) - batch_mib

    print(
        f"metrics on {n:,} videos x {c} classes, batches of {args.batch} "
        f"({platform.processor() or platform.machine()}, numpy {np.__version__}); "
        f"scores: {dense_mib:,.0f} MiB dense, {batch_mib:.0f} MiB a batch"
    )
    print()
    print(
        "| path | what | wall (s) | CPU (s) | videos/s (wall) "
        "| peak memory beyond the scores (MiB) | GAP |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    rows = [
        ("afkit MetricAccumulator", "all metrics", t_stream, mem.get("stream"), result["gap"]),
        ("numpy argpartition, dense", "GAP only", t_dense, mem.get("dense"), gap_dense),
        ("numpy argpartition, per batch", "GAP only", t_batched, mem.get("batched"), gap_batched),
    ]
    for name, what, t, m, g in rows:
        m_txt = f"{m:,.0f}" if m is not None else "-"
        print(
            f"| {name} | {what} | {t.wall:.2f} | {t.cpu:.2f} | {n / t.wall:,.0f} | {m_txt} "
            f"| {g:.6f} |"
        )
    print()
    print(
        f"speed-up over the dense reference: {t_dense.wall / t_stream.wall:.1f}x wall, "
        f"{t_dense.cpu / t_stream.cpu:.1f}x CPU (target >= 2x); over the per-batch one: "
        f"{t_batched.wall / t_stream.wall:.1f}x wall, {t_batched.cpu / t_stream.cpu:.1f}x CPU"
    )
    print(
        f"|GAP afkit - GAP reference| = {abs(result['gap'] - gap_dense):.2e} "
        "(tied scores in the pool: afkit scores a tie run as one cut-off)"
    )
    print(
        "all metrics:", {k: round(v, 6) if isinstance(v, float) else v for k, v in result.items()}
    )
    _results.write(
        "metrics",
        "Metrics",
        ["path", "computes", "wall (s)", "CPU (s)", "memory beyond the scores (MiB)", "GAP"],
        [
            [
                name,
                what,
                f"{t.wall:.2f}",
                f"{t.cpu:.2f}",
                f"{m:,.0f}" if m is not None else "-",
                f"{g:.6f}",
            ]
            for name, what, t, m, g in rows
        ],
        size=f"{n:,} videos x {c:,} classes, random scores, batches of {args.batch:,}"
        + (" (`--quick`)" if args.quick else ""),
        notes=[
            "Speed-up of the streaming accumulator over the dense reference: "
            f"{t_dense.wall / t_stream.wall:.1f}x wall, {t_dense.cpu / t_stream.cpu:.1f}x CPU "
            f"(target >= 2x); over the per-batch reference: {t_batched.wall / t_stream.wall:.1f}x "
            f"wall, {t_batched.cpu / t_stream.cpu:.1f}x CPU. Memory by tracemalloc."
        ],
        data=[
            {"path": name, "wall": t.wall, "cpu": t.cpu, "mib": m, "gap": g}
            for name, what, t, m, g in rows
        ],
        config=vars(args),
        align="llrrrr",
    )


if __name__ == "__main__":
    main()
