"""Training, evaluation and prediction: one loop for every model of :mod:`afkit.models`.

A run is a directory::

    RUN_DIR/
      config.json       the TrainConfig of the run (plain values)
      last.pt           the latest checkpoint: model, optimizer, scheduler, RNG states, data position
      metrics.jsonl     one JSON line per epoch: train loss, every validation metric, timings
      model.pt          the final weights with the arguments that rebuild the model
      results.json      final metrics, timings, parameter count, config, git SHA, versions

The loop (:func:`train`) minimizes BCE-with-logits, ``mean over b, c of
-(y log sigmoid(z) + (1 - y) log(1 - sigmoid(z)))`` for logits ``z [B, C]`` and multi-hot
labels ``y [B, C]``, with AdamW. Video-level models read the feature store, frame-level models
the frame store; both go through the same code.

Exact resume. The data order of epoch ``e`` is a permutation drawn from ``(seed, e)`` alone, and
batch ``b`` of that epoch is a fixed slice of it, so the data position is just ``(epoch, batch)``.
A checkpoint holds that position with the model, optimizer, scheduler and every RNG state
(torch, numpy, python, CUDA; each rank's under DDP), so ``resume=True`` replays a killed run
bit for bit: its final weights and metrics equal those of a run never interrupted.
Checkpoints are written to a temporary file and moved into place with ``os.replace``, so a kill
at any moment leaves either the previous checkpoint or the new one, never a torn file.

DDP (``torchrun --nproc_per_node K -m afkit train ...``): ``config.batch_size`` is the global
batch; rank ``r`` trains on the ``r``-th of ``K`` equal slices of every global batch, so that
with DDP's gradient averaging (and a loss that is a mean over the rank's equal-size batch) a
step equals the one-process step on the same global batch. Validation splits the videos over
the ranks and gathers scores and labels on rank 0 batch by batch into the streaming metrics.

*Our reconstruction* where the paper is silent: batch size 256, weight decay 0.01 (torch's
AdamW default), constant learning rate (no schedule), the last partial training batch of an
epoch dropped, inputs standardized with the training split's statistics. See :data:`PROFILES`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import platform
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from afkit import locks

CHECKPOINT = "last.pt"
FINAL = "model.pt"
METRICS = "metrics.jsonl"
RESULTS = "results.json"
CONFIG = "config.json"
BEST = "best.pt"

# A debugging and testing hook: after the global step with this number is done (and its
# checkpoint, if one was due, written), the process prints a line to stderr and blocks, so that a
# test can kill it at a known point instead of racing a timer.
PAUSE_ENV = "AFKIT_PAUSE_AT_STEP"


@dataclass
class TrainConfig:
    """Every knob of a training run, as plain values (JSON-serializable)."""

    model: str = "attend_fusion"  # a name of afkit.models' registry
    profile: str = "cpu"  # the model-size profile passed to afkit.models.build
    model_overrides: dict = field(default_factory=dict)  # extra keyword arguments for build
    features: str = "mean"  # video-level inputs: "mean" (1024 + 128; afkit.models' default, the
    # one the 341M count matches) or "mean_std" (MF+STD, 2048 + 256)
    normalization: str = "standardize"  # model input normalization: "standardize" (z-score by
    # the training split's per-feature mean and std; our reconstruction), "l2" (the starter
    # code's), "none"
    epochs: int = 8
    batch_size: int = 128  # the global batch (split over the ranks under DDP)
    lr: float = 1e-3
    weight_decay: float = 0.01  # AdamW's decoupled weight decay
    schedule: str = "constant"  # "constant" or "cosine" (per step, from lr down to 0)
    warmup_steps: int = 0  # linear warm-up from 0 to lr over this many steps
    dropout: float = 0.4
    grad_clip: float | None = None  # global gradient-norm clip; None = no clipping
    seed: int = 0
    device: str = "auto"  # "auto" (CUDA if present, else CPU), "cpu", "cuda", "cuda:1", ...
    num_threads: int | None = None  # torch.set_num_threads; None = leave torch's default
    bf16: bool = True  # bf16 autocast on CUDA (ignored on CPU, which trains in float32)
    optimizer: str = "adamw"  # "adamw" (the paper's) or "sgd" (plain, for tests and ablations)
    adamw: str = "fused"  # torch.optim.AdamW implementation: "fused", "foreach" or "for-loop"
    checkpoint_every_steps: int = 0  # also checkpoint every N steps (0 = only per epoch)
    eval_every_epoch: bool = True  # validate after every epoch (else after the last only)
    eval_batch_size: int = 1024
    max_frames: int = 300  # frame-level models: frames kept per video (first max_frames)
    max_steps_per_epoch: int | None = None  # cap on batches per epoch (None = all)
    train_split: str = "train"
    val_split: str = "validate"
    patience: int | None = None  # early stopping: stop after this many epochs without a new
    # best validation `select_metric` (None: train every epoch)
    select_metric: str = "gap"  # the validation metric early stopping and keep_best watch
    keep_best: bool = False  # the final model is the best validation epoch's (best.pt), not the last
    top_k: int = 20  # GAP@k and the top-k of the submission
    threshold: float = 0.5  # the F1 threshold
    progress: bool = True  # a tqdm bar per epoch (rank 0 only)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields: {', '.join(unknown)}")
        return cls(**d)


# The paper's values where it gives them (20 epochs, AdamW, lr 1e-4, dropout 0.4); the rest
# (batch 256, weight decay 0.01, no schedule) is *our reconstruction*. The cpu profile's defaults
# are afkit.protocol's (at most 24 epochs, the rate annealed to 0 (cosine), early stopping with patience 4 on validation GAP, best
# epoch kept; its learning rate is searched by the protocol, 1e-3 is the default of a single run),
# single-threaded (the protocol trains two runs at once on two cores).
PROFILES: dict[str, dict[str, Any]] = {
    # paper: mean inputs, the feature set under which the 341M count is reproduced exactly
    # (afkit.reconstruction.PAPER_FEATURES); the smaller profiles train on MF+STD, the inputs
    # the paper describes (its text says MF+STD; its parameter count says mean: see notebook 03)
    "paper": dict(profile="paper", epochs=20, batch_size=256, lr=1e-4, weight_decay=0.01,
                  schedule="constant", dropout=0.4, checkpoint_every_steps=2000, features="mean"),
    "cpu": dict(profile="cpu", epochs=24, batch_size=128, lr=1e-3, weight_decay=0.01,
                schedule="cosine", dropout=0.4, checkpoint_every_steps=0, num_threads=1,
                features="mean_std", patience=4, keep_best=True),
    "smoke": dict(profile="smoke", epochs=2, batch_size=32, lr=1e-3, weight_decay=0.01,
                  schedule="constant", dropout=0.4, checkpoint_every_steps=0, eval_batch_size=256,
                  num_threads=1, features="mean_std"),
}


def make_config(profile: str = "cpu", **overrides) -> TrainConfig:
    """``TrainConfig`` of a profile (``smoke``, ``cpu``, ``paper``) with plain-value overrides."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {sorted(PROFILES)}")
    values = dict(PROFILES[profile])
    values.update(overrides)
    return TrainConfig.from_dict(values)


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; the run stopped before the optimizer step."""


# ----------------------------------------------------------------------------------------------
# provenance, atomic files


# one home: afkit.provenance (re-exported here: train.git_sha, train.atomic_write_text, ...)
from afkit.provenance import (_atomic_write, _dumps, _json_default, atomic_torch_save,  # noqa: E402,F401
                              atomic_write_text, code_hash, git_sha, versions)


# ----------------------------------------------------------------------------------------------
# devices, seeds, distributed


def _resolve_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {name!r} asked for but CUDA is not available")
        if device.index is None:
            device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    return device


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy's global RNG and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
             "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass
class _Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialized_here: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def _init_distributed(device_name: str) -> _Dist:
    """Join the process group that ``torchrun`` describes in the environment (if any).

    Backend: ``nccl`` when the device is CUDA, ``gloo`` on CPU.
    """
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if dist.is_initialized():
        return _Dist(dist.get_rank(), dist.get_world_size(), local, False)
    cuda = device_name.startswith("cuda") or (device_name == "auto" and torch.cuda.is_available())
    if cuda:
        torch.cuda.set_device(local)
    dist.init_process_group(backend="nccl" if cuda else "gloo", init_method="env://")
    return _Dist(dist.get_rank(), dist.get_world_size(), local, True)


# ----------------------------------------------------------------------------------------------
# data


def epoch_order(store, seed: int, epoch: int) -> np.ndarray:
    """The global order of the training rows in ``epoch``: int64 [n].

    That of :class:`afkit.store.StoreLoader` on one rank (blocks of contiguous rows in a random
    order, rows shuffled within windows of blocks: sequential reads on a large memmap); it
    depends only on ``(seed, epoch)``.
    """
    from afkit.store import StoreLoader

    return StoreLoader(store, 1, shuffle=True, seed=seed).order(epoch)


def epoch_batches(store, batch_size: int, seed: int, epoch: int, rank: int = 0,
                  world_size: int = 1) -> list[np.ndarray]:
    """The training batches of one epoch for one rank: a list of row-index arrays.

    Global batch ``b`` is the slice ``[b*B, (b+1)*B)`` of :func:`epoch_order` (B =
    ``batch_size``; the last partial batch is dropped) and rank ``r`` of ``K`` takes the
    ``r``-th of ``K`` equal parts of it, so the union over the ranks of their batch ``b`` is
    the one-process batch ``b``. Depends on nothing but its arguments, which is what makes
    exact resume and the DDP equivalence hold.
    """
    if batch_size < 1 or batch_size % world_size:
        raise ValueError(f"batch_size {batch_size} must be a positive multiple of the "
                         f"{world_size} ranks")
    n = len(store)
    if n < batch_size:
        raise ValueError(f"the training split has {n} videos, fewer than one batch of "
                         f"{batch_size}: lower batch_size")
    order = epoch_order(store, seed, epoch)
    per_rank = batch_size // world_size
    return [order[b * batch_size + rank * per_rank: b * batch_size + (rank + 1) * per_rank]
            for b in range(n // batch_size)]


class SplitData:
    """One split of a store, served as batches for a ``"video"`` or a ``"frame"`` model.

    ``batch(rows)`` returns numpy arrays: ``visual [B, 1024*S]`` and ``audio [B, 128*S]``
    (video-level; S = 1 for ``features="mean"``, 2 for ``"mean_std"``, picked from the store's
    columns, so a ``mean_std`` store serves ``mean`` models too) or ``rgb [B, T, 1024]``,
    ``audio [B, T, 128]`` (dequantized), ``mask [B, T]`` (frame-level, T = the longest video of
    the batch, at most ``max_frames``: the first frames are kept), and always ``y [B, C]``
    multi-hot float32.
    """

    def __init__(self, store, kind: str, features: str = "mean", max_frames: int = 300):
        if kind not in ("video", "frame"):
            raise ValueError(f"kind must be 'video' or 'frame', not {kind!r}")
        self.store, self.kind, self.features, self.max_frames = store, kind, features, max_frames
        self.ids = store.ids
        self.num_classes = int(store.num_classes)
        if kind == "video":
            wanted = {"mean": ("mean_rgb", "mean_audio"),
                      "mean_std": ("mean_rgb", "std_rgb", "mean_audio", "std_audio")}
            if features not in wanted:
                raise ValueError(f"features must be 'mean' or 'mean_std', not {features!r}")
            cols = store.columns
            missing = [c for c in wanted[features] if c not in cols]
            if missing:
                raise ValueError(f"features={features!r} needs the columns {missing}, which the "
                                 f"store {getattr(store, 'path', '')} lacks (it has {list(cols)})")
            self.visual_columns = [c for c in wanted[features] if "rgb" in c]
            self.audio_columns = [c for c in wanted[features] if "audio" in c]
            self._v = np.concatenate([np.arange(cols[c].start, cols[c].stop)
                                      for c in self.visual_columns])
            self._a = np.concatenate([np.arange(cols[c].start, cols[c].stop)
                                      for c in self.audio_columns])
        else:
            from afkit.store import StoreLoader

            self._frames = StoreLoader(store, 1, shuffle=False, kind="frames",
                                       max_frames=max_frames)

    def __len__(self) -> int:
        return len(self.store)

    def batch(self, rows) -> dict[str, np.ndarray]:
        rows = np.asarray(rows, dtype=np.int64)
        out = {"y": self.store.multi_hot(rows)}
        if self.kind == "video":
            order = np.argsort(rows, kind="stable")  # read the memmap in file order
            x = np.empty((len(rows), self.store.features.shape[1]), dtype=np.float32)
            x[order] = self.store.features[rows[order]]
            out["visual"] = np.ascontiguousarray(x[:, self._v])
            out["audio"] = np.ascontiguousarray(x[:, self._a])
        else:
            out["rgb"], out["audio"], out["mask"] = self._frames.frame_batch(rows)
        return out


def open_split(store_dir, split: str, kind: str = "video", features: str = "mean",
               max_frames: int = 300) -> SplitData:
    """Open ``split`` of the store ``store_dir`` (``STORE/{split}/``, or ``store_dir`` itself
    when it is one split) for a ``kind`` ("video" / "frame") model."""
    from afkit.store import open_store

    path = Path(store_dir)
    return SplitData(open_store(path / split if (path / split).is_dir() else path), kind,
                     features, max_frames)


def _to_device(batch: dict, device: torch.device) -> dict[str, torch.Tensor]:
    nb = device.type == "cuda"
    return {k: torch.from_numpy(v).to(device, non_blocking=nb) for k, v in batch.items()}


def _forward(model, batch: dict[str, torch.Tensor], kind: str) -> torch.Tensor:
    if kind == "video":
        return model(batch["visual"], batch["audio"])
    return model(batch["rgb"], batch["audio"], batch["mask"])


# ----------------------------------------------------------------------------------------------
# model, optimizer


def _model_kwargs(config: TrainConfig, num_classes: int, kind: str) -> dict:
    """The keyword arguments of ``afkit.models.build`` for a run (stored in ``model.pt``)."""
    kwargs = {"num_classes": num_classes, "dropout": config.dropout,
              "normalization": config.normalization}
    if kind == "video":
        kwargs["features"] = config.features
    kwargs.update(config.model_overrides)
    return kwargs


def model_kind(config: TrainConfig) -> str:
    """``"video"`` or ``"frame"``: the inputs of ``config.model`` (a meta-device build)."""
    from afkit import models

    return models.build(config.model, profile=config.profile, device="meta",
                        **config.model_overrides).input_kind


def _build_model(name: str, profile: str, kwargs: dict):
    from afkit import models

    return models.build(name, profile=profile, **kwargs)


def _make_optimizer(config: TrainConfig, model) -> torch.optim.Optimizer:
    """AdamW (decoupled weight decay) with the implementation ``config.adamw``: the three give
    the same updates up to float rounding; "fused" is the fastest on CPU (benchmarks/); or plain
    SGD (``w -= lr * (g + weight_decay * w)``), whose update is linear in the gradient."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer != "adamw":
        raise ValueError(f"optimizer must be 'adamw' or 'sgd', not {config.optimizer!r}")
    impl = {"fused": dict(fused=True), "foreach": dict(foreach=True),
            "for-loop": dict(foreach=False)}
    if config.adamw not in impl:
        raise ValueError(f"adamw must be one of {sorted(impl)}, not {config.adamw!r}")
    return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                             **impl[config.adamw])


