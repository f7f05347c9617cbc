"""TFRecord framing (uncompressed), checked: CRC32C on every length and every payload.

A TFRecord file is a sequence of records, each::

    uint64 length | uint32 masked_crc32c(length bytes) | payload[length] | uint32
    masked_crc32c(payload)

all little-endian, with ``masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8  (mod 2**32)``.
CRC32C is computed by ``google_crc32c`` (a C implementation; it hashes numpy views of the
read buffer, so checking costs no copy).

What this module gives (and what the ``tfrecord`` package does not):

- both checksums verified by default (``verify=False`` turns it off, for speed tests only);
- every payload is fresh memory: nothing is a view into a buffer that is reused later;
- ``CorruptRecordError`` (a ``ValueError``) whose message names the file, the record number
  and the byte offset of the record's header;
- ``skip_corrupt=True``: salvage mode, as tf.data's ``ignore_errors``: a record whose payload
  checksum fails is skipped and counted; a broken header (length checksum) or a truncated tail
  ends that file (the framing can no longer be trusted), also counted. Counts go to a
  :class:`ReadStats` and a warning per damaged file;
- a record-offset index (:func:`load_index`), built once by walking the headers, cached next to
  the file as ``<file>.idx`` (or under :func:`cache_dir` when that is not writable) and rebuilt
  when the file's size or mtime changes: exact counts (:func:`count_records`) and random access
  (:func:`read_record`, ``iter_records(start=, stop=)``);
- a grouped walk (:func:`span_groups`): the same records, checks and errors a group at a time,
  the header checksums vectorized (``records.read_video_batches`` is built on it).

Empty files: TensorFlow reads a 0-byte file as a valid file with 0 records. A 0-byte shard of
YouTube-8M is, in practice, a failed download, so afkit raises ``CorruptRecordError`` on it by
default (*our choice*); pass ``allow_empty=True`` to read it as 0 records, as TensorFlow does.
"""

from __future__ import annotations

import dataclasses
import hashlib
import mmap
import os
import struct
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import google_crc32c
import numpy as np

from afkit.core.provenance import fsync_dir

__all__ = [
    "CorruptRecordError",
    "ReadStats",
    "masked_crc32c",
    "frame_record",
    "write_tfrecord",
    "TFRecordWriter",
    "iter_records",
    "iter_spans",
    "span_groups",
    "build_index",
    "load_index",
    "count_records",
    "read_record",
    "cache_dir",
]

# *Our cap*: a record longer than this is refused (a YouTube-8M record is < 400 KB: 300 frames
# of 1170 bytes plus the context), so that a forged length never makes a reader allocate it
MAX_RECORD_BYTES = 16 << 20

_HEADER = struct.Struct("<QI")  # length, masked crc of the length
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_MASK_DELTA = 0xA282EAD8
_CHUNK = 4 << 20  # bytes read at a time when walking a file without mmap
_USE_MMAP = True  # map files (False: read _CHUNK at a time; tests cover both)
_crc = google_crc32c.value


class CorruptRecordError(ValueError):
    """A file, or a record in it, is not what it should be.

    The message reads ``"<file>: record <n> at byte offset <o>: <what>"``; the same facts are
    attributes: ``path``, ``record`` (0-based record number), ``offset`` (byte offset of that
    record's header in the file), ``reason``.
    """

    def __init__(self, path, record: int, offset: int, reason: str):
        self.path = str(path)
        self.record = int(record)
        self.offset = int(offset)
        self.reason = reason
        super().__init__(
            f"{self.path}: record {self.record} at byte offset {self.offset}: {reason}"
        )

    def __reduce__(self):  # picklable across DataLoader worker processes
        return (type(self), (self.path, self.record, self.offset, self.reason))


@dataclasses.dataclass
class ReadStats:
    """Counters of a read: ``records`` yielded, ``skipped`` (corrupt records or unreadable file
    tails, in ``skip_corrupt`` mode), ``files`` opened and the ``errors`` messages skipped."""

    files: int = 0
    records: int = 0
    skipped: int = 0
    errors: list = dataclasses.field(default_factory=list)

    def skip(self, err: CorruptRecordError) -> None:
        self.skipped += 1
        self.errors.append(str(err))


