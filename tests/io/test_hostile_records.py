"""Hostile record files (issue 28, points 3, 4 and 7): varints over 64 bits, huge ids and
records, forged record indexes. Each is refused with ``CorruptRecordError`` naming the file,
the record and the offset (or, for an index, rebuilt), the same way by both read paths."""

from __future__ import annotations

import struct
import warnings

import numpy as np
import pytest

from afkit.io import protowire as wire
from afkit.io import records as R
from afkit.io import tfrecord as T
from afkit.io.tfrecord import CorruptRecordError


def _enc(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + wire.encode_varint(len(body)) + body


def _video_payload(vid: bytes, label_varints: bytes) -> bytes:
    """A canonical video-level Example whose packed labels are the raw ``label_varints``."""
    rgb = np.zeros(1024, np.float32)
    audio = np.ones(128, np.float32)
    feats = {
        "id": wire.bytes_feature([vid]),
        "labels": _enc(0x1A, _enc(0x0A, label_varints)),
        "mean_audio": wire.float_feature(audio),
        "mean_rgb": wire.float_feature(rgb),
    }
    return wire.length_delimited(0x0A, wire.features_body(feats))


def _all(read, path, **kw):
    if read == "records":
        return [r["id"] for r in R.read_records(path, **kw)]
    return [i for b in R.read_video_batches(path, 4, **kw) for i in b["id"]]


def _file(tmp_path, payloads, name="f.tfrecord"):
    path = tmp_path / name
    T.write_tfrecord(path, payloads)
    return path


BOTH = pytest.mark.parametrize("read", ["records", "batches"])


# ----------------------------------------------------------------------------- point 3: varints


@BOTH
@pytest.mark.parametrize(
    "varint",
    [
        b"\xff" * 9 + b"\x02",  # 10 bytes worth 2^64 or more (2^64 - 1 + 2^63 ...)
        b"\x80" * 9 + b"\x7f",  # 10 bytes worth 127 * 2^63
        b"\xff" * 10 + b"\x01",  # 11 bytes
    ],
)
def test_varint_over_64_bits_is_refused_by_both_readers(tmp_path, read, varint):
    good = _video_payload(b"ok00", b"\x05")
    path = _file(tmp_path, [good, _video_payload(b"bad0", b"\x03" + varint), good])
    offset = 16 + len(good)
    with pytest.raises(CorruptRecordError, match=r"varint") as e:
        _all(read, path)
    assert (e.value.path, e.value.record, e.value.offset) == (str(path), 1, offset)
    assert str(e.value).startswith(f"{path}: record 1 at byte offset {offset}: malformed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        it = R.read_records(path, skip_corrupt=True)
        assert [r["id"] for r in it] == ["ok00", "ok00"] and it.skipped == 1
        assert _all(read, path, skip_corrupt=True) == ["ok00", "ok00"]


@BOTH
def test_largest_64_bit_varint_still_reads_as_minus_one(tmp_path, read):
    """2^64 - 1 (10 bytes, last byte 1) is a valid int64 varint: -1, in both readers."""
    path = _file(tmp_path, [_video_payload(b"ok00", b"\xff" * 9 + b"\x01")])
    if read == "records":
        assert next(R.read_records(path))["labels"].tolist() == [-1]
    else:
        assert next(R.read_video_batches(path, 4))["labels"][0].tolist() == [-1]


# ----------------------------------------------------------------------------- point 4: caps


@BOTH
def test_an_id_longer_than_the_cap_is_an_invalid_record(tmp_path, read):
    good = _video_payload(b"ok00", b"\x05")
    long_id = _video_payload(b"x" * (R.MAX_ID_BYTES + 1), b"\x05")
    at_cap = _video_payload(b"y" * R.MAX_ID_BYTES, b"\x05")
    path = _file(tmp_path, [good, long_id, at_cap])
    with pytest.raises(CorruptRecordError, match=rf"{R.MAX_ID_BYTES + 1} bytes, more than the"):
        _all(read, path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert _all(read, path, skip_corrupt=True) == ["ok00", "y" * R.MAX_ID_BYTES]
    huge = _file(tmp_path, [_video_payload(b"z" * 100_000, b"\x05")], "huge.tfrecord")
    with pytest.raises(CorruptRecordError, match="100000 bytes, more than the 256"):
        _all(read, huge)


@BOTH
def test_a_record_longer_than_the_cap_is_refused_and_skippable(tmp_path, read, monkeypatch):
    monkeypatch.setattr(T, "MAX_RECORD_BYTES", 6000)  # a video-level record is ~4.7 KB
    good = _video_payload(b"ok00", b"\x05")
    big = _video_payload(b"big0", b"\x05" * 2000)
    path = _file(tmp_path, [good, big, good])
    with pytest.raises(CorruptRecordError, match=r"record 1 at .*more than the 6000 bytes"):
        _all(read, path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert _all(read, path, skip_corrupt=True) == ["ok00", "ok00"]  # the framing holds


# ----------------------------------------------------------------------------- point 7: index


def _forge_index(path, count=None, offsets=None):
    idx = T._index_locations(str(path))[0]
    head = idx.read_bytes()[: T._IDX_HEAD.size]
    magic, size, mtime, n = T._IDX_HEAD.unpack(head)
    offs = np.frombuffer(idx.read_bytes()[T._IDX_HEAD.size :], "<u8")
    offs = offs if offsets is None else np.asarray(offsets, "<u8")
    n = len(offs) if count is None else count
    idx.write_bytes(T._IDX_HEAD.pack(magic, size, mtime, n) + offs.tobytes())
    T._memory_index.clear()


@pytest.mark.parametrize(
    "forge",
    [
        dict(count=2**40),  # a forged count: would allocate 8 TB
        dict(offsets=[0, 0, 0, 0, 0]),  # duplicate records
        dict(offsets=[16, 100, 200, 300, 400]),  # not from 0
        dict(offsets=[0, 4000, 3000, 9000, 12000]),  # not increasing
        dict(offsets=[0, 8]),  # closer than a record's 16 bytes, and too few
    ],
)
def test_a_forged_index_is_rebuilt(tmp_path, videos, forge):
    path = tmp_path / "v.tfrecord"
    vids = videos(5)
    R.write_records(path, vids)
    truth = T.build_index(path)
    T._memory_index.clear()
    T.load_index(path)  # writes <file>.idx
    _forge_index(path, **forge)
    assert T.load_index(path).tolist() == truth.tolist()
    assert T.count_records(path) == 5
    got = [r["id"] for r in R.read_ranges([(str(path), 2, 4)])]
    assert got == [v["id"] for v in vids[2:4]]
    # and the rebuilt index replaced the forged one on disk
    T._memory_index.clear()
    idx = T._index_locations(str(path))[0].read_bytes()
    assert struct.unpack_from("<Q", idx, 24)[0] == 5
