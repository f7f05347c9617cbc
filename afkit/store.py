"""Memory-mapped feature store and frame store: build (parallel, resumable, atomic), verify, open, load.

Layout of a store (one folder per split)::

    STORE/{split}/
      manifest.json          written LAST, by atomic rename: its presence marks the split complete
      features.npy           [N, D]  float16 (default) or float32; columns as afkit.features.columns
      labels_indptr.npy      [N+1]   int64   labels of video i = labels_indices[indptr[i]:indptr[i+1]]
      labels_indices.npy     [L]     int32   class ids (CSR)
      ids.npy                [N]     |S{w}   video ids, ASCII/UTF-8 bytes, fixed width
      num_frames.npy         [N]     int32   frames per video (0 when built from video-level files)
      # frame store (built with frames=True, from frame-level files):
      frame_offsets.npy      [N+1]   int64   frames of video i = rows offsets[i]:offsets[i+1]
      frames_rgb.npy         [F, 1024] uint8 the quantized frames, as in the release (not floats)
      frames_audio.npy       [F, 128]  uint8

All arrays are plain ``.npy`` files opened with ``mmap_mode="r"``: nothing is loaded into RAM.

*Our choice*: features are stored as float16 by default. Dequantized values lie in [-2, 2], where
float16's relative precision (2^-11, an absolute error <= 2^-11 * 2 ~ 1e-3) is finer than the
8-bit quantization step of the data itself (4/255 ~ 0.016); ``dtype="float32"`` doubles the size.

Building (:func:`build`) works shard by shard: each source TFRecord file becomes a *part* under
``STORE/{split}/_parts/`` whose files are written under temporary names and renamed into place,
then a done-marker (``NNNNN.done.json``) is renamed into place last. A killed build, run again,
skips every shard that has a marker (and redoes the others): no shard is done twice. When every
shard is done the parts are concatenated, chunk by chunk, into the final arrays (written under
``*.partial`` names, then renamed), the manifest is renamed into place, and the parts are
removed. A kill during the concatenation is also safe: the parts are still there, and the
concatenation is simply redone (a kill at each write point of a build is tested:
``afkit.faults``, tests/test_crash.py). Memory is bounded by one chunk of videos per process,
whatever the size of the store. While it builds a split, a build holds
``STORE/{split}/.afkit.lock`` (:func:`afkit.locks.hold`): a second build of the same split is
refused with an error naming the first one's pid and host. A full disk raises a
:class:`StoreError` saying so; the finished parts are kept (temporary files removed), so the
rerun resumes.

The frames (the bulk of a frame store: ~170 KB a video) are written *once*, to their final
place: before any shard runs, the frames of every shard are counted from the record lengths of
the index (a frame costs exactly 1170 bytes of a canonical record: 1033 for rgb, 137 for audio;
``_frame_estimate``), the final arrays are preallocated, sparse, with that shape
(``frames_{rgb,audio}.npy.rows``), and each shard writes its own row range with ``pwrite`` (workers in
parallel, disjoint ranges) and fsyncs before its done-marker. When every shard holds exactly
its estimate (the rule for canonical records: the few hundred bytes of id and labels are less
than a frame) the preallocated file *is* the final array and is only renamed; a shard with
fewer frames than estimated (an unusual encoder, a video with very many labels) leaves a gap,
and then, only then, the frames are compacted into a new file (a second write). The marker of a
shard records its row range, so a resumed build writes only the missing shards' rows.

Reading (:func:`open_store`) refuses a split without a manifest (an incomplete or killed build),
with another schema version, or whose arrays disagree with the manifest (missing, truncated,
wrong shape or dtype), with a :class:`StoreError` naming what is wrong. :func:`verify` also
checks the content (CSR and frame offsets consistent, label ids in range, features finite) and
the source files' sizes.
"""

from __future__ import annotations

import argparse
import csv
import errno
import glob
import json
import math
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from afkit import faults, locks
from afkit import features as F

__all__ = [
    "SCHEMA_VERSION",
    "StoreError",
    "BuildConfig",
    "build",
    "build_split",
    "source_files",
    "read_num_classes",
    "open_store",
    "Store",
    "verify",
    "StoreLoader",
    "feature_stats",
    "main",
    "verify_main",
]

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
PARTS = "_parts"
SPLITS = ("train", "validate", "test")
_FRAME_DIMS = {"rgb": F.RGB_DIM, "audio": F.AUDIO_DIM}

# Test hooks (environment variables), so that a test can kill a build at a chosen point with
# SIGKILL (no cleanup runs, as with a crash or an OOM kill); afkit.faults.crash_point (at every
# write, AFKIT_CRASH_AT_WRITE=N) is the finer-grained one:
#   AFKIT_STORE_KILL=shard:K   die after shard K wrote its first chunk (before its done-marker)
#   AFKIT_STORE_KILL=concat    die after the first final array was renamed into place
_KILL_ENV = "AFKIT_STORE_KILL"


class StoreError(RuntimeError):
    """A store that is incomplete, damaged, or does not match its manifest or its sources."""


# --------------------------------------------------------------------------------------------
# configuration and sources


@dataclass
class BuildConfig:
    """What a split's store holds and how it is built (plain values)."""

    feature_set: str = "mean_std"  # "mean" (1152 columns) or "mean_std" (2304)
    dtype: str = "float16"  # features dtype on disk: "float16" (default) or "float32"
    frames: bool = False  # also keep the quantized frames (the frame store)
    workers: int = 1  # processes, one source shard at a time each
    chunk: int = 256  # videos per chunked write (bounds memory)
    num_classes: int | None = None  # None: rows of DATA/vocabulary.csv
    source: str = "auto"  # "frame", "video", or "auto": video-level files only for "mean" w/o frames
    verify_crc: bool = True  # check both CRC32Cs of every record
    progress: bool = True  # tqdm progress bar

    def check(self) -> None:
        F.columns(self.feature_set)  # raises on an unknown set
        if self.dtype not in ("float16", "float32"):
            raise ValueError(f"dtype must be 'float16' or 'float32', got {self.dtype!r}")
        if self.source not in ("auto", "frame", "video"):
            raise ValueError(f"source must be 'auto', 'frame' or 'video', got {self.source!r}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {self.chunk}")
        if self.source == "video" and (self.frames or self.feature_set != "mean"):
            raise ValueError(
                "video-level files hold only the means: source='video' allows feature_set='mean' "
                "without frames"
            )


def read_num_classes(data_dir) -> int | None:
    """Number of classes = rows of ``DATA/vocabulary.csv`` (header excluded); None without the file."""
    path = Path(data_dir) / "vocabulary.csv"
    if not path.exists():
        return None
    with open(path, newline="", encoding="utf-8") as f:
        rows = sum(1 for row in csv.reader(f) if row)
    if rows < 2:
        raise StoreError(f"{path}: no vocabulary rows under the header")
    return rows - 1


def source_files(data_dir, split: str, level: str) -> list[str]:
    """Sorted ``DATA/{level}/{split}*.tfrecord`` (level: ``frame`` or ``video``)."""
    return sorted(glob.glob(os.path.join(os.fspath(data_dir), level, f"{split}*.tfrecord")))


def _resolve_level(data_dir, split: str, config: BuildConfig) -> str:
    if config.source != "auto":
        return config.source
    if config.frames or config.feature_set != "mean":
        return "frame"
    return "video" if source_files(data_dir, split, "video") else "frame"


def _afkit_version() -> str:
    try:
        from afkit import __version__

        return __version__
    except Exception:  # pragma: no cover
        return "unknown"


# --------------------------------------------------------------------------------------------
# small file utilities: atomic writes