def lr_factor(step: int, total_steps: int, schedule: str, warmup_steps: int = 0) -> float:
    """Learning-rate multiplier at ``step``: linear warm-up, then 1 (constant) or
    ``(1 + cos(pi * s / S)) / 2`` over the remaining steps (cosine)."""
    if warmup_steps and step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        s, span = step - warmup_steps, max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(s, span) / span))
    raise ValueError(f"schedule must be 'constant' or 'cosine', not {schedule!r}")


def _set_input_stats(model, data: SplitData) -> bool:
    """Feed ``normalization="standardize"`` from the training split (mean and population std
    per feature: :func:`afkit.store.feature_stats`; frame models: over every frame, in chunks).
    Returns whether the model asked for it."""
    cfg = getattr(model, "config", None)
    if getattr(cfg, "normalization", "none") != "standardize":
        return False
    from afkit import store as store_mod

    if data.kind == "video":
        with np.errstate(invalid="ignore", over="ignore"):  # non-finite stats: refused below
            vm, vs = store_mod.feature_stats(data.store, data.visual_columns)
            am, as_ = store_mod.feature_stats(data.store, data.audio_columns)
    else:
        from afkit.features import dequantize_lut

        lut = dequantize_lut().astype(np.float64)
        stats = []
        for frames in (data.store.frames_rgb, data.store.frames_audio):
            total = np.zeros(frames.shape[1]), np.zeros(frames.shape[1])
            for a in range(0, len(frames), 16384):
                x = lut[np.asarray(frames[a:a + 16384])]
                total[0].__iadd__(x.sum(0))
                total[1].__iadd__((x * x).sum(0))
            n = max(1, len(frames))
            mean = total[0] / n
            stats += [mean.astype(np.float32),
                      np.sqrt(np.maximum(total[1] / n - mean * mean, 0)).astype(np.float32)]
        vm, vs, am, as_ = stats
    if not all(np.isfinite(t).all() for t in (vm, vs, am, as_)):
        raise ValueError(f"the training split {getattr(data.store, 'path', '')} has non-finite "
                         f"feature statistics (a NaN or infinite feature): check it with "
                         f"`python -m afkit verify-store`")
    model.set_input_stats(*(torch.from_numpy(np.asarray(t)) for t in (vm, vs, am, as_)))
    return True


