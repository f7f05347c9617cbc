"""The training loop: one for every model of :mod:`afkit.models.registry`, with checkpoints, exact
resume, early stopping and DDP. A run is a directory::

    RUN_DIR/
      config.json       the TrainConfig of the run (plain values)
      last.pt           the latest checkpoint: model, optimizer, scheduler, RNG states, data place
      metrics.jsonl     one JSON line per epoch: train loss, every validation metric, timings
      best.pt           with keep_best: the weights of the best validation epoch so far
      model.pt          the final weights with the arguments that rebuild the model
      results.json      final metrics, timings, parameter count, config, git SHA, versions

:func:`train` minimizes BCE-with-logits (mean over b, c) of logits ``z [B, C]`` against multi-hot
labels ``y [B, C]`` with AdamW, on batches of :class:`afkit.data.batches.Batches` (video-level
models read the feature store, frame-level models the frame store), validating every epoch
(:func:`afkit.training.evaluation.evaluate_model`). A run in progress is one :class:`_Run` (its
position and running sums: :class:`Progress`), advanced by :func:`_train_epoch`,
:func:`_train_step`, :func:`_end_epoch` and :func:`_finish`. Finished runs are
:mod:`afkit.training.inference`.

Exact resume: the data order of epoch ``e`` depends on ``(seed, e)`` alone and batch ``b`` is a
fixed slice of it (:func:`afkit.data.batches.epoch_batches`), so the data position is ``(epoch,
batch)``; a checkpoint holds it with the model, optimizer, scheduler and every RNG state (each
rank's under DDP), so ``resume=True`` replays a killed run bit for bit. Every file is written
through a temporary file and a rename (:mod:`afkit.core.provenance`): never a torn file.

DDP (``torchrun --nproc_per_node K -m afkit train ...``; :mod:`afkit.training.devices`):
``config.batch_size`` is the global batch; rank ``r`` trains on the ``r``-th of ``K`` equal
slices of every global batch, so that with DDP's gradient averaging a step equals the
one-process step on the same global batch.

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
import re
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from afkit.core import cli, locks, paper
from afkit.core.provenance import (
    PACKAGE,
    atomic_torch_save,
    atomic_write_text,
    code_hash,
    git_sha,
    to_json,
    versions,
    write_json,
)
from afkit.data.batches import Batches, epoch_batches, open_split
from afkit.models import registry as models
from afkit.training import devices
from afkit.training.evaluation import evaluate_model, forward, progress_bar, to_device

CHECKPOINT = "last.pt"
FINAL = "model.pt"
# the layout of last.pt and model.pt; 2: tensors and plain values only (loaded with
# weights_only=True: a checkpoint cannot run code), the identity of the store it trained on
CHECKPOINT_FORMAT = 2
METRICS = "metrics.jsonl"
RESULTS = "results.json"
CONFIG = "config.json"
BEST = "best.pt"

# Where runs live (the one run-folder layout: what `python -m afkit train` writes by default,
# `python -m afkit import-run` files a run into, and the notebooks look in):
#     OUT/runs/<run key>/seed<k>/      OUT = out/<profile> of the repository by default
# the run key names the model and its overrides (run_key); a notebook's arm adds its training
# overrides, the learning rate among them (afkit.studies.experiments)
RUNS = "runs"


def run_key(model: str, model_overrides: dict, train_overrides: dict) -> str:
    """A run folder's name: the model, its ``model_overrides`` (``k=v``, sorted) and its
    ``train_overrides`` (``train.k=v``, sorted), joined by commas, characters other than
    letters, digits and ``.=,-`` replaced by ``_``."""
    parts = (
        [model]
        + [f"{k}={v}" for k, v in sorted(model_overrides.items())]
        + [f"train.{k}={v}" for k, v in sorted(train_overrides.items())]
    )
    return re.sub(r"[^\w.=,-]+", "_", ",".join(parts))


def default_out_dir(profile: str) -> Path:
    """``out/<profile>`` of the repository: the notebooks' default ``out_dir``."""
    return PACKAGE.parent / "out" / profile


def default_run_dir(config: "TrainConfig", out_dir=None) -> Path:
    """Where a run of ``config`` goes by default: ``OUT/runs/<model,overrides,train.lr=LR>/seed<k>``
    (``OUT``: ``out_dir``, else :func:`default_out_dir`), the folder a notebook's arm of the same
    model, overrides and learning rate looks in."""
    out = Path(out_dir) if out_dir is not None else default_out_dir(config.profile)
    key = run_key(config.model, dict(config.model_overrides), {"lr": config.lr})
    return out / RUNS / key / f"seed{config.seed}"