def _fsync_path(path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _tmp_name(path: Path) -> Path:
    return path.with_name(f"{path.name}.tmp{os.getpid()}")


def _atomic_json(path: Path, obj) -> None:
    tmp = _tmp_name(path)
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=1, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
    except BaseException:  # e.g. a full disk: the old file stays, the half new one goes
        tmp.unlink(missing_ok=True)
        raise
    faults.crash_point(f"{path.name} written")
    os.replace(tmp, path)
    faults.crash_point(f"{path.name} renamed")


def _atomic_npz(path: Path, **arrays: np.ndarray) -> None:
    tmp = _tmp_name(path)
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    faults.crash_point(f"{path.name} written")
    os.replace(tmp, path)
    faults.crash_point(f"{path.name} renamed")


def _maybe_kill(point: str) -> None:
    if os.environ.get(_KILL_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)


# --------------------------------------------------------------------------------------------
# frames: preallocated final arrays, written once

# bytes of one frame in a canonical SequenceExample: FeatureList element = tag, len(2), Feature =
# tag, len(2), BytesList = tag, len(2), value -> 9 + 1024 (rgb) and 9 + 128 (audio)
_FRAME_BYTES = sum(9 + d for d in _FRAME_DIMS.values())  # 1170


def _record_lengths(path: str) -> np.ndarray:
    """Payload length of every record of ``path`` (int64 [N]), from the cached offset index."""
    from afkit.tfrecord import load_index

    offsets = np.asarray(load_index(path), dtype=np.int64)
    ends = np.append(offsets[1:], os.path.getsize(path))
    return ends - offsets - 16


def _frame_estimate(path: str) -> int:
    """An upper bound on the frames of a frame-level shard, exact for canonical records: every
    frame takes at least ``_FRAME_BYTES`` bytes of its record (exactly that many when encoded as
    TensorFlow and afkit do), the rest of a record (id, labels) takes less than one frame."""
    from afkit.records import MAX_FRAMES

    t = np.clip(_record_lengths(path) // _FRAME_BYTES, 1, MAX_FRAMES)
    return int(t.sum())


def _frames_partial(out: Path, modality: str) -> Path:
    return out / f"frames_{modality}.npy.rows"


def _npy_header_bytes(dtype, shape) -> bytes:
    import io

    b = io.BytesIO()
    np.lib.format.write_array_header_1_0(b, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                             "fortran_order": False, "shape": tuple(shape)})
    return b.getvalue()


def _prepare_frame_files(out: Path, total: int) -> bool:
    """Make sure the preallocated ``frames_*.npy.rows`` files (``total`` rows) exist; returns
    False when they had to be (re)created, i.e. the frames of earlier shards are gone."""
    intact = True
    for m, w in _FRAME_DIMS.items():
        p = _frames_partial(out, m)
        final = out / f"frames_{m}.npy"
        if final.exists() and not p.exists():
            continue  # renamed into place by an interrupted final step: complete already
        header = _npy_header_bytes(np.uint8, (total, w))
        if p.exists() and p.stat().st_size == len(header) + total * w:
            with open(p, "rb") as f:
                if f.read(len(header)) == header:
                    continue
        intact = False
        final.unlink(missing_ok=True)
        tmp = _tmp_name(p)
        with open(tmp, "wb") as f:
            f.write(header)
            f.truncate(len(header) + total * w)  # sparse: no bytes written yet
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
        faults.crash_point(f"{p.name} preallocated")
    return intact


# --------------------------------------------------------------------------------------------
# one shard -> one part


def _part_prefix(parts: Path, index: int) -> Path:
    return parts / f"{index:05d}"


def _marker_path(parts: Path, index: int) -> Path:
    return parts / f"{index:05d}.done.json"


def die_with_parent() -> None:
    """Linux: a pool worker dies with its parent (a SIGKILLed build leaves no orphan writing parts)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # pragma: no cover - not Linux
        pass


def _pool_context():
    """``fork`` where it is safe and cheap (Linux, no torch and no other Python thread in this
    process: a forked worker starts in milliseconds and imports nothing), else ``spawn`` (each
    worker starts a fresh interpreter and imports numpy and afkit: ~0.2 CPU-seconds a worker)."""
    import multiprocessing as mp
    import threading

    if (sys.platform.startswith("linux") and "torch" not in sys.modules
            and threading.active_count() == 1 and "fork" in mp.get_all_start_methods()):
        return mp.get_context("fork")
    return mp.get_context("spawn")


def _build_part(task: dict) -> dict:
    """Featurize one source file into its part files; return the done-marker's content.

    Streams: features are written every ``chunk`` videos, frames as they are read, so memory is
    bounded by one chunk (plus the shard's ids/labels, a few bytes per video).
    """
    from afkit.records import read_records

    index, src, parts = task["index"], task["source"], Path(task["parts"])
    feature_set, dtype, frames = task["feature_set"], np.dtype(task["dtype"]), task["frames"]
    num_classes, chunk = task["num_classes"], task["chunk"]
    parent = task.get("parent_pid")
    prefix = _part_prefix(parts, index)
    dim = F.feature_dim(feature_set)
    names = ["features"]
    final = {name: Path(f"{prefix}.{name}.bin") for name in names}
    tmp = {name: _tmp_name(p) for name, p in final.items()}
    handles = {name: open(tmp[name], "wb") for name in names}
    frame_fds = {}
    if frames:  # the rows [frame_start, frame_start + frame_estimate) of the final arrays
        out = Path(task["out"])
        row0, row_cap = task["frame_start"], task["frame_estimate"]
        frame_pos = {}
        for m, w in _FRAME_DIMS.items():
            p = _frames_partial(out, m)
            frame_fds[m] = os.open(p, os.O_WRONLY)
            frame_pos[m] = len(_npy_header_bytes(np.uint8, (task["frames_total"], w))) + row0 * w
        written_rows = 0
    buf = np.empty((chunk, dim), dtype=np.float64)
    ids: list[bytes] = []
    labels: list[np.ndarray] = []
    nframes: list[int] = []
    filled = 0
    first_chunk = True
    try:
        for record in read_records(src, verify=task["verify_crc"]):
            vid = record["id"]
            lab = np.asarray(record.get("labels", ()), dtype=np.int64)
            if lab.size and (lab.min() < 0 or (num_classes is not None and lab.max() >= num_classes)):
                raise StoreError(
                    f"{src}: video {vid!r} has label ids {lab.tolist()} outside "
                    f"[0, {num_classes}) (num_classes from vocabulary.csv or the argument)"
                )
            F.video_features(record, feature_set, out=buf[filled])
            if frames:
                if "rgb" not in record:
                    raise StoreError(f"{src}: frames=True needs frame-level records; video {vid!r} has no frames")
                t = record["rgb"].shape[0]
                if record["audio"].shape[0] != t:
                    raise StoreError(
                        f"{src}: video {vid!r} has {t} rgb frames but {record['audio'].shape[0]} audio frames"
                    )
                if written_rows + t > row_cap:
                    raise StoreError(f"{src}: more frames than the record lengths allow "
                                     f"({written_rows + t} > {row_cap}); not a YouTube-8M shard?")
                for m in _FRAME_DIMS:
                    data = np.ascontiguousarray(record[m], dtype=np.uint8).data
                    done = os.pwrite(frame_fds[m], data, frame_pos[m])
                    while done < data.nbytes:  # pragma: no cover (short writes are rare)
                        done += os.pwrite(frame_fds[m], data[done:], frame_pos[m] + done)
                    frame_pos[m] += data.nbytes
                written_rows += t
            ids.append(vid.encode("utf-8") if isinstance(vid, str) else bytes(vid))
            labels.append(lab)
            nframes.append(int(record["rgb"].shape[0]) if "rgb" in record else 0)
            filled += 1
            if filled == chunk:
                handles["features"].write(buf[:filled].astype(dtype).data)
                faults.crash_point(f"shard {index}: chunk written")
                filled = 0
                if first_chunk:
                    first_chunk = False
                    for h in handles.values():
                        h.flush()
                    _maybe_kill(f"shard:{index}")
        if filled:
            handles["features"].write(buf[:filled].astype(dtype).data)
        for h in handles.values():
            h.flush()
            os.fsync(h.fileno())
        for fd in frame_fds.values():
            os.fdatasync(fd)
        if frames:
            faults.crash_point(f"shard {index}: frame rows written")
    except BaseException:  # e.g. a full disk: free the space of the temporary part files
        for name, h in handles.items():
            h.close()
            tmp[name].unlink(missing_ok=True)
        raise
    finally:
        for h in handles.values():
            h.close()
        for fd in frame_fds.values():
            os.close(fd)
    if parent is not None and os.getppid() != parent:  # orphaned: the build was killed
        raise StoreError("build process died; not committing the part")
    n = len(ids)
    width = max((len(i) for i in ids), default=1)
    counts = np.fromiter((len(x) for x in labels), dtype=np.int64, count=n)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = np.concatenate(labels).astype(np.int32) if n and indptr[-1] else np.zeros(0, np.int32)
    try:
        _atomic_npz(Path(f"{prefix}.meta.npz"),
                    ids=np.array(ids, dtype=f"S{width}") if n else np.zeros(0, "S1"),
                    labels_indptr=indptr, labels_indices=indices,
                    num_frames=np.asarray(nframes, dtype=np.int32))
    except BaseException:  # e.g. a full disk: free the space of the temporary part files
        for p in tmp.values():
            p.unlink(missing_ok=True)
        raise
    for name in names:
        _fsync_path(tmp[name])
        os.replace(tmp[name], final[name])
        faults.crash_point(f"shard {index}: {name} renamed")
    marker = {
        "index": index,
        "source": os.path.basename(src),
        "source_size": task["source_size"],
        "videos": n,
        "labels": int(indptr[-1]),
        "frames": int(sum(nframes)),
        "id_width": int(width),
    }
    if frames:
        marker["frame_start"] = int(task["frame_start"])
        marker["frame_estimate"] = int(task["frame_estimate"])
    _atomic_json(_marker_path(parts, index), marker)
    return marker


# --------------------------------------------------------------------------------------------
# build


@dataclass
class BuildReport:
    """What one :func:`build_split` call did."""

    path: str
    videos: int = 0
    shards_built: list[int] = field(default_factory=list)  # featurized by this call
    shards_skipped: list[int] = field(default_factory=list)  # found done (resumed)
    already_complete: bool = False
    seconds: float = 0.0


def _plan(files: Sequence[str], config: BuildConfig, num_classes: int | None, level: str) -> dict:
    sources = []
    for p in files:
        try:
            size = os.path.getsize(p)
        except OSError as e:
            raise StoreError(f"source file {p} cannot be read: {e}") from None
        sources.append({"path": os.path.abspath(p), "name": os.path.basename(p), "size": size})
    return {
        "schema_version": SCHEMA_VERSION,
        "feature_set": config.feature_set,
        "dtype": config.dtype,
        "frames": bool(config.frames),
        "num_classes": None if num_classes is None else int(num_classes),
        "source_level": level,
        "sources": sources,
    }


def _describe_difference(old: dict, new: dict) -> str:
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    parts = []
    for k in keys:
        if k == "sources":
            a = {(s["name"], s["size"]) for s in old.get(k, [])}
            b = {(s["name"], s["size"]) for s in new.get(k, [])}
            parts.append(f"sources (only before: {sorted(a - b)[:3]}, only now: {sorted(b - a)[:3]})")
        else:
            parts.append(f"{k} ({old.get(k)!r} before, {new.get(k)!r} now)")
    return "; ".join(parts)


def build_split(out_dir, files: Sequence[str], config: BuildConfig | None = None, *,
                num_classes: int | None = None, split: str = "", level: str = "frame",
                overwrite: bool = False) -> BuildReport:
    """Build (or resume, or confirm) one split's store in ``out_dir`` from TFRecord ``files``.

    ``num_classes`` (or ``config.num_classes``) bounds the label ids; when both are None it is
    the largest label id + 1 seen (recorded in the manifest). Returns a :class:`BuildReport`.
    Raises :class:`StoreError` when ``out_dir`` holds a store or parts of a build with another
    configuration or other source files (pass ``overwrite=True`` to discard them), or when the
    disk fills up (the finished parts are kept: run again to resume);
    :class:`afkit.locks.LockedError` while another process builds ``out_dir``.
    """
    out = Path(out_dir)
    with locks.hold(out / locks.LOCK_NAME, f"featurize {out}"):
        try:
            return _build_split(out, files, config, num_classes=num_classes, split=split,
                                level=level, overwrite=overwrite)
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
            raise StoreError(
                f"no space left on device while building {out} ({e}); the shards finished "
                f"so far are kept in {out / PARTS} and any complete store there is untouched: "
                f"free some space and run the same build again to resume") from e


def _build_split(out: Path, files: Sequence[str], config: BuildConfig | None, *,
                 num_classes: int | None, split: str, level: str, overwrite: bool) -> BuildReport:
    config = config or BuildConfig()
    config.check()
    files = sorted(files)
    if not files:
        raise StoreError(f"no source files for split {split!r} (nothing matches)")
    t0 = time.perf_counter()
    parts = out / PARTS
    num_classes = num_classes if num_classes is not None else config.num_classes
    plan = _plan(files, config, num_classes, level)
    report = BuildReport(path=str(out))

    if overwrite and out.exists():
        (out / MANIFEST).unlink(missing_ok=True)  # first: the store stops being "complete"
        for child in out.iterdir():  # all but the lock this process holds
            if child.name != locks.LOCK_NAME:
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    out.mkdir(parents=True, exist_ok=True)
    for stale in (*out.glob("*.tmp*"), *out.glob("*.partial")):  # left by a killed build
        stale.unlink()

    manifest_path = out / MANIFEST
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        old = {k: manifest.get(k) for k in plan}
        if num_classes is None:  # derived from the labels at build time: not a setting to compare
            old["num_classes"] = None
        old["sources"] = [{k: s[k] for k in ("path", "name", "size")} for s in manifest.get("sources", [])]
        if old != plan:
            raise StoreError(
                f"{out} already holds a complete store that differs: {_describe_difference(old, plan)}; "
                f"delete it or pass overwrite=True (--overwrite)"
            )
        if parts.exists():  # a build killed after writing its manifest, before this cleanup
            shutil.rmtree(parts)
        report.already_complete = True
        report.videos = manifest["num_videos"]
        report.seconds = time.perf_counter() - t0
        return report

    parts.mkdir(exist_ok=True)
    plan_path = parts / "plan.json"
    if plan_path.exists():
        old = json.loads(plan_path.read_text())
        if old != plan:
            raise StoreError(
                f"{out} holds parts of an unfinished build that differs: {_describe_difference(old, plan)}; "
                f"delete {parts} or pass overwrite=True (--overwrite)"
            )
    else:
        _atomic_json(plan_path, plan)
    for stale in parts.glob("*.tmp*"):  # leftovers of a killed process
        stale.unlink()
    for stale in out.glob("*.tmp*"):
        stale.unlink()

    frame_starts, frame_estimates, frames_total = [], [], 0
    frames_intact = True
    if config.frames:
        for s in plan["sources"]:
            e = _frame_estimate(s["path"])
            frame_starts.append(frames_total)
            frame_estimates.append(e)
            frames_total += e
        frames_intact = _prepare_frame_files(out, frames_total)

    markers: dict[int, dict] = {}
    pending = []
    for i, s in enumerate(plan["sources"]):
        mp = _marker_path(parts, i)
        if mp.exists():
            marker = json.loads(mp.read_text())
            if marker.get("source") == s["name"] and marker.get("source_size") == s["size"] and (
                    not config.frames or (frames_intact and marker.get("frame_start") == frame_starts[i]
                                          and marker.get("frame_estimate") == frame_estimates[i])):
                markers[i] = marker
                report.shards_skipped.append(i)
                continue
            mp.unlink()
        pending.append({
            "index": i, "source": s["path"], "source_size": s["size"], "parts": str(parts),
            "feature_set": config.feature_set, "dtype": config.dtype, "frames": bool(config.frames),
            "num_classes": num_classes, "chunk": config.chunk, "verify_crc": config.verify_crc,
            "out": str(out), "frame_start": frame_starts[i] if config.frames else 0,
            "frame_estimate": frame_estimates[i] if config.frames else 0, "frames_total": frames_total,
        })

    # processes in all (this one + pool workers): never more than the shards left to build
    nproc = min(config.workers, len(pending))
    ctx = _pool_context() if nproc > 1 else None  # before tqdm's thread
    bar = None
    if config.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(plan["sources"]), initial=len(markers), unit="shard",
                   desc=f"featurize {split or out.name}", dynamic_ncols=True)
    try:
        if pending and nproc == 1:
            for task in pending:
                m = _build_part(task)
                markers[m["index"]] = m
                report.shards_built.append(m["index"])
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(videos=sum(x["videos"] for x in markers.values()))
        elif pending:
            # `workers` processes in all: this one takes every n-th shard, n-1 pool workers the
            # others; the workers write their parts to disk and return only the small marker
            for task in pending:
                task["parent_pid"] = os.getpid()
            mine = pending[::nproc]
            theirs = [t for k, t in enumerate(pending) if k % nproc]

            def done(m):
                markers[m["index"]] = m
                report.shards_built.append(m["index"])
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(videos=sum(x["videos"] for x in markers.values()))

            import warnings

            with warnings.catch_warnings():  # Python >= 3.12 warns of numpy's BLAS thread on fork
                warnings.filterwarnings("ignore", ".*fork.*", DeprecationWarning)
                pool = ctx.Pool(nproc - 1, initializer=die_with_parent)
            with pool:
                results = pool.imap_unordered(_build_part, theirs)
                for task in mine:
                    done(_build_part({**task, "parent_pid": None}))
                for m in results:
                    done(m)
    finally:
        if bar is not None:
            bar.close()

    ordered = [markers[i] for i in range(len(plan["sources"]))]
    if num_classes is None:
        # no vocabulary: the largest label id + 1 (recorded; the reader trusts the manifest)
        top = -1
        for i in range(len(ordered)):
            with np.load(f"{_part_prefix(parts, i)}.meta.npz") as meta:
                idx = meta["labels_indices"]
            if idx.size:
                top = max(top, int(idx.max()))
        num_classes = top + 1
    _concatenate(out, parts, plan, ordered, config, int(num_classes), split)
    shutil.rmtree(parts)
    faults.crash_point("parts removed")
    report.videos = sum(m["videos"] for m in ordered)
    report.shards_built.sort()
    report.seconds = time.perf_counter() - t0
    return report


class _NpyWriter:
    """Writes a .npy file sequentially (header, then rows appended in order) with plain file
    writes: no memory map, so the pages written do not count in this process's RSS."""

    def __init__(self, path: Path, dtype, shape):
        self.path, self.dtype, self.shape = path, np.dtype(dtype), tuple(shape)
        self.expected = int(np.prod(self.shape)) * self.dtype.itemsize
        self.f = open(path, "wb")
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
                  "shape": self.shape}
        np.lib.format.write_array_header_1_0(self.f, header)
        self.start = self.f.tell()

    def write(self, array: np.ndarray) -> None:
        self.f.write(np.ascontiguousarray(array, dtype=self.dtype).data)

    def copy_from(self, src: Path, nbytes: int, step: int = 16 << 20) -> None:
        """Append the raw bytes of a part file (which must hold exactly ``nbytes``)."""
        actual = os.path.getsize(src)
        if actual != nbytes:
            raise StoreError(f"part file {src} has {actual} bytes, expected {nbytes}; delete it and rebuild")
        with open(src, "rb") as f:
            shutil.copyfileobj(f, self.f, step)

    def close(self) -> None:
        written = self.f.tell() - self.start
        self.f.flush()
        os.fsync(self.f.fileno())
        self.f.close()
        if written != self.expected:
            raise StoreError(f"{self.path}: wrote {written} bytes, expected {self.expected}")


def _concatenate(out: Path, parts: Path, plan: dict, markers: list[dict], config: BuildConfig,
                 num_classes: int, split: str) -> None:
    """Parts -> final arrays (``*.partial``, written sequentially, then renamed) -> manifest (last)."""
    n = sum(m["videos"] for m in markers)
    nnz = sum(m["labels"] for m in markers)
    nf = sum(m["frames"] for m in markers)
    width = max([m["id_width"] for m in markers] + [1])
    dim = F.feature_dim(config.feature_set)
    specs = {
        "features": (config.dtype, (n, dim)),
        "labels_indptr": ("int64", (n + 1,)),
        "labels_indices": ("int32", (nnz,)),
        "ids": (f"S{width}", (n,)),
        "num_frames": ("int32", (n,)),
    }
    if config.frames:
        specs["frame_offsets"] = ("int64", (n + 1,))
        for m, w in _FRAME_DIMS.items():
            specs[f"frames_{m}"] = ("uint8", (nf, w))
    final = {name: out / f"{name}.npy" for name in specs}
    partial = {name: out / f"{name}.npy.partial" for name in specs}
    frame_names = [f"frames_{m}" for m in _FRAME_DIMS] if config.frames else []
    copied = [name for name in specs if name not in frame_names]
    writers = {name: _NpyWriter(partial[name], specs[name][0], specs[name][1]) for name in copied}
    try:
        lab = fr = 0
        writers["labels_indptr"].write(np.zeros(1, np.int64))
        if config.frames:
            writers["frame_offsets"].write(np.zeros(1, np.int64))
        itemsize = np.dtype(config.dtype).itemsize
        for i, m in enumerate(markers):
            prefix = _part_prefix(parts, i)
            k = m["videos"]
            with np.load(f"{prefix}.meta.npz") as meta:
                indptr, indices = meta["labels_indptr"], meta["labels_indices"]
                nfr, ids = meta["num_frames"], meta["ids"]
            if len(indptr) != k + 1 or len(ids) != k or len(nfr) != k or len(indices) != m["labels"]:
                raise StoreError(f"part {i} ({m['source']}) disagrees with its marker; delete {parts} and rebuild")
            writers["features"].copy_from(Path(f"{prefix}.features.bin"), k * dim * itemsize)
            writers["labels_indptr"].write(indptr[1:] + lab)
            writers["labels_indices"].write(indices)
            writers["ids"].write(ids.astype(f"S{width}"))
            writers["num_frames"].write(nfr)
            if config.frames:
                writers["frame_offsets"].write(np.cumsum(nfr, dtype=np.int64) + fr)
            lab += len(indices)
            fr += m["frames"]
        for w in writers.values():
            w.close()
    except BaseException:  # e.g. a full disk: the parts stay, the partial arrays go
        for name, w in writers.items():
            w.f.close()
            partial[name].unlink(missing_ok=True)
        raise
    for name in specs:
        if name in frame_names:
            _finish_frames(out, name, markers, nf)
        else:
            os.replace(partial[name], final[name])
        faults.crash_point(f"{name}.npy renamed")
        _maybe_kill("concat")

    sources = []
    for s, m in zip(plan["sources"], markers):
        sources.append({**s, "videos": m["videos"]})
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "kind": "afkit.store",
        "afkit_version": _afkit_version(),
        "split": split,
        "feature_set": config.feature_set,
        "dtype": config.dtype,
        "columns": {k: [v.start, v.stop] for k, v in F.columns(config.feature_set).items()},
        "num_videos": n,
        "num_classes": num_classes,
        "num_labels": nnz,
        "frames": bool(config.frames),
        "num_frames_total": int(nf) if config.frames else None,
        "source_level": plan["source_level"],
        "sources": sources,
        "arrays": {name: {"file": f"{name}.npy", "dtype": np.dtype(dt).str, "shape": list(shape)}
                   for name, (dt, shape) in specs.items()},
        "dequantize": "x = q * 4/255 + (4/512 - 2) (frames stay quantized uint8)",
    }
    _atomic_json(out / MANIFEST, manifest)