def masked_crc32c(data) -> int:
    """``((c >> 15) | (c << 17)) + 0xa282ead8 mod 2**32`` with ``c = crc32c(data)``."""
    c = _crc(data)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def frame_record(payload: bytes) -> bytes:
    """One framed record: ``length | masked crc | payload | masked crc``."""
    n = _U64.pack(len(payload))
    return b"".join((n, _U32.pack(masked_crc32c(n)), payload, _U32.pack(masked_crc32c(payload))))


class TFRecordWriter:
    """Write framed records to ``path`` atomically: the data go to ``<path>.tmp-<pid>`` and are
    renamed over ``path`` on a clean :meth:`close` (a crash never leaves a half file under the
    real name). Use as a context manager; ``count`` is the number of records written."""

    def __init__(self, path):
        self.path = Path(path)
        self._tmp = self.path.with_name(f"{self.path.name}.tmp-{os.getpid()}")
        self._f = open(self._tmp, "wb")
        self.count = 0

    def write(self, payload: bytes) -> None:
        self._f.write(frame_record(bytes(payload)))
        self.count += 1

    def close(self) -> None:
        """Flush, fsync, rename into place, fsync the directory: durable once it returns."""
        if self._f is None:
            return
        try:
            self._f.flush()
            os.fsync(self._f.fileno())
        except BaseException:
            self.abort()
            raise
        self._f.close()
        self._f = None
        os.replace(self._tmp, self.path)
        fsync_dir(self.path.parent)

    def abort(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None
            self._tmp.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_tfrecord(path, payloads: Iterable[bytes]) -> int:
    """Write each payload as one record; returns the number written."""
    with TFRecordWriter(path) as w:
        for p in payloads:
            w.write(p)
    return w.count


# --------------------------------------------------------------------------- reading


def _masked(c: int) -> int:
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def _empty_file(path: str, *, allow_empty: bool, skip_corrupt: bool, stats: ReadStats) -> None:
    """A 0-byte file: 0 records with ``allow_empty``, else an error (raised, or skipped)."""
    err = CorruptRecordError(
        path,
        0,
        0,
        "empty file (0 bytes): not a YouTube-8M shard, probably a failed download "
        "(TensorFlow reads it as 0 records; pass allow_empty=True to do the same)",
    )
    if allow_empty:
        return
    if not skip_corrupt:
        raise err
    stats.skip(err)
    warnings.warn(
        str(err), stacklevel=4
    )  # where iter_spans' own warnings point (stacklevel 3 there)


def _read_at(f, offset: int, at_least: int = 0) -> bytes:
    """A fresh chunk of the file from byte ``offset`` on (at least ``at_least`` bytes, where the
    file has them)."""
    f.seek(offset)
    return f.read(max(_CHUNK, at_least))


def _first_buffer(f, offset: int, size: int):
    """``(buf, base, pos)`` to start reading at file byte ``offset``: the whole file mapped
    (``base`` 0: no copy out of the page cache), or a chunk read where mmap is unavailable;
    ``buf[pos]`` is file byte ``base + pos``."""
    try:
        if not _USE_MMAP:
            raise OSError("mmap disabled")
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ), 0, offset
    except (OSError, ValueError):  # a file system without mmap
        f.seek(offset)
        return f.read(min(_CHUNK, size - offset)), offset, 0


def _header_mismatch(path: str, rec: int, offset: int) -> CorruptRecordError:
    if rec == 0 and offset == 0:
        reason = (
            "not a TFRecord file: the first record's length checksum does not "
            "match (masked CRC32C of bytes 0-7)"
        )
    else:
        reason = "corrupt record header: length checksum mismatch (masked CRC32C)"
    return CorruptRecordError(path, rec, offset, reason)


def _bad_payload(
    path: str, rec: int, offset: int, length: int, *, skip_corrupt: bool, stats: ReadStats
) -> None:
    """A record whose payload checksum fails: raised, or (``skip_corrupt``) counted as skipped."""
    err = CorruptRecordError(
        path, rec, offset, f"payload checksum mismatch (masked CRC32C over {length} bytes)"
    )
    if not skip_corrupt:
        raise err
    stats.skip(err)