# A debugging and testing hook: after the global step with this number is done (and its
# checkpoint, if one was due, written), the process prints a line to stderr and blocks, so that a
# test can kill it at a known point instead of racing a timer.
PAUSE_ENV = "AFKIT_PAUSE_AT_STEP"


@dataclass
class TrainConfig:
    """Every knob of a training run, as plain values (JSON-serializable)."""

    model: str = "attend_fusion"  # a model name of afkit.models.registry
    profile: str = "cpu"  # the model-size profile passed to afkit.models.registry.build
    model_overrides: dict = field(default_factory=dict)  # extra keyword arguments for build
    features: str = "mean"  # video-level inputs: "mean" (1024 + 128 values; the inputs the
    # paper's 341M count matches) or "mean_std" (MF+STD, 2048 + 256)
    normalization: str = "standardize"  # model input normalization: "standardize" (z-score by
    # the training split's per-feature mean and std; our reconstruction), "l2" (the starter
    # code's), "none"
    epochs: int = 8  # passes over the training split (at most, with patience)
    batch_size: int = 128  # the global batch (split over the ranks under DDP)
    lr: float = 1e-3  # AdamW's learning rate (the peak, with a schedule)
    weight_decay: float = 0.01  # AdamW's decoupled weight decay
    schedule: str = "constant"  # "constant", "cosine" (per step, from lr down to 0) or
    # "plateau" (constant until validation stops improving, then times lr_decay: plateau_state)
    lr_decay: float = 0.1  # plateau: the factor of each rate reduction
    max_decays: int = 1  # plateau: reductions before the next plateau stops the run
    warmup_steps: int = 0  # linear warm-up from 0 to lr over this many steps
    dropout: float = paper.DROPOUT  # dropout probability of every model (the paper's 0.4)
    grad_clip: float | None = None  # global gradient-norm clip; None = no clipping
    seed: int = 0  # seeds the weights, the data order and dropout
    device: str = "auto"  # "auto" (CUDA if present, else CPU), "cpu", "cuda", "cuda:1", ...
    num_threads: int | None = None  # torch.set_num_threads; None = leave torch's default
    bf16: bool = True  # bf16 autocast on CUDA (ignored on CPU, which trains in float32)
    optimizer: str = "adamw"  # "adamw" (the paper's) or "sgd" (plain, for tests and ablations)
    adamw: str = "fused"  # torch.optim.AdamW implementation: "fused", "foreach" or "for-loop"
    checkpoint_every_steps: int = 0  # also checkpoint every N steps (0 = only per epoch)
    eval_every_epoch: bool = True  # validate after every epoch (else after the last only)
    eval_batch_size: int = 1024  # videos a batch when validating
    max_frames: int = 300  # frame-level models: frames kept per video (first max_frames)
    max_steps_per_epoch: int | None = None  # cap on batches per epoch (None = all)
    train_split: str = "train"  # the store split trained on
    val_split: str = "validate"  # the store split validated on every epoch
    patience: int | None = None  # early stopping: stop after this many epochs without a new
    # best validation `select_metric` (None: train every epoch)
    select_metric: str = "gap"  # the validation metric early stopping and keep_best watch
    min_delta: float = 0.0  # early stopping: an epoch improves only if it beats the best so far
    # by more than this (a plateau tolerance; the kept best epoch is still the highest)
    keep_best: bool = False  # the final model is the best validation epoch's (best.pt)
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


