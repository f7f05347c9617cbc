"""Writing a store's files during a build (:mod:`afkit.data.featurize` plans, resumes and runs it):
one source shard featurized into its *part*, the frames written once into preallocated arrays,
and the parts concatenated into the final arrays and the manifest (:mod:`afkit.data.store`'s
format).

A part (``STORE/{split}/_parts/NNNNN.*``, :func:`build_part`) is written under temporary names
and renamed into place, then its done-marker (``NNNNN.done.json``) is renamed into place last:
a resumed build trusts exactly the shards that have a marker. The final arrays
(:func:`concatenate`) are written chunk by chunk under ``*.partial`` names, then renamed; the
manifest is renamed into place last. Memory is bounded by one chunk of videos per process.
Every write passes :func:`afkit.core.faults.crash_point` (tests/core/test_crash.py kills a build
at each).

The frames (the bulk of a frame store: ~170 KB a video) are written *once*, to their final
place: before any shard runs, the frames of every shard are counted from the record lengths of
the index (a frame costs exactly 1170 bytes of a canonical record: 1033 for rgb, 137 for audio;
:func:`frame_estimate`), the final arrays are preallocated, sparse, with that shape
(``frames_{rgb,audio}.npy.rows``, :func:`prepare_frame_files`), and each shard writes its own
row range with ``pwrite`` (workers in parallel, disjoint ranges) and fsyncs before its
done-marker. When every shard holds exactly its estimate (the rule for canonical records: the
few hundred bytes of id and labels are less than a frame) the preallocated file *is* the final
array and is only renamed; a shard with fewer frames than estimated (an unusual encoder, a
video with very many labels) leaves a gap, and then, only then, the frames are compacted into a
new file (a second write). The marker of a shard records its row range, so a resumed build
writes only the missing shards' rows.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from afkit.core import faults
from afkit.core.provenance import (
    afkit_version,
    atomic_savez,
    atomic_write_text,
    fsync_dir,
    temporary_path,
)
from afkit.data import mfstd as F
from afkit.data.store import (
    MANIFEST,
    SCHEMA_VERSION,
    StoreError,
    carve_name,
    file_crc32c,
    in_holdout,
)

FRAME_DIMS = {"rgb": F.RGB_DIM, "audio": F.AUDIO_DIM}

# Test hooks (environment variables), so that a test can kill a build at a chosen point with
# SIGKILL (no cleanup runs, as with a crash or an OOM kill); afkit.core.faults.crash_point (at every
# write, AFKIT_CRASH_AT_WRITE=N) is the finer-grained one:
#   AFKIT_STORE_KILL=shard:K   die after shard K wrote its first chunk (before its done-marker)
#   AFKIT_STORE_KILL=concat    die after the first final array was renamed into place
KILL_ENV = "AFKIT_STORE_KILL"


def write_sorted_json(path: Path, obj) -> None:
    """A build's JSON file (plan, marker, manifest): sorted keys, written atomically."""
    atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=True) + "\n")


def _maybe_kill(point: str) -> None:
    if os.environ.get(KILL_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)


# --------------------------------------------------------------------------------------------
# frames: preallocated final arrays, written once

# bytes of one frame in a canonical SequenceExample: FeatureList element = tag, len(2), Feature =
# tag, len(2), BytesList = tag, len(2), value -> 9 + 1024 (rgb) and 9 + 128 (audio)
_FRAME_BYTES = sum(9 + d for d in FRAME_DIMS.values())  # 1170


def _record_lengths(path: str) -> np.ndarray:
    """Payload length of every record of ``path`` (int64 [N]), from the cached offset index."""
    from afkit.io.tfrecord import load_index

    offsets = np.asarray(load_index(path), dtype=np.int64)
    ends = np.append(offsets[1:], os.path.getsize(path))
    return ends - offsets - 16