# ----------------------------------------------------------------------------------------------
# evaluation


def _eval_rows(n: int, batch_size: int, rank: int, world: int) -> Iterator[np.ndarray]:
    """Each global eval batch of ``batch_size * world`` rows, split over the ranks in order."""
    step = batch_size * world
    for s in range(0, n, step):
        rows = np.arange(s, min(n, s + step))
        yield np.array_split(rows, world)[rank]


@torch.no_grad()
def _scores(model, data: SplitData, rows: np.ndarray, device, autocast) -> tuple[np.ndarray, np.ndarray]:
    if len(rows) == 0:
        return np.zeros((0, data.num_classes), np.float32), np.zeros((0, data.num_classes), np.float32)
    batch = data.batch(rows)
    y = batch.pop("y")
    with autocast():
        logits = _forward(model, _to_device(batch, device), data.kind)
    return torch.sigmoid(logits.float()).cpu().numpy(), y


def _autocast_for(device: torch.device, bf16: bool):
    enabled = bf16 and device.type == "cuda"
    return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def evaluate_model(model, data: SplitData, *, batch_size: int = 1024, device="cpu",
                   top_k: int = 20, threshold: float = 0.5, bf16: bool = True,
                   dist_info: _Dist | None = None, progress: bool = False) -> dict:
    """Every metric of :mod:`afkit.metrics` for ``model`` on ``data``, streamed batch by batch.

    Under DDP each rank scores its share of each batch and rank 0 gathers them; every rank
    returns the same dict (broadcast from rank 0). Adds ``videos_per_s`` (inference rate) and
    ``eval_seconds``.
    """
    from afkit import metrics

    device = torch.device(device)
    d = dist_info or _Dist()
    acc = _make_accumulator(metrics, data.num_classes, top_k, threshold)
    was_training = model.training
    model.eval()
    autocast = _autocast_for(device, bf16)
    t0 = time.perf_counter()
    rows_iter = list(_eval_rows(len(data), batch_size, d.rank, d.world_size))
    bar = _tqdm(rows_iter, desc=f"eval {len(data)} videos", disable=not (progress and d.main))
    for rows in bar:
        s, y = _scores(model, data, rows, device, autocast)
        if d.enabled:
            import torch.distributed as dist

            parts = [None] * d.world_size if d.main else None
            dist.gather_object((s, y), parts, dst=0)
            if d.main:
                for ps, py in parts:
                    if len(ps):
                        acc.update(ps, py)
        elif len(s):
            acc.update(s, y)
    result = dict(acc.compute()) if d.main else None
    seconds = time.perf_counter() - t0
    if d.enabled:
        import torch.distributed as dist

        box = [result]
        dist.broadcast_object_list(box, src=0)
        result = box[0]
    result = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in result.items()}
    result["eval_seconds"] = seconds
    result["videos_per_s"] = len(data) / seconds if seconds > 0 else float("inf")
    model.train(was_training)
    return result