# The paper's values where it gives them (afkit.core.paper: 20 epochs, AdamW, lr 1e-4, dropout 0.4);
# the rest (batch 256, weight decay 0.01, no schedule) is *our reconstruction*. The cpu profile's
# defaults are afkit.training.protocol's (the plateau schedule: a constant rate until validation
# GAP stops rising by more than 0.2 points for 3 epochs, then a tenth of it, then stop; at most
# 60 epochs; best epoch kept; its learning rate is searched by the protocol, 1e-3 is the default
# of a single run), single-threaded (the protocol trains two runs at once on two cores).
PROFILES: dict[str, dict[str, Any]] = {
    # paper: mean inputs, the feature set under which the 341M count is reproduced exactly
    # (afkit.models.reconstruction.PAPER_FEATURES); the smaller profiles train on MF+STD, the inputs
    # the paper describes (its text says MF+STD; its parameter count says mean: see notebook 03)
    "paper": dict(
        profile="paper",
        epochs=paper.EPOCHS,
        batch_size=256,
        lr=paper.LEARNING_RATE,
        weight_decay=0.01,
        schedule="constant",
        dropout=paper.DROPOUT,
        checkpoint_every_steps=2000,
        features="mean",
    ),
    "cpu": dict(
        profile="cpu",
        epochs=60,
        batch_size=128,
        lr=1e-3,
        weight_decay=0.01,
        schedule="plateau",
        dropout=paper.DROPOUT,
        checkpoint_every_steps=0,
        num_threads=1,
        features="mean_std",
        patience=3,
        min_delta=0.002,
        keep_best=True,
    ),
    "smoke": dict(
        profile="smoke",
        epochs=2,
        batch_size=32,
        lr=1e-3,
        weight_decay=0.01,
        schedule="constant",
        dropout=paper.DROPOUT,
        checkpoint_every_steps=0,
        eval_batch_size=256,
        num_threads=1,
        features="mean_std",
    ),
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
# model, optimizer, inputs


def _model_kwargs(config: TrainConfig, num_classes: int, kind: str) -> dict:
    """The keyword arguments of ``afkit.models.registry.build`` for a run
    (stored in ``model.pt``)."""
    kwargs = {
        "num_classes": num_classes,
        "dropout": config.dropout,
        "normalization": config.normalization,
    }
    if kind == "video":
        kwargs["features"] = config.features
    kwargs.update(config.model_overrides)
    return kwargs


def _make_optimizer(config: TrainConfig, model) -> torch.optim.Optimizer:
    """AdamW (decoupled weight decay) with the implementation ``config.adamw``: the three give
    the same updates up to float rounding; "fused" is the fastest on CPU (benchmarks/); or plain
    SGD (``w -= lr * (g + weight_decay * w)``), whose update is linear in the gradient."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer != "adamw":
        raise ValueError(f"optimizer must be 'adamw' or 'sgd', not {config.optimizer!r}")
    impl = {
        "fused": dict(fused=True),
        "foreach": dict(foreach=True),
        "for-loop": dict(foreach=False),
    }
    if config.adamw not in impl:
        raise ValueError(f"adamw must be one of {sorted(impl)}, not {config.adamw!r}")
    return torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay, **impl[config.adamw]
    )


def lr_factor(step: int, total_steps: int, schedule: str, warmup_steps: int = 0) -> float:
    """Learning-rate multiplier at ``step``: linear warm-up, then 1 (constant) or
    ``(1 + cos(pi * s / S)) / 2`` over the remaining steps (cosine)."""
    if warmup_steps and step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule in ("constant", "plateau"):  # plateau: reductions come from the history
        return 1.0
    if schedule == "cosine":
        s, span = step - warmup_steps, max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(s, span) / span))
    raise ValueError(f"schedule must be 'constant', 'cosine' or 'plateau', not {schedule!r}")


def _set_input_stats(model, data: Batches) -> bool:
    """Feed ``normalization="standardize"`` from the training split's statistics
    (:meth:`afkit.data.batches.Batches.input_stats`). Returns whether the model asked for it."""
    if getattr(getattr(model, "config", None), "normalization", "none") != "standardize":
        return False
    stats = data.input_stats()
    if not all(np.isfinite(t).all() for t in stats):
        raise ValueError(
            f"the training split {data.store.path} has non-finite "
            f"feature statistics (a NaN or infinite feature): check it with "
            f"`python -m afkit verify-store`"
        )
    model.set_input_stats(*(torch.from_numpy(np.asarray(t)) for t in stats))
    return True


# ----------------------------------------------------------------------------------------------
# training


@dataclass
class Progress:
    """Where a run stands (with the weights, optimizer and RNG states, what a checkpoint holds):
    the data position (``epoch``, ``batch``: the next batch to train), the global ``step``, the
    epochs' records, the running loss of the current epoch, the optimizer seconds and samples."""

    epoch: int = 0
    batch: int = 0
    step: int = 0
    history: list = field(default_factory=list)
    loss_sum: float = 0.0
    loss_count: int = 0
    train_seconds: float = 0.0
    samples: int = 0


@dataclass
class _Run:
    """A training run in progress: everything its steps read and advance."""

    config: TrainConfig
    out: Path
    store_dir: Path
    dist: devices.Dist
    device: torch.device
    model: torch.nn.Module
    net: torch.nn.Module  # the model, or its DDP wrapper
    model_args: dict
    optimizer: torch.optim.Optimizer
    scheduler: Any
    lr_scale: list  # [factor]: the plateau schedule's reductions so far (1.0 otherwise)
    train_data: Batches
    val_data: Batches
    steps_per_epoch: int
    num_parameters: int
    autocast: Callable
    progress: Progress
    last_checkpoint_step: int | None  # None: no checkpoint written yet
    started: float  # perf_counter() at the start of this call
    sha: str | None = None


def train(config: TrainConfig, store_dir, out_dir, resume: bool = False) -> dict:
    """Train ``config.model`` on ``store_dir``, writing the run directory ``out_dir``.

    Returns the results dict (also written to ``out_dir/results.json``): ``final`` (the last
    validation metrics), ``history`` (one entry per epoch), ``train_seconds``,
    ``train_samples_per_s``, ``videos_per_s`` (inference), ``num_parameters``, ``config``,
    ``git_sha``, ``versions``. With ``resume=True`` a run continues from ``out_dir/last.pt``.
    Raises :class:`NonFiniteLossError` on a NaN or infinite loss, leaving the last checkpoint;
    :class:`afkit.core.locks.LockedError` while another process trains into ``out_dir`` (rank 0
    holds ``out_dir/.afkit.lock`` for the whole run).
    """
    if isinstance(config, dict):
        config = TrainConfig.from_dict(config)
    out = Path(out_dir)
    d = devices.init_distributed(config.device)
    try:
        lock = (
            locks.hold(out / locks.LOCK_NAME, f"train {out}")
            if d.main
            else contextlib.nullcontext()
        )
        with lock:
            run = _open_run(
                config, Path(store_dir), out, _checkpoint_to_resume(config, out, resume, d), d
            )
            _start_folder(run)
            pause_at = int(os.environ.get(PAUSE_ENV, "0") or 0)
            run.net.train()
            while run.progress.epoch < config.epochs and not should_stop(
                run.progress.history, config
            ):
                _train_epoch(run, pause_at)
            return _finish(run)
    finally:
        if d.initialized_here:
            import torch.distributed as dist

            dist.destroy_process_group()


def _checkpoint_to_resume(
    config: TrainConfig, out: Path, resume: bool, d: devices.Dist
) -> dict | None:
    """The checkpoint a resumed run continues from (None for a new run),
    checked against ``config``."""
    path = out / CHECKPOINT
    if not resume:
        if d.main and path.exists():
            raise FileExistsError(
                f"{out} already holds a run (last.pt); pass resume=True "
                f"(--resume) to continue it or choose another directory"
            )
        return None
    if not path.exists():
        raise FileNotFoundError(f"--resume: no checkpoint at {path}")
    ckpt = load_checkpoint(path, CHECKPOINT_KEYS)
    saved = TrainConfig.from_dict(ckpt["config"])
    if _resume_key(saved) != _resume_key(config):
        raise ValueError(
            f"--resume: the config differs from the checkpoint's in {_diff(saved, config)}"
        )
    if len(ckpt["rng"]) != d.world_size:
        raise ValueError(
            f"--resume: the checkpoint was written by {len(ckpt['rng'])} ranks, "
            f"this run has {d.world_size}"
        )
    return ckpt


CHECKPOINT_KEYS = ("config", "model_args", "model", "optimizer", "scheduler", "rng", "store")
FINAL_KEYS = ("config", "model_args", "model", "kind", "store")


def load_checkpoint(path, keys: tuple[str, ...] = FINAL_KEYS) -> dict:
    """A checkpoint of this afkit (``last.pt`` or ``model.pt``), loaded safely: with
    ``weights_only=True`` (tensors and plain values; a file that needs anything else, e.g. one
    that would run code while unpickled, is refused), of :data:`CHECKPOINT_FORMAT`, holding
    ``keys``. Raises ``ValueError`` saying which of these fails."""
    import pickle

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, AttributeError, TypeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(
            f"{path}: not a safe afkit checkpoint: it does not load with weights_only=True "
            f"(tensors and plain values only; refused so that a run folder from elsewhere cannot "
            f"run code): {first[:200]}"
        ) from None
    if not isinstance(ckpt, dict):
        raise ValueError(f"{path}: not an afkit checkpoint (a {type(ckpt).__name__}, not a dict)")
    fmt = ckpt.get("format")
    if fmt != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path}: checkpoint format {fmt!r}, this afkit reads format {CHECKPOINT_FORMAT}"
            + (
                " (format 1 held Python objects and is not loaded safely): train the run again"
                if fmt in (None, 1)
                else ": written by a newer afkit? use that version"
            )
        )
    missing = [k for k in keys if k not in ckpt]
    if missing:
        raise ValueError(f"{path}: damaged checkpoint: it lacks {missing}")
    return ckpt


