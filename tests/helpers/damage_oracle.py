"""Damaged-file oracle shared by tests/io/test_damage.py (sampled) and benchmarks/damage.py (all).

A case is one damaged copy of a clean file: one byte XORed with a nonzero mask at offset p, or
the file cut to its first t bytes. What every reader must do with it follows from the clean
file's layout alone (record k spans ``[o_k, o_k + 16 + L_k)``: 12 header bytes, payload, 4
footer bytes):

- byte flip in record k's header (length or its CRC): strict reads raise
  ``CorruptRecordError`` naming record k and offset o_k; skip mode yields records ``[0, k)``
  (the framing after a broken header cannot be trusted); ``build_index`` raises the same error;
- byte flip in record k's payload or footer: strict reads raise at (k, o_k); skip mode yields
  every record but k; ``build_index`` succeeds with the clean offsets and ``read_record(k)``
  raises at (k, o_k) while every other ``read_record(i)`` returns the clean payload;
- cut at t = 0: the empty-file error (record 0, offset 0); cut at a record boundary o_j: a
  valid file of the first j records (no reader can tell); any other cut, inside record k:
  raise at (k, o_k), skip mode yields ``[0, k)``.

Every yielded record is compared, field by field (values and dtypes), with the clean one at
that position: a reader that returns anything else fails, whatever it raised.
"""

from __future__ import annotations

import itertools
import os
import warnings
from pathlib import Path

import numpy as np

from afkit.io import records as R
from afkit.io import tfrecord as T
from afkit.io.tfrecord import CorruptRecordError

READERS = ("records", "records_skip", "index", "batches", "batches_skip")
VIDEOS = 3  # records in each clean file
FRAMING = 12 + 4  # bytes around a payload: length and its CRC (header), payload CRC (footer)


def clean_files(root: Path) -> dict[str, Path]:
    """A small frame-level file (``VIDEOS`` videos, 1, 2, 3 ... frames) and a small video-level
    file (``VIDEOS`` videos)."""
    rng = np.random.default_rng(17)
    root.mkdir(parents=True, exist_ok=True)
    frame, video = [], []
    for i in range(VIDEOS):
        labels = np.sort(rng.choice(50, size=i + 1, replace=False)).astype(np.int64)
        t = i + 1
        frame.append(
            {
                "id": f"f{i}",
                "labels": labels,
                "rgb": rng.integers(0, 256, (t, 1024), dtype=np.uint8),
                "audio": rng.integers(0, 256, (t, 128), dtype=np.uint8),
            }
        )
        video.append(
            {
                "id": f"v{i}",
                "labels": labels,
                "mean_rgb": rng.standard_normal(1024).astype(np.float32),
                "mean_audio": rng.standard_normal(128).astype(np.float32),
            }
        )
    out = {"frame": root / "clean_frame.tfrecord", "video": root / "clean_video.tfrecord"}
    R.write_records(out["frame"], frame)
    R.write_records(out["video"], video)
    return out