def _finish_frames(out: Path, name: str, markers: list[dict], nf: int) -> None:
    """The preallocated ``frames_*.npy.rows`` -> ``frames_*.npy``: a rename when every shard
    filled exactly its estimated rows (the common case: the frames are written once), else a
    compacting copy of each shard's rows into a new file (then renamed)."""
    final, partial = out / f"{name}.npy", _frames_partial(out, name.split("_", 1)[1])
    width = _FRAME_DIMS[name.split("_", 1)[1]]
    if final.exists() and not partial.exists():
        return  # done by an interrupted earlier run of this step
    if all(m["frames"] == m["frame_estimate"] for m in markers):
        os.replace(partial, final)
        return
    total = sum(m["frame_estimate"] for m in markers)
    skip = len(_npy_header_bytes(np.uint8, (total, width)))
    tmp = _tmp_name(out / f"{name}.npy.compact")
    writer = _NpyWriter(tmp, np.uint8, (nf, width))
    try:
        with open(partial, "rb") as src:
            for m in markers:
                src.seek(skip + m["frame_start"] * width)
                left = m["frames"] * width
                while left:
                    chunk = src.read(min(left, 16 << 20))
                    if not chunk:
                        raise StoreError(f"{partial} is truncated; delete {out} and rebuild")
                    writer.f.write(chunk)
                    left -= len(chunk)
    except BaseException:
        writer.f.close()
        raise
    writer.close()
    os.replace(tmp, final)
    partial.unlink()