def store_identity(data: tuple[Batches, Batches]) -> dict:
    """What identifies the data a run trains on: the identities of its train and validation
    splits (:attr:`afkit.data.store.Store.identity`)."""
    return {"train": data[0].store.identity, "validate": data[1].store.identity}


def _open_run(
    config: TrainConfig, store_dir: Path, out: Path, ckpt: dict | None, d: devices.Dist
) -> _Run:
    """Seed, open the splits, build the model and optimizer (in that order: the initial weights
    depend on it), restore a checkpoint's state."""
    started = time.perf_counter()
    device = devices.resolve_device(config.device, d.local_rank)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    if (config.patience or config.keep_best) and not config.eval_every_epoch:
        raise ValueError(
            "patience / keep_best need eval_every_epoch=True (a validation score "
            "every epoch to select on)"
        )
    devices.seed_everything(config.seed)
    kind = models.input_kind(config.model)
    train_data, val_data = (
        open_split(
            store_dir,
            s,
            kind,
            features=config.features,
            max_frames=config.max_frames,
            shuffle=False,
        )
        for s in (config.train_split, config.val_split)
    )
    if val_data.num_classes != train_data.num_classes:
        raise ValueError(
            f"the {config.train_split} and {config.val_split} splits have different "
            f"vocabularies ({train_data.num_classes} vs {val_data.num_classes} classes)"
        )
    model_args = _model_kwargs(config, train_data.num_classes, kind)
    model = models.build(config.model, profile=config.profile, **model_args)
    if ckpt is None:
        _set_input_stats(model, train_data)
    model.to(device)
    optimizer = _make_optimizer(config, model)
    steps_per_epoch = train_data.num_videos // config.batch_size
    if steps_per_epoch == 0 or config.batch_size % d.world_size:  # raises, saying why
        epoch_batches(train_data.store, config.batch_size, config.seed, 0, d.rank, d.world_size)
    if config.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, config.max_steps_per_epoch)
    total_steps = steps_per_epoch * config.epochs
    scale = [1.0]  # the plateau schedule's reductions so far (set from the history)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: lr_factor(s, total_steps, config.schedule, config.warmup_steps) * scale[0],
    )
    progress = Progress()
    if ckpt is not None:
        now = store_identity((train_data, val_data))
        if ckpt["store"] != now:
            raise ValueError(
                f"--resume: {store_dir} is not the store the checkpoint trained on (its train / "
                f"validate splits were {ckpt['store']}, they are {now} now: other data or a "
                f"rebuilt store); resume on the same store or start a new run"
            )
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        progress = Progress(**{f.name: ckpt[f.name] for f in dataclasses.fields(Progress)})
        devices.set_rng_state(ckpt["rng"][d.rank])
    scale[0] = config.lr_decay ** plateau_state(progress.history, config)[0]
    net = (
        model
        if not d.enabled
        else torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    )
    return _Run(
        config=config,
        out=out,
        store_dir=store_dir,
        dist=d,
        device=device,
        model=model,
        net=net,
        model_args=model_args,
        optimizer=optimizer,
        scheduler=scheduler,
        lr_scale=scale,
        train_data=train_data,
        val_data=val_data,
        steps_per_epoch=steps_per_epoch,
        num_parameters=models.count_parameters(model),
        autocast=devices.autocast_for(device, config.bf16),
        progress=progress,
        last_checkpoint_step=progress.step if ckpt else None,
        started=started,
    )