def _too_long(
    path: str, rec: int, offset: int, length: int, *, skip_corrupt: bool, stats: ReadStats
) -> None:
    """A record longer than :data:`MAX_RECORD_BYTES`: raised, or (``skip_corrupt``) skipped."""
    err = CorruptRecordError(
        path,
        rec,
        offset,
        f"record of {length} bytes, more than the {MAX_RECORD_BYTES} bytes afkit accepts "
        "(a YouTube-8M record is under 400 KB)",
    )
    if not skip_corrupt:
        raise err
    stats.skip(err)


def iter_spans(  # noqa: C901  (a measured hot path, one loop: benchmarks/io_read.py)
    path,
    *,
    verify: bool = True,
    skip_corrupt: bool = False,
    allow_empty: bool = False,
    start: int = 0,
    stop: int | None = None,
    stats: ReadStats | None = None,
) -> Iterator[tuple[bytes, int, int, int, int]]:
    """Walk ``path`` and yield ``(buf, begin, length, record, offset)`` per record: the payload
    is ``buf[begin:begin+length]`` (``buf`` is a read-only mmap of the file, or an immutable
    ``bytes`` chunk where mmap is unavailable; never reused, never written), for
    record number ``record`` whose header starts at byte ``offset``. Records ``[start, stop)``
    only; a ``start > 0`` seeks with the index (:func:`load_index`). The fast path of afkit's
    parser; :func:`iter_records` is the plain one."""
    path = str(path)
    stats = stats if stats is not None else ReadStats()
    stats.files += 1
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            _empty_file(path, allow_empty=allow_empty, skip_corrupt=skip_corrupt, stats=stats)
            return
        rec = offset = 0
        if start > 0:
            offsets = load_index(path)
            if start >= len(offsets):
                return
            rec, offset = start, int(offsets[start])
        buf, base, pos = _first_buffer(f, offset, size)
        skipped_here = 0
        stop = 1 << 62 if stop is None else stop
        crc, unpack, u32, frombuffer, u8 = (
            _crc,
            _HEADER.unpack_from,
            _U32.unpack_from,
            np.frombuffer,
            np.uint8,
        )
        try:
            while rec < stop:  # this loop is the hot path: the rare cases are in helpers
                if len(buf) - pos < 12:
                    if base + len(buf) < size:  # the rest of a chunk: read on
                        base, pos, buf = base + pos, 0, _read_at(f, base + pos)
                    if len(buf) == pos:
                        return  # clean end of file
                    if len(buf) - pos < 12:
                        raise CorruptRecordError(
                            path,
                            rec,
                            base + pos,
                            f"truncated file: {len(buf) - pos} "
                            "bytes left, a record header needs 12",
                        )
                offset = base + pos
                length, length_crc = unpack(buf, pos)
                if verify and _masked(crc(buf[pos : pos + 8])) != length_crc:
                    raise _header_mismatch(path, rec, offset)
                need = length + 16
                if offset + need > size:
                    raise CorruptRecordError(
                        path,
                        rec,
                        offset,
                        f"truncated file: the record needs {need} bytes, {size - offset} remain"
                        + ("" if verify else " (or a corrupt length; verify=False)"),
                    )
                if length > MAX_RECORD_BYTES:  # the header is sound: the next record is found
                    _too_long(path, rec, offset, length, skip_corrupt=skip_corrupt, stats=stats)
                    skipped_here += 1
                    pos += need
                    rec += 1
                    continue
                if len(buf) - pos < need:  # re-read from this record on (no copy of the old chunk)
                    base, pos, buf = offset, 0, _read_at(f, offset, need)
                begin = pos + 12
                if verify:  # masked CRC32C of the payload, inlined
                    c = crc(frombuffer(buf, u8, length, begin))
                    bad = (
                        (((c >> 15) | (c << 17)) & 0xFFFFFFFF) + _MASK_DELTA
                    ) & 0xFFFFFFFF != u32(buf, begin + length)[0]
                else:
                    bad = False
                if bad:
                    _bad_payload(path, rec, offset, length, skip_corrupt=skip_corrupt, stats=stats)
                    skipped_here += 1
                else:
                    stats.records += 1
                    yield buf, begin, length, rec, offset
                pos += need
                rec += 1
        except CorruptRecordError as err:
            if not skip_corrupt:
                raise
            stats.skip(err)  # the framing is lost: the rest of this file is unreadable
            skipped_here += 1
        finally:
            if skipped_here:
                warnings.warn(
                    f"{path}: skipped {skipped_here} corrupt record(s) or region(s) "
                    f"(skip_corrupt=True); first: {stats.errors[-skipped_here]}",
                    stacklevel=3,
                )