def _make_accumulator(metrics, num_classes, top_k, threshold):
    return metrics.MetricAccumulator(num_classes, top_k=top_k, threshold=threshold)


def _tqdm(iterable, **kw):
    from tqdm.auto import tqdm

    return tqdm(iterable, leave=False, dynamic_ncols=True, **kw)


# ----------------------------------------------------------------------------------------------
# training


def _unwrap(model):
    return model.module if hasattr(model, "module") else model


def _checkpoint_state(model, optimizer, scheduler, config, *, epoch, batch, step, history,
                      loss_sum, loss_count, train_seconds, samples, rng_states, model_args) -> dict:
    return {"format": 1, "config": config.to_dict(), "model_args": model_args,
            "model": _unwrap(model).state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "epoch": epoch, "batch": batch, "step": step,
            "history": history, "loss_sum": loss_sum, "loss_count": loss_count,
            "train_seconds": train_seconds, "samples": samples, "rng": rng_states}


def _gather_rng(d: _Dist) -> list:
    state = _rng_state()
    if not d.enabled:
        return [state]
    import torch.distributed as dist

    out = [None] * d.world_size
    dist.all_gather_object(out, state)
    return out


def _all_mean(value: torch.Tensor, d: _Dist) -> torch.Tensor:
    if not d.enabled:
        return value
    import torch.distributed as dist

    value = value.clone()
    dist.all_reduce(value)
    return value / d.world_size