def _start_folder(run: _Run) -> None:
    """Rank 0: the run folder with ``config.json`` and ``metrics.jsonl`` (equal to the
    checkpoint's history: a line written after the last checkpoint by a killed run is dropped
    here and written again), stale temporary files removed; the run's first line on stderr."""
    run.sha = git_sha()
    if not run.dist.main:
        return
    out, config, p = run.out, run.config, run.progress
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(".*.tmp*"):  # left by a process killed while writing
        stale.unlink()
    atomic_write_text(out / CONFIG, to_json(config.to_dict()) + "\n")
    atomic_write_text(out / METRICS, "".join(to_json(h) + "\n" for h in p.history))
    ranks = f" x{run.dist.world_size} ranks" if run.dist.enabled else ""
    where = (
        f"resuming at epoch {p.epoch} batch {p.batch} (step {p.step})"
        if run.last_checkpoint_step is not None
        else "new run"
    )
    print(
        f"afkit train: {config.model} ({run.num_parameters:,} parameters) on {run.device}{ranks}; "
        f"git {run.sha}; {where}\nconfig: {to_json(config.to_dict())}",
        file=sys.stderr,
        flush=True,
    )


def _train_epoch(run: _Run, pause_at: int) -> None:
    """The remaining batches of the current epoch, then :func:`_end_epoch`."""
    config, p, d = run.config, run.progress, run.dist
    batches = epoch_batches(
        run.train_data.store, config.batch_size, config.seed, p.epoch, d.rank, d.world_size
    )[: run.steps_per_epoch]
    bar = progress_bar(
        range(p.batch, len(batches)),
        desc=f"epoch {p.epoch + 1}/{config.epochs}",
        disable=not (config.progress and d.main),
        total=len(batches),
        initial=p.batch,
    )
    t_epoch = time.perf_counter()
    for b in bar:
        value = _train_step(run, batches[b], b, len(batches))
        bar.set_postfix(
            loss=f"{value:.4f}",
            samples_s=f"{p.samples / max(p.train_seconds, 1e-9):.0f}",
            refresh=False,
        )
        if (
            config.checkpoint_every_steps
            and p.step % config.checkpoint_every_steps == 0
            and b + 1 < len(batches)
        ):
            _save_checkpoint(run)
        if pause_at and p.step == pause_at:
            print(f"afkit: paused after step {p.step} ({PAUSE_ENV})", file=sys.stderr, flush=True)
            while True:
                signal.pause() if hasattr(signal, "pause") else time.sleep(3600)
    bar.close()
    _end_epoch(run, t_epoch)