def build(out, data=None, *, splits: Sequence[str] | None = None, pattern: str | None = None,
          split: str | None = None, config: BuildConfig | None = None, overwrite: bool = False,
          **overrides) -> dict[str, BuildReport]:
    """Build ``out/{split}/`` for each split, from a data directory or a file pattern.

    ``build("stores/s", "data/synth", feature_set="mean_std", frames=True, workers=2)`` builds every
    split that has files (``splits`` restricts them); ``build("stores/s", pattern=".../train*.tfrecord",
    split="train")`` builds one split from a pattern. ``workers=N`` uses N processes: this one and
    N-1 workers (``fork`` where safe, else ``spawn``: then a script calling it needs the
    ``if __name__ == "__main__":`` guard; notebooks do not). Keyword ``overrides`` set
    :class:`BuildConfig` fields. Resumes an interrupted build; returns ``{split: BuildReport}``.
    """
    config = config or BuildConfig()
    for k, v in overrides.items():
        if not hasattr(config, k):
            raise TypeError(f"unknown build option {k!r}; options: {sorted(asdict(config))}")
        setattr(config, k, v)
    config.check()
    out = Path(out)
    reports: dict[str, BuildReport] = {}
    if pattern is not None:
        if data is not None:
            raise ValueError("give either a data directory or a file pattern, not both")
        files = sorted(glob.glob(pattern))
        name = split or "train"
        if not files:
            raise StoreError(f"no files match {pattern!r}")
        level = config.source if config.source != "auto" else "frame"
        reports[name] = build_split(out / name, files, config, split=name, level=level, overwrite=overwrite)
        return reports
    if data is None:
        raise ValueError("give a data directory (data=) or a file pattern (pattern=)")
    data = Path(data)
    if not data.is_dir():
        raise StoreError(f"data directory {data} does not exist")
    num_classes = config.num_classes if config.num_classes is not None else read_num_classes(data)
    wanted = list(splits) if splits else list(SPLITS)
    for name in wanted:
        level = _resolve_level(data, name, config)
        files = source_files(data, name, level)
        if not files:
            if splits:
                raise StoreError(f"no {level}-level files for split {name!r} under {data / level}")
            continue
        reports[name] = build_split(out / name, files, config, num_classes=num_classes, split=name,
                                    level=level, overwrite=overwrite)
    if not reports:
        raise StoreError(f"no TFRecord files under {data}/frame or {data}/video")
    return reports