def train(config: TrainConfig, store_dir, out_dir, resume: bool = False) -> dict:
    """Train ``config.model`` on ``store_dir``, writing the run directory ``out_dir``.

    Returns the results dict (also written to ``out_dir/results.json``): ``final`` (the last
    validation metrics), ``history`` (one entry per epoch), ``train_seconds``,
    ``train_samples_per_s``, ``videos_per_s`` (inference), ``num_parameters``, ``config``,
    ``git_sha``, ``versions``. With ``resume=True`` a run continues from ``out_dir/last.pt``.
    Raises :class:`NonFiniteLossError` on a NaN or infinite loss, leaving the last checkpoint;
    :class:`afkit.locks.LockedError` while another process trains into ``out_dir`` (rank 0
    holds ``out_dir/.afkit.lock`` for the whole run).
    """
    if isinstance(config, dict):
        config = TrainConfig.from_dict(config)
    out = Path(out_dir)
    d = _init_distributed(config.device)
    try:
        lock = locks.hold(out / locks.LOCK_NAME, f"train {out}") if d.main else contextlib.nullcontext()
        with lock:
            return _train(config, Path(store_dir), out, resume, d)
    finally:
        if d.initialized_here:
            import torch.distributed as dist

            dist.destroy_process_group()


def _train(config: TrainConfig, store_dir: Path, out: Path, resume: bool, d: _Dist) -> dict:
    t_start = time.perf_counter()
    device = _resolve_device(config.device, d.local_rank)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)

    ckpt_path = out / CHECKPOINT
    ckpt = None
    if resume:
        if not ckpt_path.exists():
            raise FileNotFoundError(f"--resume: no checkpoint at {ckpt_path}")
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        saved = TrainConfig.from_dict(ckpt["config"])
        if _resume_key(saved) != _resume_key(config):
            raise ValueError(f"--resume: the config differs from the checkpoint's in "
                             f"{_diff(saved, config)}")
    elif d.main and ckpt_path.exists():
        raise FileExistsError(f"{out} already holds a run (last.pt); pass resume=True "
                              f"(--resume) to continue it or choose another directory")

    seed_everything(config.seed)
    kind = model_kind(config)
    train_data = open_split(store_dir, config.train_split, kind, config.features, config.max_frames)
    val_data = open_split(store_dir, config.val_split, kind, config.features, config.max_frames)
    if val_data.num_classes != train_data.num_classes:
        raise ValueError(f"the {config.train_split} and {config.val_split} splits have different "
                         f"vocabularies ({train_data.num_classes} vs {val_data.num_classes} classes)")
    model_args = _model_kwargs(config, train_data.num_classes, kind)
    model = _build_model(config.model, config.profile, model_args)
    if ckpt is None:
        _set_input_stats(model, train_data)
    model.to(device)
    from afkit.models import count_parameters

    n_params = count_parameters(model)

    optimizer = _make_optimizer(config, model)
    steps_per_epoch = len(train_data) // config.batch_size
    if steps_per_epoch == 0 or config.batch_size % d.world_size:
        epoch_batches(train_data.store, config.batch_size, config.seed, 0, d.rank, d.world_size)
    if config.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, config.max_steps_per_epoch)
    total_steps = steps_per_epoch * config.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, total_steps, config.schedule, config.warmup_steps))

    epoch, start_batch, step, history = 0, 0, 0, []
    loss_sum, loss_count, train_seconds, samples = 0.0, 0, 0.0, 0
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        epoch, start_batch, step = ckpt["epoch"], ckpt["batch"], ckpt["step"]
        history = ckpt["history"]
        loss_sum, loss_count = ckpt["loss_sum"], ckpt["loss_count"]
        train_seconds, samples = ckpt["train_seconds"], ckpt["samples"]
        rng = ckpt["rng"]
        if len(rng) != d.world_size:
            raise ValueError(f"--resume: the checkpoint was written by {len(rng)} ranks, "
                             f"this run has {d.world_size}")
        _set_rng_state(rng[d.rank])

    if d.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    else:
        net = model

    sha = git_sha()
    if d.main:
        out.mkdir(parents=True, exist_ok=True)
        for stale in out.glob(".*.tmp*"):  # left by a process killed while writing
            stale.unlink()
        atomic_write_text(out / CONFIG, _dumps(config.to_dict()) + "\n")
        # metrics.jsonl always equals the checkpoint's history (a line written after the last
        # checkpoint by a killed run is dropped here and written again)
        atomic_write_text(out / METRICS, "".join(_dumps(h) + "\n" for h in history))
        print(f"afkit train: {config.model} ({n_params:,} parameters) on {device}"
              f"{f' x{d.world_size} ranks' if d.enabled else ''}; git {sha}; "
              f"{'resuming at epoch %d batch %d (step %d)' % (epoch, start_batch, step) if ckpt else 'new run'}"
              f"\nconfig: {_dumps(config.to_dict())}", file=sys.stderr, flush=True)

    autocast = _autocast_for(device, config.bf16)
    pause_at = int(os.environ.get(PAUSE_ENV, "0") or 0)
    last_ckpt_step = step if ckpt is not None else None
    net.train()

    def save(epoch_, batch_):
        nonlocal last_ckpt_step
        rng = _gather_rng(d)
        if d.main:
            atomic_torch_save(_checkpoint_state(
                net, optimizer, scheduler, config, epoch=epoch_, batch=batch_, step=step,
                history=history, loss_sum=loss_sum, loss_count=loss_count,
                train_seconds=train_seconds, samples=samples, rng_states=rng,
                model_args=model_args), ckpt_path)
        last_ckpt_step = step

    if (config.patience or config.keep_best) and not config.eval_every_epoch:
        raise ValueError("patience / keep_best need eval_every_epoch=True (a validation score "
                         "every epoch to select on)")
    while epoch < config.epochs and not should_stop(history, config):
        batches = epoch_batches(train_data.store, config.batch_size, config.seed, epoch,
                                d.rank, d.world_size)[:steps_per_epoch]
        bar = _tqdm(range(start_batch, len(batches)), desc=f"epoch {epoch + 1}/{config.epochs}",
                    disable=not (config.progress and d.main), total=len(batches),
                    initial=start_batch)
        t_epoch = time.perf_counter()
        for b in bar:
            t0 = time.perf_counter()
            batch = _to_device(train_data.batch(batches[b]), device)
            y = batch.pop("y")
            with autocast():
                logits = _forward(net, batch, train_data.kind)
            loss = F.binary_cross_entropy_with_logits(logits.float(), y)
            loss_all = _all_mean(loss.detach(), d)
            value = float(loss_all)
            if not math.isfinite(value):
                where = (f"a checkpoint at step {last_ckpt_step} is left in {ckpt_path}"
                         if last_ckpt_step is not None else "no checkpoint was written yet")
                raise NonFiniteLossError(
                    f"non-finite training loss ({value}) at epoch {epoch + 1}, step {step + 1} "
                    f"(batch {b + 1} of {len(batches)}); the run stopped before the optimizer "
                    f"step; {where}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip:
                torch.nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
            optimizer.step()
            scheduler.step()
            step += 1
            loss_sum += value
            loss_count += 1
            samples += config.batch_size
            train_seconds += time.perf_counter() - t0
            bar.set_postfix(loss=f"{value:.4f}",
                            samples_s=f"{samples / max(train_seconds, 1e-9):.0f}", refresh=False)
            if (config.checkpoint_every_steps and step % config.checkpoint_every_steps == 0
                    and b + 1 < len(batches)):
                save(epoch, b + 1)
            if pause_at and step == pause_at:
                print(f"afkit: paused after step {step} ({PAUSE_ENV})", file=sys.stderr,
                      flush=True)
                while True:
                    signal.pause() if hasattr(signal, "pause") else time.sleep(3600)
        bar.close()
        record = {"epoch": epoch + 1, "step": step,
                  "train_loss": loss_sum / max(loss_count, 1),
                  "lr": optimizer.param_groups[0]["lr"],
                  "epoch_seconds": time.perf_counter() - t_epoch}
        if config.eval_every_epoch or epoch + 1 == config.epochs:
            m = evaluate_model(model, val_data, batch_size=config.eval_batch_size, device=device,
                               top_k=config.top_k, threshold=config.threshold, bf16=config.bf16,
                               dist_info=d)
            record.update({f"val_{k}": v for k, v in m.items()})
        history.append(record)
        loss_sum, loss_count = 0.0, 0
        epoch, start_batch = epoch + 1, 0
        if config.keep_best and d.main and best_epoch(history, config) == epoch:
            # written before the checkpoint: a run killed in between redoes this epoch, exactly
            atomic_torch_save(_unwrap(net).state_dict(), out / BEST)
        save(epoch, 0)
        if d.main:
            with open(out / METRICS, "a") as f:
                f.write(_dumps(record) + "\n")
            print(_epoch_line(record), file=sys.stderr, flush=True)

    # the final weights (the best epoch's with keep_best): small, and all load_run needs
    chosen = best_epoch(history, config) if config.keep_best else len(history)
    if config.keep_best:
        _unwrap(net).load_state_dict(torch.load(out / BEST, map_location=device, weights_only=True))
    final_metrics = {k[4:]: v for k, v in history[chosen - 1].items() if k.startswith("val_")}
    results = {
        "model": config.model, "profile": config.profile, "seed": config.seed,
        "num_parameters": n_params, "final": final_metrics, "history": history,
        "train_seconds": train_seconds,  # optimizer steps only, summed over resumed sessions
        "wall_seconds": time.perf_counter() - t_start,  # this call, with loading and validation
        "train_samples_per_s": samples / train_seconds if train_seconds else None,
        "videos_per_s": final_metrics.get("videos_per_s"),
        "best_epoch": chosen, "epochs_run": len(history),
        "stopped_early": len(history) < config.epochs,
        "steps": step, "world_size": d.world_size, "device": str(device),
        "num_threads": torch.get_num_threads(), "store": str(store_dir),
        "config": config.to_dict(), "git_sha": sha, "code_hash": code_hash(),
        "versions": versions(),
    }
    if d.main:
        atomic_torch_save({"config": config.to_dict(), "model_args": model_args,
                           "model": _unwrap(net).state_dict(), "kind": train_data.kind}, out / FINAL)
        atomic_write_text(out / RESULTS, json.dumps(results, indent=2, default=_json_default) + "\n")
    return results


def best_epoch(history: list[dict], config: TrainConfig) -> int:
    """The 1-based epoch with the highest validation ``config.select_metric`` (the first of
    equal ones); 0 before any epoch was scored."""
    key = f"val_{config.select_metric}"
    values = [h.get(key, -math.inf) for h in history]
    return int(np.argmax(values)) + 1 if values else 0


def should_stop(history: list[dict], config: TrainConfig) -> bool:
    """Early stopping: ``config.patience`` epochs have passed since the best validation epoch.
    Computed from the history alone, so a resumed run stops where an uninterrupted one would."""
    return bool(config.patience) and len(history) - best_epoch(history, config) >= config.patience


def _epoch_line(r: dict) -> str:
    parts = [f"epoch {r['epoch']}", f"loss {r['train_loss']:.4f}"]
    for k in ("gap", "map", "hit_at_one", "perr", "micro_f1", "macro_f1"):
        if f"val_{k}" in r:
            parts.append(f"{k} {r[f'val_{k}']:.4f}")
    return "  ".join(parts)


# fields that may change between a run and its resume without changing its result
_RESUME_FREE = {"device", "progress", "eval_batch_size", "num_threads"}


def _resume_key(c: TrainConfig) -> dict:
    return {k: v for k, v in c.to_dict().items() if k not in _RESUME_FREE}


def _diff(a: TrainConfig, b: TrainConfig) -> str:
    da, db = _resume_key(a), _resume_key(b)
    return ", ".join(f"{k} ({da[k]!r} vs {db[k]!r})" for k in da if da[k] != db[k])


# ----------------------------------------------------------------------------------------------
# command line


def _config_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m afkit train",
                                description="Train a model of afkit.models on a store.")
    p.add_argument("--model", required=True, help="a registered model name")
    p.add_argument("--profile", default="cpu", choices=sorted(PROFILES))
    p.add_argument("--store", required=True, help="the store directory (afkit featurize)")
    p.add_argument("--out", required=True, help="the run directory")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    for f in dataclasses.fields(TrainConfig):
        if f.name in ("model", "profile", "model_overrides"):
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool",) or isinstance(f.default, bool):
            p.add_argument(flag, dest=f.name, default=None, action=argparse.BooleanOptionalAction)
        else:
            typ = {"int": int, "float": float, "str": str, "int | None": int,
                   "float | None": float}.get(str(f.type), str)
            p.add_argument(flag, dest=f.name, type=typ, default=None)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a model override for afkit.models.build (JSON value), repeatable")
    return p