def _train_step(run: _Run, rows: np.ndarray, b: int, num_batches: int) -> float:
    """One optimizer step on the training rows ``rows`` (batch ``b``); returns the loss
    (averaged over the ranks). Raises :class:`NonFiniteLossError` before the step on a NaN or
    infinite loss."""
    p = run.progress
    t0 = time.perf_counter()
    batch = to_device(run.train_data.batch(rows), run.device)
    y = batch.pop("y")
    with run.autocast():
        logits = forward(run.net, batch, run.train_data.kind)
    loss = F.binary_cross_entropy_with_logits(logits.float(), y)
    value = float(devices.all_mean(loss.detach(), run.dist))
    if not math.isfinite(value):
        where = (
            f"a checkpoint at step {run.last_checkpoint_step} is left in {run.out / CHECKPOINT}"
            if run.last_checkpoint_step is not None
            else "no checkpoint was written yet"
        )
        raise NonFiniteLossError(
            f"non-finite training loss ({value}) at epoch {p.epoch + 1}, step {p.step + 1} "
            f"(batch {b + 1} of {num_batches}); the run stopped before the optimizer "
            f"step; {where}"
        )
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if run.config.grad_clip:
        torch.nn.utils.clip_grad_norm_(run.net.parameters(), run.config.grad_clip)
    run.optimizer.step()
    run.scheduler.step()
    p.step += 1
    p.batch = b + 1
    p.loss_sum += value
    p.loss_count += 1
    p.samples += run.config.batch_size
    p.train_seconds += time.perf_counter() - t0
    return value


def _end_epoch(run: _Run, t_epoch: float) -> None:
    """The epoch's record (train loss, validation metrics), ``best.pt`` (keep_best), the
    checkpoint at the start of the next epoch, the ``metrics.jsonl`` line."""
    config, p, d = run.config, run.progress, run.dist
    record = {
        "epoch": p.epoch + 1,
        "step": p.step,
        "train_loss": p.loss_sum / max(p.loss_count, 1),
        "lr": run.optimizer.param_groups[0]["lr"],
        "epoch_seconds": time.perf_counter() - t_epoch,
    }
    if config.eval_every_epoch or p.epoch + 1 == config.epochs:
        m = evaluate_model(
            run.model,
            run.val_data,
            batch_size=config.eval_batch_size,
            device=run.device,
            top_k=config.top_k,
            threshold=config.threshold,
            bf16=config.bf16,
            dist_info=d,
        )
        record.update({f"val_{k}": v for k, v in m.items()})
    p.history.append(record)
    _apply_plateau(run)
    p.loss_sum, p.loss_count = 0.0, 0
    p.epoch, p.batch = p.epoch + 1, 0
    if config.keep_best and d.main and best_epoch(p.history, config) == p.epoch:
        # written before the checkpoint: a run killed in between redoes this epoch, exactly
        atomic_torch_save(devices.unwrap(run.net).state_dict(), run.out / BEST)
    _save_checkpoint(run)
    if d.main:
        with open(run.out / METRICS, "a") as f:
            f.write(to_json(record) + "\n")
        print(_epoch_line(record), file=sys.stderr, flush=True)


def _apply_plateau(run: _Run) -> None:
    """The plateau schedule: the rate of the next step, reduced when the history just reached a
    plateau (:func:`plateau_state`). Computed from the history, so a resumed run agrees."""
    if run.config.schedule != "plateau":
        return
    run.lr_scale[0] = run.config.lr_decay ** plateau_state(run.progress.history, run.config)[0]
    sched = run.scheduler
    for group, base in zip(run.optimizer.param_groups, sched.base_lrs, strict=True):
        group["lr"] = base * sched.lr_lambdas[0](sched.last_epoch)