def iter_records(path, **kwargs) -> Iterator[bytes]:
    """Yield each record's payload as its own ``bytes`` (checked; see :func:`iter_spans` for the
    keyword arguments ``verify, skip_corrupt, allow_empty, start, stop, stats``)."""
    for buf, begin, length, _, _ in iter_spans(path, **kwargs):
        yield buf[begin : begin + length]


# --------------------------------------------------------------------------- index

_IDX_MAGIC = b"AFKITIX1"
_IDX_HEAD = struct.Struct("<8sQqQ")  # magic, file size, mtime_ns, count
_memory_index: dict = {}


def cache_dir() -> Path:
    """Where indexes go when the data directory is read-only: ``$AFKIT_CACHE_DIR`` or
    ``$XDG_CACHE_HOME/afkit`` (default ``~/.cache/afkit``), subfolder ``index``."""
    root = os.environ.get("AFKIT_CACHE_DIR")
    if root is None:
        root = os.path.join(
            os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "afkit"
        )
    return Path(root) / "index"


def _index_locations(path: str) -> list[Path]:
    real = os.path.realpath(path)
    key = hashlib.sha256(real.encode()).hexdigest()[:16]
    return [Path(real + ".idx"), cache_dir() / f"{Path(real).name}.{key}.idx"]


def _read_index_file(p: Path, size: int, mtime_ns: int):
    try:
        with open(p, "rb") as f:
            head = f.read(_IDX_HEAD.size)
            if len(head) != _IDX_HEAD.size:
                return None
            magic, isize, imtime, n = _IDX_HEAD.unpack(head)
            if magic != _IDX_MAGIC or isize != size or imtime != mtime_ns:
                return None
            if n > size // 16:  # a record takes at least 16 bytes: a forged count
                return None
            offsets = np.frombuffer(f.read(8 * n), dtype="<u8")
    except OSError:
        return None
    if len(offsets) != n or not _plausible_offsets(offsets, size):
        return None
    return offsets.astype(np.int64)


def _plausible_offsets(offsets: np.ndarray, size: int) -> bool:
    """Offsets that a walk of a ``size``-byte file could give: from 0, each at least 16 bytes
    after the one before, the last record's header inside the file (a cached index is trusted
    only then; the headers' checksums are checked when the records are read)."""
    if len(offsets) == 0:
        return size == 0
    return (
        int(offsets[0]) == 0
        and bool((np.diff(offsets.astype(np.int64)) >= 16).all())
        and int(offsets[-1]) + 16 <= size
    )


def _write_index_file(p: Path, size: int, mtime_ns: int, offsets: np.ndarray) -> bool:
    if p.exists():  # never clobber a file that is not ours (e.g. the tfrecord package's index)
        try:
            with open(p, "rb") as f:
                if f.read(8) != _IDX_MAGIC:
                    return False
        except OSError:
            return False
    tmp = p.with_name(f"{p.name}.tmp-{os.getpid()}")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(_IDX_HEAD.pack(_IDX_MAGIC, size, mtime_ns, len(offsets)))
            f.write(np.asarray(offsets, dtype="<u8").tobytes())
        os.replace(tmp, p)
        return True
    except OSError:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        return False


