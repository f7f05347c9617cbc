"""Building stores: a data directory's (or a file pattern's) TFRecords -> one store split per
folder (:mod:`afkit.data.store`'s format), in parallel, resumable and atomic; the ``featurize``
command and the table of a build.

:func:`build` builds every split of a data directory, :func:`build_split` one split from its
files: it plans the build (the configuration and the source files' names and sizes, kept in
``_parts/plan.json``), skips every shard whose part is done (a killed build, run again, does no
shard twice), featurizes the others (this process and ``workers - 1`` pool workers, one shard at
a time each: :func:`afkit.data.store_writer.build_part`), then concatenates the parts into the final
arrays and renames the manifest into place (:func:`afkit.data.store_writer.concatenate`) and removes
the parts. A kill during the concatenation is safe too: the parts are still there, and the
concatenation is simply redone. While it builds a split, a build holds
``STORE/{split}/.afkit.lock`` (:func:`afkit.core.locks.hold`): a second build of the same split is
refused with an error naming the first one's pid and host. A full disk raises a
:class:`afkit.data.store.StoreError` saying so; the finished parts are kept (temporary files
removed), so the rerun resumes.
"""

from __future__ import annotations

import argparse
import csv
import errno
import glob
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from afkit.core import faults, locks
from afkit.data import mfstd as F
from afkit.data import store_writer as SF
from afkit.data.store import (
    HOLDOUT_FRACTION,
    MANIFEST,
    PARTS,
    SCHEMA_VERSION,
    SPLITS,
    StoreError,
    check_split_name,
    verify,
)
from afkit.io import records

if TYPE_CHECKING:  # annotations only: pandas is imported where a table is made
    import pandas as pd