# --------------------------------------------------------------------------------------------
# open, verify


def _split_dir(path, split: str | None) -> Path:
    path = Path(path)
    if split is not None:
        return path / split
    return path


def _npy_header(path: Path) -> tuple[np.dtype, tuple, int]:
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        if fortran:
            raise StoreError(f"{path}: Fortran-ordered array, not written by afkit")
        return np.dtype(dtype), tuple(shape), f.tell()


def _check_arrays(root: Path, manifest: dict) -> list[str]:
    """Problems with the array files against the manifest (empty list: all consistent)."""
    problems = []
    for name, spec in manifest["arrays"].items():
        p = root / spec["file"]
        if not p.exists():
            problems.append(f"array file {spec['file']} is missing")
            continue
        try:
            dtype, shape, offset = _npy_header(p)
        except Exception as e:
            problems.append(f"{spec['file']}: unreadable .npy header ({e})")
            continue
        if dtype != np.dtype(spec["dtype"]):
            problems.append(f"{spec['file']}: dtype {dtype.str}, manifest says {spec['dtype']}")
        if list(shape) != list(spec["shape"]):
            problems.append(f"{spec['file']}: shape {list(shape)}, manifest says {spec['shape']}")
        expected = offset + int(np.prod(spec["shape"])) * np.dtype(spec["dtype"]).itemsize
        size = p.stat().st_size
        if size != expected:
            problems.append(f"{spec['file']}: {size} bytes, expected {expected} (truncated or damaged)")
    n = manifest["num_videos"]
    want = {"features": [n, F.feature_dim(manifest["feature_set"])], "labels_indptr": [n + 1],
            "ids": [n], "num_frames": [n], "labels_indices": [manifest["num_labels"]]}
    if manifest.get("frames"):
        want["frame_offsets"] = [n + 1]
    for name, shape in want.items():
        spec = manifest["arrays"].get(name)
        if spec is None:
            problems.append(f"manifest lists no {name!r} array")
        elif list(spec["shape"]) != shape:
            problems.append(f"manifest: {name} shape {spec['shape']} disagrees with num_videos={n} ({shape})")
    return problems


def _read_manifest(root: Path) -> dict:
    mp = root / MANIFEST
    if not mp.exists():
        if (root / PARTS).exists():
            raise StoreError(
                f"{root} is an incomplete store: no {MANIFEST} (a build is running or was killed); "
                f"run the same `afkit featurize` again to resume it"
            )
        subs = sorted(p.parent.name for p in root.glob(f"*/{MANIFEST}"))
        hint = f" (it holds splits {subs}: open {root}/<split>)" if subs else ""
        raise StoreError(f"{root} is not a complete afkit store: no {MANIFEST}{hint}")
    try:
        manifest = json.loads(mp.read_text())
    except json.JSONDecodeError as e:
        raise StoreError(f"{mp}: damaged manifest ({e})") from None
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise StoreError(
            f"{root}: store schema version {manifest.get('schema_version')!r}, this afkit reads "
            f"{SCHEMA_VERSION}; rebuild the store"
        )
    return manifest


