"""Uneven sharding, as a property over many record counts: ``shards.shard_plan`` (DDP ranks x
DataLoader workers over a file set) and the DDP row splits of training (``batches.epoch_batches``,
``batches.eval_rows``) and of an iterating ``batches.Batches``, for counts that do not divide by
the world size or the worker count (primes among them): no record read twice, none lost.

shard_plan is fed fake per-file counts (its only input besides the file order), so that
hundreds of file sets cost no I/O; one real file set checks the fake against real files.
"""

from __future__ import annotations

import numpy as np
import pytest

from afkit.data import batches as B
from afkit.io import records as R
from afkit.io import shards, tfrecord

PRIMES = [2, 3, 5, 7, 11, 13]
COUNTS = [0, 1, 2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 97, 101, 211, 1009]


class _FakeStore:
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n


@pytest.fixture
def fake_files(monkeypatch):
    """``fake_files(counts)`` -> a list of fake paths whose record counts are ``counts``."""
    table = {}
    monkeypatch.setattr(R, "expand_pattern", lambda paths: list(paths))
    monkeypatch.setattr(tfrecord, "count_records", lambda p: table[p])

    def make(counts):
        paths = [f"f{i:03d}.tfrecord" for i in range(len(counts))]
        table.update(zip(paths, counts, strict=True))
        return paths

    return make


def _file_sets(rng):
    """(name, per-file counts): one file of each count of COUNTS, and random splits of them
    over 1-6 files (empty files included)."""
    out = [([n],) for n in COUNTS]
    for n in COUNTS:
        for _ in range(3):
            k = int(rng.integers(1, 7))
            cuts = np.sort(rng.integers(0, n + 1, k - 1))
            out.append((np.diff(np.concatenate(([0], cuts, [n]))).tolist(),))
    return [c for (c,) in out]


def test_shard_plan_no_overlap_no_loss_over_many_counts(fake_files):
    rng = np.random.default_rng(5)
    checked = 0
    for counts in _file_sets(rng):
        paths = fake_files(counts)
        everything = [(p, i) for p, c in zip(paths, counts, strict=True) for i in range(c)]
        n = len(everything)
        for world in [1] + PRIMES[:5]:
            rank_sizes = []
            for num_workers in (1, 2, 3, 5):
                seen = []
                for rank in range(world):
                    rank_part = []
                    for worker in range(num_workers):
                        part = [
                            (s.path, i)
                            for s in shards.shard_plan(
                                paths,
                                rank=rank,
                                world_size=world,
                                worker=worker,
                                num_workers=num_workers,
                            )
                            for i in range(s.start, s.stop)
                        ]
                        assert all(
                            0 <= s.start < s.stop <= counts[paths.index(s.path)]
                            for s in shards.shard_plan(
                                paths,
                                rank=rank,
                                world_size=world,
                                worker=worker,
                                num_workers=num_workers,
                            )
                        )
                        rank_part += part
                    seen += rank_part
                    if num_workers == 1:
                        rank_sizes.append(len(rank_part))
                    # a rank's records do not depend on num_workers (contiguous, same range)
                    assert rank_part == everything[rank * n // world : (rank + 1) * n // world]
                assert seen == everything, (
                    counts,
                    world,
                    num_workers,
                )  # in order: no loss, no overlap
                checked += 1
            assert max(rank_sizes) - min(rank_sizes) <= 1 and sum(rank_sizes) == n
    assert checked > 1000


def test_shard_plan_on_real_files_matches_the_records(tmp_path, videos):
    counts = [5, 7, 3, 1, 13]
    paths = []
    for i, c in enumerate(counts):
        p = tmp_path / f"train{i:04d}.tfrecord"
        R.write_records(p, videos(c, seed=i, start=100 * i))
        paths.append(p)
    want = [r["id"] for r in R.read_records(tmp_path / "train*.tfrecord")]
    for world in (3, 7):
        for num_workers in (2, 3):
            got = [
                r["id"]
                for rank in range(world)
                for w in range(num_workers)
                for r in shards.read_shards(
                    shards.shard_plan(
                        tmp_path / "train*.tfrecord",
                        rank=rank,
                        world_size=world,
                        worker=w,
                        num_workers=num_workers,
                    )
                )
            ]
            assert got == want


def test_ddp_epoch_batches_and_eval_rows_cover_every_row_once():
    for n in [13, 17, 31, 97, 101, 211]:
        for world in PRIMES[:4]:
            for per_rank in (1, 2, 3, 5):
                bs = per_rank * world
                if bs > n:
                    continue
                store = _FakeStore(n)
                one = B.epoch_batches(store, bs, seed=3, epoch=1)
                ranks = [
                    B.epoch_batches(store, bs, seed=3, epoch=1, rank=r, world_size=world)
                    for r in range(world)
                ]
                assert all(len(r) == n // bs for r in ranks)
                for b, whole in enumerate(one):  # rank parts of batch b are batch b, in rank order
                    assert np.array_equal(np.concatenate([r[b] for r in ranks]), whole)
                used = np.concatenate(one)
                assert (
                    len(np.unique(used)) == len(used) == (n // bs) * bs
                )  # only the partial batch dropped
                # validation: every row exactly once over ranks and batches
                rows = np.concatenate(
                    [x for r in range(world) for x in B.eval_rows(n, per_rank, r, world)]
                )
                assert np.array_equal(np.sort(rows), np.arange(n))


def test_store_loader_ranks_over_prime_counts():
    for n in [1, 2, 13, 17, 97, 101]:
        for world in PRIMES[:4]:
            for drop_last in (False, True):
                loaders = [
                    B.Batches(
                        _FakeStore(n),
                        4,
                        order=B.Order(seed=1, rank=r, world_size=world, drop_last=drop_last),
                    )
                    for r in range(world)
                ]
                orders = [ld.order(0) for ld in loaders]
                assert len({len(o) for o in orders}) == 1  # every rank the same number of rows
                allrows = np.concatenate(orders)
                if drop_last:  # disjoint; at most world-1 rows (plus the partial batches) dropped
                    assert len(np.unique(allrows)) == len(allrows)
                    assert len(allrows) == world * ((n // world) // 4) * 4
                else:  # covering; padding repeats fewer than world rows
                    assert set(allrows.tolist()) == set(range(n))
                    assert len(allrows) - n < world