__all__ = [
    "BuildConfig",
    "BuildReport",
    "build",
    "build_split",
    "source_files",
    "read_num_classes",
    "class_count",
    "release_root",
    "main",
    "reports_table",
]


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
    source: str = (
        "auto"  # "frame", "video", or "auto": video-level files only for "mean" w/o frames
    )
    verify_crc: bool = True  # check both CRC32Cs of every record
    progress: bool = True  # tqdm progress bar
    # "auto": a release whose test split has no labels gets validate's held-out part as its
    # test/ and the rest as validate/ (afkit.data.store.in_holdout); "never": the splits as found
    holdout: str = "auto"
    carve: dict | None = None  # set by build() per split: the part of validate kept (carve_plan)

    def check(self) -> None:
        F.columns(self.feature_set)  # raises on an unknown set
        if self.dtype not in ("float16", "float32"):
            raise ValueError(f"dtype must be 'float16' or 'float32', got {self.dtype!r}")
        if self.source not in ("auto", "frame", "video"):
            raise ValueError(f"source must be 'auto', 'frame' or 'video', got {self.source!r}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.holdout not in ("auto", "never"):
            raise ValueError(f"holdout must be 'auto' or 'never', got {self.holdout!r}")
        if self.chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {self.chunk}")
        if self.num_classes is not None and not (
            isinstance(self.num_classes, (int, np.integer))
            and 1 <= self.num_classes <= SF.INT32_MAX
        ):
            raise ValueError(
                f"num_classes must be an integer in [1, {SF.INT32_MAX}] (labels are int32), "
                f"got {self.num_classes!r}"
            )
        if self.source == "video" and (self.frames or self.feature_set != "mean"):
            raise ValueError(
                "video-level files hold only the means: source='video' allows feature_set='mean' "
                "without frames"
            )


def read_num_classes(data_dir) -> int | None:
    """Number of classes = rows of ``DATA/vocabulary.csv`` (header excluded);
    None without the file."""
    path = Path(data_dir) / "vocabulary.csv"
    if not path.exists():
        return None
    with open(path, newline="", encoding="utf-8") as f:
        rows = sum(1 for row in csv.reader(f) if row)
    if rows < 2:
        raise StoreError(f"{path}: no vocabulary rows under the header")
    return rows - 1


def class_count(data_dir, num_classes: int | None = None) -> tuple[int | None, str]:
    """The class count of a data directory and where it comes from: ``num_classes`` when given
    (``"the num_classes parameter"``), else the rows of ``vocabulary.csv``, else the release's
    known vocabulary size for its schema (:data:`afkit.io.records.RELEASE_CLASSES`: the download
    script does not fetch vocabulary.csv); ``(None, ...)`` for a folder without records."""
    if num_classes is not None:
        return int(num_classes), "the num_classes parameter"
    rows = read_num_classes(data_dir)
    if rows is not None:
        return rows, "vocabulary.csv"
    for split in SPLITS:
        for level in ("video", "frame"):
            files = source_files(data_dir, split, level)
            if files:
                try:
                    return records.release_num_classes(files), "the release's known vocabulary size"
                except ValueError:
                    continue
    return None, "no vocabulary.csv and no records"


def source_files(data_dir, split: str, level: str) -> list[str]:
    """The split's TFRecord files at ``level`` (``frame`` or ``video``), sorted, in either layout
    of a release (``DATA/{level}/{split}*.tfrecord`` or ``DATA/{level}/{split}/*.tfrecord``:
    :func:`afkit.io.records.release_files`)."""
    try:
        return records.release_files(data_dir, split, level)
    except ValueError as e:
        raise StoreError(str(e)) from None


def test_unlabeled(data_dir) -> bool:
    """Whether ``data_dir``'s test split has files whose records carry no labels (the real
    release's: its labels are withheld), probed on the first records of each level."""
    for level in ("video", "frame"):
        files = source_files(data_dir, "test", level)
        if files:
            return not records.split_has_labels(files)
    return False


def carve_plan(part: str) -> dict:
    """What a store split built from a carved validate records (its plan and manifest)."""
    return {
        "from": "validate",
        "part": part,
        "fraction": HOLDOUT_FRACTION,
        "by": "sha256(video id)[:8] as an integer < fraction * 2**64 (afkit.data.store.in_holdout)",
    }


def _split_sources(
    data: Path, name: str, config: BuildConfig, carving: bool
) -> tuple[list[str], str, BuildConfig]:
    """The files, level and config of store split ``name``: the release's split, or with
    ``carving`` (a test split without labels) for ``validate`` / ``test`` the release's validate
    files with the part of its videos each keeps (:func:`carve_plan`)."""
    origin, carve = name, None
    if carving and name in ("validate", "test"):
        origin, carve = "validate", carve_plan("holdout" if name == "test" else "rest")
    level = _resolve_level(data, origin, config)
    return source_files(data, origin, level), level, replace(config, carve=carve)


def release_root(source_path) -> Path:
    """The data directory a source file belongs to, in either layout (``DATA/video/x.tfrecord``
    or ``DATA/video/train/x.tfrecord``)."""
    level_dir = Path(source_path).resolve().parent
    if level_dir.name in SPLITS and level_dir.parent.name in ("video", "frame"):
        level_dir = level_dir.parent
    return level_dir.parent


def _resolve_level(data_dir, split: str, config: BuildConfig) -> str:
    if config.source != "auto":
        return config.source
    if config.frames or config.feature_set != "mean":
        return "frame"
    return "video" if source_files(data_dir, split, "video") else "frame"


# --------------------------------------------------------------------------------------------
# worker processes


def die_with_parent() -> None:
    """Linux: a pool worker dies with its parent
    (a SIGKILLed build leaves no orphan writing parts)."""
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

    if (
        sys.platform.startswith("linux")
        and "torch" not in sys.modules
        and threading.active_count() == 1
        and "fork" in mp.get_all_start_methods()
    ):
        return mp.get_context("fork")
    return mp.get_context("spawn")


def useful_workers(wanted: int, cores: int | None = None, load: float | None = None) -> int:
    """How many of ``wanted`` build processes pay off now: this process and one more for each
    idle core (``cores`` minus the 1-minute load average, which counts this process; default
    this machine's), at least 1. Measured (``benchmarks/results/featurize.md``, in wall time): a
    second process costs 4-17% more CPU a video (its start, the parts' merge), so two idle
    cores build 1.7-1.9x as fast (the CPU-time speedup), but on two cores already busy (load
    3-7) it gave 0.91x-1.01x: the two processes got the cores one process got. The store is the
    same whatever the count."""
    cores = (os.cpu_count() or 1) if cores is None else cores
    load = os.getloadavg()[0] if load is None else load
    idle = max(0, int(cores - load + 0.5))
    return max(1, min(wanted, 1 + idle))


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
        **({"carve": config.carve} if config.carve else {}),
    }


