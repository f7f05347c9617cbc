"""The one batch reader of a store split, for video-level models and frame-level models alike.

:class:`Batches` serves the rows of one split of :mod:`afkit.data.store` as the inputs of a model of
``input_kind`` ``"video"`` or ``"frame"`` (:mod:`afkit.models.registry`):

- ``"video"``: ``visual [B, 1024*S]`` and ``audio [B, 128*S]`` float32, the store's columns of
  the feature set ``features`` (S = 1 for ``"mean"``, 2 for ``"mean_std"``; default the
  store's own, and a ``mean_std`` store serves ``mean`` models too);
- ``"frame"``: ``rgb [B, T, 1024]``, ``audio [B, T, 128]`` float32 (frames dequantized on the
  fly, exactly :func:`afkit.io.records.dequantize`; padded positions 0) and ``mask [B, T]`` bool
  (True = a real frame), T = the longest (capped) video of the batch; ``max_frames`` caps T,
  keeping the first frames (``frame_sampling="first"``) or evenly spaced ones (``"uniform"``);
- always ``y [B, C]``, the multi-hot labels (float32).

:meth:`Batches.batch` gives those as numpy arrays for any rows; iterating
(:meth:`Batches.iter_epoch`) gives them as torch tensors with ``index`` (int64 [B], the rows), batch
after batch of an epoch.

Order (*our choice*, for sequential reads: :func:`epoch_order`): the N rows are cut into blocks
of ``block_rows`` contiguous rows; an epoch visits the blocks in a random order and shuffles
rows within windows of ``window_blocks`` consecutive blocks; each batch's rows are read in
sorted order. The order depends only on (seed, epoch). Two ways to split it over DDP ranks:

- an iterating reader (:meth:`Batches.order`): rank r of ``world_size`` takes the r-th
  contiguous slice of the order; every rank gets the same number of batches: with
  ``drop_last`` the remainder is dropped, otherwise the order is padded by repeating its first
  rows (torch's DistributedSampler convention; ``index`` lets an evaluator drop duplicates);
- training (:func:`epoch_batches`): global batch b is a fixed slice of the order and rank r
  takes the r-th equal part of it, so that the union over the ranks is the one-process batch.
  Evaluation splits each global batch of rows in store order the same way (:func:`eval_rows`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from afkit.data import mfstd as F
from afkit.data.store import Store, StoreError, feature_stats, frame_stats, open_store

# the store columns of a video-level model's inputs, per feature set
VIDEO_COLUMNS = {
    "mean": ("mean_rgb", "mean_audio"),
    "mean_std": ("mean_rgb", "std_rgb", "mean_audio", "std_audio"),
}
KINDS = ("video", "frame")


def epoch_order(
    n: int, seed: int, epoch: int, *, block_rows: int = 64, window_blocks: int = 64
) -> np.ndarray:
    """The shuffled order of ``n`` rows in ``epoch`` (int64 [n]): blocks of ``block_rows``
    contiguous rows in a random order, rows shuffled within windows of ``window_blocks``
    blocks; it depends only on ``(seed, epoch)``."""
    rng = np.random.default_rng([seed, epoch])
    nb = -(-n // block_rows)
    block_order = rng.permutation(nb)
    starts = block_order * block_rows
    lens = np.minimum(starts + block_rows, n) - starts
    order = np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(n)
    window = block_rows * window_blocks
    keys = (np.arange(n) // window) + rng.random(n)
    return order[np.argsort(keys, kind="stable")]


def epoch_batches(
    store, batch_size: int, seed: int, epoch: int, rank: int = 0, world_size: int = 1
) -> list[np.ndarray]:
    """The training batches of one epoch for one rank: a list of row-index arrays.

    Global batch ``b`` is the slice ``[b*B, (b+1)*B)`` of :func:`epoch_order` (B =
    ``batch_size``; the last partial batch is dropped) and rank ``r`` of ``K`` takes the
    ``r``-th of ``K`` equal parts of it, so the union over the ranks of their batch ``b`` is
    the one-process batch ``b``. Depends on nothing but its arguments, which is what makes
    exact resume and the DDP equivalence hold.
    """
    if batch_size < 1 or batch_size % world_size:
        raise ValueError(
            f"batch_size {batch_size} must be a positive multiple of the {world_size} ranks"
        )
    n = len(store)
    if n < batch_size:
        raise ValueError(
            f"the training split has {n} videos, fewer than one batch of "
            f"{batch_size}: lower batch_size"
        )
    order = epoch_order(n, seed, epoch)
    per_rank = batch_size // world_size
    return [
        order[b * batch_size + rank * per_rank : b * batch_size + (rank + 1) * per_rank]
        for b in range(n // batch_size)
    ]


def eval_rows(n: int, batch_size: int, rank: int, world: int) -> Iterator[np.ndarray]:
    """Each global evaluation batch of ``batch_size * world`` rows (in store order), split
    over the ranks in order: this rank's part."""
    step = batch_size * world
    for s in range(0, n, step):
        rows = np.arange(s, min(n, s + step))
        yield np.array_split(rows, world)[rank]


