"""The memory-mapped feature store and frame store: the on-disk format, opening and verifying a
split, per-column statistics, and the notebook tables of a built store. Building a store is
:mod:`afkit.data.featurize`; serving batches of a split is :mod:`afkit.data.batches`.

Layout of a store (one folder per split)::

    STORE/{split}/
      manifest.json       written LAST, by atomic rename: its presence marks the split complete
      features.npy        [N, D]  float16 (default) or float32; columns as afkit.data.mfstd.columns
      labels_indptr.npy   [N+1]   int64   labels of video i = labels_indices[indptr[i]:indptr[i+1]]
      labels_indices.npy  [L]     int32   class ids (CSR)
      ids.npy             [N]     |S{w}   video ids, ASCII/UTF-8 bytes, fixed width
      num_frames.npy      [N]     int32   frames per video (0 when built from video-level files)
      # frame store (built with frames=True, from frame-level files):
      frame_offsets.npy   [N+1]   int64   frames of video i = rows offsets[i]:offsets[i+1]
      frames_rgb.npy      [F, 1024] uint8 the quantized frames, as in the release (not floats)
      frames_audio.npy    [F, 128]  uint8

All arrays are plain ``.npy`` files opened with ``mmap_mode="r"``: nothing is loaded into RAM.
A build in progress keeps its shards' parts under ``STORE/{split}/_parts/`` until the manifest
is renamed into place (:mod:`afkit.data.featurize`).

*Our choice*: features are stored as float16 by default. Dequantized values lie in [-2, 2], where
float16's relative precision (2^-11, an absolute error <= 2^-11 * 2 ~ 1e-3) is finer than the
8-bit quantization step of the data itself (4/255 ~ 0.016); ``dtype="float32"`` doubles the size.

Reading (:func:`open_store`) refuses a split without a manifest (an incomplete or killed build),
with another schema version, or whose arrays disagree with the manifest (missing, truncated,
wrong shape or dtype), with a :class:`StoreError` naming what is wrong. :func:`verify` also
checks the content (CSR and frame offsets consistent, label ids in range, features finite) and
the source files' sizes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import google_crc32c
import numpy as np

from afkit.data import mfstd as F

if TYPE_CHECKING:  # annotations only: pandas is imported where a table is made
    import pandas as pd

__all__ = [
    "SCHEMA_VERSION",
    "StoreError",
    "HOLDOUT_FRACTION",
    "in_holdout",
    "evaluation_name",
    "open_store",
    "Store",
    "verify",
    "feature_stats",
    "frame_stats",
    "verify_main",
]

# 2: every array's CRC32C in the manifest (``arrays.NAME.crc32c``), checked by verify
SCHEMA_VERSION = 2
MANIFEST = "manifest.json"
PARTS = "_parts"
SPLITS = ("train", "validate", "test")


# The evaluation split of a release whose test split has no labels (the real YouTube-8M's):
# a deterministic part of validate, chosen by a hash of the video id, built as the store's
# `test/` (its manifest's `evaluation` says so), the rest of validate as its `validate/`
HOLDOUT_FRACTION = 0.2


def in_holdout(video_id: str, fraction: float = HOLDOUT_FRACTION) -> bool:
    """Whether ``video_id`` falls in the held-out part of validate: the first 8 bytes of the
    SHA-256 of its UTF-8 bytes, as an integer, below ``fraction`` of 2**64 (the same videos on
    every machine and every build)."""
    h = int.from_bytes(hashlib.sha256(video_id.encode("utf-8")).digest()[:8], "big")
    return h < int(fraction * (1 << 64))


def carve_name(part: str, fraction: float = HOLDOUT_FRACTION) -> str:
    """The name tables and sentences give a carved part of validate: ``"validate-holdout (20% by
    id hash)"`` (``part="holdout"``) or ``"validate minus holdout (80%)"`` (``part="rest"``)."""
    pct = round(100 * fraction)
    if part == "holdout":
        return f"validate-holdout ({pct}% by id hash)"
    return f"validate minus holdout ({100 - pct}%)"


