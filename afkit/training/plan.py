"""What a run on a release will cost, before it starts: the ``plan`` command.

``python -m afkit plan --data-dir DATA --profile paper`` reads the release (files and bytes per
split and level; videos from the record indexes of a sample of files, scaled by bytes; frames
and labels per video from a sample of records) and prints:

- **disk**: the feature store and the frame store the notebooks build (``afkit.data.store``'s
  format: float16 MF+STD features, uint8 frames), per split, against the free space where the
  stores go;
- **memory**: each model of the profile built on the meta device (no memory): its parameters
  and their training state (fp32 weights, gradients and AdamW's two moments: 16 bytes a
  parameter); then, where the model is timed, the peak memory of its steps at the chosen
  batch (CUDA: ``torch.cuda.max_memory_allocated``; CPU: the process's peak RSS), against the
  machine's RAM and GPU memory;
- **time**: seconds a training step at the chosen batch on the device at hand (a short timed
  run of the model on random inputs of the right shapes: forward, backward, AdamW step, bf16
  autocast on CUDA), scaled to an epoch of the train split.

Every estimate says what it is estimated from; the lines starting ``does not fit`` say what
does not. Nothing is written.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from afkit.data import featurize, mfstd
from afkit.data.store import SPLITS
from afkit.io import records, tfrecord
from afkit.models import registry as models

TRAIN_STATE_BYTES = 16  # a parameter in training: fp32 weight 4 + gradient 4 + AdamW m, v 8
FRAME_BYTES = records.RGB_DIM + records.AUDIO_DIM  # one quantized frame in the frame store
VIDEO_MODELS = ("fc_late", "attend_fusion")  # the paper's two: 341M and 72M at paper size
FRAME_MODEL = "attend_fusion_frames"


# ------------------------------------------------------------------------------ the release
def read_release(data_dir, *, sample_files: int = 2, sample_videos: int = 200) -> list[dict]:
    """One dict per (split, level) with files: ``files``, ``bytes``, ``videos`` (exact when
    every file was indexed, else the sampled files' videos per byte times the bytes),
    ``videos_exact``, ``labels_per_video`` and, frame level, ``frames_per_video`` (means over the
    first ``sample_videos`` records of the first file)."""
    rows = []
    for split in SPLITS:
        for level in ("video", "frame"):
            files = records.release_files(data_dir, split, level)
            if not files:
                continue
            sizes = [os.path.getsize(f) for f in files]
            picked = files[:: max(1, len(files) // sample_files)][:sample_files]
            counted = sum(tfrecord.count_records(f) for f in picked)
            counted_bytes = sum(os.path.getsize(f) for f in picked)
            exact = len(picked) == len(files)
            videos = counted if exact else round(sum(sizes) * counted / max(counted_bytes, 1))
            nlab, nfr, seen = 0, 0, 0
            for rec in records.read_records(files[0]):
                nlab += len(rec["labels"])
                nfr += len(rec["rgb"]) if "rgb" in rec else 0
                seen += 1
                if seen >= sample_videos:
                    break
            row = {
                "split": split,
                "level": level,
                "files": len(files),
                "bytes": sum(sizes),
                "videos": int(videos),
                "videos_exact": exact,
                "sampled_files": len(picked),
                "labels_per_video": nlab / max(seen, 1),
            }
            if level == "frame":
                row["frames_per_video"] = nfr / max(seen, 1)
            rows.append(row)
    if not rows:
        raise ValueError(
            f"{data_dir} holds no release: no video/ or frame/ files named train*, validate* or "
            f"test*.tfrecord (flat, or one folder per split)"
        )
    return rows


def store_bytes(release: list[dict], feature_set: str = "mean_std") -> list[dict]:
    """The stores the notebooks build (``afkit.report.notebook.setup``), per store split:
    ``features`` (float16 features, ids, labels, frame counts) and ``frames`` (quantized frames
    and their offsets) bytes. The release's unlabeled test split is not one of them (the held-out
    part of validate is evaluated instead)."""
    by = {(r["split"], r["level"]): r for r in release}
    test_labelled = any(
        r["split"] == "test" and r["labels_per_video"] > 0 for r in release
    ) or not any(r["split"] == "test" for r in release)
    row_bytes = mfstd.feature_dim(feature_set) * 2 + 8 + 4 + 8 + 16  # features, indptr, nframes, id
    out = []
    for split in SPLITS:
        if split == "test" and not test_labelled:
            continue
        src = by.get((split, "frame")) or by.get((split, "video"))
        if src is None:
            continue
        n = src["videos"]
        frames = by.get((split, "frame"))
        out.append(
            {
                "split": split
                if test_labelled or split != "validate"
                else "validate (the store's validate and its held-out test)",
                "videos": n,
                "features": n * (row_bytes + 4 * src["labels_per_video"]),
                "frames": (n * (frames["frames_per_video"] * FRAME_BYTES + 8)) if frames else 0,
            }
        )
    return out


def free_bytes(path) -> int:
    """Free bytes on the file system that holds ``path`` (or its nearest existing parent)."""
    p = Path(path).resolve()
    while not p.exists():
        p = p.parent
    return shutil.disk_usage(p).free


# ------------------------------------------------------------------------------- the models
def model_names(release: list[dict]) -> list[str]:
    """The profile's models a release trains: the paper's two video-level models, and the
    frame-level model where the release has frame-level files."""
    frames = any(r["level"] == "frame" for r in release)
    return list(VIDEO_MODELS) + ([FRAME_MODEL] if frames else [])


def model_memory(name: str, profile: str, num_classes: int) -> dict:
    """Parameters of ``name`` at ``profile`` (a meta-device build: no memory) and the bytes of
    their training state (:data:`TRAIN_STATE_BYTES` a parameter)."""
    model = models.build(name, profile, device="meta", num_classes=num_classes)
    params = models.count_parameters(model)
    return {"model": name, "params": params, "train_state": params * TRAIN_STATE_BYTES}


def time_steps(
    name: str,
    profile: str,
    num_classes: int,
    *,
    batch: int,
    steps: int,
    device: str = "auto",
    frames: int = 300,
) -> dict:
    """A short timed run of ``name`` at ``profile`` on ``device``: one warm-up step, then
    ``steps`` timed steps (forward, BCE loss, backward, AdamW step; bf16 autocast on CUDA) on
    random inputs of batch ``batch``. Returns ``seconds_per_step``, ``peak_bytes`` (CUDA: the
    allocator's peak; CPU: the process's peak RSS, which includes everything else it holds) and
    ``peak_kind``."""
    import torch

    from afkit.training import devices

    dev = devices.resolve_device(device)
    torch.manual_seed(0)
    model = models.build(name, profile, device=dev, num_classes=num_classes)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    inputs = models.example_inputs(model, batch_size=batch, frames=frames)
    target = (torch.rand(batch, num_classes, device=dev) < 3 / num_classes).float()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)

    autocast = devices.autocast_for(dev, True)

    def step():
        with autocast():
            logits = model(*inputs)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()  # warm-up: AdamW's state is allocated here
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        peak, kind = torch.cuda.max_memory_allocated(dev), "CUDA allocator peak"
    else:
        peak, kind = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "process peak RSS"
    seconds = (time.perf_counter() - t0) / steps
    return {
        "seconds_per_step": seconds,
        "peak_bytes": int(peak),
        "peak_kind": kind,
        "device": str(dev),
    }


def machine_memory() -> dict:
    """``ram`` (bytes of physical memory) and, with CUDA, ``gpu`` (the first GPU's bytes)."""
    out = {"ram": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")}
    try:
        import torch

        if torch.cuda.is_available():
            out["gpu"] = torch.cuda.get_device_properties(0).total_memory
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return out


# ----------------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class Timing:
    """The short timed run of :func:`plan`: ``batch`` (None: the profile's), ``steps`` timed
    a model, ``device``, ``models`` (None: every model; a list: those)."""

    batch: int | None = None
    steps: int = 2
    device: str = "auto"
    models: tuple | None = None


def plan(
    data_dir,
    profile: str = "paper",
    *,
    store_dir=None,
    num_classes: int | None = None,
    timing: Timing = Timing(),
    sample_files: int = 2,
) -> dict:
    """Everything :func:`main` prints, as a dict: ``release``, ``stores``, ``models`` (each with
    its timing where timed), ``machine``, ``train_videos``, ``num_classes``, ``batch``,
    ``lines`` (the printed lines) and ``does_not_fit`` (the lines saying what does not)."""
    from afkit.training import train

    if profile not in train.PROFILES:
        raise ValueError(f"unknown profile {profile!r}: pass one of {sorted(train.PROFILES)}")
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"data directory {data_dir} does not exist")
    release = read_release(data_dir, sample_files=sample_files)
    num_classes, origin = featurize.class_count(data_dir, num_classes)
    batch, steps, device = timing.batch, timing.steps, timing.device
    batch = batch or train.PROFILES[profile]["batch_size"]
    store_dir = Path(store_dir) if store_dir else data_dir.parent / "stores"
    stores = store_bytes(release)
    train_videos = next((s["videos"] for s in stores if s["split"] == "train"), 0)
    names = model_names(release)
    timed = names if timing.models is None else [m for m in names if m in timing.models]
    mem = machine_memory()
    lines, bad = [], []
    lines.append(
        f"release {data_dir} (layout: {records.release_layout(data_dir)}; "
        f"{num_classes} classes from {origin})"
    )
    for r in release:
        how = "exact" if r["videos_exact"] else f"estimated from {r['sampled_files']} files"
        extra = f", {r['frames_per_video']:.0f} frames a video" if "frames_per_video" in r else ""
        lines.append(
            f"  {r['split']:<8} {r['level']:<5}: {r['files']} files, "
            f"{_size(r['bytes'])}, {r['videos']:,} videos ({how}){extra}, "
            f"{r['labels_per_video']:.2f} labels a video"
        )
    feat = sum(s["features"] for s in stores)
    frames = sum(s["frames"] for s in stores)
    free = free_bytes(store_dir)
    lines.append(
        f"disk: feature store {_size(feat)}, frame store {_size(frames)} "
        f"(total {_size((feat + frames))}; splits "
        f"{', '.join(s['split'] for s in stores)}) in {store_dir}: "
        f"{_size(free)} free"
    )
    if feat + frames > free:
        bad.append(
            f"does not fit: the stores need {_size((feat + frames))}, "
            f"{store_dir} has {_size(free)} free"
        )
    ram_line = f"machine: {_size(mem['ram'])} RAM"
    if "gpu" in mem:
        ram_line += f", GPU {_size(mem['gpu'])}"
    lines.append(ram_line)
    rows = []
    for name in names:
        m = model_memory(name, profile, num_classes)
        line = (
            f"memory: {name} at {profile} size: {m['params']:,} parameters, training state "
            f"{_size(m['train_state'])} (weights, gradients, AdamW: 16 bytes a "
            f"parameter, meta-device build)"
        )
        if name in timed:
            step_batch = batch
            t = time_steps(name, profile, num_classes, batch=step_batch, steps=steps, device=device)
            m.update(t)
            line += (
                f"; measured {t['peak_kind']} {_size(t['peak_bytes'])} at batch "
                f"{step_batch} on {t['device']}"
            )
            limit = mem.get("gpu") if t["device"].startswith("cuda") else mem["ram"]
            if t["peak_bytes"] > 0.9 * limit:
                bad.append(
                    f"does not fit: {name} at batch {step_batch} peaks at "
                    f"{_size(t['peak_bytes'])} of {_size(limit)} on "
                    f"{t['device']}: lower --batch"
                )
        else:
            limit = mem.get("gpu", mem["ram"])
            if m["train_state"] > limit:
                bad.append(
                    f"does not fit: {name}'s training state "
                    f"({_size(m['train_state'])}) exceeds {_size(limit)}"
                )
        lines.append(line)
        rows.append(m)
    for m in rows:
        if "seconds_per_step" not in m:
            lines.append(f"time: {m['model']}: not timed (--time-models)")
            continue
        epoch = m["seconds_per_step"] * train_videos / batch
        lines.append(
            f"time: {m['model']}: {m['seconds_per_step']:.3f} s a step at batch {batch} "
            f"on {m['device']} ({steps} timed steps, random inputs) -> "
            f"{_duration(epoch)} an epoch of {train_videos:,} train videos, "
            f"{_duration(epoch * train.PROFILES[profile]['epochs'])} for "
            f"{train.PROFILES[profile]['epochs']} epochs"
        )
    lines += bad or ["everything fits"]
    return {
        "release": release,
        "stores": stores,
        "models": rows,
        "machine": mem,
        "train_videos": train_videos,
        "num_classes": num_classes,
        "batch": batch,
        "lines": lines,
        "does_not_fit": bad,
    }


def _size(n: float) -> str:
    """Bytes in the unit that reads best (decimal: 1 GB = 1e9 bytes)."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n / 1e3:.1f} kB"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def main(argv: list[str] | None = None) -> int:
    """``python -m afkit plan --data-dir DATA --profile paper [--batch B] [--device D]``."""
    ap = argparse.ArgumentParser(
        prog="python -m afkit plan",
        description="What a run on a release will cost before it starts: disk for the stores, "
        "memory of the profile's models, time per epoch on this machine (a short timed run).",
    )
    ap.add_argument("--data-dir", required=True, help="the release (video/, frame/)")
    ap.add_argument("--profile", default="paper", help="smoke, cpu or paper (default paper)")
    ap.add_argument(
        "--store-dir", default=None, help="where the stores go (default DATA/../stores)"
    )
    ap.add_argument(
        "--num-classes",
        type=int,
        default=None,
        help="default: vocabulary.csv, else the release's known vocabulary size",
    )
    ap.add_argument("--batch", type=int, default=None, help="default: the profile's batch size")
    ap.add_argument("--steps", type=int, default=2, help="timed steps a model (default 2)")
    ap.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda")
    ap.add_argument(
        "--time-models",
        default=None,
        help="comma-separated models to time (default: all; 'none': none)",
    )
    a = ap.parse_args(argv)
    models = None if a.time_models is None else tuple(a.time_models.split(","))
    try:
        result = plan(
            a.data_dir,
            a.profile,
            store_dir=a.store_dir,
            num_classes=a.num_classes,
            timing=Timing(batch=a.batch, steps=a.steps, device=a.device, models=models),
        )
    except (ValueError, FileNotFoundError) as e:
        print(f"afkit plan: {e}", file=sys.stderr)
        return 2
    print("\n".join(result["lines"]))
    return 1 if result["does_not_fit"] else 0