class Clean:
    """A clean file's bytes, layout (offsets, lengths), payloads and parsed records."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.data = self.path.read_bytes()
        self.offsets = [int(o) for o in T.build_index(self.path)]
        self.payloads = list(T.iter_records(self.path))
        self.records = list(R.read_records(self.path))
        self.video = "mean_rgb" in self.records[0]
        self.bounds = self.offsets + [len(self.data)]

    def record_at(self, p: int) -> int:
        """The record whose bytes include offset ``p``."""
        return int(np.searchsorted(self.offsets, p, side="right")) - 1

    def in_header(self, p: int) -> bool:
        return p - self.offsets[self.record_at(p)] < 12


def same_record(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            x, y = np.asarray(x), np.asarray(y)
            if x.dtype != y.dtype or x.shape != y.shape or not np.array_equal(x, y):
                return False
        elif x != y:
            return False
    return True


def _unbatch(batches) -> list[dict]:
    out = []
    for b in batches:
        for i in range(len(b["id"])):
            out.append(
                {
                    "id": b["id"][i],
                    "labels": b["labels"][i],
                    "mean_rgb": b["mean_rgb"][i],
                    "mean_audio": b["mean_audio"][i],
                }
            )
    return out


class Failure(AssertionError):
    pass


def _expect_error(fn, path, record: int, offset: int, what: str):
    """Run ``fn`` (which yields into a list it returns partial results through) and check it
    raises CorruptRecordError naming ``path``, ``record`` and ``offset``."""
    got = []
    try:
        fn(got)
    except CorruptRecordError as e:
        if (e.path, e.record, e.offset) != (str(path), record, offset):
            raise Failure(
                f"{what}: error names ({e.path}, record {e.record}, offset {e.offset}), "
                f"expected ({path}, record {record}, offset {offset}): {e}"
            ) from None
        want = f"{path}: record {record} at byte offset {offset}: "
        if not str(e).startswith(want):
            raise Failure(f"{what}: message {str(e)!r} does not start with {want!r}") from None
        return got
    raise Failure(f"{what}: no CorruptRecordError (got {len(got)} records)")


def _check_list(got, want, what):
    if len(got) != len(want) or not all(same_record(a, b) for a, b in zip(got, want, strict=True)):
        raise Failure(
            f"{what}: yielded {[r.get('id') for r in got]}, expected {[r['id'] for r in want]}"
            " (or a field differs)"
        )


def _check_prefix(got, want, what):
    if len(got) > len(want) or not all(
        same_record(a, b) for a, b in zip(got, want[: len(got)], strict=True)
    ):
        raise Failure(
            f"{what}: yielded records {[r.get('id') for r in got]} that are not a clean prefix"
        )


def check_case(
    clean: Clean, damaged: bytes, path: Path, kind: str, where: int, readers=READERS
) -> None:
    """Write ``damaged`` to the fresh file ``path`` and check every reader against the oracle.
    ``kind`` is ``"flip"`` (byte ``where`` changed) or ``"cut"`` (file cut to ``where`` bytes).
    Raises :class:`Failure` on any deviation."""
    path.write_bytes(damaged)
    try:
        _check(clean, path, kind, where, readers)
    finally:
        path.unlink(missing_ok=True)
        Path(str(path) + ".idx").unlink(missing_ok=True)


def expected(clean: Clean, kind: str, where: int):
    """``(error, kept_skip)``: ``error`` None or ``(record, offset)`` of the expected error;
    ``kept_skip`` the indices of the records skip mode yields."""
    n = len(clean.offsets)
    if kind == "flip":
        k = clean.record_at(where)
        if clean.in_header(where):
            return (k, clean.offsets[k]), list(range(k)), True
        return (k, clean.offsets[k]), [i for i in range(n) if i != k], False
    if where == 0:
        return (0, 0), [], True
    if where in clean.offsets:
        return None, list(range(clean.offsets.index(where))), True
    k = clean.record_at(where)
    return (k, clean.offsets[k]), list(range(k)), True


def _check(clean: Clean, path: Path, kind: str, where: int, readers) -> None:
    err, kept, framing = expected(clean, kind, where)
    want_skip = [clean.records[i] for i in kept]
    tag = f"{clean.path.name} {kind}@{where}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")

        def check_strict(read, name):
            """A strict reader yields every record of a clean file, or the good prefix then
            the error."""
            if err is None:
                got = []
                read(got)
                _check_list(got, want_skip, f"{tag} {name}")
            else:
                got = _expect_error(read, path, *err, f"{tag} {name}")
                _check_prefix(got, clean.records[: err[0]], f"{tag} {name}")

        if "records" in readers:
            check_strict(lambda got: got.extend(R.read_records(path)), "read_records")
        if "records_skip" in readers:
            it = R.read_records(path, skip_corrupt=True)
            got = list(it)
            _check_list(got, want_skip, f"{tag} read_records(skip_corrupt=True)")
            if it.skipped != (0 if err is None else 1):
                raise Failure(
                    f"{tag} skip mode counted {it.skipped} skipped, expected {int(err is not None)}"
                )
        if "index" in readers:
            _check_index(clean, path, err, framing, len(kept), tag)
        if clean.video and "batches" in readers:
            check_strict(
                lambda got: got.extend(_unbatch(R.read_video_batches(path, batch_size=2))),
                "read_video_batches",
            )
        if clean.video and "batches_skip" in readers:
            got = _unbatch(R.read_video_batches(path, batch_size=2, skip_corrupt=True))
            _check_list(got, want_skip, f"{tag} read_video_batches(skip_corrupt=True)")


def _check_index(clean: Clean, path: Path, err, framing: bool, kept: int, tag: str) -> None:
    """``build_index`` and ``read_record``: a framing error fails both; otherwise the index holds
    the clean offsets (the first ``kept`` of a clean cut) and each record reads back, the one
    with a damaged payload raising."""
    if err is not None and framing:
        _expect_error(lambda got: got.append(T.build_index(path)), path, *err, f"{tag} build_index")
        _expect_error(
            lambda got: got.append(T.read_record(path, 0)), path, *err, f"{tag} read_record"
        )
        return
    offsets = [int(o) for o in T.build_index(path)]
    n_ok = kept if err is None else len(clean.offsets)
    if offsets != clean.offsets[:n_ok]:
        raise Failure(f"{tag} build_index: offsets {offsets}, expected {clean.offsets[:n_ok]}")
    for i in range(n_ok):
        if err is not None and i == err[0]:
            _expect_error(
                lambda got, i=i: got.append(T.read_record(path, i)),
                path,
                *err,
                f"{tag} read_record({i})",
            )
        elif T.read_record(path, i) != clean.payloads[i]:
            raise Failure(f"{tag} read_record({i}) returned a payload that differs")


def flip(data: bytes, p: int, mask: int) -> bytes:
    b = bytearray(data)
    b[p] ^= mask
    return bytes(b)


_COUNTER = itertools.count()  # every damaged file gets a fresh name (no index cache hit)


def run_cases(clean: Clean, workdir: Path, flips, cuts, readers=READERS) -> int:
    """Check every ``(offset, mask)`` of ``flips`` and every length of ``cuts``; return the
    number of cases (damaged files) checked. Raises :class:`Failure` on the first deviation."""
    n = 0
    counter = _COUNTER
    for p, mask in flips:
        check_case(
            clean,
            flip(clean.data, p, mask),
            workdir / f"d{next(counter)}.tfrecord",
            "flip",
            p,
            readers,
        )
        n += 1
    for t in cuts:
        check_case(clean, clean.data[:t], workdir / f"d{next(counter)}.tfrecord", "cut", t, readers)
        n += 1
    return n


def stale_index_case(clean: Clean, workdir: Path, p: int, mask: int) -> None:
    """The index is built from the clean file, then byte ``p`` is changed in place with size and
    mtime kept (as ``rsync -t`` of a damaged copy does): the cached index is trusted, and
    ``read_record`` of the damaged record must still raise, never return other bytes."""
    path = workdir / f"stale{p}_{mask}.tfrecord"
    path.write_bytes(clean.data)
    T.load_index(path)
    st = os.stat(path)
    with open(path, "r+b") as f:
        f.seek(p)
        f.write(bytes([clean.data[p] ^ mask]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    k = clean.record_at(p)
    try:
        for i in range(len(clean.offsets)):
            if i == k:
                _expect_error(
                    lambda got, i=i: got.append(T.read_record(path, i)),
                    path,
                    k,
                    clean.offsets[k],
                    f"stale index {clean.path.name} flip@{p} read_record({i})",
                )
            elif T.read_record(path, i) != clean.payloads[i]:
                raise Failure(f"stale index flip@{p}: read_record({i}) differs")
    finally:
        path.unlink(missing_ok=True)
        Path(str(path) + ".idx").unlink(missing_ok=True)