@dataclasses.dataclass(frozen=True)
class Inputs:
    """What a batch holds: the inputs of a ``kind`` (``"video"`` / ``"frame"``) model, its
    ``features`` (``"mean"`` / ``"mean_std"``; None: the store's), and for frames the cap
    ``max_frames`` and which frames are kept under it (``frame_sampling``)."""

    kind: str = "video"
    features: str | None = None
    max_frames: int | None = None
    frame_sampling: str = "first"


@dataclasses.dataclass(frozen=True)
class Order:
    """Which rows an epoch visits on this rank, and in which order (the module docstring):
    shuffled or in store order, the seed, the DDP rank and world size, whether the last partial
    batch is dropped, and the blocks and windows of the shuffle."""

    shuffle: bool = True
    seed: int = 0
    rank: int = 0
    world_size: int = 1
    drop_last: bool = False
    block_rows: int = 64
    window_blocks: int = 64


def _split_options(options: dict) -> tuple[Inputs, Order]:
    """The flat keyword options of :func:`open_split` as an :class:`Inputs` and an
    :class:`Order` (TypeError naming any other)."""
    fields = {cls: {f.name for f in dataclasses.fields(cls)} for cls in (Inputs, Order)}
    unknown = set(options) - fields[Inputs] - fields[Order]
    if unknown:
        raise TypeError(
            f"unknown batch options {sorted(unknown)}: the options are the fields of "
            f"Inputs {sorted(fields[Inputs])} and Order {sorted(fields[Order])}"
        )
    return tuple(
        cls(**{k: v for k, v in options.items() if k in fields[cls]}) for cls in (Inputs, Order)
    )