def _save_checkpoint(run: _Run) -> None:
    """``last.pt`` at the current position (every rank's RNG states gathered; rank 0 writes)."""
    rng = devices.gather_rng(run.dist)
    if run.dist.main:
        atomic_torch_save(
            {
                "format": CHECKPOINT_FORMAT,
                "store": store_identity((run.train_data, run.val_data)),
                "config": run.config.to_dict(),
                "model_args": run.model_args,
                "model": devices.unwrap(run.net).state_dict(),
                "optimizer": run.optimizer.state_dict(),
                "scheduler": run.scheduler.state_dict(),
                **dataclasses.asdict(run.progress),
                "rng": rng,
            },
            run.out / CHECKPOINT,
        )
    run.last_checkpoint_step = run.progress.step


def _finish(run: _Run) -> dict:
    """The final weights (the best epoch's with keep_best: small, and all load_run needs),
    ``model.pt`` and ``results.json``; returns the results."""
    config, p, d, out = run.config, run.progress, run.dist, run.out
    chosen = best_epoch(p.history, config) if config.keep_best else len(p.history)
    if config.keep_best:
        devices.unwrap(run.net).load_state_dict(
            torch.load(out / BEST, map_location=run.device, weights_only=True)
        )
    final_metrics = {k[4:]: v for k, v in p.history[chosen - 1].items() if k.startswith("val_")}
    results = {
        "model": config.model,
        "profile": config.profile,
        "seed": config.seed,
        "num_parameters": run.num_parameters,
        "final": final_metrics,
        "history": p.history,
        "train_seconds": p.train_seconds,  # optimizer steps only, summed over resumed sessions
        "wall_seconds": time.perf_counter() - run.started,  # this call, with loading and validation
        "train_samples_per_s": p.samples / p.train_seconds if p.train_seconds else None,
        "videos_per_s": final_metrics.get("videos_per_s"),
        "best_epoch": chosen,
        "epochs_run": len(p.history),
        "stopped_early": len(p.history) < config.epochs,
        **convergence(p.history, config),
        "steps": p.step,
        "world_size": d.world_size,
        "device": str(run.device),
        "num_threads": torch.get_num_threads(),
        "store": str(run.store_dir),
        "config": config.to_dict(),
        "git_sha": run.sha,
        "code_hash": code_hash(),
        "versions": versions(),
    }
    if d.main:
        atomic_torch_save(
            {
                "format": CHECKPOINT_FORMAT,
                "store": store_identity((run.train_data, run.val_data)),
                "config": config.to_dict(),
                "model_args": run.model_args,
                "model": devices.unwrap(run.net).state_dict(),
                "kind": run.train_data.kind,
            },
            out / FINAL,
        )
        write_json(out / RESULTS, results)
    return results


def best_epoch(history: list[dict], config: TrainConfig) -> int:
    """The 1-based epoch with the highest validation ``config.select_metric`` (the first of
    equal ones); 0 before any epoch was scored."""
    key = f"val_{config.select_metric}"
    values = [h.get(key, -math.inf) for h in history]
    return int(np.argmax(values)) + 1 if values else 0


def last_improvement(history: list[dict], config: TrainConfig) -> int:
    """The 1-based epoch that last raised the best validation ``config.select_metric`` by more
    than ``config.min_delta`` (the first epoch counts as an improvement); 0 before any epoch."""
    key = f"val_{config.select_metric}"
    best, last = -math.inf, 0
    for i, h in enumerate(history, 1):
        value = h.get(key, -math.inf)
        if value > best + (config.min_delta if last else 0.0):
            best, last = value, i
    return last


def should_stop(history: list[dict], config: TrainConfig) -> bool:
    """Early stopping: ``config.patience`` epochs have passed since the last epoch that raised
    the best validation metric by more than ``config.min_delta``. Computed from the history
    alone, so a resumed run stops where an uninterrupted one would."""
    if config.schedule == "plateau":
        return plateau_state(history, config)[1]
    return (
        bool(config.patience)
        and len(history) - last_improvement(history, config) >= config.patience
    )