def _load(root: Path, spec: dict) -> np.ndarray:
    p = root / spec["file"]
    if int(np.prod(spec["shape"])) == 0:
        return np.load(p)
    return np.load(p, mmap_mode="r")


class Ids(Sequence):
    """The video ids as a sequence of str, decoded on access from the fixed-width bytes memmap."""

    def __init__(self, array: np.ndarray):
        self.array = array

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [b.decode("utf-8") for b in self.array[i]]
        return self.array[i].decode("utf-8")

    def index_of(self) -> dict[str, int]:
        """id -> row (builds a dict over all N ids: O(N) memory)."""
        return {b.decode("utf-8"): i for i, b in enumerate(self.array)}


class Store:
    """One split of a feature store (and frame store), opened read-only as memory maps.

    ``features`` [N, D] (float16/float32 memmap), ``columns`` {name: slice}, ``ids`` (str
    sequence), ``labels(i)`` (int64 [L_i]), ``num_classes``, ``num_frames`` [N] int32, and with a
    frame store ``frame_offsets`` [N+1], ``frames_rgb`` [F, 1024] uint8, ``frames_audio`` [F, 128]
    uint8, ``frames(i)`` -> (rgb, audio) uint8 views.
    """

    def __init__(self, path):
        root = Path(path)
        self.path = root
        self.manifest = _read_manifest(root)
        problems = _check_arrays(root, self.manifest)
        if problems:
            raise StoreError(f"{root} does not match its manifest: " + "; ".join(problems))
        arrays = {name: _load(root, spec) for name, spec in self.manifest["arrays"].items()}
        self.features: np.ndarray = arrays["features"]
        self.labels_indptr: np.ndarray = arrays["labels_indptr"]
        self.labels_indices: np.ndarray = arrays["labels_indices"]
        self.ids = Ids(arrays["ids"])
        self.num_frames: np.ndarray = arrays["num_frames"]
        self.has_frames = bool(self.manifest.get("frames"))
        self.frame_offsets = arrays.get("frame_offsets")
        self.frames_rgb = arrays.get("frames_rgb")
        self.frames_audio = arrays.get("frames_audio")
        # in column order (the manifest's JSON keys are sorted by name)
        self.columns = {k: slice(a, b) for k, (a, b) in sorted(self.manifest["columns"].items(), key=lambda kv: kv[1][0])}
        self.num_classes = int(self.manifest["num_classes"])
        self.feature_set = self.manifest["feature_set"]
        self.split = self.manifest.get("split", root.name)

    def __len__(self) -> int:
        return int(self.manifest["num_videos"])

    def __repr__(self) -> str:
        return (f"Store({str(self.path)!r}, split={self.split!r}, videos={len(self)}, "
                f"features={self.feature_set} {self.features.dtype} {list(self.features.shape)}, "
                f"classes={self.num_classes}, frames={self.has_frames})")

    def labels(self, i: int) -> np.ndarray:
        """int64 [L_i]: the class ids of video ``i``."""
        if not -len(self) <= i < len(self):
            raise IndexError(f"video index {i} out of range for {len(self)} videos")
        i = i % len(self)
        a, b = self.labels_indptr[i], self.labels_indptr[i + 1]
        return np.asarray(self.labels_indices[a:b], dtype=np.int64)

    def multi_hot(self, index) -> np.ndarray:
        """float32 [B, C]: y[b, c] = 1 iff class c is a label of video ``index[b]``."""
        index = np.asarray(index, dtype=np.int64)
        starts = np.asarray(self.labels_indptr[index])
        ends = np.asarray(self.labels_indptr[index + 1])
        counts = ends - starts
        y = np.zeros((len(index), self.num_classes), dtype=np.float32)
        total = int(counts.sum())
        if total:
            rows = np.repeat(np.arange(len(index)), counts)
            pos = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(starts, counts)
            y[rows, np.asarray(self.labels_indices[pos], dtype=np.int64)] = 1.0
        return y

    @property
    def stats_per_modality(self) -> int:
        """S: 1 for ``mean``, 2 for ``mean_std``."""
        return len(F.FEATURE_SETS[self.feature_set])

    @property
    def visual_dim(self) -> int:
        return F.RGB_DIM * self.stats_per_modality

    def split_visual_audio(self, x):
        """``x`` [..., D] -> (visual [..., 1024*S], audio [..., 128*S]) (numpy or torch).

        Column order mean_rgb, std_rgb, mean_audio, std_audio makes both blocks contiguous.
        """
        v = self.visual_dim
        return x[..., :v], x[..., v:]

    def frames(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(rgb uint8 [T_i, 1024], audio uint8 [T_i, 128]) of video ``i`` (memmap views)."""
        if not self.has_frames:
            raise StoreError(f"{self.path} has no frames: build it with frames=True (--frames)")
        a, b = int(self.frame_offsets[i]), int(self.frame_offsets[i + 1])
        return self.frames_rgb[a:b], self.frames_audio[a:b]


def open_store(path, split: str | None = None) -> Store:
    """Open a complete store split read-only: ``open_store("stores/x/train")`` or ``("stores/x", "train")``.

    Raises :class:`StoreError` on an incomplete store (no manifest), another schema version, or
    arrays that disagree with the manifest (missing, truncated, shape or dtype).
    """
    return Store(_split_dir(path, split))


def verify(path, split: str | None = None, *, check_sources: bool = True, chunk_rows: int = 65536) -> dict:
    """Check a store split against its manifest; return a summary dict or raise :class:`StoreError`.

    Checks: manifest present and of this schema; every array's dtype, shape and byte size; the
    CSR (``indptr`` starts at 0, non-decreasing, ends at the number of labels; label ids in
    [0, num_classes)); frame offsets (start at 0, steps equal ``num_frames``, end at the frame
    rows); features finite (read in chunks of ``chunk_rows``: bounded memory); and, with
    ``check_sources``, each source file's size against the manifest (a missing source is a problem
    too).
    """
    root = _split_dir(path, split)
    manifest = _read_manifest(root)
    problems = _check_arrays(root, manifest)
    if problems:
        raise StoreError(f"{root} does not match its manifest: " + "; ".join(problems))
    store = Store(root)
    n = len(store)
    indptr = np.asarray(store.labels_indptr)
    if indptr[0] != 0 or np.any(np.diff(indptr) < 0) or indptr[-1] != len(store.labels_indices):
        problems.append("labels_indptr is not a valid CSR index (start 0, non-decreasing, end = #labels)")
    for a in range(0, len(store.labels_indices), chunk_rows * 16):
        part = np.asarray(store.labels_indices[a : a + chunk_rows * 16])
        if part.size and (part.min() < 0 or part.max() >= store.num_classes):
            problems.append(f"label ids outside [0, {store.num_classes})")
            break
    if store.has_frames:
        off = np.asarray(store.frame_offsets)
        if off[0] != 0 or np.any(np.diff(off) != store.num_frames) or off[-1] != len(store.frames_rgb):
            problems.append("frame_offsets disagree with num_frames or the frame arrays")
        if len(store.frames_audio) != len(store.frames_rgb):
            problems.append("frames_rgb and frames_audio have different numbers of rows")
    if manifest["source_level"] == "frame" and n and int(np.min(store.num_frames)) < 1:
        problems.append("a video has no frames (num_frames < 1)")
    for a in range(0, n, chunk_rows):
        if not np.isfinite(np.asarray(store.features[a : a + chunk_rows], dtype=np.float32)).all():
            problems.append(f"non-finite features in rows {a}..{min(n, a + chunk_rows) - 1}")
            break
    if sum(s["videos"] for s in manifest["sources"]) != n:
        problems.append("per-source video counts do not add up to num_videos")
    if check_sources:
        for s in manifest["sources"]:
            if not os.path.exists(s["path"]):
                problems.append(f"source file {s['path']} is missing (check_sources=False to skip)")
            elif os.path.getsize(s["path"]) != s["size"]:
                problems.append(
                    f"source file {s['path']} has {os.path.getsize(s['path'])} bytes, the store was "
                    f"built from {s['size']} bytes: the data changed, rebuild the store"
                )
    if problems:
        raise StoreError(f"{root} failed verification: " + "; ".join(problems))
    return {
        "path": str(root), "videos": n, "features": list(store.features.shape),
        "dtype": str(store.features.dtype), "labels": int(len(store.labels_indices)),
        "num_classes": store.num_classes, "frames": int(len(store.frames_rgb)) if store.has_frames else None,
        "sources": len(manifest["sources"]),
    }


# --------------------------------------------------------------------------------------------
# loading for PyTorch


def feature_stats(store: Store, columns: Sequence[str] | None = None, *, chunk_rows: int = 65536):
    """Per-column mean and population std over the split -> (mean float32 [D'], std float32 [D']).

    ``columns``: names of ``store.columns`` (default: all, in store order), concatenated in the
    order given. Computed in chunks of ``chunk_rows`` rows (bounded memory), each chunk's mean
    and sum of squared deviations merged exactly (Chan et al.'s pairwise update) in float64.
    """
    names = list(columns) if columns is not None else list(store.columns)
    unknown = [c for c in names if c not in store.columns]
    if unknown:
        raise KeyError(f"unknown columns {unknown}; the store has {list(store.columns)}")
    cols = np.concatenate([np.arange(store.columns[c].start, store.columns[c].stop) for c in names])
    n = len(store)
    if n == 0:
        raise StoreError(f"{store.path}: no videos, no statistics")
    count = 0
    mean = np.zeros(len(cols), dtype=np.float64)
    m2 = np.zeros(len(cols), dtype=np.float64)
    for a in range(0, n, chunk_rows):
        x = np.asarray(store.features[a : a + chunk_rows], dtype=np.float64)[:, cols]
        k = len(x)
        mk = x.mean(0)
        m2k = ((x - mk) ** 2).sum(0)
        delta = mk - mean
        total = count + k
        mean += delta * (k / total)
        m2 += m2k + delta**2 * (count * k / total)
        count = total
    return mean.astype(np.float32), np.sqrt(m2 / count).astype(np.float32)


class StoreLoader:
    """Batches straight from a store's memory maps, for PyTorch (no DataLoader workers needed).

    ``kind="features"`` yields ``{"visual": float32 [B, 1024*S], "audio": float32 [B, 128*S],
    "y": float32 multi-hot [B, C], "index": int64 [B]}``; ``kind="frames"`` yields ``{"rgb":
    float32 [B, T, 1024], "audio": float32 [B, T, 128], "mask": bool [B, T] (True = a real
    frame), "y", "index"}`` with frames dequantized on the fly (exactly
    :func:`afkit.records.dequantize`), padded positions 0, T = the longest (capped) video of the
    batch; ``max_frames`` caps T, keeping the first frames (``frame_sampling="first"``) or evenly
    spaced ones (``"uniform"``).

    Order (*our choice*, for sequential reads): the N rows are cut into blocks of ``block_rows``
    contiguous rows; an epoch visits the blocks in a random order and shuffles rows within
    windows of ``window_blocks`` consecutive blocks; each batch's rows are read in sorted order.
    The order depends only on (seed, epoch). DDP: rank r of ``world_size`` takes the r-th
    contiguous slice of that order; every rank gets the same number of batches: with
    ``drop_last`` the remainder is dropped, otherwise the order is padded by repeating its first
    rows (torch's DistributedSampler convention; ``index`` lets an evaluator drop duplicates).
    ``iter_epoch(epoch, start_batch)`` resumes mid-epoch without reading skipped batches.
    """

    def __init__(self, store: Store, batch_size: int, *, shuffle: bool = True, seed: int = 0,
                 rank: int = 0, world_size: int = 1, drop_last: bool = False, kind: str = "features",
                 max_frames: int | None = None, frame_sampling: str = "first", block_rows: int = 64,
                 window_blocks: int = 64):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size={world_size}), got {rank}")
        if kind not in ("features", "frames"):
            raise ValueError(f"kind must be 'features' or 'frames', got {kind!r}")
        if kind == "frames" and not store.has_frames:
            raise StoreError(f"{store.path} has no frames: build it with frames=True (--frames)")
        if max_frames is not None and max_frames < 1:
            raise ValueError(f"max_frames must be >= 1 or None, got {max_frames}")
        if frame_sampling not in ("first", "uniform"):
            raise ValueError(f"frame_sampling must be 'first' or 'uniform', got {frame_sampling!r}")
        self.store, self.batch_size, self.shuffle, self.seed = store, batch_size, shuffle, seed
        self.rank, self.world_size, self.drop_last, self.kind = rank, world_size, drop_last, kind
        self.max_frames, self.frame_sampling = max_frames, frame_sampling
        self.block_rows, self.window_blocks = max(1, block_rows), max(1, window_blocks)
        self.epoch = 0
        n = len(store)
        if drop_last:
            self.per_rank = n // world_size
            self.num_batches = self.per_rank // batch_size
        else:
            self.per_rank = -(-n // world_size)
            self.num_batches = -(-self.per_rank // batch_size)
        if kind == "frames":
            self._lut = F.dequantize_lut()

    def __len__(self) -> int:
        """Batches per epoch (on this rank)."""
        return self.num_batches

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def order(self, epoch: int) -> np.ndarray:
        """int64 [num_batches*B or fewer]: the row indices this rank visits in ``epoch``."""
        n = len(self.store)
        if self.shuffle and n:
            rng = np.random.default_rng([self.seed, epoch])
            nb = -(-n // self.block_rows)
            block_order = rng.permutation(nb)
            starts = block_order * self.block_rows
            lens = np.minimum(starts + self.block_rows, n) - starts
            order = np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(n)
            window = self.block_rows * self.window_blocks
            keys = (np.arange(n) // window) + rng.random(n)
            order = order[np.argsort(keys, kind="stable")]
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
        """Yield the batches of ``epoch`` from batch ``start_batch`` on (skipped batches cost nothing)."""
        if not 0 <= start_batch <= self.num_batches:
            raise ValueError(f"start_batch must be in [0, {self.num_batches}], got {start_batch}")
        for idx in self.batch_indices(epoch, start_batch):
            yield self.batch(idx)

    def batch(self, idx: np.ndarray) -> dict:
        """The batch of rows ``idx`` (int64 [B], best sorted)."""
        import torch

        out = {"index": torch.from_numpy(np.asarray(idx, dtype=np.int64)),
               "y": torch.from_numpy(self.store.multi_hot(idx))}
        if self.kind == "features":
            x = np.asarray(self.store.features[idx], dtype=np.float32)
            v = self.store.visual_dim
            out["visual"] = torch.from_numpy(np.ascontiguousarray(x[:, :v]))
            out["audio"] = torch.from_numpy(np.ascontiguousarray(x[:, v:]))
            return out
        rgb, audio, mask = self.frame_batch(idx)
        out.update(rgb=torch.from_numpy(rgb), audio=torch.from_numpy(audio), mask=torch.from_numpy(mask))
        return out

    def frame_rows(self, length: int) -> np.ndarray | slice:
        """Which of a video's ``length`` frames are served (all, first ``max_frames``, or evenly spaced)."""
        cap = self.max_frames
        if cap is None or length <= cap:
            return slice(0, length)
        if self.frame_sampling == "first":
            return slice(0, cap)
        return np.linspace(0, length - 1, cap).round().astype(np.int64)

    def frame_batch(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rgb float32 [B, T, 1024], audio float32 [B, T, 128], mask bool [B, T]) of rows ``idx``."""
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


# --------------------------------------------------------------------------------------------
# command line


def main(argv: list[str] | None = None) -> int:
    """``python -m afkit featurize --data DIR --features mean_std --out STORE [...]``."""
    p = argparse.ArgumentParser(prog="python -m afkit featurize", description=(
        "Build a memory-mapped MF+STD feature store (and, with --frames, the frame store) from "
        "YouTube-8M TFRecords: resumable (rerun the same command after a crash) and atomic."))
    p.add_argument("--data", help="data directory (frame/, video/, vocabulary.csv)")
    p.add_argument("--pattern", help="instead of --data: a TFRecord file pattern (one split, --split)")
    p.add_argument("--split", default="train", help="split name for --pattern (default: train)")
    p.add_argument("--features", default="mean_std", choices=sorted(F.FEATURE_SETS))
    p.add_argument("--out", required=True, help="store directory (one folder per split)")
    p.add_argument("--splits", help="comma-separated splits (default: every split with files)")
    p.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    p.add_argument("--frames", action="store_true", help="also keep the quantized frames (frame store)")
    p.add_argument("--dtype", default="float16", choices=["float16", "float32"])
    p.add_argument("--num-classes", type=int, help="default: rows of DATA/vocabulary.csv")
    p.add_argument("--source", default="auto", choices=["auto", "frame", "video"])
    p.add_argument("--overwrite", action="store_true", help="discard an existing store or parts")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    if (a.data is None) == (a.pattern is None):
        p.error("give exactly one of --data and --pattern")
    config = BuildConfig(feature_set=a.features, dtype=a.dtype, frames=a.frames, workers=a.workers,
                         num_classes=a.num_classes, source=a.source, progress=not a.no_progress)
    try:
        if a.pattern:
            reports = build(a.out, pattern=a.pattern, split=a.split, config=config, overwrite=a.overwrite)
        else:
            splits = a.splits.split(",") if a.splits else None
            reports = build(a.out, a.data, splits=splits, config=config, overwrite=a.overwrite)
    except StoreError as e:
        print(f"afkit featurize: error: {e}", file=sys.stderr)
        return 1
    for name, r in reports.items():
        state = "already complete" if r.already_complete else (
            f"{len(r.shards_built)} shards built, {len(r.shards_skipped)} resumed")
        print(f"{name}: {r.videos} videos -> {r.path} ({state}, {r.seconds:.1f} s)")
    return 0


def verify_main(argv: list[str] | None = None) -> int:
    """``python -m afkit verify-store STORE [--split S] [--no-sources]``: exit 0 iff every split verifies."""
    p = argparse.ArgumentParser(prog="python -m afkit verify-store",
                                description="Check a store's arrays, counts and sources against its manifest.")
    p.add_argument("store", help="a store directory, or one split's folder")
    p.add_argument("--split", help="only this split")
    p.add_argument("--no-sources", action="store_true", help="do not check the source files' sizes")
    a = p.parse_args(argv)
    root = Path(a.store)
    if a.split:
        roots = [root / a.split]
    elif (root / MANIFEST).exists() or (root / PARTS).exists():
        roots = [root]
    else:
        roots = sorted(d for d in root.iterdir() if d.is_dir() and ((d / MANIFEST).exists() or (d / PARTS).exists())) \
            if root.is_dir() else []
        if not roots:
            print(f"afkit verify-store: error: {root} holds no store (no {MANIFEST})", file=sys.stderr)
            return 1
    ok = True
    for r in roots:
        try:
            s = verify(r, check_sources=not a.no_sources)
            print(f"OK {s['path']}: {s['videos']} videos, features {s['features']} {s['dtype']}, "
                  f"{s['labels']} labels / {s['num_classes']} classes, frames {s['frames']}")
        except StoreError as e:
            ok = False
            print(f"FAILED {e}", file=sys.stderr)
    return 0 if ok else 1


# --------------------------------------------------------------------------------------------
# notebook views (notebook 01): tables and arrays of a built store


def reports_table(reports: dict[str, BuildReport]) -> "pd.DataFrame":
    """One row per split of a :func:`build` call: videos, shards built and skipped (resumed),
    whether it was already complete, seconds."""
    import pandas as pd

    return pd.DataFrame([{"split": s, "videos": r.videos, "shards_built": len(r.shards_built),
                          "shards_skipped": len(r.shards_skipped), "already_complete": r.already_complete,
                          "seconds": round(r.seconds, 2), "path": r.path} for s, r in reports.items()])


def verify_table(store_dir, splits: Sequence[str] = SPLITS) -> "pd.DataFrame":
    """:func:`verify` of every split present under ``store_dir``, one row each (raises
    :class:`StoreError` on the first split that fails)."""
    import pandas as pd

    rows = [{"split": s, **verify(Path(store_dir) / s)} for s in splits
            if (Path(store_dir) / s / MANIFEST).exists()]
    for r in rows:
        r["features"] = "x".join(map(str, r["features"]))
    return pd.DataFrame(rows)


def column_blocks(store: Store, max_rows: int | None = 5000) -> dict[str, np.ndarray]:
    """The store's feature columns as float32 blocks ``{name: [n, width]}`` for plotting, from
    the first ``max_rows`` videos (a contiguous read)."""
    n = len(store) if max_rows is None else min(max_rows, len(store))
    x = np.asarray(store.features[:n], dtype=np.float32)
    return {name: x[:, sl] for name, sl in store.columns.items()}


def compare_video_level(store: Store, data_dir, *, max_videos: int | None = 2000) -> "pd.DataFrame":
    """Agreement of the store's frame-derived means with the release's video-level ``mean_rgb`` /
    ``mean_audio`` (same split, matched by id), over at most ``max_videos`` videos: per modality
    the number compared, the max and mean absolute difference, and the tolerance (half a
    quantization step, 2/255, plus the store dtype's rounding). Empty when the data set has no
    video-level files for the split."""
    import pandas as pd

    from afkit import records

    pattern = Path(data_dir) / "video" / f"{store.split}*.tfrecord"
    files = records.expand_pattern(str(pattern)) if pattern.parent.is_dir() else []
    if not files:
        return pd.DataFrame(columns=["modality", "videos", "max_abs_diff", "mean_abs_diff", "tolerance", "agrees"])
    row_of = {v: i for i, v in enumerate(store.ids)}
    got = {"mean_rgb": [], "mean_audio": []}
    want = {"mean_rgb": [], "mean_audio": []}
    seen = 0
    for batch in records.read_video_batches(files, 256):
        for j, vid in enumerate(batch["id"]):
            i = row_of.get(vid)
            if i is None:
                continue
            for col in got:
                got[col].append(np.asarray(store.features[i, store.columns[col]], np.float64))
                want[col].append(np.asarray(batch[col][j], np.float64))
            seen += 1
        if max_videos is not None and seen >= max_videos:
            break
    eps = float(np.finfo(store.features.dtype).eps) * 2.0
    rows = []
    for col in got:
        d = np.abs(np.array(got[col]) - np.array(want[col])) if got[col] else np.zeros(1)
        tol = 2.0 / 255.0 + eps
        rows.append({"modality": col, "videos": len(got[col]), "max_abs_diff": float(d.max()),
                     "mean_abs_diff": float(d.mean()), "tolerance": tol, "agrees": bool(d.max() <= tol)})
    return pd.DataFrame(rows)
