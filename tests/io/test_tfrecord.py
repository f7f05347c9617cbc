"""afkit.io.tfrecord: framing, CRC32C, damaged files (TensorFlow-written), salvage mode, index."""

from __future__ import annotations

import json
import os
import struct
import warnings

import numpy as np
import pytest

from afkit.io import tfrecord as T
from afkit.io.tfrecord import CorruptRecordError


def _payloads(n, seed=0):
    rng = np.random.default_rng(seed)
    return [
        rng.integers(0, 256, int(rng.integers(0, 3000)), dtype=np.uint8).tobytes() for _ in range(n)
    ]


def test_masked_crc_check_value_and_formula():
    # CRC32C("123456789") = 0xE3069283 (the standard check value of CRC-32C / Castagnoli)
    c = 0xE3069283
    want = ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) % 2**32
    assert T.masked_crc32c(b"123456789") == want


def test_framing_matches_tfrecord_package_writer():
    from tfrecord.writer import TFRecordWriter as PkgWriter  # an independent implementation

    payload = b"hello tfrecord" * 7
    n = struct.pack("<Q", len(payload))
    want = n + PkgWriter.masked_crc(n) + payload + PkgWriter.masked_crc(payload)
    assert T.frame_record(payload) == want


def test_round_trip_with_tiny_chunks(tmp_path, monkeypatch):
    p = tmp_path / "x.tfrecord"
    payloads = _payloads(40) + [b""]
    assert T.write_tfrecord(p, payloads) == 41
    assert list(T.iter_records(p)) == payloads
    monkeypatch.setattr(T, "_USE_MMAP", False)
    monkeypatch.setattr(T, "_CHUNK", 64)  # every record straddles a chunk boundary
    assert list(T.iter_records(p)) == payloads
    assert list(T.iter_records(p, start=7, stop=9)) == payloads[7:9]


@pytest.mark.parametrize("use_mmap", [True, False])
@pytest.mark.parametrize(
    "name", ["damaged_truncated", "damaged_payload_flip", "damaged_length_flip"]
)
def test_damaged_files_same_errors_with_and_without_mmap(tf_fixtures, monkeypatch, use_mmap, name):
    monkeypatch.setattr(T, "_USE_MMAP", use_mmap)
    monkeypatch.setattr(T, "_CHUNK", 5000)  # chunk boundaries inside records
    info = _expected(tf_fixtures)[name]
    with pytest.raises(
        CorruptRecordError, match=f"record {info['record']} at byte offset {info['offset']}: "
    ):
        list(T.iter_records(tf_fixtures / f"{name}.tfrecord"))


def test_payloads_are_independent_not_a_reused_buffer(tmp_path):
    p = tmp_path / "x.tfrecord"
    payloads = _payloads(20, seed=1)
    T.write_tfrecord(p, payloads)
    kept = list(T.iter_records(p))  # the tfrecord package would return 20 views of one buffer
    assert kept == payloads and all(type(k) is bytes for k in kept)


def test_writer_is_atomic(tmp_path):
    p = tmp_path / "x.tfrecord"
    with pytest.raises(RuntimeError):
        with T.TFRecordWriter(p) as w:
            w.write(b"abc")
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []


def _expected(tf_fixtures):
    return json.loads((tf_fixtures / "expected.json").read_text())["damaged"]


@pytest.mark.parametrize(
    "name",
    [
        "damaged_truncated",
        "damaged_payload_flip",
        "damaged_length_flip",
        "damaged_not_tfrecord",
        "damaged_empty",
    ],
)
def test_damaged_file_error_names_file_record_offset(tf_fixtures, name):
    info = _expected(tf_fixtures)[name]
    path = tf_fixtures / f"{name}.tfrecord"
    got = []
    with pytest.raises(CorruptRecordError) as ei:
        for rec in T.iter_records(path):
            got.append(rec)
    e = ei.value
    assert (e.path, e.record, e.offset) == (str(path), info["record"], info["offset"])
    msg = str(e)
    assert msg.startswith(f"{path}: record {info['record']} at byte offset {info['offset']}: ")
    assert info["message"] in msg
    if name != "damaged_empty":  # TensorFlow read the same records before its DataLossError
        assert len(got) == info["tf_records_before_error"]
        # TF names the same record: its header offset, or (payload checksum) the payload's
        assert (
            f"at {info['offset']}" in info["tf_error"]
            or f"at {info['offset'] + 12}" in info["tf_error"]
        )


def test_empty_file_is_an_error_unless_allowed(tf_fixtures):
    path = tf_fixtures / "damaged_empty.tfrecord"
    with pytest.raises(CorruptRecordError, match="empty file"):
        list(T.iter_records(path))
    assert list(T.iter_records(path, allow_empty=True)) == []  # TensorFlow's reading: 0 records
    assert _expected(tf_fixtures)["damaged_empty"]["tf_records_before_error"] == 0


def test_verify_false_reads_a_flipped_payload_as_is(tf_fixtures):
    good = list(T.iter_records(tf_fixtures / "tf_video_2018.tfrecord"))
    bad = list(T.iter_records(tf_fixtures / "damaged_payload_flip.tfrecord", verify=False))
    assert len(bad) == len(good) and [a != b for a, b in zip(good, bad, strict=True)] == [
        i == 2 for i in range(7)
    ]