def _describe_difference(old: dict, new: dict) -> str:
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    parts = []
    for k in keys:
        if k == "sources":
            a = {(s["name"], s["size"]) for s in old.get(k, [])}
            b = {(s["name"], s["size"]) for s in new.get(k, [])}
            parts.append(
                f"sources (only before: {sorted(a - b)[:3]}, only now: {sorted(b - a)[:3]})"
            )
        else:
            parts.append(f"{k} ({old.get(k)!r} before, {new.get(k)!r} now)")
    return "; ".join(parts)


def build_split(
    out_dir,
    files: Sequence[str],
    config: BuildConfig | None = None,
    *,
    num_classes: int | None = None,
    split: str = "",
    level: str = "frame",
    overwrite: bool = False,
) -> BuildReport:
    """Build (or resume, or confirm) one split's store in ``out_dir`` from TFRecord ``files``.

    ``config.carve`` (:func:`carve_plan`) keeps one part of the files' videos (by id hash).

    ``num_classes`` (or ``config.num_classes``) bounds the label ids; when both are None it is
    the largest label id + 1 seen (recorded in the manifest). Returns a :class:`BuildReport`.
    Raises :class:`StoreError` when ``out_dir`` holds a store or parts of a build with another
    configuration or other source files (pass ``overwrite=True`` to discard them), or when the
    disk fills up (the finished parts are kept: run again to resume);
    :class:`afkit.core.locks.LockedError` while another process builds ``out_dir``.
    """
    out = Path(out_dir)
    with locks.hold(out / locks.LOCK_NAME, f"featurize {out}"):
        try:
            return _build_split(
                out,
                files,
                config,
                num_classes=num_classes,
                split=split,
                level=level,
                overwrite=overwrite,
            )
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
            raise StoreError(
                f"no space left on device while building {out} ({e}); the shards finished "
                f"so far are kept in {out / PARTS} and any complete store there is untouched: "
                f"free some space and run the same build again to resume"
            ) from e


def _build_split(
    out: Path,
    files: Sequence[str],
    config: BuildConfig | None,
    *,
    num_classes: int | None,
    split: str,
    level: str,
    overwrite: bool,
) -> BuildReport:
    config = config or BuildConfig()
    config.check()
    if split:
        check_split_name(split)
    files = sorted(files)
    if not files:
        raise StoreError(f"no source files for split {split!r} (nothing matches)")
    t0 = time.perf_counter()
    parts = out / PARTS
    num_classes = num_classes if num_classes is not None else config.num_classes
    plan = _plan(files, config, num_classes, level)
    report = BuildReport(path=str(out))
    _prepare_folder(out, overwrite)
    if (out / MANIFEST).exists():
        report.videos = _confirm_complete(out, plan, num_classes)
        report.already_complete = True
        report.seconds = time.perf_counter() - t0
        return report
    _start_parts(out, parts, plan)
    tasks = _shard_tasks(out, parts, plan, config, num_classes)
    markers = {}
    for task in tasks:
        if "marker" in task:
            markers[task["index"]] = task["marker"]
            report.shards_skipped.append(task["index"])
    _run_shards(
        [t for t in tasks if "marker" not in t],
        config,
        markers,
        report,
        total=len(plan["sources"]),
        name=split or out.name,
    )
    ordered = [markers[i] for i in range(len(plan["sources"]))]
    if num_classes is None:  # no vocabulary: the largest label id + 1 (recorded in the manifest)
        num_classes = _labels_bound(parts, len(ordered))
    SF.concatenate(out, parts, plan, ordered, config, int(num_classes), split)
    _verify_built(out)
    shutil.rmtree(parts)
    faults.crash_point("parts removed")
    report.videos = sum(m["videos"] for m in ordered)
    report.shards_built.sort()
    report.seconds = time.perf_counter() - t0
    return report


def _verify_built(out: Path) -> None:
    """:func:`afkit.data.store.verify` of what the build just wrote (the checksums were just
    computed from the files, so not again); on a failure the manifest goes (the split is not
    complete) and the error says what is wrong."""
    try:
        verify(out, check_sources=False, checksums=False)
    except StoreError as e:
        (out / MANIFEST).unlink(missing_ok=True)
        raise StoreError(f"the build wrote a store that fails verification: {e}") from None