def frame_estimate(path: str) -> int:
    """An upper bound on the frames of a frame-level shard, exact for canonical records: every
    frame takes at least ``_FRAME_BYTES`` bytes of its record (exactly that many when encoded as
    TensorFlow and afkit do), the rest of a record (id, labels) takes less than one frame."""
    from afkit.io.records import MAX_FRAMES

    t = np.clip(_record_lengths(path) // _FRAME_BYTES, 1, MAX_FRAMES)
    return int(t.sum())


def _frames_partial(out: Path, modality: str) -> Path:
    return out / f"frames_{modality}.npy.rows"


def _npy_header_bytes(dtype, shape) -> bytes:
    import io

    b = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        b,
        {
            "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
            "fortran_order": False,
            "shape": tuple(shape),
        },
    )
    return b.getvalue()


def prepare_frame_files(out: Path, total: int) -> bool:
    """Make sure the preallocated ``frames_*.npy.rows`` files (``total`` rows) exist; returns
    False when they had to be (re)created, i.e. the frames of earlier shards are gone."""
    intact = True
    for m, w in FRAME_DIMS.items():
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
        tmp = temporary_path(p)
        with open(tmp, "wb") as f:
            f.write(header)
            f.truncate(len(header) + total * w)  # sparse: no bytes written yet
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
        fsync_dir(out)
        faults.crash_point(f"{p.name} preallocated")
    return intact


# --------------------------------------------------------------------------------------------
# one shard -> one part


def part_prefix(parts: Path, index: int) -> Path:
    return parts / f"{index:05d}"


def marker_path(parts: Path, index: int) -> Path:
    return parts / f"{index:05d}.done.json"


@dataclass
class _PartRows:
    """What a part accumulates while its shard streams through :func:`build_part`: the chunk of
    features not yet written (``buffer[:filled]``) and every video's id, labels and frame count."""

    buffer: np.ndarray
    dtype: np.dtype
    ids: list[bytes] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    nframes: list[int] = field(default_factory=list)
    filled: int = 0
    first_chunk: bool = True

    def add(self, record: dict, labels: np.ndarray) -> None:
        vid = record["id"]
        self.ids.append(vid.encode("utf-8") if isinstance(vid, str) else bytes(vid))
        self.labels.append(labels)
        self.nframes.append(int(record["rgb"].shape[0]) if "rgb" in record else 0)
        self.filled += 1

    def write_chunk(self, file) -> None:
        file.write(self.buffer[: self.filled].astype(self.dtype).data)

    def id_width(self) -> int:
        return max((len(i) for i in self.ids), default=1)

    def meta_arrays(self) -> dict[str, np.ndarray]:
        """The part's ``NNNNN.meta.npz`` arrays: ids, labels as CSR, frames per video."""
        n = len(self.ids)
        width = self.id_width()
        counts = np.fromiter((len(x) for x in self.labels), dtype=np.int64, count=n)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        indices = (
            np.concatenate(self.labels).astype(np.int32)
            if n and indptr[-1]
            else np.zeros(0, np.int32)
        )
        return {
            "ids": np.array(self.ids, dtype=f"S{width}") if n else np.zeros(0, "S1"),
            "labels_indptr": indptr,
            "labels_indices": indices,
            "num_frames": np.asarray(self.nframes, dtype=np.int32),
        }