@pytest.mark.parametrize(
    "name,kept",
    [
        ("damaged_payload_flip", [0, 1, 3, 4, 5, 6]),  # a checked length: only the bad record goes
        ("damaged_length_flip", [0, 1, 2, 3, 4]),  # framing lost: the rest of the file goes
        ("damaged_truncated", [0, 1, 2, 3]),
        ("damaged_not_tfrecord", []),
    ],
)
def test_skip_corrupt_counts(tf_fixtures, name, kept):
    good = list(T.iter_records(tf_fixtures / "tf_video_2018.tfrecord"))
    stats = T.ReadStats()
    with pytest.warns(UserWarning, match="skipped 1 corrupt"):
        got = list(T.iter_records(tf_fixtures / f"{name}.tfrecord", skip_corrupt=True, stats=stats))
    assert got == [good[i] for i in kept]
    assert (stats.records, stats.skipped, len(stats.errors)) == (len(kept), 1, 1)
    info = _expected(tf_fixtures)[name]
    assert f"record {info['record']} at byte offset {info['offset']}" in stats.errors[0]
    # tf.data's ignore_errors drops the whole rest of the file; afkit keeps at least as much
    assert len(kept) >= info["tf_records_ignore_errors"]


def test_index_counts_random_access_and_cache(tmp_path):
    p = tmp_path / "x.tfrecord"
    payloads = _payloads(30, seed=2)
    T.write_tfrecord(p, payloads)
    offsets = T.load_index(p)
    sizes = np.cumsum([0] + [len(x) + 16 for x in payloads])[:-1]
    assert offsets.tolist() == sizes.tolist() and T.count_records(p) == 30
    assert (tmp_path / "x.tfrecord.idx").is_file()  # cached next to the file
    for i in (0, 1, 17, 29, -1):
        assert T.read_record(p, i) == payloads[i]
    with pytest.raises(IndexError):
        T.read_record(p, 30)
    assert list(T.iter_records(p, start=10, stop=13)) == payloads[10:13]
    assert list(T.iter_records(p, start=28)) == payloads[28:]
    # the file changes: the index is rebuilt (size/mtime), not reused
    T.write_tfrecord(p, payloads[:5])
    assert T.count_records(p) == 5 and list(T.iter_records(p, start=3)) == payloads[3:5]


def test_index_file_is_reused_and_never_clobbers_a_foreign_idx(tmp_path, monkeypatch):
    p = tmp_path / "y.tfrecord"
    T.write_tfrecord(p, _payloads(9, seed=3))
    (tmp_path / "y.tfrecord.idx").write_text("0 100\n100 200\n")  # the tfrecord package's format
    T._memory_index.clear()
    assert T.count_records(p) == 9
    assert (tmp_path / "y.tfrecord.idx").read_text() == "0 100\n100 200\n"
    cached = list((T.cache_dir()).glob("y.tfrecord.*.idx"))
    assert len(cached) == 1
    # a second process (fresh memory) reads the cached index instead of walking the file
    T._memory_index.clear()
    monkeypatch.setattr(T, "build_index", lambda *a, **k: pytest.fail("index rebuilt"))
    assert T.count_records(p) == 9


def test_index_of_a_truncated_file_is_an_error(tf_fixtures, tmp_path):
    p = tmp_path / "t.tfrecord"
    p.write_bytes((tf_fixtures / "damaged_truncated.tfrecord").read_bytes())
    info = _expected(tf_fixtures)["damaged_truncated"]
    with pytest.raises(
        CorruptRecordError, match=f"record 4 at byte offset {info['offset']}: truncated"
    ):
        T.count_records(p)


def test_error_pickles(tmp_path):
    import pickle

    e = CorruptRecordError("f.tfrecord", 3, 120, "payload checksum mismatch")
    e2 = pickle.loads(pickle.dumps(e))
    assert str(e2) == str(e) == "f.tfrecord: record 3 at byte offset 120: payload checksum mismatch"
    assert isinstance(e2, ValueError)


def test_no_warning_on_clean_files(tf_fixtures):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert (
            len(list(T.iter_records(tf_fixtures / "tf_video_2018.tfrecord", skip_corrupt=True)))
            == 7
        )


def _groups(path, **kw):
    out = []
    for buf, begins, lengths, recs, offsets in T.span_groups(path, **kw):
        out += [
            (bytes(buf[b : b + n]), r, o)
            for b, n, r, o in zip(begins, lengths, recs, offsets, strict=True)
        ]
    return out


@pytest.mark.parametrize("use_mmap", [True, False])
@pytest.mark.parametrize(
    "name",
    [
        "damaged_truncated",
        "damaged_payload_flip",
        "damaged_length_flip",
        "damaged_not_tfrecord",
        "damaged_empty",
        "tf_video_2018",
    ],
)
def test_span_groups_same_records_errors_and_skips_as_iter_spans(
    tf_fixtures, monkeypatch, use_mmap, name
):
    monkeypatch.setattr(T, "_USE_MMAP", use_mmap)
    path = tf_fixtures / f"{name}.tfrecord"
    want = (
        [(bytes(buf[b : b + n]), r, o) for buf, b, n, r, o in T.iter_spans(path, allow_empty=True)]
        if name == "tf_video_2018"
        else None
    )
    if want is not None:
        for group in (1, 3, 8192):
            assert _groups(path, group=group) == want
        return
    with pytest.raises(CorruptRecordError) as a:
        list(T.iter_spans(path))
    with pytest.raises(CorruptRecordError) as b:
        _groups(path, group=2)
    assert str(a.value) == str(b.value)
    s1, s2 = T.ReadStats(), T.ReadStats()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = [
            (bytes(buf[b : b + n]), r, o)
            for buf, b, n, r, o in T.iter_spans(path, skip_corrupt=True, stats=s1)
        ]
        two = _groups(path, group=2, skip_corrupt=True, stats=s2)
    assert one == two and (s1.records, s1.skipped, s1.files) == (s2.records, s2.skipped, s2.files)