def _prepare_folder(out: Path, overwrite: bool) -> None:
    """``out`` made (emptied first with ``overwrite``: all but the lock this process holds),
    without what a killed build left (temporary and partial files)."""
    if overwrite and out.exists():
        (out / MANIFEST).unlink(missing_ok=True)  # first: the store stops being "complete"
        for child in out.iterdir():
            if child.name != locks.LOCK_NAME:
                shutil.rmtree(
                    child
                ) if child.is_dir() and not child.is_symlink() else child.unlink()
    out.mkdir(parents=True, exist_ok=True)
    for stale in (*out.glob("*.tmp*"), *out.glob("*.partial")):  # left by a killed build
        stale.unlink()


def _confirm_complete(out: Path, plan: dict, num_classes: int | None) -> int:
    """The videos of the complete store in ``out``, after checking that it is the one ``plan``
    describes (else :class:`StoreError`) and removing parts a killed build left behind."""
    manifest = json.loads((out / MANIFEST).read_text())
    old = {k: manifest.get(k) for k in plan}
    if num_classes is None:  # derived from the labels at build time: not a setting to compare
        old["num_classes"] = None
    old["sources"] = [
        {k: s[k] for k in ("path", "name", "size")} for s in manifest.get("sources", [])
    ]
    if old != plan:
        raise StoreError(
            f"{out} already holds a complete store that differs: "
            f"{_describe_difference(old, plan)}; delete it or pass overwrite=True (--overwrite)"
        )
    if (out / PARTS).exists():  # a build killed after writing its manifest, before this cleanup
        shutil.rmtree(out / PARTS)
    return manifest["num_videos"]


def _start_parts(out: Path, parts: Path, plan: dict) -> None:
    """``parts/`` with ``plan.json`` (a resumed build must have the same plan),
    no temporary files."""
    parts.mkdir(exist_ok=True)
    plan_path = parts / "plan.json"
    if plan_path.exists():
        old = json.loads(plan_path.read_text())
        if old != plan:
            raise StoreError(
                f"{out} holds parts of an unfinished build that differs: "
                f"{_describe_difference(old, plan)}; delete {parts} or pass overwrite=True "
                "(--overwrite)"
            )
    else:
        SF.write_sorted_json(plan_path, plan)
    for stale in parts.glob("*.tmp*"):  # leftovers of a killed process
        stale.unlink()
    for stale in out.glob("*.tmp*"):
        stale.unlink()


def _shard_tasks(
    out: Path, parts: Path, plan: dict, config: BuildConfig, num_classes: int | None
) -> list[dict]:
    """One task per source shard (in order): ``{"index", "marker"}`` for a shard done already
    (its marker matches the plan and, with frames, its rows), else what
    :func:`afkit.data.store_writer.build_part` needs. With frames, first preallocates the frame
    arrays."""
    frame_starts, frame_estimates, frames_total = [], [], 0
    frames_intact = True
    if config.frames:
        for s in plan["sources"]:
            e = SF.frame_estimate(s["path"])
            frame_starts.append(frames_total)
            frame_estimates.append(e)
            frames_total += e
        frames_intact = SF.prepare_frame_files(out, frames_total)
    tasks = []
    for i, s in enumerate(plan["sources"]):
        mp = SF.marker_path(parts, i)
        if mp.exists():
            marker = json.loads(mp.read_text())
            if (
                marker.get("source") == s["name"]
                and marker.get("source_size") == s["size"]
                and (
                    not config.frames
                    or (
                        frames_intact
                        and marker.get("frame_start") == frame_starts[i]
                        and marker.get("frame_estimate") == frame_estimates[i]
                    )
                )
            ):
                tasks.append({"index": i, "marker": marker})
                continue
            mp.unlink()
        tasks.append(
            {
                "index": i,
                "source": s["path"],
                "source_size": s["size"],
                "parts": str(parts),
                "feature_set": config.feature_set,
                "dtype": config.dtype,
                "frames": bool(config.frames),
                "num_classes": num_classes,
                "chunk": config.chunk,
                "verify_crc": config.verify_crc,
                "out": str(out),
                "frame_start": frame_starts[i] if config.frames else 0,
                "frame_estimate": frame_estimates[i] if config.frames else 0,
                "frames_total": frames_total,
                "carve": plan.get("carve"),
            }
        )
    return tasks


