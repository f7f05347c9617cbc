"""Splitting a file set of records over DDP ranks and DataLoader workers: :func:`shard_plan`
(record ranges of the files' cached indexes), :func:`read_shards`, and
:class:`RecordDataset`, a ``torch.utils.data.IterableDataset`` built on them.

Unlike the ``tfrecord`` package, the split is of the global record list into disjoint
contiguous ranges: no record read twice, none lost, no random start, and exact lengths
(``len(RecordDataset)``). ``import afkit.io.shards`` does not import torch: the dataset class is
created on first access of ``afkit.io.shards.RecordDataset``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from afkit.io import records, tfrecord
from afkit.io.records import RecordIterator

# RecordDataset is made by the module __getattr__ below on first access (torch imported then)
__all__ = ["Shard", "shard_plan", "read_shards", "RecordDataset"]  # noqa: F822


@dataclasses.dataclass(frozen=True)
class Shard:
    """Records ``[start, stop)`` of file ``path``."""

    path: str
    start: int
    stop: int

    def __len__(self) -> int:
        return self.stop - self.start


def shard_plan(
    path_or_pattern, *, rank: int = 0, world_size: int = 1, worker: int = 0, num_workers: int = 1
) -> list[Shard]:
    """The part of a file set that DDP rank ``rank`` of ``world_size``, DataLoader worker
    ``worker`` of ``num_workers``, reads.

    The files' records, in order, form one global list of N (exact, from the indexes); part
    ``k = rank * num_workers + worker`` of ``K = world_size * num_workers`` is the contiguous
    range ``[k*N//K, (k+1)*N//K)``: the K parts are disjoint, cover every record once, differ in
    size by at most one, and each rank's workers together read one contiguous range (so a
    rank's records do not depend on ``num_workers``). Returned as per-file :class:`Shard`\\ s.
    """
    if not (0 <= rank < world_size and 0 <= worker < num_workers):
        raise ValueError(
            f"need 0 <= rank < world_size and 0 <= worker < num_workers, got rank={rank}, "
            f"world_size={world_size}, worker={worker}, num_workers={num_workers}"
        )
    paths = records.expand_pattern(path_or_pattern)
    counts = [tfrecord.count_records(p) for p in paths]
    n = sum(counts)
    world_lo, world_hi = rank * n // world_size, (rank + 1) * n // world_size
    m = world_hi - world_lo
    lo = world_lo + worker * m // num_workers
    hi = world_lo + (worker + 1) * m // num_workers
    plan, first = [], 0
    for p, c in zip(paths, counts, strict=True):
        a, b = max(lo, first), min(hi, first + c)
        if a < b:
            plan.append(Shard(p, a - first, b - first))
        first += c
    return plan


def read_shards(
    plan: Sequence[Shard],
    *,
    verify: bool = True,
    skip_corrupt: bool = False,
    num_classes: int | None = None,
) -> RecordIterator:
    """Read the records of a :func:`shard_plan`, in order (video dicts, as
    ``records.read_records``)."""
    return records.read_ranges(
        [(s.path, s.start, s.stop) for s in plan],
        verify=verify,
        skip_corrupt=skip_corrupt,
        num_classes=num_classes,
    )


_DATASET_DOC = """A ``torch.utils.data.IterableDataset`` of video dicts (numpy arrays; pass a
``transform``
    to turn them into tensors) over a file set, split with :func:`shard_plan` across the
    DataLoader's workers and the DDP ranks: no record is read twice, none is lost.

    ``rank`` / ``world_size`` default to ``torch.distributed``'s when it is initialized, else
    0 / 1. ``len()`` is this rank's exact record count. Order: file order within each worker;
    a DataLoader interleaves its workers' outputs. The class is created on first access of
    ``afkit.io.shards.RecordDataset`` (a module ``__getattr__``), so that ``import afkit.io.shards``
    does not import torch.
    """


def __getattr__(name: str):
    if name == "RecordDataset":
        return _record_dataset_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_DATASET_CLASS = None


def _record_dataset_class():
    global _DATASET_CLASS
    if _DATASET_CLASS is not None:
        return _DATASET_CLASS
    import torch.utils.data  # lazy: `import afkit.io.shards` does not import torch

    class _RecordDataset(torch.utils.data.IterableDataset):
        __doc__ = _DATASET_DOC

        def __init__(
            self,
            path_or_pattern,
            *,
            verify: bool = True,
            skip_corrupt: bool = False,
            num_classes: int | None = None,
            rank: int | None = None,
            world_size: int | None = None,
            transform=None,
        ):
            super().__init__()
            self.paths = records.expand_pattern(path_or_pattern)
            self.verify, self.skip_corrupt, self.num_classes = verify, skip_corrupt, num_classes
            self.transform = transform
            if rank is None or world_size is None:
                import torch.distributed as dist

                ready = dist.is_available() and dist.is_initialized()
                rank = dist.get_rank() if ready else 0 if rank is None else rank
                world_size = (
                    dist.get_world_size() if ready else 1 if world_size is None else world_size
                )
            self.rank, self.world_size = rank, world_size

        def plan(self, worker: int = 0, num_workers: int = 1) -> list[Shard]:
            return shard_plan(
                self.paths,
                rank=self.rank,
                world_size=self.world_size,
                worker=worker,
                num_workers=num_workers,
            )

        def __len__(self) -> int:
            return sum(len(s) for s in self.plan())

        def __iter__(self):
            info = torch.utils.data.get_worker_info()
            worker, num_workers = (0, 1) if info is None else (info.id, info.num_workers)
            it = read_shards(
                self.plan(worker, num_workers),
                verify=self.verify,
                skip_corrupt=self.skip_corrupt,
                num_classes=self.num_classes,
            )
            for rec in it:
                yield rec if self.transform is None else self.transform(rec)

    _RecordDataset.__name__ = _RecordDataset.__qualname__ = "RecordDataset"
    _RecordDataset.__module__ = __name__
    _DATASET_CLASS = _RecordDataset
    return _RecordDataset