class _FrameRows:
    """A frame-level shard's rows ``[frame_start, frame_start + frame_estimate)`` of the
    preallocated final arrays, written with ``pwrite`` as its records are read."""

    def __init__(self, task: dict):
        out = Path(task["out"])
        self.row_cap, self.written_rows = task["frame_estimate"], 0
        self.fds: dict[str, int] = {}
        self.pos: dict[str, int] = {}
        for m, w in FRAME_DIMS.items():
            self.fds[m] = os.open(_frames_partial(out, m), os.O_WRONLY)
            header = _npy_header_bytes(np.uint8, (task["frames_total"], w))
            self.pos[m] = len(header) + task["frame_start"] * w

    def write(self, record: dict, src: str) -> None:
        vid = record["id"]
        if "rgb" not in record:
            raise StoreError(
                f"{src}: frames=True needs frame-level records; video {vid!r} has no frames"
            )
        t = record["rgb"].shape[0]
        if record["audio"].shape[0] != t:
            raise StoreError(
                f"{src}: video {vid!r} has {t} rgb frames but {record['audio'].shape[0]} audio "
                "frames"
            )
        if self.written_rows + t > self.row_cap:
            raise StoreError(
                f"{src}: more frames than the record lengths allow "
                f"({self.written_rows + t} > {self.row_cap}); not a YouTube-8M shard?"
            )
        for m, fd in self.fds.items():
            data = np.ascontiguousarray(record[m], dtype=np.uint8).data
            done = os.pwrite(fd, data, self.pos[m])
            while done < data.nbytes:  # pragma: no cover (short writes are rare)
                done += os.pwrite(fd, data[done:], self.pos[m] + done)
            self.pos[m] += data.nbytes
        self.written_rows += t

    def sync(self) -> None:
        for fd in self.fds.values():
            os.fdatasync(fd)

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)


# *Our cap* on the classes of a store built without a vocabulary (no vocabulary.csv, no
# --num-classes): its num_classes is the largest label + 1, and every batch allocates B x C.
# YouTube-8M has 3862 (2018) or 4716 (2017) classes.
MAX_DERIVED_CLASSES = 100_000
INT32_MAX = 2**31 - 1  # labels are stored as int32


def _checked_labels(record: dict, src: str, num_classes: int | None) -> np.ndarray:
    lab = np.asarray(record.get("labels", ()), dtype=np.int64)
    bound = num_classes if num_classes is not None else MAX_DERIVED_CLASSES
    if lab.size and (lab.min() < 0 or lab.max() >= min(bound, INT32_MAX)):
        where = (
            "num_classes from vocabulary.csv or the argument"
            if num_classes is not None
            else "no vocabulary.csv and no --num-classes: the store's classes would be the "
            f"largest label + 1, capped at {MAX_DERIVED_CLASSES}; pass --num-classes"
        )
        raise StoreError(
            f"{src}: video {record['id']!r} has label ids {lab.tolist()} outside "
            f"[0, {min(bound, INT32_MAX)}) ({where})"
        )
    return lab


def _check_finite(row: np.ndarray, dtype: np.dtype, src: str, vid) -> None:
    """A StoreError unless the features ``row`` are finite in the store's ``dtype``."""
    if not np.isfinite(row).all():
        raise StoreError(f"{src}: video {vid!r} has non-finite features (NaN or inf)")
    if dtype == np.float16 and np.abs(row).max() > np.finfo(np.float16).max:
        raise StoreError(
            f"{src}: video {vid!r} has features beyond float16's range "
            f"({float(np.abs(row).max()):.4g}); build with dtype='float32' (--dtype float32)"
        )


def _stream_shard(
    task: dict, part: _PartRows, features_file, frame_rows: _FrameRows | None
) -> None:
    """Read the shard's records into ``part``: features written every ``chunk`` videos (and
    flushed after the first chunk), frames written as they are read; then everything synced."""
    from afkit.io.records import read_records

    index, src = task["index"], task["source"]
    carve = task.get("carve")
    for record in read_records(src, verify=task["verify_crc"]):
        if carve and in_holdout(record["id"], carve["fraction"]) != (carve["part"] == "holdout"):
            continue  # the other part of a carved validate
        lab = _checked_labels(record, src, task["num_classes"])
        F.video_features(record, task["feature_set"], out=part.buffer[part.filled])
        _check_finite(part.buffer[part.filled], part.dtype, src, record["id"])
        if frame_rows is not None:
            frame_rows.write(record, src)
        part.add(record, lab)
        if part.filled == task["chunk"]:
            part.write_chunk(features_file)
            faults.crash_point(f"shard {index}: chunk written")
            part.filled = 0
            if part.first_chunk:
                part.first_chunk = False
                features_file.flush()
                _maybe_kill(f"shard:{index}")
    if part.filled:
        part.write_chunk(features_file)
    features_file.flush()
    os.fsync(features_file.fileno())
    if frame_rows is not None:
        frame_rows.sync()
        faults.crash_point(f"shard {index}: frame rows written")