def build_index(path, *, verify: bool = True) -> np.ndarray:
    """Walk the headers of ``path`` (payloads are skipped, not checked) and return the byte
    offset of every record, int64 [N]. Raises :class:`CorruptRecordError` on a broken header,
    a truncated file, an empty file."""
    path = str(path)
    offsets = []
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise CorruptRecordError(path, 0, 0, "empty file (0 bytes): not a YouTube-8M shard")
        off = rec = 0
        while off < size:
            f.seek(off)
            head = f.read(12)
            if len(head) < 12:
                raise CorruptRecordError(
                    path,
                    rec,
                    off,
                    f"truncated file: {len(head)} bytes left, a record header needs 12",
                )
            length, lcrc = _HEADER.unpack(head)
            if verify and _masked(_crc(head[:8])) != lcrc:
                reason = (
                    "not a TFRecord file: the first record's length checksum does not match"
                    if rec == 0
                    else "corrupt record header: length checksum mismatch"
                )
                raise CorruptRecordError(path, rec, off, reason)
            if off + length + 16 > size:
                raise CorruptRecordError(
                    path,
                    rec,
                    off,
                    f"truncated file: the record needs {length + 16} bytes, {size - off} remain",
                )
            offsets.append(off)
            off += length + 16
            rec += 1
    return np.asarray(offsets, dtype=np.int64)


def load_index(path) -> np.ndarray:
    """The record offsets of ``path`` (int64 [N]), from memory, from ``<file>.idx`` or the cache
    dir when they match the file's current size and mtime, else built and cached."""
    path = str(path)
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
    hit = _memory_index.get(key)
    if hit is not None:
        return hit
    places = _index_locations(path)
    offsets = None
    for p in places:
        offsets = _read_index_file(p, st.st_size, st.st_mtime_ns)
        if offsets is not None:
            break
    if offsets is None:
        offsets = build_index(path)
        for p in places:
            if _write_index_file(p, st.st_size, st.st_mtime_ns, offsets):
                break
    offsets.setflags(write=False)
    _memory_index[key] = offsets
    return offsets


def count_records(path) -> int:
    """Exact number of records in ``path`` (from the index)."""
    return len(load_index(path))


def read_record(path, i: int, *, verify: bool = True) -> bytes:
    """The payload of record ``i`` (random access through the index; negative ``i`` counts
    from the end)."""
    offsets = load_index(path)
    n = len(offsets)
    if not -n <= i < n:
        raise IndexError(f"{path}: record {i} out of range ({n} records)")
    i %= n
    off = int(offsets[i])
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        f.seek(off)
        head = f.read(12)
        if len(head) < 12:
            raise CorruptRecordError(
                path, i, off, "truncated file (the file changed after indexing?)"
            )
        length, lcrc = _HEADER.unpack(head)
        # the header is checked before its length is used: a stale index (a file changed in
        # place with its size and mtime kept, e.g. by `rsync -t`) must not make us read garbage
        if verify and _masked(_crc(head[:8])) != lcrc:
            raise CorruptRecordError(
                path, i, off, "corrupt record header: length checksum mismatch"
            )
        if off + length + 16 > size:
            raise CorruptRecordError(
                path,
                i,
                off,
                f"truncated file: the record needs {length + 16} "
                f"bytes, {size - off} remain (the file changed after indexing?)",
            )
        data = f.read(length + 4)
    if len(data) != length + 4:
        raise CorruptRecordError(path, i, off, "truncated file (the file changed after indexing?)")
    if verify:
        if (
            _masked(_crc(np.frombuffer(data, np.uint8, length)))
            != _U32.unpack_from(data, length)[0]
        ):
            raise CorruptRecordError(
                path, i, off, f"payload checksum mismatch (masked CRC32C over {length} bytes)"
            )
    return data[:length]


# --------------------------------------------------------------------------- grouped walk


def _crc32c_table() -> np.ndarray:
    t = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        t = np.where(t & 1, (t >> 1) ^ np.uint32(0x82F63B78), t >> 1).astype(np.uint32)
    return t


_CRC_TABLE = _crc32c_table()