class Batches:
    """The batches of one store split for a model's :class:`Inputs`, in an :class:`Order`.

    ``Batches(store, 256, Inputs(kind="frame", max_frames=300), Order(seed=1))``; the defaults:
    video-level inputs of the store's feature set, shuffled with seed 0 on one rank. ``len()`` is
    the number of batches of ``batch_size`` per epoch on this rank; ``num_videos`` the split's
    videos. See the module docstring for the order and the arrays.
    """

    def __init__(
        self,
        store: Store,
        batch_size: int = 1024,
        inputs: Inputs | None = None,
        order: Order | None = None,
    ):
        inputs, order = inputs or Inputs(), order or Order()
        kind, features = inputs.kind, inputs.features
        max_frames, frame_sampling = inputs.max_frames, inputs.frame_sampling
        shuffle, seed, rank, world_size = order.shuffle, order.seed, order.rank, order.world_size
        drop_last, block_rows, window_blocks = (
            order.drop_last,
            order.block_rows,
            order.window_blocks,
        )
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size={world_size}), got {rank}")
        if kind not in KINDS:
            raise ValueError(f"kind must be 'video' or 'frame', not {kind!r}")
        if max_frames is not None and max_frames < 1:
            raise ValueError(f"max_frames must be >= 1 or None, got {max_frames}")
        if frame_sampling not in ("first", "uniform"):
            raise ValueError(f"frame_sampling must be 'first' or 'uniform', got {frame_sampling!r}")
        self.store, self.kind, self.batch_size, self.features = store, kind, batch_size, features
        self.max_frames, self.frame_sampling = max_frames, frame_sampling
        self.shuffle, self.seed, self.epoch = shuffle, seed, 0
        self.rank, self.world_size, self.drop_last = rank, world_size, drop_last
        self.block_rows, self.window_blocks = max(1, block_rows), max(1, window_blocks)
        if kind == "video" and features is not None and features not in VIDEO_COLUMNS:
            raise ValueError(f"features must be 'mean' or 'mean_std', not {features!r}")
        if kind == "frame":
            if not store.has_frames:
                raise StoreError(
                    f"{store.path} has no frames: build it with frames=True (--frames)"
                )
            self._lut = F.dequantize_lut()
        n = len(store)
        if drop_last:
            self.per_rank = n // world_size
            self.num_batches = self.per_rank // batch_size
        else:
            self.per_rank = -(-n // world_size)
            self.num_batches = -(-self.per_rank // batch_size)

    @functools.cached_property
    def columns(self) -> dict[str, list[str]]:
        """``{"visual": [...], "audio": [...]}``: the store columns of a video model's inputs
        (checked against the store on first use; :func:`open_split` checks them at once)."""
        features = self.features or self.store.feature_set
        missing = [c for c in VIDEO_COLUMNS[features] if c not in self.store.columns]
        if missing:
            raise ValueError(
                f"features={features!r} needs the columns {missing}, which the "
                f"store {self.store.path} lacks (it has {list(self.store.columns)})"
            )
        return {
            m: [c for c in VIDEO_COLUMNS[features] if tag in c]
            for m, tag in (("visual", "rgb"), ("audio", "audio"))
        }

    @functools.cached_property
    def _feature_index(self) -> tuple[np.ndarray | slice, np.ndarray | slice]:
        """The feature-array columns of the visual and the audio inputs
        (a slice where contiguous)."""
        cols = self.store.columns
        out = []
        for names in (self.columns["visual"], self.columns["audio"]):
            idx = np.concatenate([np.arange(cols[c].start, cols[c].stop) for c in names])
            contiguous = np.array_equal(idx, np.arange(idx[0], idx[0] + len(idx)))
            out.append(slice(int(idx[0]), int(idx[0]) + len(idx)) if contiguous else idx)
        return tuple(out)

    @property
    def ids(self):
        return self.store.ids

    @property
    def num_classes(self) -> int:
        return int(self.store.num_classes)

    @property
    def num_videos(self) -> int:
        return len(self.store)

    def __len__(self) -> int:
        """Batches per epoch (on this rank)."""
        return self.num_batches

    def input_stats(self) -> tuple[np.ndarray, ...]:
        """(visual mean, visual std, audio mean, audio std) float32 of the model's inputs over
        the split (population std): :func:`afkit.data.store.feature_stats` of the visual and audio
        columns, or :func:`afkit.data.store.frame_stats` over every frame."""
        if self.kind == "frame":
            return frame_stats(self.store)
        with np.errstate(
            invalid="ignore", over="ignore"
        ):  # non-finite stats: the caller's to refuse
            return (
                *feature_stats(self.store, self.columns["visual"]),
                *feature_stats(self.store, self.columns["audio"]),
            )

    # ------------------------------------------------------------------------------ order
    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def order(self, epoch: int) -> np.ndarray:
        """int64 [num_batches*B or fewer]: the row indices this rank visits in ``epoch``."""
        n = len(self.store)
        if self.shuffle and n:
            order = epoch_order(
                n, self.seed, epoch, block_rows=self.block_rows, window_blocks=self.window_blocks
            )
        else:
            order = np.arange(n, dtype=np.int64)
        total = self.per_rank * self.world_size
        if total > n:  # pad (no drop_last): repeat the first rows
            order = np.concatenate([order, np.resize(order, total - n)]) if n else order
        mine = order[self.rank * self.per_rank : (self.rank + 1) * self.per_rank]
        if self.drop_last:
            mine = mine[: self.num_batches * self.batch_size]
        return mine.astype(np.int64, copy=False)

    def batch_indices(self, epoch: int, start_batch: int = 0) -> Iterator[np.ndarray]:
        """The sorted row indices of each batch from ``start_batch`` on (reads no data)."""
        mine = self.order(epoch)
        b = self.batch_size
        for k in range(start_batch, self.num_batches):
            yield np.sort(mine[k * b : (k + 1) * b])

    def __iter__(self):
        return self.iter_epoch(self.epoch)

    def iter_epoch(self, epoch: int, start_batch: int = 0):
        """Yield the batches (:meth:`tensors`) of ``epoch`` from batch ``start_batch`` on
        (skipped batches cost nothing)."""
        if not 0 <= start_batch <= self.num_batches:
            raise ValueError(f"start_batch must be in [0, {self.num_batches}], got {start_batch}")
        for idx in self.batch_indices(epoch, start_batch):
            yield self.tensors(idx)

    # ------------------------------------------------------------------------------ arrays
    def batch(self, rows) -> dict[str, np.ndarray]:
        """The numpy arrays of rows ``rows`` (any order): ``y`` and the model's inputs."""
        rows = np.asarray(rows, dtype=np.int64)
        out = {"y": self.store.multi_hot(rows)}
        if self.kind == "video":
            order = np.argsort(rows, kind="stable")  # read the memmap in file order
            x = np.empty((len(rows), self.store.features.shape[1]), dtype=np.float32)
            x[order] = self.store.features[rows[order]]
            visual, audio = self._feature_index
            out["visual"] = np.ascontiguousarray(x[:, visual])
            out["audio"] = np.ascontiguousarray(x[:, audio])
        else:
            out["rgb"], out["audio"], out["mask"] = self.frame_batch(rows)
        return out

    def tensors(self, rows) -> dict:
        """:meth:`batch` as torch tensors, with ``index`` (int64 [B]: the rows)."""
        import torch

        rows = np.asarray(rows, dtype=np.int64)
        out = {"index": torch.from_numpy(rows)}
        out.update({k: torch.from_numpy(v) for k, v in self.batch(rows).items()})
        return out

    def frame_rows(self, length: int) -> np.ndarray | slice:
        """Which of a video's ``length`` frames are served (all, first ``max_frames``,
        or evenly spaced)."""
        cap = self.max_frames
        if cap is None or length <= cap:
            return slice(0, length)
        if self.frame_sampling == "first":
            return slice(0, cap)
        return np.linspace(0, length - 1, cap).round().astype(np.int64)

    def frame_batch(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rgb float32 [B, T, 1024], audio float32 [B, T, 128], mask bool [B, T])
        of rows ``idx``."""
        s = self.store
        off = s.frame_offsets
        starts = np.asarray(off[idx])
        lens = np.asarray(off[np.asarray(idx) + 1]) - starts
        kept = np.minimum(lens, self.max_frames) if self.max_frames else lens
        t = int(kept.max()) if len(idx) else 0
        b = len(idx)
        mask = np.arange(t)[None, :] < kept[:, None]
        outs = []
        for frames, width in ((s.frames_rgb, F.RGB_DIM), (s.frames_audio, F.AUDIO_DIM)):
            x = np.zeros((b, t, width), dtype=np.float32)  # padding stays 0
            for j in range(b):
                rows = self.frame_rows(int(lens[j]))
                block = frames[starts[j] : starts[j] + lens[j]]
                np.take(self._lut, block[rows], out=x[j, : kept[j]])  # == dequantize, exactly
            outs.append(x)
        return outs[0], outs[1], mask


def open_split(
    store_dir, split: str, kind: str = "video", batch_size: int = 1024, **options
) -> Batches:
    """:class:`Batches` of ``split`` of the store ``store_dir`` (``STORE/{split}/``, or
    ``store_dir`` itself when it is one split) for a ``kind`` model; ``options``: the fields of
    :class:`Inputs` and :class:`Order` (``features``, ``max_frames``, ``shuffle``, ...)."""
    path = Path(store_dir)
    inputs, order = _split_options({"kind": kind, **options})
    batches = Batches(
        open_store(path / split if (path / split).is_dir() else path), batch_size, inputs, order
    )
    if kind == "video":
        batches.columns  # noqa: B018 (a store without the model's columns fails here, not later)
    return batches