def build_part(task: dict) -> dict:
    """Featurize one source file into its part files; return the done-marker's content.

    Streams: features are written every ``chunk`` videos, frames as they are read, so memory is
    bounded by one chunk (plus the shard's ids/labels, a few bytes per video).
    """
    index, parts = task["index"], Path(task["parts"])
    prefix = part_prefix(parts, index)
    features_final = Path(f"{prefix}.features.bin")
    features_tmp = temporary_path(features_final, hidden=False)
    buffer = np.empty((task["chunk"], F.feature_dim(task["feature_set"])), dtype=np.float64)
    part = _PartRows(buffer, np.dtype(task["dtype"]))
    features_file = open(features_tmp, "wb")
    frame_rows = _FrameRows(task) if task["frames"] else None
    try:
        _stream_shard(task, part, features_file, frame_rows)
    except BaseException:  # e.g. a full disk: free the space of the temporary part files
        features_file.close()
        features_tmp.unlink(missing_ok=True)
        raise
    finally:
        features_file.close()
        if frame_rows is not None:
            frame_rows.close()
    parent = task.get("parent_pid")
    if parent is not None and os.getppid() != parent:  # orphaned: the build was killed
        raise StoreError("build process died; not committing the part")
    meta = part.meta_arrays()
    try:
        atomic_savez(Path(f"{prefix}.meta.npz"), **meta)
    except BaseException:  # e.g. a full disk: free the space of the temporary part files
        features_tmp.unlink(missing_ok=True)
        raise
    os.replace(features_tmp, features_final)
    fsync_dir(parts)
    faults.crash_point(f"shard {index}: features renamed")
    marker = {
        "index": index,
        "source": os.path.basename(task["source"]),
        "source_size": task["source_size"],
        "videos": len(part.ids),
        "labels": int(meta["labels_indptr"][-1]),
        "frames": int(sum(part.nframes)),
        "id_width": int(part.id_width()),
    }
    if task["frames"]:
        marker["frame_start"] = int(task["frame_start"])
        marker["frame_estimate"] = int(task["frame_estimate"])
    write_sorted_json(marker_path(parts, index), marker)
    return marker


class _NpyWriter:
    """Writes a .npy file sequentially (header, then rows appended in order) with plain file
    writes: no memory map, so the pages written do not count in this process's RSS."""

    def __init__(self, path: Path, dtype, shape):
        self.path, self.dtype, self.shape = path, np.dtype(dtype), tuple(shape)
        self.expected = int(np.prod(self.shape)) * self.dtype.itemsize
        self.f = open(path, "wb")
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": self.shape,
        }
        np.lib.format.write_array_header_1_0(self.f, header)
        self.start = self.f.tell()

    def write(self, array: np.ndarray) -> None:
        self.f.write(np.ascontiguousarray(array, dtype=self.dtype).data)

    def copy_from(self, src: Path, nbytes: int, step: int = 16 << 20) -> None:
        """Append the raw bytes of a part file (which must hold exactly ``nbytes``)."""
        actual = os.path.getsize(src)
        if actual != nbytes:
            raise StoreError(
                f"part file {src} has {actual} bytes, expected {nbytes}; delete it and rebuild"
            )
        with open(src, "rb") as f:
            shutil.copyfileobj(f, self.f, step)

    def close(self) -> None:
        written = self.f.tell() - self.start
        self.f.flush()
        os.fsync(self.f.fileno())
        self.f.close()
        if written != self.expected:
            raise StoreError(f"{self.path}: wrote {written} bytes, expected {self.expected}")