def _masked_crc8_vec(u8: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Masked CRC32C of the 8 bytes at each of ``starts`` (vectorized: the record headers)."""
    c = np.full(len(starts), 0xFFFFFFFF, dtype=np.uint32)
    for k in range(8):
        c = _CRC_TABLE[(c ^ u8[starts + k]) & 0xFF] ^ (c >> 8)
    return _masked_vec(c ^ np.uint32(0xFFFFFFFF))


def _masked_vec(c: np.ndarray) -> np.ndarray:
    c = c.astype(np.uint64)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def _u32_vec(u8: np.ndarray, at: np.ndarray) -> np.ndarray:
    b = [u8[at + k].astype(np.uint64) for k in range(4)]
    return b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)


def span_groups(  # noqa: C901  (a measured hot path, one loop: benchmarks/io_read.py)
    path,
    group: int = 8192,
    *,
    verify: bool = True,
    skip_corrupt: bool = False,
    allow_empty: bool = False,
    stats: ReadStats | None = None,
):
    """Walk ``path`` and yield its records ``group`` at a time as ``(buf, begins, lengths, recs,
    offsets)``: int64 arrays (payload of record ``recs[i]`` = ``buf[begins[i]:begins[i] +
    lengths[i]]``, its header at file byte ``offsets[i]``). The same records, checks, errors
    and warnings as :func:`iter_spans`, cheaper per record: one tight loop finds the records of
    a group and hashes the payloads, and the header checksums and the comparisons are done for
    the whole group at once with numpy. At the first anything-unusual (a bad checksum, a
    truncation, no mmap) the rest of the file is read by :func:`iter_spans`, which raises (or
    skips) exactly as it always does."""
    path = str(path)
    stats = stats if stats is not None else ReadStats()
    done = 0  # records handed out by the fast walk
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        buf = None
        if size >= 12 and _USE_MMAP:
            try:
                buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError):
                buf = None
        if buf is not None:
            stats.files += 1
            u8 = np.frombuffer(buf, np.uint8)
            unpack = _HEADER.unpack_from
            frombuffer = np.frombuffer
            crc = _crc
            uint8 = np.uint8
            pos = 0
            while True:
                begins, crcs = [], []
                add, add_crc = begins.append, crcs.append
                anomaly = False
                stop = pos  # the end of the group's last record
                for _ in range(group):
                    if pos + 12 > size:
                        anomaly = pos != size  # a clean end, or a truncated header
                        break
                    length = unpack(buf, pos)[0]
                    end = pos + 12 + length
                    if end + 4 > size or length > MAX_RECORD_BYTES:
                        anomaly = True
                        break
                    add(pos + 12)
                    if verify:
                        add_crc(crc(frombuffer(buf, uint8, length, pos + 12)))
                    pos = stop = end + 4
                if not begins and not anomaly:
                    break
                b = np.array(begins, dtype=np.int64)
                n = np.diff(b, append=stop + 12) - 16  # payload lengths
                good = len(b)
                if verify and good:
                    bad = (_masked_crc8_vec(u8, b - 12) != _u32_vec(u8, b - 4)) | (
                        _masked_vec(np.array(crcs, dtype=np.uint64)) != _u32_vec(u8, b + n)
                    )
                    if bad.any():
                        good = int(np.argmax(bad))
                        anomaly = True
                if good:
                    stats.records += good
                    yield (
                        buf,
                        b[:good],
                        n[:good],
                        np.arange(done, done + good, dtype=np.int64),
                        b[:good] - 12,
                    )
                    done += good
                if anomaly:
                    break
                if pos >= size:
                    return
            if not anomaly:
                return
            stats.files -= 1  # counted again by iter_spans
    # the slow, precise path from record `done` on (records before it were checked already)
    group_buf, group_spans = None, []  # the records gathered for the next group, all in group_buf
    for buf, begin, length, rec, offset in iter_spans(
        path, verify=verify, skip_corrupt=skip_corrupt, allow_empty=allow_empty, stats=stats
    ):
        if rec < done:
            stats.records -= 1
            continue
        if (buf is not group_buf or len(group_spans) >= group) and group_spans:
            yield _as_group(group_buf, group_spans)
            group_spans = []
        group_buf = buf
        group_spans.append((begin, length, rec, offset))
    if group_spans:
        yield _as_group(group_buf, group_spans)


def _as_group(buf, spans: list) -> tuple:
    """``(buf, begins, lengths, recs, offsets)`` of the ``(begin, length, rec, offset)``
    ``spans``."""
    a = np.array(spans, dtype=np.int64).reshape(-1, 4)
    return buf, a[:, 0], a[:, 1], a[:, 2], a[:, 3]