def _run_shards(
    pending: list[dict],
    config: BuildConfig,
    markers: dict,
    report: BuildReport,
    *,
    total: int,
    name: str,
) -> None:
    """Build the ``pending`` shards' parts: in this process, or with ``config.workers`` processes
    in all (this one takes every n-th shard, n-1 pool workers the others: they write their
    parts to disk and return only the small marker). Adds each marker to ``markers``."""
    nproc = min(config.workers, len(pending))  # never more than the shards left to build
    ctx = _pool_context() if nproc > 1 else None  # before tqdm's thread
    bar = None
    if config.progress:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=total,
            initial=len(markers),
            unit="shard",
            desc=f"featurize {name}",
            dynamic_ncols=True,
        )

    def done(m):
        markers[m["index"]] = m
        report.shards_built.append(m["index"])
        if bar is not None:
            bar.update(1)
            bar.set_postfix(videos=sum(x["videos"] for x in markers.values()))

    try:
        if pending and nproc == 1:
            for task in pending:
                done(SF.build_part(task))
        elif pending:
            for task in pending:
                task["parent_pid"] = os.getpid()
            mine = pending[::nproc]
            theirs = [t for k, t in enumerate(pending) if k % nproc]
            import warnings

            with warnings.catch_warnings():  # Python >= 3.12 warns of numpy's BLAS thread on fork
                warnings.filterwarnings("ignore", ".*fork.*", DeprecationWarning)
                pool = ctx.Pool(nproc - 1, initializer=die_with_parent)
            with pool:
                results = pool.imap_unordered(SF.build_part, theirs)
                for task in mine:
                    done(SF.build_part({**task, "parent_pid": None}))
                for m in results:
                    done(m)
    finally:
        if bar is not None:
            bar.close()


def _labels_bound(parts: Path, shards: int) -> int:
    """The largest label id in the shards' parts + 1 (0 without labels)."""
    top = -1
    for i in range(shards):
        with np.load(f"{SF.part_prefix(parts, i)}.meta.npz") as meta:
            idx = meta["labels_indices"]
        if idx.size:
            top = max(top, int(idx.max()))
    return top + 1


def _pattern_vocabulary(pattern: str, config: BuildConfig) -> int | None:
    """The classes of a ``--pattern`` build: ``config.num_classes``, else the release's
    vocabulary where the pattern lies in one (``DATA/video/train*.tfrecord``), else None."""
    data = Path(pattern).parent.parent
    if config.num_classes is None and (data / "vocabulary.csv").is_file():
        return read_num_classes(data)
    return config.num_classes