def evaluation_name(store_dir) -> str:
    """The split a store's ``test/`` holds, by its manifest: ``"test"`` (the release's labelled
    test split) or the carved part of validate (:func:`carve_name`)."""
    try:
        manifest = json.loads((Path(store_dir) / "test" / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError):
        return "test"
    return manifest.get("evaluation") or "test"


def tuning_name(store_dir) -> str:
    """The split a store's ``validate/`` holds: ``"validate"`` or the rest of a carved validate."""
    try:
        manifest = json.loads((Path(store_dir) / "validate" / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError):
        return "validate"
    return manifest.get("evaluation") or "validate"


class StoreError(RuntimeError):
    """A store that is incomplete, damaged, or does not match its manifest or its sources."""


def check_split_name(split) -> str:
    """``split`` if it is a plain folder name (letters, digits, ``_``, ``-``; not starting with
    ``-``), else ``ValueError``: a split names a folder inside the store, never ``..`` or a path."""
    if not isinstance(split, str) or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]*", split):
        raise ValueError(
            f"split name {split!r} is not a plain folder name (letters, digits, '_' and '-', "
            f"e.g. 'train'): a split is a folder inside the store"
        )
    return split


# --------------------------------------------------------------------------------------------
# open, verify


def _split_dir(path, split: str | None) -> Path:
    path = Path(path)
    if split is not None:
        return path / check_split_name(split)
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


def file_crc32c(path, step: int = 16 << 20) -> str:
    """The CRC32C of a whole file (hex), read ``step`` bytes at a time: a store array's checksum."""
    crc = 0
    with open(path, "rb") as f:
        while chunk := f.read(step):
            crc = google_crc32c.extend(crc, chunk)
    return f"{crc:08x}"


# what a manifest must hold, with the type of each value (a manifest is trusted only after this)
_MANIFEST_KEYS = {
    "feature_set": str,
    "num_videos": int,
    "num_classes": int,
    "num_labels": int,
    "arrays": dict,
    "columns": dict,
    "sources": list,
    "source_level": str,
}
_ARRAY_KEYS = {"file": str, "dtype": str, "shape": list, "crc32c": str}


def _check_manifest(root: Path, manifest) -> None:
    """A :class:`StoreError` unless ``manifest`` has every key with its type, and names each
    array's file as ``NAME.npy`` inside the store folder (never another path)."""

    def bad(what: str):
        return StoreError(f"{root / MANIFEST}: {what}; rebuild the store")

    if not isinstance(manifest, dict):
        raise bad("not a JSON object")
    for key, typ in _MANIFEST_KEYS.items():
        if not isinstance(manifest.get(key), typ) or isinstance(manifest.get(key), bool):
            raise bad(f"no {key!r} of type {typ.__name__}")
    if manifest["num_videos"] < 0 or manifest["num_labels"] < 0 or manifest["num_classes"] < 0:
        raise bad("a negative count")
    for name, spec in manifest["arrays"].items():
        if not isinstance(spec, dict) or any(
            not isinstance(spec.get(k), t) for k, t in _ARRAY_KEYS.items()
        ):
            raise bad(f"array {name!r} lacks one of {sorted(_ARRAY_KEYS)}")
        if spec["file"] != f"{name}.npy" or Path(spec["file"]).name != spec["file"]:
            raise bad(
                f"array {name!r} names the file {spec['file']!r}; a store's arrays are "
                f"NAME.npy files inside its own folder"
            )
        if not all(isinstance(d, int) and d >= 0 for d in spec["shape"]):
            raise bad(f"array {name!r} has the shape {spec['shape']!r}")
        try:
            np.dtype(spec["dtype"])
        except TypeError:
            raise bad(f"array {name!r} has the dtype {spec['dtype']!r}") from None
    try:
        F.feature_dim(manifest["feature_set"])
    except (KeyError, ValueError):
        raise bad(f"unknown feature set {manifest['feature_set']!r}") from None


def _check_arrays(root: Path, manifest: dict) -> list[str]:
    """Problems with the array files against the manifest (empty list: all consistent)."""
    problems = []
    for spec in manifest["arrays"].values():
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
            problems.append(
                f"{spec['file']}: {size} bytes, expected {expected} (truncated or damaged)"
            )
    n = manifest["num_videos"]
    want = {
        "features": [n, F.feature_dim(manifest["feature_set"])],
        "labels_indptr": [n + 1],
        "ids": [n],
        "num_frames": [n],
        "labels_indices": [manifest["num_labels"]],
    }
    if manifest.get("frames"):
        want["frame_offsets"] = [n + 1]
    for name, shape in want.items():
        spec = manifest["arrays"].get(name)
        if spec is None:
            problems.append(f"manifest lists no {name!r} array")
        elif list(spec["shape"]) != shape:
            problems.append(
                f"manifest: {name} shape {spec['shape']} disagrees with num_videos={n} ({shape})"
            )
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
    version = manifest.get("schema_version") if isinstance(manifest, dict) else None
    if version != SCHEMA_VERSION:
        raise StoreError(
            f"{root}: store schema version {version!r}, this afkit reads "
            f"{SCHEMA_VERSION}; rebuild the store"
            + (" (version 1 stores have no array checksums)" if version == 1 else "")
        )
    _check_manifest(root, manifest)
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
        if self.has_frames:
            self._check_frame_offsets()
        # in column order (the manifest's JSON keys are sorted by name)
        self.columns = {
            k: slice(a, b)
            for k, (a, b) in sorted(self.manifest["columns"].items(), key=lambda kv: kv[1][0])
        }
        self.num_classes = int(self.manifest["num_classes"])
        self.feature_set = self.manifest["feature_set"]
        self.split = self.manifest.get("split", root.name)

    def _check_frame_offsets(self) -> None:
        """Frame offsets that index the frame arrays: from 0 to their rows, each video 0 to
        MAX_FRAMES frames, equal to ``num_frames`` (a lying offset would make a batch allocate
        a huge T or read another video's frames). One pass over N+1 int64."""
        from afkit.io.records import MAX_FRAMES

        off = np.asarray(self.frame_offsets, dtype=np.int64)
        steps = np.diff(off)
        if (
            off[0] != 0
            or off[-1] != len(self.frames_rgb)
            or len(self.frames_audio) != len(self.frames_rgb)
            or (len(steps) and (steps.min() < 0 or steps.max() > MAX_FRAMES))
            or not np.array_equal(steps, self.num_frames)
        ):
            raise StoreError(
                f"{self.path}: frame_offsets do not index the frame arrays (from 0 to their "
                f"{len(self.frames_rgb)} rows, 0..{MAX_FRAMES} frames a video, equal to "
                "num_frames): the store is damaged; rebuild it"
            )

    @property
    def identity(self) -> str:
        """A fingerprint of the split's content: a hash of its arrays' names, shapes, dtypes
        and checksums (equal for two builds of the same data, different for other data)."""
        text = json.dumps(self.manifest["arrays"], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def __len__(self) -> int:
        return int(self.manifest["num_videos"])

    def __repr__(self) -> str:
        return (
            f"Store({str(self.path)!r}, split={self.split!r}, videos={len(self)}, "
            f"features={self.feature_set} {self.features.dtype} {list(self.features.shape)}, "
            f"classes={self.num_classes}, frames={self.has_frames})"
        )

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
            pos = (
                np.arange(total)
                - np.repeat(np.cumsum(counts) - counts, counts)
                + np.repeat(starts, counts)
            )
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
    """Open a complete store split read-only: ``open_store("stores/x/train")`` or
    ``("stores/x", "train")``.

    Raises :class:`StoreError` on an incomplete store (no manifest), another schema version, or
    arrays that disagree with the manifest (missing, truncated, shape or dtype).
    """
    return Store(_split_dir(path, split))


def _label_problems(store: Store, chunk: int) -> list[str]:
    """The CSR labels: ``indptr`` a valid index, every label id in ``[0, num_classes)`` (read
    ``chunk`` ids at a time)."""
    problems = []
    indptr = np.asarray(store.labels_indptr)
    if indptr[0] != 0 or np.any(np.diff(indptr) < 0) or indptr[-1] != len(store.labels_indices):
        problems.append(
            "labels_indptr is not a valid CSR index (start 0, non-decreasing, end = #labels)"
        )
    for a in range(0, len(store.labels_indices), chunk):
        part = np.asarray(store.labels_indices[a : a + chunk])
        if part.size and (part.min() < 0 or part.max() >= store.num_classes):
            problems.append(f"label ids outside [0, {store.num_classes})")
            break
    return problems


def _frame_problems(store: Store, manifest: dict) -> list[str]:
    """The frame offsets against ``num_frames`` and the frame arrays; no frameless video in a
    store built from frame-level files."""
    problems = []
    if store.has_frames:
        off = np.asarray(store.frame_offsets)
        if (
            off[0] != 0
            or np.any(np.diff(off) != store.num_frames)
            or off[-1] != len(store.frames_rgb)
        ):
            problems.append("frame_offsets disagree with num_frames or the frame arrays")
        if len(store.frames_audio) != len(store.frames_rgb):
            problems.append("frames_rgb and frames_audio have different numbers of rows")
    if manifest["source_level"] == "frame" and len(store) and int(np.min(store.num_frames)) < 1:
        problems.append("a video has no frames (num_frames < 1)")
    return problems


def _source_problems(manifest: dict, n: int, check_sources: bool) -> list[str]:
    """The per-source video counts against the ``n`` videos; with ``check_sources``, each source
    file present and of its recorded size."""
    problems = []
    if sum(s["videos"] for s in manifest["sources"]) != n:
        problems.append("per-source video counts do not add up to num_videos")
    if check_sources:
        for s in manifest["sources"]:
            if not os.path.exists(s["path"]):
                problems.append(f"source file {s['path']} is missing (check_sources=False to skip)")
            elif os.path.getsize(s["path"]) != s["size"]:
                problems.append(
                    f"source file {s['path']} has {os.path.getsize(s['path'])} bytes, the store "
                    f"was built from {s['size']} bytes: the data changed, rebuild the store"
                )
    return problems


def checksum_problems(root: Path, manifest: dict) -> list[str]:
    """The array files whose CRC32C differs from the manifest's (bit rot, a changed file)."""
    problems = []
    for spec in manifest["arrays"].values():
        got = file_crc32c(root / spec["file"])
        if got != spec["crc32c"]:
            problems.append(
                f"{spec['file']}: CRC32C {got}, the manifest says {spec['crc32c']} "
                "(the file changed after the build: damaged)"
            )
    return problems


def verify(
    path,
    split: str | None = None,
    *,
    check_sources: bool = True,
    checksums: bool = True,
    chunk_rows: int = 65536,
) -> dict:
    """Check a store split against its manifest; return a summary dict or raise :class:`StoreError`.

    Checks: manifest present and of this schema; every array's dtype, shape and byte size; the
    CSR (``indptr`` starts at 0, non-decreasing, ends at the number of labels; label ids in
    [0, num_classes)); frame offsets (start at 0, steps equal ``num_frames``, end at the frame
    rows); features finite (read in chunks of ``chunk_rows``: bounded memory); with
    ``checksums``, every array file's CRC32C against the manifest's (bit rot inside a finite
    array); and, with ``check_sources``, each source file's size against the manifest (a
    missing source is a problem too).
    """
    root = _split_dir(path, split)
    manifest = _read_manifest(root)
    problems = _check_arrays(root, manifest)
    if problems:
        raise StoreError(f"{root} does not match its manifest: " + "; ".join(problems))
    if checksums:
        problems += checksum_problems(root, manifest)
    store = Store(root)
    n = len(store)
    problems += _label_problems(store, chunk_rows * 16)
    problems += _frame_problems(store, manifest)
    for a in range(0, n, chunk_rows):
        if not np.isfinite(np.asarray(store.features[a : a + chunk_rows], dtype=np.float32)).all():
            problems.append(f"non-finite features in rows {a}..{min(n, a + chunk_rows) - 1}")
            break
    problems += _source_problems(manifest, n, check_sources)
    if problems:
        raise StoreError(f"{root} failed verification: " + "; ".join(problems))
    return {
        "path": str(root),
        "videos": n,
        "features": list(store.features.shape),
        "dtype": str(store.features.dtype),
        "labels": int(len(store.labels_indices)),
        "num_classes": store.num_classes,
        "frames": int(len(store.frames_rgb)) if store.has_frames else None,
        "sources": len(manifest["sources"]),
    }


# --------------------------------------------------------------------------------------------
# statistics


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


def frame_stats(store: Store, *, chunk_rows: int = 16384):
    """Per-column mean and population std of the dequantized frames, over every frame of the
    split -> (rgb mean, rgb std, audio mean, audio std), float32 [1024] / [128]. Sums of x and
    x^2 in float64, in chunks of ``chunk_rows`` frames (bounded memory)."""
    lut = F.dequantize_lut().astype(np.float64)
    stats = []
    for frames in (store.frames_rgb, store.frames_audio):
        total = np.zeros(frames.shape[1]), np.zeros(frames.shape[1])
        for a in range(0, len(frames), chunk_rows):
            x = lut[np.asarray(frames[a : a + chunk_rows])]
            total[0].__iadd__(x.sum(0))
            total[1].__iadd__((x * x).sum(0))
        n = max(1, len(frames))
        mean = total[0] / n
        stats += [
            mean.astype(np.float32),
            np.sqrt(np.maximum(total[1] / n - mean * mean, 0)).astype(np.float32),
        ]
    return tuple(stats)


# --------------------------------------------------------------------------------------------
# command line


def verify_main(argv: list[str] | None = None) -> int:
    """``python -m afkit verify-store STORE [--split S] [--no-sources]``:
    exit 0 iff every split verifies."""
    p = argparse.ArgumentParser(
        prog="python -m afkit verify-store",
        description="Check a store's arrays, counts and sources against its manifest.",
    )
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
        roots = (
            sorted(
                d
                for d in root.iterdir()
                if d.is_dir() and ((d / MANIFEST).exists() or (d / PARTS).exists())
            )
            if root.is_dir()
            else []
        )
        if not roots:
            print(
                f"afkit verify-store: error: {root} holds no store (no {MANIFEST})", file=sys.stderr
            )
            return 1
    ok = True
    for r in roots:
        try:
            s = verify(r, check_sources=not a.no_sources)
            print(
                f"OK {s['path']}: {s['videos']} videos, features {s['features']} {s['dtype']}, "
                f"{s['labels']} labels / {s['num_classes']} classes, frames {s['frames']}"
            )
        except StoreError as e:
            ok = False
            print(f"FAILED {e}", file=sys.stderr)
    return 0 if ok else 1


# --------------------------------------------------------------------------------------------
# notebook views (notebook 01): tables and arrays of a built store


def verify_table(store_dir, splits: Sequence[str] = SPLITS) -> pd.DataFrame:
    """:func:`verify` of every split present under ``store_dir``, one row each (raises
    :class:`StoreError` on the first split that fails)."""
    import pandas as pd

    rows = [
        {"split": s, **verify(Path(store_dir) / s)}
        for s in splits
        if (Path(store_dir) / s / MANIFEST).exists()
    ]
    for r in rows:
        r["features"] = "x".join(map(str, r["features"]))
    return pd.DataFrame(rows)


def column_blocks(store: Store, max_rows: int | None = 5000) -> dict[str, np.ndarray]:
    """The store's feature columns as float32 blocks ``{name: [n, width]}`` for plotting, from
    the first ``max_rows`` videos (a contiguous read)."""
    n = len(store) if max_rows is None else min(max_rows, len(store))
    x = np.asarray(store.features[:n], dtype=np.float32)
    return {name: x[:, sl] for name, sl in store.columns.items()}


def compare_video_level(store: Store, data_dir, *, max_videos: int | None = 2000) -> pd.DataFrame:
    """Agreement of the store's frame-derived means with the release's video-level ``mean_rgb`` /
    ``mean_audio`` (same split, matched by id), over at most ``max_videos`` videos: per modality
    the number compared, the max and mean absolute difference, and the tolerance (half a
    quantization step, 2/255, plus the store dtype's rounding). Empty when the data set has no
    video-level files for the split."""
    import pandas as pd

    from afkit.io import records

    # the release split the store was built from (a carved validate's, for a carved split), in
    # either layout of the release
    origin = (store.manifest.get("carve") or {}).get("from", store.split)
    files = records.release_files(data_dir, origin, "video")
    if not files:
        return pd.DataFrame(
            columns=["modality", "videos", "max_abs_diff", "mean_abs_diff", "tolerance", "agrees"]
        )
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
        rows.append(
            {
                "modality": col,
                "videos": len(got[col]),
                "max_abs_diff": float(d.max()),
                "mean_abs_diff": float(d.mean()),
                "tolerance": tol,
                "agrees": bool(d.max() <= tol),
            }
        )
    return pd.DataFrame(rows)