def main(argv: list[str] | None = None) -> int:
    """``python -m afkit train --model NAME --profile P --store DIR --out RUN_DIR [--resume]``."""
    args = _config_parser().parse_args(argv)
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
                 if f.name not in ("model", "profile", "model_overrides")
                 and getattr(args, f.name, None) is not None}
    model_overrides = {}
    for kv in args.set:
        key, _, value = kv.partition("=")
        try:
            model_overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            model_overrides[key] = value
    config = make_config(args.profile, model=args.model, model_overrides=model_overrides,
                         **overrides)
    try:
        results = train(config, args.store, args.out, resume=args.resume)
    except NonFiniteLossError as e:
        print(f"afkit train: {e}", file=sys.stderr)
        return 1
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps({"final": results["final"], "train_seconds": results["train_seconds"]},
                         indent=2, default=_json_default))
    return 0


# trained runs (load, predict, evaluate, submit) live in afkit.runs; still reachable here for
# callers of the earlier API (train.load_run, train.predict_scores, ...)
_MOVED_TO_RUNS = ("load_run", "predict_scores", "evaluate_run", "write_submission",
                  "read_submission", "eval_main", "predict_main")


def __getattr__(name: str):
    if name in _MOVED_TO_RUNS:
        from afkit import runs

        return getattr(runs, name)
    raise AttributeError(f"module 'afkit.train' has no attribute {name!r}")