def build(
    out,
    data=None,
    *,
    splits: Sequence[str] | None = None,
    pattern: str | None = None,
    split: str | None = None,
    config: BuildConfig | None = None,
    overwrite: bool = False,
    **overrides,
) -> dict[str, BuildReport]:
    """Build ``out/{split}/`` for each split, from a data directory or a file pattern.

    ``build("stores/s", "data/synth", feature_set="mean_std", frames=True, workers=2)`` builds every
    split that has files (``splits`` restricts them);
    ``build("stores/s", pattern=".../train*.tfrecord", split="train")`` builds one split from a
    pattern. ``workers=N`` uses N processes: this one and N-1 workers (``fork`` where safe, else
    ``spawn``: then a script calling it needs the ``if __name__ == "__main__":`` guard; notebooks do
    not). Keyword ``overrides`` set
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
        name = check_split_name(split or "train")
        files = sorted(glob.glob(pattern))
        if not files:
            raise StoreError(f"no files match {pattern!r}")
        level = config.source if config.source != "auto" else "frame"
        reports[name] = build_split(
            out / name,
            files,
            config,
            num_classes=_pattern_vocabulary(pattern, config),
            split=name,
            level=level,
            overwrite=overwrite,
        )
        return reports
    if data is None:
        raise ValueError("give a data directory (data=) or a file pattern (pattern=)")
    data = Path(data)
    if not data.is_dir():
        raise StoreError(f"data directory {data} does not exist")
    num_classes, _ = class_count(data, config.num_classes)
    wanted = [check_split_name(s) for s in splits] if splits else list(SPLITS)
    carving = config.holdout == "auto" and test_unlabeled(data)
    for name in wanted:
        files, level, split_config = _split_sources(data, name, config, carving)
        if not files:
            if splits:
                raise StoreError(f"no {level}-level files for split {name!r} under {data / level}")
            continue
        reports[name] = build_split(
            out / name,
            files,
            split_config,
            num_classes=num_classes,
            split=name,
            level=level,
            overwrite=overwrite,
        )
    if not reports:
        raise StoreError(f"no TFRecord files under {data}/frame or {data}/video")
    return reports


# --------------------------------------------------------------------------------------------
# command line


def main(argv: list[str] | None = None) -> int:
    """``python -m afkit featurize --data DIR --features mean_std --out STORE [...]``."""
    p = argparse.ArgumentParser(
        prog="python -m afkit featurize",
        description=(
            "Build a memory-mapped MF+STD feature store (and, with --frames, the frame store) from "
            "YouTube-8M TFRecords: resumable (rerun the same command after a crash) and atomic."
        ),
    )
    p.add_argument("--data", help="data directory (frame/, video/, vocabulary.csv)")
    p.add_argument(
        "--pattern", help="instead of --data: a TFRecord file pattern (one split, --split)"
    )
    p.add_argument("--split", default="train", help="split name for --pattern (default: train)")
    p.add_argument(
        "--features",
        default="mean_std",
        choices=sorted(F.FEATURE_SETS),
        help="per video: mean (the frames' mean) or mean_std (MF+STD: mean and std)",
    )
    p.add_argument("--out", required=True, help="store directory (one folder per split)")
    p.add_argument("--splits", help="comma-separated splits (default: every split with files)")
    p.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    p.add_argument(
        "--frames", action="store_true", help="also keep the quantized frames (frame store)"
    )
    p.add_argument(
        "--dtype",
        default="float16",
        choices=["float16", "float32"],
        help="the stored features' type",
    )
    p.add_argument(
        "--num-classes",
        type=int,
        help="default: rows of DATA/vocabulary.csv, else the release's known vocabulary size",
    )
    p.add_argument(
        "--source",
        default="auto",
        choices=["auto", "frame", "video"],
        help="read frame- or video-level files (auto: video-level only for mean without --frames)",
    )
    p.add_argument("--overwrite", action="store_true", help="discard an existing store or parts")
    p.add_argument(
        "--holdout",
        default="auto",
        choices=["auto", "never"],
        help="auto (default): when the test split has no labels (the real release), build "
        "validate's 20%% held-out part (by id hash) as test/ and the rest as validate/; never: "
        "the splits as found (e.g. the unlabelled test split, for `afkit predict`)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    a = p.parse_args(argv)
    if (a.data is None) == (a.pattern is None):
        p.error("give exactly one of --data and --pattern")
    config = BuildConfig(
        feature_set=a.features,
        dtype=a.dtype,
        frames=a.frames,
        workers=a.workers,
        num_classes=a.num_classes,
        source=a.source,
        progress=not a.no_progress,
        holdout=a.holdout,
    )
    try:
        if a.pattern:
            reports = build(
                a.out, pattern=a.pattern, split=a.split, config=config, overwrite=a.overwrite
            )
        else:
            splits = a.splits.split(",") if a.splits else None
            reports = build(a.out, a.data, splits=splits, config=config, overwrite=a.overwrite)
    except (StoreError, ValueError) as e:  # CorruptRecordError is a ValueError
        print(f"afkit featurize: error: {e}", file=sys.stderr)
        return 1
    for name, r in reports.items():
        state = (
            "already complete"
            if r.already_complete
            else (f"{len(r.shards_built)} shards built, {len(r.shards_skipped)} resumed")
        )
        print(f"{name}: {r.videos} videos -> {r.path} ({state}, {r.seconds:.1f} s)")
    return 0


# --------------------------------------------------------------------------------------------
# notebook view (notebook 01)


def reports_table(reports: dict[str, BuildReport]) -> pd.DataFrame:
    """One row per split of a :func:`build` call: videos, shards built and skipped (resumed),
    whether it was already complete, seconds."""
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "split": s,
                "videos": r.videos,
                "shards_built": len(r.shards_built),
                "shards_skipped": len(r.shards_skipped),
                "already_complete": r.already_complete,
                "seconds": round(r.seconds, 2),
                "path": r.path,
            }
            for s, r in reports.items()
        ]
    )