def plateau_state(history: list[dict], config: TrainConfig) -> tuple[int, bool]:
    """``(reductions, stop)`` of the plateau schedule after ``history``: walking the epochs,
    an epoch improves when it beats the best validation ``select_metric`` so far by more than
    ``min_delta``; after ``patience`` epochs without one the rate is multiplied by ``lr_decay``
    (the reduced rate gets ``patience`` epochs of its own), and once ``max_decays`` reductions
    are made the next such plateau stops the run (``stop``). Without ``patience`` nothing
    happens: ``(0, False)``."""
    if config.schedule != "plateau" or not config.patience:
        return 0, False
    key = f"val_{config.select_metric}"
    best, last, decays = -math.inf, 0, 0
    for i, h in enumerate(history, 1):
        value = h.get(key, -math.inf)
        if value > best + (config.min_delta if last else 0.0):
            best, last = value, i
        elif i - last >= config.patience:
            if decays == config.max_decays:
                return decays, True
            decays, last = decays + 1, i
    return decays, False


def convergence(history: list[dict], config: TrainConfig) -> dict:
    """A run's convergence record: ``stop_reason`` (``"early_stop"``: the plateau rule of
    :func:`should_stop` fired before the epoch cap; ``"cap"``: the run ended at
    ``config.epochs``), ``converged`` (the plateau rule fired), and the figures it fired on:
    ``plateau_gain``, how much the best validation metric rose over the last ``patience``
    epochs (below ``min_delta`` when the rule fired), and ``min_delta``, ``patience``."""
    key = f"val_{config.select_metric}"
    values = [h.get(key, -math.inf) for h in history]
    fired = should_stop(history, config)
    k = config.patience or 0
    gain = (
        max(values) - max(values[:-k])
        if k and len(values) > k and math.isfinite(max(values[:-k]))
        else None
    )
    return {
        "lr_decays": plateau_state(history, config)[0],
        "stop_reason": "early_stop" if fired else "cap",
        "converged": bool(fired),
        "plateau_gain": gain,
        "min_delta": config.min_delta,
        "patience": config.patience,
    }


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


TRAIN_DESCRIPTION = """\
Train one model of the registry on a feature store (video-level models) or a frame store
(frame-level models), validating every epoch; a killed run continues with --resume.

Every option below left unset takes the --profile's value (afkit.training.train.PROFILES);
`python -m afkit models` lists the models and their sizes.

examples:
  python -m afkit train --model attend_fusion --profile cpu --store STORE --out runs/af
  torchrun --nproc_per_node 8 -m afkit train --model fc_late --profile paper \\
      --store STORE --out runs/fc_late          # DDP: --batch-size is the global batch
"""


def _config_parser() -> argparse.ArgumentParser:
    from afkit.models.registry import list_models

    p = cli.parser("train", TRAIN_DESCRIPTION)
    p.add_argument(
        "--model",
        required=True,
        choices=list_models(),
        metavar="MODEL",
        help="the model to train, one of: " + ", ".join(list_models()),
    )
    p.add_argument(
        "--profile",
        default="cpu",
        choices=sorted(PROFILES),
        help="model widths and training defaults: smoke (tests), cpu, paper",
    )
    p.add_argument("--store", required=True, help="the store folder (python -m afkit featurize)")
    p.add_argument(
        "--out",
        default=None,
        help="the run directory (default: OUT_DIR/runs/<model,overrides,train.lr=LR>/seed<SEED>, "
        "where the notebooks find it)",
    )
    p.add_argument(
        "--out-dir",
        default=None,
        help="the notebooks' out_dir the default --out is under (default: out/<profile> of the "
        "repository)",
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    cli.add_config_arguments(
        p,
        TrainConfig,
        skip=("model", "profile", "model_overrides"),
        choices={
            "features": ["mean", "mean_std"],
            "normalization": ["standardize", "l2", "none"],
            "schedule": ["constant", "cosine", "plateau"],
            "optimizer": ["adamw", "sgd"],
            "adamw": ["fused", "foreach", "for-loop"],
        },
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a model config value for afkit.models.registry.build (JSON value), repeatable",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """``python -m afkit train --model NAME --profile P --store DIR [--out RUN_DIR] [--resume]``."""
    args = _config_parser().parse_args(argv)
    overrides = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(TrainConfig)
        if f.name not in ("model", "profile", "model_overrides")
        and getattr(args, f.name, None) is not None
    }
    model_overrides = {}
    for kv in args.set:
        key, _, value = kv.partition("=")
        try:
            model_overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            model_overrides[key] = value
    config = make_config(
        args.profile, model=args.model, model_overrides=model_overrides, **overrides
    )
    out = args.out or default_run_dir(config, args.out_dir)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"afkit train: run folder {out}", file=sys.stderr)
    try:
        results = train(config, args.store, out, resume=args.resume)
    except NonFiniteLossError as e:
        print(f"afkit train: {e}", file=sys.stderr)
        return 1
    if int(os.environ.get("RANK", "0")) == 0:
        print(
            to_json(
                {"final": results["final"], "train_seconds": results["train_seconds"]}, indent=2
            )
        )
    return 0