def _final_specs(markers: list[dict], config) -> dict[str, tuple[str, tuple]]:
    """Every final array of the store: name -> (dtype, shape), in the order they are written."""
    n = sum(m["videos"] for m in markers)
    width = max([m["id_width"] for m in markers] + [1])
    specs = {
        "features": (config.dtype, (n, F.feature_dim(config.feature_set))),
        "labels_indptr": ("int64", (n + 1,)),
        "labels_indices": ("int32", (sum(m["labels"] for m in markers),)),
        "ids": (f"S{width}", (n,)),
        "num_frames": ("int32", (n,)),
    }
    if config.frames:
        nf = sum(m["frames"] for m in markers)
        specs["frame_offsets"] = ("int64", (n + 1,))
        for m, w in FRAME_DIMS.items():
            specs[f"frames_{m}"] = ("uint8", (nf, w))
    return specs


def _append_part(
    writers: dict[str, _NpyWriter],
    parts: Path,
    i: int,
    marker: dict,
    row_bytes: int,
    start: tuple[int, int],
) -> None:
    """Append part ``i`` (its ``marker``) to the final arrays; ``start``: the labels and frames
    of the parts before it."""
    prefix = part_prefix(parts, i)
    k = marker["videos"]
    with np.load(f"{prefix}.meta.npz") as meta:
        indptr, indices = meta["labels_indptr"], meta["labels_indices"]
        nfr, ids = meta["num_frames"], meta["ids"]
    if len(indptr) != k + 1 or len(ids) != k or len(nfr) != k or len(indices) != marker["labels"]:
        raise StoreError(
            f"part {i} ({marker['source']}) disagrees with its marker; delete {parts} and rebuild"
        )
    writers["features"].copy_from(Path(f"{prefix}.features.bin"), k * row_bytes)
    writers["labels_indptr"].write(indptr[1:] + start[0])
    writers["labels_indices"].write(indices)
    writers["ids"].write(ids.astype(writers["ids"].dtype))
    writers["num_frames"].write(nfr)
    if "frame_offsets" in writers:
        writers["frame_offsets"].write(np.cumsum(nfr, dtype=np.int64) + start[1])


def _write_copied_arrays(
    out: Path,
    parts: Path,
    markers: list[dict],
    specs: dict[str, tuple[str, tuple]],
    copied: list[str],
) -> None:
    """The arrays copied from the parts, written sequentially as ``*.npy.partial``; on an error
    (e.g. a full disk) the parts stay and the partial arrays go."""
    partial = {name: out / f"{name}.npy.partial" for name in copied}
    writers = {name: _NpyWriter(partial[name], *specs[name]) for name in copied}
    try:
        lab = fr = 0
        writers["labels_indptr"].write(np.zeros(1, np.int64))
        if "frame_offsets" in writers:
            writers["frame_offsets"].write(np.zeros(1, np.int64))
        features = writers["features"]
        row_bytes = features.shape[1] * features.dtype.itemsize
        for i, m in enumerate(markers):
            _append_part(writers, parts, i, m, row_bytes, (lab, fr))
            lab += m["labels"]
            fr += m["frames"]
        for w in writers.values():
            w.close()
    except BaseException:
        for name, w in writers.items():
            w.f.close()
            partial[name].unlink(missing_ok=True)
        raise


def _manifest(
    plan: dict,
    markers: list[dict],
    config,
    num_classes: int,
    split: str,
    specs: dict[str, tuple[str, tuple]],
    crcs: dict[str, str],
) -> dict:
    nf = sum(m["frames"] for m in markers)
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "afkit.data.store",
        "afkit_version": afkit_version(),
        "split": split,
        "feature_set": config.feature_set,
        "dtype": config.dtype,
        "columns": {k: [v.start, v.stop] for k, v in F.columns(config.feature_set).items()},
        "num_videos": sum(m["videos"] for m in markers),
        "num_classes": num_classes,
        "num_labels": sum(m["labels"] for m in markers),
        "frames": bool(config.frames),
        "num_frames_total": int(nf) if config.frames else None,
        "source_level": plan["source_level"],
        "sources": [
            {**s, "videos": m["videos"]} for s, m in zip(plan["sources"], markers, strict=True)
        ],
        "arrays": {
            name: {
                "file": f"{name}.npy",
                "dtype": np.dtype(dt).str,
                "shape": list(shape),
                "crc32c": crcs[name],
            }
            for name, (dt, shape) in specs.items()
        },
        "dequantize": "x = q * 4/255 + (4/512 - 2) (frames stay quantized uint8)",
        **(
            {
                "carve": plan["carve"],
                "evaluation": carve_name(plan["carve"]["part"], plan["carve"]["fraction"]),
            }
            if plan.get("carve")
            else {}
        ),
    }


def _check_unique_ids(parts: Path, markers: list[dict]) -> None:
    """A StoreError naming the first id that two videos share (in one shard or two)."""
    ids = []
    for i in range(len(markers)):
        with np.load(f"{part_prefix(parts, i)}.meta.npz") as meta:
            ids.append(meta["ids"])
    if not ids:
        return
    shard = np.repeat(np.arange(len(ids)), [len(x) for x in ids])
    every = np.concatenate(ids)
    order = np.argsort(every, kind="stable")
    same = np.flatnonzero(every[order][1:] == every[order][:-1])
    if len(same):
        a, b = order[same[0]], order[same[0] + 1]
        where = [markers[shard[k]]["source"] for k in (a, b)]
        raise StoreError(
            f"video id {every[a].decode('utf-8', 'replace')!r} appears twice (in {where[0]} "
            f"and {where[1]}): a store refuses duplicate ids (rows are looked up by id)"
        )


def concatenate(
    out: Path, parts: Path, plan: dict, markers: list[dict], config, num_classes: int, split: str
) -> None:
    """Parts -> final arrays (``*.partial``, written sequentially, then renamed) -> manifest
    (last). ``config``: the build's :class:`afkit.data.featurize.BuildConfig`."""
    _check_unique_ids(parts, markers)
    specs = _final_specs(markers, config)
    frame_names = [f"frames_{m}" for m in FRAME_DIMS] if config.frames else []
    _write_copied_arrays(
        out, parts, markers, specs, [name for name in specs if name not in frame_names]
    )
    for name in specs:
        if name in frame_names:
            _finish_frames(out, name, markers, specs[name][1][0])
        else:
            os.replace(out / f"{name}.npy.partial", out / f"{name}.npy")
        fsync_dir(out)
        faults.crash_point(f"{name}.npy renamed")
        _maybe_kill("concat")
    # the checksums of the final files as they are on disk (verify checks them against these)
    crcs = {name: file_crc32c(out / f"{name}.npy") for name in specs}
    manifest = _manifest(plan, markers, config, num_classes, split, specs, crcs)
    write_sorted_json(out / MANIFEST, manifest)


def _finish_frames(out: Path, name: str, markers: list[dict], nf: int) -> None:
    """The preallocated ``frames_*.npy.rows`` -> ``frames_*.npy``: a rename when every shard
    filled exactly its estimated rows (the common case: the frames are written once), else a
    compacting copy of each shard's rows into a new file (then renamed)."""
    final, partial = out / f"{name}.npy", _frames_partial(out, name.split("_", 1)[1])
    width = FRAME_DIMS[name.split("_", 1)[1]]
    if final.exists() and not partial.exists():
        return  # done by an interrupted earlier run of this step
    if all(m["frames"] == m["frame_estimate"] for m in markers):
        os.replace(partial, final)
        return
    total = sum(m["frame_estimate"] for m in markers)
    skip = len(_npy_header_bytes(np.uint8, (total, width)))
    tmp = temporary_path(out / f"{name}.npy.compact")
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
